// Sharded top-k search: see search.h.
#include "eval/search.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "eval/search_internal.h"
#include "mpi/comm.h"

const char *search_metric_name(SearchMetric m) { return m == SEARCH_EUCLIDEAN ? "euclidean" : "cosine"; }

int search_hit_before(const SearchHit *a, const SearchHit *b) {
    if (a->row < 0) return 0;
    if (b->row < 0) return 1;
    if (a->score != b->score) return a->score > b->score;
    return a->row < b->row;
}

void search_topk_insert(SearchHit *list, int k, SearchHit h) {
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

// ------------------------------------------------------------------ rows

static int row_source_open(RowSource *r, const EmbSet *s, int slot, AmError *err) {
    r->s = s;
    r->slot = slot;
    r->file = NULL;
    if (s->emb[slot]) return 0;
    return emb_rows_open(s->path, s->slot[slot], s->n, s->dim, &r->file, err);
}

// The file's own PCA scores of slot (embed.pca) as the rows, where it holds at
// least cols components: *used = 1 (else 0, and r is not opened).
static int row_source_open_pca(RowSource *r, const EmbSet *s, int slot, int cols, int *used, AmError *err) {
    r->s = s;
    r->slot = slot;
    r->file = NULL;
    int stored = 0;
    const int rc = emb_rows_open_pca(s->path, s->slot[slot], s->n, cols, &stored, &r->file, err);
    *used = r->file != NULL;
    return rc;
}

static int row_source_range(RowSource *r, int64_t row0, int64_t n, float *out, AmError *err) {
    if (r->file) return emb_rows_read_range(r->file, row0, n, out, err);
    memcpy(out, r->s->emb[r->slot] + (size_t)row0 * r->s->dim, (size_t)n * r->s->dim * sizeof(float));
    return 0;
}

int row_source_list(RowSource *r, const int64_t *rows, int64_t n, float *out, AmError *err) {
    if (r->file) return emb_rows_read_list(r->file, rows, n, out, err);
    const size_t D = (size_t)r->s->dim;
    for (int64_t i = 0; i < n; i++) memcpy(out + (size_t)i * D, r->s->emb[r->slot] + (size_t)rows[i] * D, D * sizeof(float));
    return 0;
}

int search_read_targets(SearchSpace *sp, int64_t t, int64_t nb, float *out, AmError *err) {
    const int64_t *tg = sp->tg + t;
    const int64_t span = nb ? tg[nb - 1] - tg[0] + 1 : 0;
    float *raw = sp->have_pca ? sp->raw : out;
    const size_t D0 = (size_t)sp->D0;
    if (span <= 4 * sp->block) {  // dense targets: one contiguous read, then pick
        if (row_source_range(&sp->tgt, tg[0], span, sp->span, err)) return 1;
        for (int64_t j = 0; j < nb; j++) memcpy(raw + (size_t)j * D0, sp->span + (size_t)(tg[j] - tg[0]) * D0, D0 * sizeof(float));
    } else if (row_source_list(&sp->tgt, tg, nb, raw, err)) {
        return 1;
    }
    if (sp->have_pca) pca_transform(&sp->pm, raw, (size_t)nb, out);
    return 0;
}

int64_t search_count_targets(const EmbSet *s, const SearchOptions *o) {
    int64_t nt = 0;
    for (int64_t i = 0; i < s->n; i++)
        nt += emb_row_has(s, i, o->target_mod) && (o->target_split < 0 || s->split[i] == o->target_split);
    return nt;
}

// The PCA of the targets: fitted on all of them up to pca_sample, else on the
// stride sample tg[(i * nt) / S], i < S (the same rows on every rank).
static int fit_pca(SearchSpace *sp, AmError *err) {
    const int64_t cap = sp->o->pca_sample > 0 ? sp->o->pca_sample : 20000, S = sp->nt < cap ? sp->nt : cap;
    int64_t *rows = am_malloc((size_t)S * sizeof *rows + 8, "pca sample");
    for (int64_t i = 0; i < S; i++) rows[i] = sp->tg[i * sp->nt / S];  // i * nt < 2^63 for any real size
    float *T = am_malloc((size_t)S * sp->D0 * sizeof(float) + 4, "pca sample");
    int rc = row_source_list(&sp->tgt, rows, S, T, err);
    if (!rc) pca_fit(T, (size_t)S, (size_t)sp->D0, sp->o->pca, &sp->pm);
    free(T);
    free(rows);
    return rc;
}

// Cosine needs the norms unless the searched rows are the file's unit rows.
static int cosine_scaled(const SearchSpace *sp) { return sp->have_pca || sp->stored_pca || !sp->s->normalized; }

float search_exact_score(const SearchSpace *sp, const float *q, const float *t) {
    const int D = sp->D;
    if (sp->o->metric != SEARCH_COSINE) return -sqrtf(dist2_fixed(q, t, D));
    if (cosine_scaled(sp)) return dot_fixed(q, t, D) * inv_norm(q, D) * inv_norm(t, D);
    return dot_fixed(q, t, D);
}

// Exact search of the shard into local [nq, k]. Threads split each block's
// targets and keep their own lists, merged at the end: the top k under the
// total order of search_hit_before (score, then row) is one set whatever the
// order of insertion, so the result does not depend on the thread count.
static int exact_shard(SearchSpace *sp, const float *Q, int nq, SearchHit *local, AmError *err) {
    const SearchOptions *o = sp->o;
    const int D = sp->D, k = o->k, cosine = o->metric == SEARCH_COSINE;
    const int scale = cosine && cosine_scaled(sp);
    float *qinv = am_malloc((size_t)nq * sizeof *qinv + 4, "query norms");
    for (int q = 0; q < nq; q++) qinv[q] = scale ? inv_norm(Q + (size_t)q * D, D) : 1.0f;
    float *X = am_malloc((size_t)sp->block * D * sizeof(float) + 4, "target block");
    int nth = 1;
#ifdef _OPENMP
    nth = omp_get_max_threads();
#endif
    SearchHit *lists = am_malloc((size_t)nth * nq * k * sizeof *lists, "per-thread top-k");
    topk_reset(lists, (size_t)nth * nq * k);
    int rc = 0;
    for (int64_t t0 = sp->t0; t0 < sp->t1 && !rc; t0 += sp->block) {
        const int64_t nb = (t0 + sp->block < sp->t1 ? t0 + sp->block : sp->t1) - t0;
        if ((rc = search_read_targets(sp, t0, nb, X, err))) break;
#pragma omp parallel num_threads(nth)
        {
            int th = 0;
#ifdef _OPENMP
            th = omp_get_thread_num();
#endif
            SearchHit *mine = lists + (size_t)th * nq * k;
#pragma omp for schedule(static)
            for (int64_t j = 0; j < nb; j++) {
                const float *t = X + (size_t)j * D;
                const float tinv = scale ? inv_norm(t, D) : 1.0f;
                for (int q = 0; q < nq; q++) {
                    const float *qv = Q + (size_t)q * D;
                    float score;  // search_exact_score's, with the norms computed once
                    if (!cosine) score = -sqrtf(dist2_fixed(qv, t, D));
                    else if (scale) score = dot_fixed(qv, t, D) * qinv[q] * tinv;
                    else score = dot_fixed(qv, t, D);
                    search_topk_insert(mine + (size_t)q * k, k, (SearchHit){sp->tg[t0 + j], score});
                }
            }
        }
    }
    for (int th = 0; th < nth; th++)
        for (size_t i = 0; i < (size_t)nq * k; i++) {
            const SearchHit h = lists[(size_t)th * nq * k + i];
            if (h.row >= 0) search_topk_insert(local + (i / k) * k, k, h);
        }
    free(lists);
    free(X);
    free(qinv);
    return rc;
}

// Every rank's lists to every rank, then the same merge everywhere.
static void merge_ranks(Comm *comm, const SearchHit *local, int nq, int k, SearchHit *out) {
    const int P = comm ? comm_size(comm) : 1;
    if (P == 1) {
        memcpy(out, local, (size_t)nq * k * sizeof *out);
        return;
    }
    SearchHit *all = am_malloc((size_t)P * nq * k * sizeof *all, "top-k (all ranks)");
    comm_allgather_bytes(comm, local, all, (size_t)nq * k * sizeof *local);
    topk_reset(out, (size_t)nq * k);
    for (int p = 0; p < P; p++)
        for (int q = 0; q < nq; q++)
            for (int i = 0; i < k; i++) {
                const SearchHit h = all[((size_t)p * nq + q) * k + i];
                if (h.row >= 0) search_topk_insert(out + (size_t)q * k, k, h);
            }
    free(all);
}

int64_t search_topk(const EmbSet *s, const int64_t *qrows, int nq, const SearchOptions *o, Comm *comm,
                    SearchHit *out, SearchStats *stats, AmError *err) {
    SearchStats st_local;
    SearchStats *st = stats ? stats : &st_local;
    memset(st, 0, sizeof *st);
    SearchSpace sp;
    memset(&sp, 0, sizeof sp);
    sp.s = s;
    sp.o = o;
    sp.block = o->block > 0 ? o->block : 4096;
    sp.P = comm ? comm_size(comm) : 1;
    sp.rank = comm ? comm_rank(comm) : 0;
    sp.D0 = sp.D = s->dim;
    int64_t *tg = am_malloc((size_t)s->n * sizeof *tg + 8, "targets");
    for (int64_t i = 0; i < s->n; i++)
        if (emb_row_has(s, i, o->target_mod) && (o->target_split < 0 || s->split[i] == o->target_split))
            tg[sp.nt++] = i;
    sp.tg = tg;
    const int64_t nblocks = (sp.nt + sp.block - 1) / sp.block;
    sp.t0 = nblocks * sp.rank / sp.P * sp.block;
    sp.t1 = nblocks * (sp.rank + 1) / sp.P * sp.block;
    if (sp.t1 > sp.nt) sp.t1 = sp.nt;
    if (sp.t0 > sp.t1) sp.t0 = sp.t1;
    st->shard = sp.t1 - sp.t0;
    const int k = o->k;
    SearchHit *local = am_malloc((size_t)nq * k * sizeof *local + sizeof *local, "top-k");
    topk_reset(local, (size_t)nq * k);
    // --pca P, rows streamed from a file with its own PCA copy of >= P components
    // (embed.pca): its stored scores are the rows, nothing is fitted. Queries
    // of another modality need the targets' PCA, which only a fit gives.
    int rc = 0;
    RowSource qsrc = {0};
    if (o->pca > 0 && !o->pca_refit && !s->emb[o->target_mod] && o->query_mod == o->target_mod) {
        rc = row_source_open_pca(&sp.tgt, s, o->target_mod, o->pca, &sp.stored_pca, err);
        if (!rc && sp.stored_pca) rc = row_source_open_pca(&qsrc, s, o->query_mod, o->pca, &sp.stored_pca, err);
        if (sp.stored_pca) sp.D0 = sp.D = o->pca;
        st->pca_stored = sp.stored_pca;
    }
    float *Qraw = am_malloc((size_t)nq * sp.D0 * sizeof(float) + 4, "queries"), *Q = Qraw;
    if (!rc && !sp.stored_pca) rc = row_source_open(&qsrc, s, o->query_mod, err);
    if (!rc) rc = row_source_list(&qsrc, qrows, nq, Qraw, err);
    if (!rc && !sp.stored_pca) rc = row_source_open(&sp.tgt, s, o->target_mod, err);
    if (!rc && sp.nt > 0) {
        sp.raw = am_malloc((size_t)sp.block * sp.D0 * sizeof(float) + 4, "target block");
        sp.span = am_malloc((size_t)4 * sp.block * sp.D0 * sizeof(float) + 4, "target span");
        if (o->pca > 0 && !sp.stored_pca && !(rc = fit_pca(&sp, err))) {
            sp.have_pca = 1;
            sp.D = o->pca;
            Q = am_malloc((size_t)nq * sp.D * sizeof(float) + 4, "pca queries");
            pca_transform(&sp.pm, Qraw, (size_t)nq, Q);
        }
        const double t0 = am_now_s();
        if (!rc && o->ann.type != ANN_EXACT) rc = search_ann_shard(&sp, Q, nq, local, st, err);
        else if (!rc) rc = exact_shard(&sp, Q, nq, local, err);
        st->search_s = am_now_s() - t0 - st->build_s;
    }
    const int failed = comm ? comm_any_failed(comm, rc) : rc;
    if (!failed) merge_ranks(comm, local, nq, k, out);
    if (failed && !rc) am_error_set(err, "another rank failed (its message says why)");
    if (sp.have_pca) pca_model_free(&sp.pm);
    if (Q != Qraw) free(Q);
    free(Qraw);
    free(sp.raw);
    free(sp.span);
    emb_rows_close(qsrc.file);
    emb_rows_close(sp.tgt.file);
    free(local);
    free(tg);
    return failed ? -1 : sp.nt;
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
