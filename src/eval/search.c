// Cosine top-k search: see search.h.
#include "eval/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/pca.h"
#include "mpi/comm.h"

const char *search_metric_name(SearchMetric m) { return m == SEARCH_EUCLIDEAN ? "euclidean" : "cosine"; }

int search_hit_before(const SearchHit *a, const SearchHit *b) {
    if (a->row < 0) return 0;
    if (b->row < 0) return 1;
    if (a->score != b->score) return a->score > b->score;
    return a->row < b->row;
}

// Inserts h into the sorted list (k entries, row -1 = empty) if it belongs there.
static void topk_insert(SearchHit *list, int k, SearchHit h) {
    if (!search_hit_before(&h, &list[k - 1])) return;
    int i = k - 1;
    while (i > 0 && search_hit_before(&h, &list[i - 1])) {
        list[i] = list[i - 1];
        i--;
    }
    list[i] = h;
}

static void topk_reset(SearchHit *list, size_t n) {
    for (size_t i = 0; i < n; i++) list[i] = (SearchHit){-1, -INFINITY};
}

// One (query, target) score in a fixed summation order: 8 interleaved partial
// sums, combined pairwise. Each lane is a plain IEEE mul-then-add chain (ISO C
// mode: no FMA contraction), so a score depends only on the two vectors, not
// on the block size, the rank count, memory alignment or the BLAS kernel (an
// sgemm's result for one column depends on the kernel and the shape it is
// called with): search results are bitwise equal however the targets are split.
static float dot_fixed(const float *a, const float *b, int D) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= D; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i + j < D; j++) acc[j] += a[i + j] * b[i + j];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// Squared distance in the same fixed order as dot_fixed.
static float dist2_fixed(const float *a, const float *b, int D) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= D; i += 8)
        for (int j = 0; j < 8; j++) {
            const float t = a[i + j] - b[i + j];
            acc[j] += t * t;
        }
    for (int j = 0; i + j < D; j++) {
        const float t = a[i + j] - b[i + j];
        acc[j] += t * t;
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// 1 / |v| (0 for a zero vector), from dot_fixed: the same on every rank.
static float inv_norm(const float *v, int D) {
    const float n2 = dot_fixed(v, v, D);
    return n2 > 0 ? 1.0f / sqrtf(n2) : 0.0f;
}

// The vectors searched: the stored rows (X = NULL: E + row * D), or their PCA
// scores (X [nt, p], target j at X + j * p).
typedef struct {
    const float *E;
    float *X, *Q;   // Q: [nq, dim] query vectors
    int dim;
    int unit;       // rows have unit norm: cosine = dot
} SearchSpace;

static void space_make(SearchSpace *sp, const EmbSet *s, const int64_t *tg, int64_t nt, const int64_t *qrows, int nq,
                       const SearchOptions *o) {
    const int D = s->dim;
    memset(sp, 0, sizeof *sp);
    sp->E = s->emb[o->target_mod];
    sp->dim = D;
    sp->unit = s->normalized;
    float *Qraw = am_malloc((size_t)nq * D * sizeof(float) + 4, "queries");
    for (int q = 0; q < nq; q++)
        memcpy(Qraw + (size_t)q * D, s->emb[o->query_mod] + (size_t)qrows[q] * D, (size_t)D * sizeof(float));
    if (o->pca <= 0 || nt == 0) {
        sp->Q = Qraw;
        return;
    }
    const int p = o->pca;
    float *T = am_malloc((size_t)nt * D * sizeof(float), "pca targets");
    for (int64_t j = 0; j < nt; j++) memcpy(T + (size_t)j * D, sp->E + (size_t)tg[j] * D, (size_t)D * sizeof(float));
    PcaModel pm;
    pca_fit(T, (size_t)nt, (size_t)D, p, &pm);
    sp->X = am_malloc((size_t)nt * p * sizeof(float), "pca scores");
    pca_transform(&pm, T, (size_t)nt, sp->X);
    sp->Q = am_malloc((size_t)nq * p * sizeof(float) + 4, "pca queries");
    pca_transform(&pm, Qraw, (size_t)nq, sp->Q);
    pca_model_free(&pm);
    free(T);
    free(Qraw);
    sp->dim = p;
    sp->unit = 0;
}

int64_t search_topk(const EmbSet *s, const int64_t *qrows, int nq, const SearchOptions *o, Comm *comm,
                    SearchHit *out) {
    const int k = o->k;
    const int64_t block = o->block > 0 ? o->block : 4096;
    // targets, in file order
    int64_t *tg = am_malloc((size_t)s->n * sizeof *tg + 8, "targets");
    int64_t nt = 0;
    for (int64_t i = 0; i < s->n; i++)
        if (emb_row_has(s, i, o->target_mod) && (o->target_split < 0 || s->split[i] == o->target_split))
            tg[nt++] = i;
    const int P = comm ? comm_size(comm) : 1, r = comm ? comm_rank(comm) : 0;
    const int64_t nblocks = (nt + block - 1) / block;
    const int64_t b0 = nblocks * r / P, b1 = nblocks * (r + 1) / P;

    SearchSpace sp;
    space_make(&sp, s, tg, nt, qrows, nq, o);
    const int D = sp.dim, cosine = o->metric == SEARCH_COSINE, scale = cosine && !sp.unit;
    float *qinv = am_malloc((size_t)nq * sizeof *qinv + 4, "query norms");
    for (int q = 0; q < nq; q++) qinv[q] = scale ? inv_norm(sp.Q + (size_t)q * D, D) : 1.0f;
    SearchHit *local = am_malloc((size_t)nq * k * sizeof *local, "top-k");
    topk_reset(local, (size_t)nq * k);
    for (int64_t b = b0; b < b1; b++) {
        const int64_t t0 = b * block, nb = (t0 + block < nt ? t0 + block : nt) - t0;
        for (int64_t j = 0; j < nb; j++) {
            const float *t = sp.X ? sp.X + (size_t)(t0 + j) * D : sp.E + (size_t)tg[t0 + j] * D;
            const float tinv = scale ? inv_norm(t, D) : 1.0f;
            for (int q = 0; q < nq; q++) {
                const float *qv = sp.Q + (size_t)q * D;
                float score;
                if (!cosine) score = -sqrtf(dist2_fixed(qv, t, D));
                else if (scale) score = dot_fixed(qv, t, D) * qinv[q] * tinv;
                else score = dot_fixed(qv, t, D);
                topk_insert(local + (size_t)q * k, k, (SearchHit){tg[t0 + j], score});
            }
        }
    }
    if (P == 1) {
        memcpy(out, local, (size_t)nq * k * sizeof *out);
    } else {
        // every rank's lists to every rank, then the same merge everywhere
        SearchHit *all = am_malloc((size_t)P * nq * k * sizeof *all, "top-k (all ranks)");
        comm_allgather_bytes(comm, local, all, (size_t)nq * k * sizeof *local);
        topk_reset(out, (size_t)nq * k);
        for (int p = 0; p < P; p++)
            for (int q = 0; q < nq; q++)
                for (int i = 0; i < k; i++) {
                    const SearchHit h = all[((size_t)p * nq + q) * k + i];
                    if (h.row >= 0) topk_insert(out + (size_t)q * k, k, h);
                }
        free(all);
    }
    free(local);
    free(qinv);
    free(sp.Q);
    free(sp.X);
    free(tg);
    return nt;
}

void search_write_csv(FILE *f, const EmbSet *s, const int64_t *qrows, int nq, int k, SearchMetric metric,
                      const SearchHit *hits, int header) {
    if (header) fprintf(f, "query_id,rank,neighbour_id,label,%s\n", search_metric_name(metric));
    for (int q = 0; q < nq; q++)
        for (int i = 0; i < k; i++) {
            const SearchHit *h = &hits[(size_t)q * k + i];
            if (h->row < 0) break;
            fprintf(f, "%lld,%d,%lld,%s,%.7f\n", (long long)s->id[qrows[q]], i + 1, (long long)s->id[h->row],
                    emb_class_name(s, s->label[h->row]),
                    (double)(metric == SEARCH_EUCLIDEAN ? -h->score : h->score));
        }
}
