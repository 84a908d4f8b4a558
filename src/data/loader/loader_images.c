// The loader for image datasets (the image modality): selection, one batch's
// rows (stored image -> augmented view, vote targets), class counts. The
// order (permutation, rank blocks, padding) is the star loader's
// (loader.c); images are read with plain per-rank HDF5 on the I/O thread,
// which also renders the augmentations while the caller computes.
#define _POSIX_C_SOURCE 200809L

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/rng.h"
#include "data/format/dataset_h5.h"
#include "data/loader/loader_internal.h"
#include "data/preprocess/image.h"

typedef struct {
    uint32_t key;
    int64_t index;
} Keyed;

static int keyed_cmp(const void *pa, const void *pb) {
    const Keyed *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static int index_cmp(const void *pa, const void *pb) {
    const int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

// Keeps at most `limit` selected objects per class (unlabelled ones are kept):
// per class the smallest Philox keys of (seed, dataset index), so the choice
// depends on the dataset and the seed only. The selection stays in dataset order.
static void limit_per_class(struct Loader *l, const int32_t *lab, int limit, uint64_t seed) {
    const AmRng r = am_rng(seed, 0, RNG_SHUFFLE, 0x4c50u);  // "LP": labels per class
    Keyed *k = am_malloc((size_t)l->n_sel * sizeof *k + 1, "labels per class");
    for (int64_t i = 0; i < l->n_sel; i++) k[i] = (Keyed){am_rng_u32(&r, (uint64_t)l->sel[i]), l->sel[i]};
    qsort(k, (size_t)l->n_sel, sizeof *k, keyed_cmp);
    int64_t *taken = am_calloc((size_t)(l->n_classes > 0 ? l->n_classes : 1), sizeof *taken, "labels per class");
    int64_t m = 0;
    for (int64_t i = 0; i < l->n_sel; i++) {
        const int32_t c = lab[k[i].index];
        if (c >= 0 && c < l->n_classes && taken[c]++ >= limit) continue;
        l->sel[m++] = k[i].index;
    }
    l->n_sel = m;
    qsort(l->sel, (size_t)m, sizeof *l->sel, index_cmp);
    free(taken);
    free(k);
}

// The split of every object under K-fold cross-validation (loader.h). Unlabelled
// objects are training objects.
static uint8_t *cv_splits(int64_t N, const int32_t *lab, int n_classes, const LoaderConfig *c) {
    uint8_t *split = am_malloc((size_t)N + 1, "cross-validation splits");
    Keyed *k = am_malloc((size_t)N * sizeof *k + 1, "cross-validation splits");
    const AmRng r = am_rng(c->cv_seed, 0, RNG_SHUFFLE, 0x4356u);  // "CV"
    for (int64_t i = 0; i < N; i++) {
        split[i] = DS_SPLIT_TRAIN;
        k[i] = (Keyed){am_rng_u32(&r, (uint64_t)i), i};
    }
    qsort(k, (size_t)N, sizeof *k, keyed_cmp);
    int64_t *dealt = am_calloc((size_t)(n_classes > 0 ? n_classes : 1), sizeof *dealt, "cross-validation splits");
    for (int64_t j = 0; j < N; j++) {
        const int64_t i = k[j].index;
        if (lab[i] < 0 || lab[i] >= n_classes) continue;
        const int fold = (int)(dealt[lab[i]]++ % c->cv_folds);
        split[i] = fold == c->cv_fold ? DS_SPLIT_TEST : fold == (c->cv_fold + 1) % c->cv_folds ? DS_SPLIT_VAL
                                                                                            : DS_SPLIT_TRAIN;
    }
    free(dealt);
    free(k);
    return split;
}

int loader_images_setup(struct Loader *l, AmError *err) {
    const LoaderConfig *c = &l->cfg;
    ImgDataset *d = l->imgs;
    const int64_t N = imgds_count(d);
    l->img_size = c->image_size > 0 ? c->image_size : imgds_image_size(d);
    l->img_channels = c->image_channels > 0 ? c->image_channels : imgds_channels(d);
    if (l->img_size < 8 || l->img_size > 4096 || (l->img_channels != 1 && l->img_channels != 3))
        return am_error_set(err, "%s: images of %d px and %d channels cannot be delivered (size 8..4096, channels 1 or 3)",
                            l->path, l->img_size, l->img_channels);
    if (l->img_channels == 3 && imgds_channels(d) == 1)
        return am_error_set(err, "%s: the dataset stores greyscale images; a 3-channel model cannot train on it "
                                 "(set the model's image channels to 1)", l->path);
    if (c->augment && !(c->crop_scale_lo > 0.0f && c->crop_scale_lo <= c->crop_scale_hi && c->crop_scale_hi <= 1.0f))
        return am_error_set(err, "loader: crop scale %g..%g outside 0 < lo <= hi <= 1", (double)c->crop_scale_lo,
                            (double)c->crop_scale_hi);
    imgds_classes(d, &l->classes, &l->n_classes);
    const VoteSchema *vs = imgds_schema(d);
    if (vs) {
        l->schema = *vs;
    } else if (l->n_classes > 0) {
        memset(&l->schema, 0, sizeof l->schema);
        if (vote_schema_add(&l->schema, "class", l->classes, l->n_classes))
            return am_error_set(err, "%s: %d classes do not fit a vote schema (at most %d answers, names < %d bytes)",
                                l->path, l->n_classes, VOTE_MAX_ANSWERS, VOTE_NAME_MAX);
        l->schema.majority_min = 1;  // hard labels: the one vote is the majority
    }
    l->sel = am_malloc((size_t)N * sizeof *l->sel, "loader selection");
    const int32_t *lab = imgds_labels(d);
    if (c->cv_folds && (c->cv_folds < 3 || c->cv_fold < 0 || c->cv_fold >= c->cv_folds))
        return am_error_set(err, "%s: cross-validation fold %d of %d (need 3 or more folds, 0 <= fold < folds)", l->path,
                            c->cv_fold, c->cv_folds);
    uint8_t *cv = c->cv_folds ? cv_splits(N, lab, l->n_classes, c) : NULL;
    const uint8_t *split = cv ? cv : imgds_splits(d), *sub = imgds_subsets(d);
    for (int64_t i = 0; i < N; i++) {
        if (c->split != LOADER_ANY_SPLIT && split[i] != c->split) continue;
        if (c->subset_bits && !(sub[i] & c->subset_bits)) continue;
        if ((c->labelled_only || (!vs && l->n_classes > 0 && c->require_all)) && lab[i] < 0) continue;
        l->sel[l->n_sel++] = i;
    }
    free(cv);
    if (c->per_class_limit > 0) limit_per_class(l, lab, c->per_class_limit, c->seed);
    if (l->n_sel == 0)
        return am_error_set(err, "%s: no image matches the selection (split %d, subset bits %d%s)%s", l->path, c->split,
                            c->subset_bits, c->labelled_only ? ", labelled" : "",
                            c->labelled_only && vs && l->n_classes == 0
                                ? "; the dataset has vote counts but no labels: finetune.target = \"votes\"" : "");
    const int64_t B = c->global_batch;
    l->n_batches = c->drop_last ? l->n_sel / B : (l->n_sel + B - 1) / B;
    if (l->n_batches == 0)
        return am_error_set(err, "%s: %lld selected images are fewer than one global batch of %lld with drop_last; "
                                 "use a smaller batch or drop_last = false", l->path, (long long)l->n_sel, (long long)B);
    const size_t S = (size_t)imgds_image_size(d);
    l->img_stage = am_malloc(S * S * (size_t)imgds_channels(d), "loader image staging");
    return 0;
}

void loader_images_slot_alloc(struct Loader *l, Slot *s) {
    const size_t n = (size_t)l->local_n, S = (size_t)l->img_size, A = (size_t)(l->schema.answers ? l->schema.answers : 1);
    s->images = am_aligned_alloc(n * S * S * (size_t)l->img_channels * sizeof(float), "loader images");
    s->votes = am_aligned_alloc(n * A * sizeof(float), "loader votes");
    if (imgds_truth(l->imgs, 0)) s->truth = am_aligned_alloc(n * A * sizeof(float), "loader truth");
    loader_slot_alloc_rows(l, s);
}

int loader_images_fill(struct Loader *l, Slot *s, AmError *err) {
    const LoaderConfig *c = &l->cfg;
    ImgDataset *d = l->imgs;
    const int n = l->local_n, S_in = imgds_image_size(d), C_in = imgds_channels(d);
    const int S = l->img_size, C = l->img_channels, A = l->schema.answers;
    const int64_t B = c->global_batch;
    const size_t per = (size_t)S * S * C;
    loader_ensure_perm(l, s->epoch);
    const AmRng view_rng = am_rng(c->seed, (uint64_t)s->epoch, RNG_CROP, 1);
    s->n_valid = 0;
    const double t0 = am_now_s();
    for (int k = 0; k < n; k++) {
        const int64_t pos = s->step * B + (int64_t)l->rank * n + k;
        const int64_t idx = l->perm[pos % l->n_sel];
        s->valid[k] = pos < l->n_sel;
        s->n_valid += s->valid[k];
        s->index[k] = idx;
        s->ids[k] = imgds_ids(d)[idx];
        s->labels[k] = imgds_labels(d)[idx];
        if (imgds_read_image(d, idx, l->img_stage, err)) return -1;
        s->bytes_read += (double)S_in * S_in * C_in;
        ImageView v;
        if (c->augment) image_view_random(&v, S_in, c->crop_scale_lo, c->crop_scale_hi, &view_rng, (uint64_t)idx);
        else image_view_identity(&v, S_in);
        image_render(l->img_stage, S_in, C_in, &v, s->images + (size_t)k * per, S, C);
        float *t = s->votes + (size_t)k * (A ? A : 1);
        const float *dv = imgds_votes(d, idx);
        if (dv) memcpy(t, dv, (size_t)A * sizeof *t);
        else if (A) {
            memset(t, 0, (size_t)A * sizeof *t);
            if (s->labels[k] >= 0 && s->labels[k] < A) t[s->labels[k]] = 1.0f;
        }
        if (s->truth) memcpy(s->truth + (size_t)k * A, imgds_truth(d, idx), (size_t)A * sizeof(float));
    }
    s->read_seconds += am_now_s() - t0;
    return 0;
}

void loader_images_class_counts(const struct Loader *l, int64_t *counts) {
    memset(counts, 0, (size_t)l->n_classes * sizeof *counts);
    const int32_t *lab = imgds_labels(l->imgs);
    for (int64_t i = 0; i < l->n_sel; i++)
        if (lab[l->sel[i]] >= 0 && lab[l->sel[i]] < l->n_classes) counts[lab[l->sel[i]]]++;
}

int loader_mean_vote_fractions(const struct Loader *l, int split, float *out, AmError *err) {
    if (!l->imgs) return am_error_set(err, "%s: not an image dataset (no votes)", l->path);
    const VoteSchema *s = &l->schema;
    const int64_t N = imgds_count(l->imgs);
    const uint8_t *sp = imgds_splits(l->imgs);
    const int32_t *lab = imgds_labels(l->imgs);
    double *sum = am_calloc((size_t)s->answers, sizeof *sum, "vote means"), *cnt = am_calloc((size_t)s->n_questions, sizeof *cnt, "vote means");
    float *one = am_calloc((size_t)s->answers, sizeof *one, "vote means");
    for (int64_t i = 0; i < N; i++) {
        if (sp[i] != split) continue;
        const float *k = imgds_votes(l->imgs, i);
        if (!k) {  // a class dataset: one vote for the class
            memset(one, 0, (size_t)s->answers * sizeof *one);
            if (lab[i] < 0 || lab[i] >= s->answers) continue;
            one[lab[i]] = 1.0f;
            k = one;
        }
        for (int q = 0; q < s->n_questions; q++) {
            double n = 0.0;
            for (int a = s->first[q]; a <= s->last[q]; a++) n += k[a];
            if (n <= 0.0) continue;
            for (int a = s->first[q]; a <= s->last[q]; a++) sum[a] += k[a] / n;
            cnt[q] += 1.0;
        }
    }
    for (int q = 0; q < s->n_questions; q++)
        for (int a = s->first[q]; a <= s->last[q]; a++) out[a] = cnt[q] > 0 ? (float)(sum[a] / cnt[q]) : 0.0f;
    free(sum), free(cnt), free(one);
    return 0;
}
