// Cosine top-k search: see search.h.
#include "eval/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/comm.h"

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

int64_t search_topk(const EmbSet *s, const int64_t *qrows, int nq, const SearchOptions *o, Comm *comm,
                    SearchHit *out) {
    const int D = s->dim, k = o->k;
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

    float *Q = am_malloc((size_t)nq * D * sizeof(float) + 4, "queries");
    for (int q = 0; q < nq; q++)
        memcpy(Q + (size_t)q * D, s->emb[o->query_mod] + (size_t)qrows[q] * D, (size_t)D * sizeof(float));
    SearchHit *local = am_malloc((size_t)nq * k * sizeof *local, "top-k");
    topk_reset(local, (size_t)nq * k);
    const float *E = s->emb[o->target_mod];
    for (int64_t b = b0; b < b1; b++) {
        const int64_t t0 = b * block, nb = (t0 + block < nt ? t0 + block : nt) - t0;
        for (int64_t j = 0; j < nb; j++) {
            const float *t = E + (size_t)tg[t0 + j] * D;
            for (int q = 0; q < nq; q++)
                topk_insert(local + (size_t)q * k, k, (SearchHit){tg[t0 + j], dot_fixed(Q + (size_t)q * D, t, D)});
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
    free(Q);
    free(tg);
    return nt;
}

void search_write_csv(FILE *f, const EmbSet *s, const int64_t *qrows, int nq, int k, const SearchHit *hits,
                      int header) {
    if (header) fprintf(f, "query_id,rank,neighbour_id,label,cosine\n");
    for (int q = 0; q < nq; q++)
        for (int i = 0; i < k; i++) {
            const SearchHit *h = &hits[(size_t)q * k + i];
            if (h->row < 0) break;
            fprintf(f, "%lld,%d,%lld,%s,%.7f\n", (long long)s->id[qrows[q]], i + 1, (long long)s->id[h->row],
                    emb_class_name(s, s->label[h->row]), (double)h->score);
        }
}
