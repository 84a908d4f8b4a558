// Finite-difference check of whole-model gradients: the trimodal CLIP loss and
// the four classifier heads of a tiny AstroM3, with dropout active (fixed masks
// from the counter RNG) so every dropout path is exercised too.
//
// For probed elements of every trainable tensor: central difference with
// eps = 1e-3 of the float loss vs the analytic gradient; pass when
// |fd - analytic| <= 2e-3 + 3e-2 |analytic| (float forward noise over 2 eps
// bounds the first term). A probe whose perturbation changes a discrete choice
// (ProbSparse query selection, a max-pool winner, a ReLU sign) straddles a kink
// and is skipped; at most 1 in 5 may be. Every tensor on the objective's path
// must receive gradient, and tensors off it must receive none.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loss/clip.h"
#include "models/astrom3.h"
#include "nn/ops.h"
#include "testutil.h"
#include "tiny_model.h"
#include "train/clip_step.h"

#define EPS 1e-3f
#define PROBES 3

// The tiny model with every dropout active.
static ModelConfig tiny_config(void) {
    ModelConfig c = tiny_model_config();
    c.p_photo = 0.2f;
    c.p_spec = 0.3f;
    c.p_meta = 0.25f;
    c.p_embed = 0.1f;
    return c;
}

typedef struct {
    float *x, *mask, *spec, *meta;
    int32_t labels[8];
    Batch b;
} Inputs;

static void make_inputs(Inputs *in, const ModelConfig *c, int B) {
    AmRng r = am_rng(11, 0, RNG_SYNTH, 0);
    size_t nx = (size_t)B * c->seq_len * c->photo_in, ns = (size_t)B * c->spec_in * c->spec_len,
           nm = (size_t)B * c->meta_in;
    in->x = malloc(nx * sizeof(float));
    in->mask = malloc((size_t)B * c->seq_len * sizeof(float));
    in->spec = malloc(ns * sizeof(float));
    in->meta = malloc(nm * sizeof(float));
    for (size_t i = 0; i < nx; i++) in->x[i] = am_rng_normal(&r, i);
    for (size_t i = 0; i < ns; i++) in->spec[i] = am_rng_normal(&r, nx + i);
    for (size_t i = 0; i < nm; i++) in->meta[i] = am_rng_normal(&r, nx + ns + i);
    for (int b = 0; b < B; b++)
        for (int l = 0; l < c->seq_len; l++)
            in->mask[b * c->seq_len + l] = (b == 1 && l >= c->seq_len - 3) ? 0.0f : 1.0f;
    for (int b = 0; b < B; b++) in->labels[b] = b % c->n_classes;
    in->b = (Batch){.photometry = in->x, .photometry_mask = in->mask, .spectra = in->spec, .metadata = in->meta,
                    .labels = in->labels, .n = B};
}

static void free_inputs(Inputs *in) {
    free(in->x);
    free(in->mask);
    free(in->spec);
    free(in->meta);
}

typedef struct {
    AstroM3 *m;
    ClipLoss *clip;  // CLIP objective when set, else the classifier CE
    const Batch *b;
    StepCtx ctx;
    float *probs;
} Objective;

static float objective_value(Objective *o) {
    AstroM3 *m = o->m;
    if (o->clip) {
        astrom3_embed_forward(m, o->b, &o->ctx);
        float ls[3];
        astrom3_log_scales(m, ls);
        return clip_loss_forward(o->clip, m->emb[0], m->emb[1], m->emb[2], o->b->n, 0, o->b->n, ls);
    }
    float *logits = astrom3_classify_forward(m, o->b, &o->ctx);
    return op_cross_entropy_forward(o->probs, logits, o->b->labels, o->b->n, m->cfg.n_classes);
}

static void objective_grad(Objective *o) {
    AstroM3 *m = o->m;
    if (o->clip) {
        clip_forward_backward(m, o->clip, o->b, &o->ctx);
        return;
    }
    params_zero_grad(&m->params);
    float *logits = astrom3_classify_forward(m, o->b, &o->ctx);
    op_cross_entropy_forward(o->probs, logits, o->b->labels, o->b->n, m->cfg.n_classes);
    float *dl = calloc((size_t)o->b->n * m->cfg.n_classes, sizeof(float));
    op_cross_entropy_backward(dl, o->probs, o->b->labels, o->b->n, m->cfg.n_classes, 1.0f);
    astrom3_classify_backward(m, dl);
    free(dl);
}

