// Gaussian-process active learning for anomalies: see anomalies.h.
#include "eval/anomalies.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "eval/gp.h"
#include "eval/pca.h"

void anomaly_options_defaults(AnomalyOptions *o) {
    *o = (AnomalyOptions){.pca = 40, .seeds = 10, .batch = 10, .budget = 200, .seed = 0};
}

int anomaly_space(const EmbSet *s, int slot, int split, int labelled_only, int pca, AnomalySpace *out, AmError *err) {
    memset(out, 0, sizeof *out);
    if (pca < 1 || pca > s->dim)
        return am_error_set(err, "--pca %d: the PCA dimension must be 1..%d (the %s embedding has %d features)", pca,
                            s->dim, s->slot[slot], s->dim);
    const int D = s->dim;
    out->row = am_malloc((size_t)s->n * sizeof *out->row + 8, "anomaly pool");
    for (int64_t i = 0; i < s->n; i++)
        if (emb_row_has(s, i, slot) && (split < 0 || s->split[i] == split) && (!labelled_only || s->label[i] >= 0))
            out->row[out->n++] = i;
    if (out->n <= pca) {
        int64_t n = out->n;
        anomaly_space_free(out);
        return am_error_set(err, "%s: %lld galaxies with %s embeddings%s%s: too few for %d PCA components (nothing to rank)",
                            s->path, (long long)n, s->slot[slot], split >= 0 ? " in split " : "",
                            split >= 0 ? emb_split_name(split) : "", pca);
    }
    const int64_t n = out->n;
    float *X = am_malloc((size_t)n * D * sizeof *X, "anomaly pool");
    for (int64_t i = 0; i < n; i++) memcpy(X + (size_t)i * D, s->emb[slot] + (size_t)out->row[i] * D, (size_t)D * sizeof *X);
    float *scores = am_malloc((size_t)n * pca * sizeof *scores, "anomaly pca");
    pca_fit_transform(X, (size_t)n, (size_t)D, pca, scores, NULL);
    free(X);
    out->d = pca;
    out->Z = am_malloc((size_t)n * pca * sizeof *out->Z, "anomaly pool");
    for (int c = 0; c < pca; c++) {  // standardise (StandardScaler: population sd)
        double m = 0, v = 0;
        for (int64_t i = 0; i < n; i++) m += scores[(size_t)i * pca + c];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            const double t = scores[(size_t)i * pca + c] - m;
            v += t * t;
        }
        const double inv = v > 0 ? 1.0 / sqrt(v / (double)n) : 0.0;
        for (int64_t i = 0; i < n; i++) out->Z[(size_t)i * pca + c] = (scores[(size_t)i * pca + c] - m) * inv;
    }
    free(scores);
    return 0;
}

void anomaly_space_free(AnomalySpace *sp) {
    free(sp->row);
    free(sp->Z);
    memset(sp, 0, sizeof *sp);
}

// 1 for each labelled pool index.
static uint8_t *labelled_mask(const AnomalySpace *sp, const int64_t *lab, int n_lab, AmError *err) {
    uint8_t *m = am_calloc((size_t)sp->n + 1, 1, "labels");
    for (int i = 0; i < n_lab; i++) {
        if (lab[i] < 0 || lab[i] >= sp->n) {
            free(m);
            am_error_set(err, "label %d: pool index %lld outside 0..%lld", i, (long long)lab[i], (long long)sp->n - 1);
            return NULL;
        }
        m[lab[i]] = 1;
    }
    return m;
}

// The GP of the labels so far (inputs: the labelled rows of Z).
static int fit_labels(const AnomalySpace *sp, const int64_t *lab, const double *score, int n_lab, Gp *g, AmError *err) {
    double *X = am_malloc((size_t)n_lab * sp->d * sizeof *X, "gp inputs");
    for (int i = 0; i < n_lab; i++) memcpy(X + (size_t)i * sp->d, sp->Z + (size_t)lab[i] * sp->d, (size_t)sp->d * sizeof *X);
    const int rc = gp_fit(g, X, score, n_lab, sp->d, err);
    free(X);
    return rc;
}

typedef struct {
    double v;
    int64_t i;
} Ranked;

