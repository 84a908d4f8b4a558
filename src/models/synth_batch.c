#include "models/synth_batch.h"

#include <stdlib.h>

#include "core/error.h"
#include "core/rng.h"

enum { LATENT = 8 };

void synth_batch_alloc(SynthBatch *s, const ModelConfig *c, int max_n) {
    const size_t n = (size_t)max_n;
    s->max_n = max_n;
    s->photometry = am_aligned_alloc(n * c->seq_len * c->photo_in * sizeof(float), "synthetic photometry");
    s->photometry_mask = am_aligned_alloc(n * c->seq_len * sizeof(float), "synthetic mask");
    s->spectra = am_aligned_alloc(n * c->spec_in * c->spec_len * sizeof(float), "synthetic spectra");
    s->metadata = am_aligned_alloc(n * c->meta_in * sizeof(float), "synthetic metadata");
    s->labels = am_aligned_alloc(n * sizeof(int32_t), "synthetic labels");
}

void synth_batch_free(SynthBatch *s) {
    free(s->photometry);
    free(s->photometry_mask);
    free(s->spectra);
    free(s->metadata);
    free(s->labels);
    *s = (SynthBatch){0};
}

// x[j] = 0.5 * sum_k A[j,k] z[k] + 0.3 * noise, A fixed per modality.
static void view(float *x, size_t len, const float *z, uint64_t seed, int64_t sample, uint32_t mod) {
    AmRng a = am_rng(seed, 0, RNG_SYNTH, 2 * mod);
    AmRng noise = am_rng(seed, (uint64_t)sample + 1, RNG_SYNTH, 2 * mod + 1);
    for (size_t j = 0; j < len; j++) {
        float v = 0.0f;
        for (int k = 0; k < LATENT; k++) v += am_rng_normal(&a, j * LATENT + (size_t)k) * z[k];
        x[j] = 0.5f * v / 2.8284271f + 0.3f * am_rng_normal(&noise, j);
    }
}

Batch synth_batch_fill(SynthBatch *s, const ModelConfig *c, uint64_t seed, int64_t first, int n) {
    CHECK(n >= 1 && n <= s->max_n, "synthetic batch of %d exceeds its allocation (%d)", n, s->max_n);
    const size_t lp = (size_t)c->seq_len * c->photo_in, ls = (size_t)c->spec_in * c->spec_len;
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < n; i++) {
        const int64_t id = first + i;
        AmRng zr = am_rng(seed, (uint64_t)id, RNG_SYNTH, 100);
        float z[LATENT];
        for (int k = 0; k < LATENT; k++) z[k] = am_rng_normal(&zr, (uint64_t)k);
        view(s->photometry + (size_t)i * lp, lp, z, seed, id, 0);
        view(s->spectra + (size_t)i * ls, ls, z, seed, id, 1);
        view(s->metadata + (size_t)i * c->meta_in, (size_t)c->meta_in, z, seed, id, 2);
        // Light curves shorter than seq_len are zero-padded with mask 0.
        const int len = c->seq_len - (int)am_rng_below(&zr, 64, (uint32_t)(c->seq_len / 4 + 1));
        for (int l = 0; l < c->seq_len; l++) {
            s->photometry_mask[(size_t)i * c->seq_len + l] = l < len ? 1.0f : 0.0f;
            if (l >= len)
                for (int ch = 0; ch < c->photo_in; ch++)
                    s->photometry[(size_t)i * lp + (size_t)l * c->photo_in + ch] = 0.0f;
        }
        s->labels[i] = (int32_t)((z[0] > 0) + 2 * (z[1] > 0)) % c->n_classes;
    }
    return (Batch){.photometry = s->photometry, .photometry_mask = s->photometry_mask, .spectra = s->spectra,
                   .metadata = s->metadata, .labels = s->labels, .n = n};
}