// Hash of every discrete choice the forward made: ProbSparse query selection,
// max-pool winners and ReLU signs. A probe that changes it straddles a kink
// where the loss is not differentiable, so it is skipped rather than judged.
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}
static uint64_t sign_hash(uint64_t h, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (uint64_t)(x[i] > 0.0f)) * 1099511628211ull;
    return h;
}
static uint64_t discrete_state(const AstroM3 *m, int B) {
    uint64_t h = 1469598103934665603ull;
    const size_t per = (size_t)B * m->cfg.n_heads * m->photo.u;
    for (int l = 0; l < m->cfg.n_layers; l++) h = fnv(h, m->photo.act[l].top_idx, per * sizeof(int32_t));
    for (int i = 0; i < 4; i++) {
        const size_t n = (size_t)B * m->spec.c_out[i] * m->spec.len_out[i];
        h = sign_hash(h, m->spec.a[i], n);
        if (i < 3) h = fnv(h, m->spec.argmax[i], n / (size_t)m->cfg.spec_pool * sizeof(int32_t));
    }
    for (int i = 0; i < 2; i++) h = sign_hash(h, m->meta.h[i], (size_t)B * m->cfg.meta_hidden);
    return h;
}

static void check_model(const char *what, AstroM3 *m, Objective *o, int B) {
    ParamStore *ps = &m->params;
    objective_grad(o);
    float *an = malloc(ps->n_train_floats * sizeof(float));
    memcpy(an, ps->grad, ps->n_train_floats * sizeof(float));
    objective_value(o);
    const uint64_t state0 = discrete_state(m, B);
    int probes = 0, skipped = 0, nonzero_tensors = 0;
    AmRng pick = am_rng(5, 0, RNG_SYNTH, 9);
    for (int t = 0; t < ps->n; t++) {
        const ParamInfo *info = &ps->info[t];
        if (!info->trainable) continue;
        float *w = params_data(ps, t);
        const float *g = an + info->offset;
        double gmax = 0;
        for (size_t j = 0; j < info->numel; j++) gmax = fmax(gmax, fabs(g[j]));
        nonzero_tensors += gmax > 0;
        if (getenv("GC_VERBOSE")) printf("  %s %-60s gmax %.3g\n", what, info->name, gmax);
        for (int k = 0; k < PROBES && k < (int)info->numel; k++) {
            // Probe the largest-gradient element first, then random ones.
            size_t j = 0;
            if (k == 0) {
                for (size_t q = 0; q < info->numel; q++)
                    if (fabs(g[q]) > fabs(g[j])) j = q;
            } else {
                j = am_rng_below(&pick, (uint64_t)(t * PROBES + k), (uint32_t)info->numel);
            }
            const float w0 = w[j];
            w[j] = w0 + EPS;
            const float fp = objective_value(o);
            int flipped = discrete_state(m, B) != state0;
            w[j] = w0 - EPS;
            const float fm = objective_value(o);
            flipped |= discrete_state(m, B) != state0;
            w[j] = w0;
            if (flipped) {
                skipped++;
                continue;
            }
            const double fd = ((double)fp - (double)fm) / (2.0 * EPS);
            probes++;
            EXPECT(fabs(fd - g[j]) <= 2e-3 + 3e-2 * fabs(g[j]),
                   "%s: d/d %s[%zu]: finite difference %.6g, analytic %.6g", what, info->name, j, fd,
                   (double)g[j]);
        }
    }
    printf("%s: %d probes, %d skipped (a ProbSparse/max-pool/ReLU choice changed), %d/%d tensors with gradient\n",
           what, probes, skipped, nonzero_tensors, ps->n_trainable);
    EXPECT(skipped * 5 <= probes, "%s: too many probes skipped (%d of %d)", what, skipped, probes);
    free(an);
}

// Tiny CNNs are easily dead behind ReLUs; positive spectra biases keep every
// stage active so its gradient path is really checked.
static void init_alive(AstroM3 *m, uint64_t seed) {
    for (int t = 0; t < m->params.n; t++)
        if (strstr(m->params.info[t].name, "spectra_encoder") && strstr(m->params.info[t].name, "bias"))
            m->params.info[t].init_offset = 0.3f;
    astrom3_init(m, seed);
}