static int ranked_cmp(const void *pa, const void *pb) {  // higher value first, then smaller index
    const Ranked *a = pa, *b = pb;
    if (a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

int anomaly_next(const AnomalySpace *sp, const int64_t *lab, const double *score, int n_lab, const AnomalyOptions *o,
                 int64_t *next, int *n_next, AmError *err) {
    *n_next = 0;
    uint8_t *done = labelled_mask(sp, lab, n_lab, err);
    if (!done) return 1;
    int want = n_lab < o->seeds ? o->seeds - n_lab : o->batch;
    if (want > o->budget - n_lab) want = o->budget - n_lab;
    int rc = 0;
    if (want <= 0) goto out;
    if (n_lab < o->seeds) {
        // random seed labels: a partial Fisher-Yates shuffle of the unlabelled indices
        int64_t *pool = am_malloc((size_t)sp->n * sizeof *pool, "pool");
        int64_t m = 0;
        for (int64_t i = 0; i < sp->n; i++)
            if (!done[i]) pool[m++] = i;
        const AmRng r = am_rng(o->seed, (uint64_t)n_lab, RNG_ACTIVE, 0);
        for (int k = 0; k < want && k < m; k++) {
            const int64_t j = k + (int64_t)am_rng_below(&r, (uint64_t)k, (uint32_t)(m - k));
            const int64_t t = pool[k];
            pool[k] = pool[j];
            pool[j] = t;
            next[(*n_next)++] = pool[k];
        }
        free(pool);
        goto out;
    }
    Gp g;
    if ((rc = fit_labels(sp, lab, score, n_lab, &g, err))) goto out;
    double best = score[0];
    for (int i = 1; i < n_lab; i++) best = fmax(best, score[i]);
    double *mean = am_malloc((size_t)sp->n * sizeof *mean, "gp mean"), *sd = am_malloc((size_t)sp->n * sizeof *sd, "gp sd");
    gp_predict(&g, sp->Z, sp->n, mean, sd);
    Ranked *r = am_malloc((size_t)sp->n * sizeof *r, "acquisition");
    int64_t m = 0;
    for (int64_t i = 0; i < sp->n; i++)
        if (!done[i]) r[m++] = (Ranked){gp_expected_improvement(mean[i], sd[i], best), i};
    qsort(r, (size_t)m, sizeof *r, ranked_cmp);
    for (int k = 0; k < want && k < m; k++) next[(*n_next)++] = r[k].i;
    free(r), free(mean), free(sd);
    gp_free(&g);
out:
    free(done);
    return rc;
}

int anomaly_rank(const AnomalySpace *sp, const int64_t *lab, const double *score, int n_lab, double *value, double *sd,
                 int64_t *order, AmError *err) {
    if (n_lab < 1) return am_error_set(err, "no labels yet: nothing to rank");
    Gp g;
    if (fit_labels(sp, lab, score, n_lab, &g, err)) return 1;
    gp_predict(&g, sp->Z, sp->n, value, sd);
    gp_free(&g);
    for (int i = 0; i < n_lab; i++) value[lab[i]] = score[i], sd[lab[i]] = 0.0;
    Ranked *r = am_malloc((size_t)sp->n * sizeof *r, "ranking");
    for (int64_t i = 0; i < sp->n; i++) r[i] = (Ranked){value[i], i};
    qsort(r, (size_t)sp->n, sizeof *r, ranked_cmp);
    for (int64_t i = 0; i < sp->n; i++) order[i] = r[i].i;
    free(r);
    return 0;
}

void anomaly_baseline(const AnomalySpace *sp, double *value, int64_t *order) {
    Ranked *r = am_malloc((size_t)sp->n * sizeof *r, "ranking");
    for (int64_t i = 0; i < sp->n; i++) {
        double s = 0;  // the columns are centred: the mean is the origin
        for (int c = 0; c < sp->d; c++) s += sp->Z[(size_t)i * sp->d + c] * sp->Z[(size_t)i * sp->d + c];
        value[i] = sqrt(s);
        r[i] = (Ranked){value[i], i};
    }
    qsort(r, (size_t)sp->n, sizeof *r, ranked_cmp);
    for (int64_t i = 0; i < sp->n; i++) order[i] = r[i].i;
    free(r);
}

double anomaly_precision_at(const int64_t *order, int64_t n, const uint8_t *interesting, int64_t k) {
    if (k > n) k = n;
    if (k < 1) return NAN;
    int64_t hit = 0;
    for (int64_t i = 0; i < k; i++) hit += interesting[order[i]] != 0;
    return (double)hit / (double)k;
}
