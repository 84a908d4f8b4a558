// Approximate search of one rank's shard through FAISS (search.h, ann_index.h):
// build or load the shard's index, check it belongs to the shard, search it.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "eval/knn.h"
#include "eval/search_internal.h"

#define ANN_META_FORMAT "astromm-ann-index 1"

// The shard's vectors of target indices t[0..n) (any targets, in the searched space).
static int read_target_list(SearchSpace *sp, const int64_t *t, int64_t n, float *out, AmError *err) {
    int64_t *rows = am_malloc((size_t)n * sizeof *rows + 8, "target rows");
    for (int64_t i = 0; i < n; i++) rows[i] = sp->tg[t[i]];
    float *raw = sp->have_pca ? am_malloc((size_t)n * sp->D0 * sizeof(float) + 4, "targets") : out;
    const int rc = row_source_list(&sp->tgt, rows, n, raw, err);
    if (!rc && sp->have_pca) pca_transform(&sp->pm, raw, (size_t)n, out);
    if (raw != out) free(raw);
    free(rows);
    return rc;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

// What ties an index to its shard: the searched width, the shard's size, the
// ids of its targets in order, and the searched vectors of up to 64 of them
// (a stride sample: a re-embedded file changes every vector).
static int shard_checksum(SearchSpace *sp, uint64_t *out, AmError *err) {
    const int64_t n = sp->t1 - sp->t0, m = n < 64 ? n : 64;
    uint64_t h = 14695981039346656037ULL;
    h = fnv(h, &sp->D, sizeof sp->D);
    h = fnv(h, &n, sizeof n);
    for (int64_t t = sp->t0; t < sp->t1; t++) h = fnv(h, &sp->s->id[sp->tg[t]], sizeof(int64_t));
    int64_t idx[64];
    for (int64_t i = 0; i < m; i++) idx[i] = sp->t0 + i * n / m;
    float *v = am_malloc((size_t)m * sp->D * sizeof(float) + 4, "checksum sample");
    const int rc = read_target_list(sp, idx, m, v, err);
    if (!rc) h = fnv(h, v, (size_t)m * sp->D * sizeof(float));
    free(v);
    *out = h;
    return rc;
}

static int read_meta(const char *path, int64_t *n, int *dim, uint64_t *sum, char *desc, size_t cap, AmError *err) {
    FILE *f = fopen(path, "r");
    if (!f) return am_error_set(err, "%s: %s", path, strerror(errno));
    char fmt[64] = "", d[128] = "";
    long long nn = -1;
    unsigned long long ss = 0;
    const int got = fscanf(f, "format %63[^\n]\nvectors %lld\ndim %d\nchecksum %llx\nindex %127s", fmt, &nn, dim, &ss, d);
    fclose(f);
    if (got != 5 || strcmp(fmt, ANN_META_FORMAT))
        return am_error_set(err, "%s: not an astromm index description (expected '%s' and vectors, dim, checksum, "
                                 "index lines); delete it or --set search.rebuild=true", path, ANN_META_FORMAT);
    *n = nn;
    *sum = ss;
    snprintf(desc, cap, "%s", d);
    return 0;
}

static int write_meta(const char *path, int64_t n, int dim, uint64_t sum, const char *desc, AmError *err) {
    char tmp[1600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());  // this process's own (see ann_save)
    FILE *f = fopen(tmp, "w");
    if (!f) return am_error_set(err, "%s: %s", tmp, strerror(errno));
    fprintf(f, "format %s\nvectors %lld\ndim %d\nchecksum %016llx\nindex %s\n", ANN_META_FORMAT, (long long)n, dim,
            (unsigned long long)sum, desc);
    const int bad = ferror(f) | (fclose(f) != 0);
    if (bad || rename(tmp, path)) {
        remove(tmp);
        return am_error_set(err, "%s: cannot write (%s)", path, strerror(errno));
    }
    return 0;
}

static int build(SearchSpace *sp, AnnIndex **out, AmError *err) {
    const SearchOptions *o = sp->o;
    const int64_t n = sp->t1 - sp->t0;
    const int D = sp->D, cosine = o->metric == SEARCH_COSINE;
    // IVF-PQ trains on a stride sample of the shard: 65536 vectors, or FAISS's
    // advice (39 per coarse cell and per PQ centroid) when larger, at most the
    // shard: the vectors are never all in memory.
    int64_t n_train = 0;
    float *train = NULL;
    if (o->ann.type == ANN_IVFPQ) {
        const int64_t advised = ann_training_advice(&o->ann, D, n);
        n_train = advised > 65536 ? advised : 65536;
        if (n_train > n) n_train = n;
        int64_t *idx = am_malloc((size_t)n_train * sizeof *idx + 8, "training sample");
        for (int64_t i = 0; i < n_train; i++) idx[i] = sp->t0 + i * n / n_train;
        train = am_malloc((size_t)n_train * D * sizeof(float) + 4, "training sample");
        const int rc = read_target_list(sp, idx, n_train, train, err);
        free(idx);
        if (rc) return free(train), 1;
        if (cosine) knn_normalize_rows(train, (size_t)n_train, (size_t)D, train);
        if (n_train < advised && !o->quiet)
            fprintf(stderr, "search: rank %d trains IVF-PQ on its %lld targets; FAISS advises >= %lld (39 per IVF "
                            "cell and per PQ centroid: fewer ranks, a smaller search.ivf_nlist or search.pq_nbits, "
                            "or search.index = \"hnsw\")\n",
                    sp->rank, (long long)n_train, (long long)advised);
    }
    int rc = ann_create(out, &o->ann, D, n, train, n_train, err);
    free(train);
    if (rc) return 1;
    float *X = am_malloc((size_t)sp->block * D * sizeof(float) + 4, "index block");
    for (int64_t t = sp->t0; t < sp->t1 && !rc; t += sp->block) {
        const int64_t nb = (t + sp->block < sp->t1 ? t + sp->block : sp->t1) - t;
        rc = search_read_targets(sp, t, nb, X, err);
        if (!rc && cosine) knn_normalize_rows(X, (size_t)nb, (size_t)D, X);
        if (!rc) rc = ann_add(*out, X, nb, err);
    }
    free(X);
    if (rc) ann_free(*out), *out = NULL;
    return rc;
}

int search_ann_shard(SearchSpace *sp, const float *Q, int nq, SearchHit *local, SearchStats *st, AmError *err) {
    const SearchOptions *o = sp->o;
    const int64_t n = sp->t1 - sp->t0;
    if (n == 0) return 0;
    const int D = sp->D, cosine = o->metric == SEARCH_COSINE;
    const double t_start = am_now_s();
    char desc[64], dir[1100], base[1400], ipath[1500], mpath[1500];
    ann_describe(&o->ann, D, n, desc, sizeof desc);
    if (o->index_dir && o->index_dir[0]) snprintf(dir, sizeof dir, "%s", o->index_dir);
    else snprintf(dir, sizeof dir, "%s.index", sp->s->path);
    if (mkdir(dir, 0777) && errno != EEXIST) return am_error_set(err, "index directory %s: %s", dir, strerror(errno));
    char pca[16] = "";
    if (sp->have_pca) snprintf(pca, sizeof pca, "-pca%d", D);
    if (sp->stored_pca) snprintf(pca, sizeof pca, "-filepca%d", D);
    snprintf(base, sizeof base, "%s/%s-%s-%s%s-%s-shard%dof%d", dir, sp->s->slot[o->target_mod],
             o->target_split < 0 ? "all" : emb_split_name(o->target_split), search_metric_name(o->metric), pca, desc,
             sp->rank, sp->P);
    for (char *c = base + strlen(dir) + 1; *c; c++)
        if (*c == ',') *c = '_';  // "HNSW32,Flat" -> a plain file name
    snprintf(ipath, sizeof ipath, "%s.faiss", base);
    snprintf(mpath, sizeof mpath, "%s.meta", base);
    uint64_t sum = 0;
    if (shard_checksum(sp, &sum, err)) return 1;
    AnnIndex *ix = NULL;
    if (!o->rebuild_index && access(mpath, F_OK) == 0) {
        int64_t mn = 0;
        int mdim = 0;
        uint64_t msum = 0;
        char mdesc[128];
        if (read_meta(mpath, &mn, &mdim, &msum, mdesc, sizeof mdesc, err)) return 1;
        if (mn != n || mdim != D || msum != sum)
            return am_error_set(err, "index %s does not match its embeddings file %s: it holds %lld vectors of "
                                     "dimension %d (checksum %016llx), the shard has %lld of %d (checksum %016llx); "
                                     "rebuild it with --set search.rebuild=true (or delete it)",
                                ipath, sp->s->path, (long long)mn, mdim, (unsigned long long)msum, (long long)n, D,
                                (unsigned long long)sum);
        if (ann_load(&ix, ipath, err)) return 1;
        if (ann_count(ix) != n || ann_dim(ix) != D) {
            am_error_set(err, "index %s holds %lld vectors of dimension %d but its description %s says %lld of %d; "
                              "rebuild it with --set search.rebuild=true", ipath, (long long)ann_count(ix), ann_dim(ix), mpath,
                         (long long)n, D);
            ann_free(ix);
            return 1;
        }
        ann_set_search_params(ix, &o->ann);
    } else {
        if (build(sp, &ix, err)) return 1;
        // the index first, then its description: a description always names a whole index
        if (ann_save(ix, ipath, err) || write_meta(mpath, n, D, sum, desc, err)) return ann_free(ix), 1;
        st->built = 1;
    }
    st->build_s = am_now_s() - t_start;
    float *Qn = am_malloc((size_t)nq * D * sizeof(float) + 4, "queries");
    memcpy(Qn, Q, (size_t)nq * D * sizeof(float));
    if (cosine) knn_normalize_rows(Qn, (size_t)nq, (size_t)D, Qn);
    // refine R: R k candidates from the index, re-ranked by their exact scores
    // (the stored vectors read back from the file): the hits carry the brute
    // force's scores, and recall is no longer capped by the codes' precision
    const int k = o->k;
    const int64_t want = (int64_t)k * (o->refine > 0 ? o->refine : 1);
    const int kk = want < n ? (int)want : (int)n;
    float *d2 = am_malloc((size_t)nq * kk * sizeof *d2, "distances");
    int64_t *lab = am_malloc((size_t)nq * kk * sizeof *lab, "labels");
    float *cand = o->refine > 0 ? am_malloc((size_t)kk * D * sizeof *cand + 4, "refined candidates") : NULL;
    int64_t *ci = am_malloc((size_t)kk * sizeof *ci + 8, "refined candidates");
    int rc = ann_search(ix, Qn, nq, kk, d2, lab, err);
    for (int q = 0; q < nq && !rc; q++) {
        int m = 0;
        for (int i = 0; i < kk; i++) {
            const int64_t l = lab[(size_t)q * kk + i];
            if (l < 0 || l >= n) continue;
            if (cand) {
                ci[m++] = sp->t0 + l;
                continue;
            }
            const float d = d2[(size_t)q * kk + i] > 0 ? d2[(size_t)q * kk + i] : 0.0f;
            const float score = cosine ? 1.0f - 0.5f * d : -sqrtf(d);
            search_topk_insert(local + (size_t)q * k, k, (SearchHit){sp->tg[sp->t0 + l], score});
        }
        if (cand && m > 0 && !(rc = read_target_list(sp, ci, m, cand, err)))
            for (int i = 0; i < m; i++)
                search_topk_insert(local + (size_t)q * k, k,
                                   (SearchHit){sp->tg[ci[i]], search_exact_score(sp, Q + (size_t)q * D, cand + (size_t)i * D)});
    }
    free(cand), free(ci);
    free(d2), free(lab), free(Qn);
    ann_free(ix);
    return rc;
}