static void set_log_scales(AstroM3 *m, float v) {
    for (int i = 0; i < 3; i++) *params_data(&m->params, m->logit_scale[i]) = v + 0.1f * (float)i;
}

int main(void) {
    ops_init(0);
    const ModelConfig c = tiny_config();
    const int B = 4;
    Inputs in;
    make_inputs(&in, &c, B);
    const StepCtx ctx = {.seed = 3, .step = 7, .sample_offset = 0, .training = 1};

    // CLIP loss, logit scales inside the clamp so their gradient is live: all three
    // modalities, then photometry + metadata only (pair MP; train.modalities).
    for (int mask = MOD_MASK_ALL; mask >= 5; mask -= 2) {  // all, then photometry+metadata
        AstroM3 m;
        astrom3_create(&m, &c, B);
        init_alive(&m, 1);
        set_log_scales(&m, logf(10.0f));
        ClipLoss clip;
        clip_loss_init(&clip, B, B, c.proj_dim);
        clip_loss_set_modalities(&clip, mask);
        Objective o = {&m, &clip, &in.b, ctx, NULL};
        check_model(mask == MOD_MASK_ALL ? "clip" : "clip photometry+metadata", &m, &o, B);
        objective_grad(&o);
        if (mask == 5) {
            const float pm = clip.loss;
            clip_loss_set_modalities(&clip, 7);
            objective_value(&o);
            EXPECT(pm == clip.loss_pair[CLIP_MP], "clip photometry+metadata: loss %.8g is not pair MP's %.8g", pm,
                   clip.loss_pair[CLIP_MP]);
        }
        // Every trainable tensor must receive gradient from the CLIP loss, but the
        // spectra ones (and the scales of pairs PS, SM) when spectra are left out.
        for (int t = 0; t < m.params.n; t++) {
            const ParamInfo *info = &m.params.info[t];
            if (!info->trainable) continue;
            const int out = mask == 5 && (!strncmp(info->name, "spectra_", 8) || t == m.logit_scale[CLIP_PS] ||
                                          t == m.logit_scale[CLIP_SM]);
            double s = op_sumsq(params_grad(&m.params, t), info->numel);
            EXPECT(out ? s == 0 : s > 0 || strstr(info->name, "key_projection.bias"), "clip 0x%x: %s %s", mask,
                   info->name, out ? "has gradient" : "receives no gradient");
        }
        clip_loss_free(&clip);
        astrom3_free(&m);
    }
    // The heads finetune.head offers: each modality alone, all, photometry+metadata.
    static const int heads[] = {MOD_BIT(MOD_PHOTOMETRY), MOD_BIT(MOD_SPECTRA), MOD_BIT(MOD_METADATA), MOD_MASK_ALL,
                                MOD_BIT(MOD_PHOTOMETRY) | MOD_BIT(MOD_METADATA)};
    for (size_t h = 0; h < sizeof heads / sizeof *heads; h++) {
        const int head = heads[h];
        AstroM3 m;
        astrom3_create_with_head(&m, &c, B, head);
        init_alive(&m, 2);
        float probs[64];
        Objective o = {&m, NULL, &in.b, ctx, probs};
        char what[64];
        snprintf(what, sizeof what, "head %s", modality_mask_name(head));
        check_model(what, &m, &o, B);
        // Every tensor on the head's path must receive gradient.
        objective_grad(&o);
        for (int t = 0; t < m.params.n; t++) {
            const ParamInfo *info = &m.params.info[t];
            if (!info->trainable || strstr(info->name, "key_projection.bias") || strstr(info->name, "logit_scale"))
                continue;
            // The classifier; the encoders of the head's modalities; their
            // projections too for a fused head.
            int used = !strncmp(info->name, "classifier", 10);
            for (int i = 0; i < MOD_COUNT; i++)
                if (head & MOD_BIT(i) && !strncmp(info->name, modality_name(i), strlen(modality_name(i))) &&
                    info->name[strlen(modality_name(i))] == '_' &&
                    (astrom3_head_fused(head) || strstr(info->name, "_encoder.")))
                    used = 1;
            const double s = op_sumsq(params_grad(&m.params, t), info->numel);
            EXPECT(used ? s > 0 : s == 0, "%s: %s gradient %s", what, info->name,
                   used ? "missing" : "should be zero (not on the head's path)");
        }
        astrom3_free(&m);
    }
    free_inputs(&in);
    return tu_finish("test_model_gradcheck");
}
