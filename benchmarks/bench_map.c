// bench_map: astromm map's UMAP-style layout (src/eval/umap.h) with the exact
// and the HNSW k-NN graph on one embedding of an embeddings file (e.g. the
// synthetic ones of bench_search --generate). benchmarks/map.sh runs it and
// writes benchmarks/results/map.md.
//
//   bench_map --in EMB.h5 [--embedding image] [--rows N] [--knn exact,hnsw]
//             [--sample 500] [--tk 10] [--epochs 200] [--graph-recall]
//             [--knn-pca 64] [--hnsw-m 32] [--ef-construction 40]
//
// For each k-NN kind: the seconds of the graph and of the layout, peak RSS, and
// the layout's trustworthiness (Venna & Kaski; sklearn.manifold.trustworthiness
// with the cosine distance in the embedding space, the map's geometry, and the
// Euclidean in 2-D) at --tk neighbours, estimated on --sample points drawn by
// Philox (the exact formula averages the penalty over all n points; each
// sampled point's penalty is exact: its ranks come from a full scan of the n
// points). --graph-recall also reports the share of the exact graph's
// neighbours that the HNSW graph finds (an extra exact graph: O(n^2)).
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/rng.h"
#include "eval/embeddings_file.h"
#include "eval/knn.h"
#include "eval/knn_ann.h"
#include "eval/umap.h"

static const char *arg(int argc, char **argv, const char *name, const char *def) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return def;
}

typedef struct {
    float d;
    int32_t j;
} DJ;
static int dj_cmp(const void *a, const void *b) {
    const DJ *p = a, *q = b;
    if (p->d != q->d) return p->d < q->d ? -1 : 1;
    return (p->j > q->j) - (p->j < q->j);
}

// Trustworthiness at k estimated on the sampled points: unit rows U [n, d]
// (cosine = 1 - dot), layout Y [n, 2].
static double trustworthiness(const float *U, const float *Y, size_t n, size_t d, int k, const int64_t *sample,
                              int ns) {
    double pen = 0;
#pragma omp parallel reduction(+ : pen)
    {
        DJ *o = malloc(n * sizeof *o);
        int32_t *rank = malloc(n * sizeof *rank);
#pragma omp for schedule(dynamic, 1)
        for (int s = 0; s < ns; s++) {
            const size_t i = (size_t)sample[s];
            size_t m = 0;
            for (size_t j = 0; j < n; j++) {
                if (j == i) continue;
                float dot = 0;
                for (size_t c = 0; c < d; c++) dot += U[i * d + c] * U[j * d + c];
                o[m++] = (DJ){1.0f - dot, (int32_t)j};
            }
            qsort(o, m, sizeof *o, dj_cmp);
            for (size_t r = 0; r < m; r++) rank[o[r].j] = (int32_t)(r + 1);
            m = 0;
            for (size_t j = 0; j < n; j++)
                if (j != i) {
                    const float dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
                    o[m++] = (DJ){dx * dx + dy * dy, (int32_t)j};
                }
            // the k nearest in 2-D only: a partial selection would do, a sort is simpler
            qsort(o, m, sizeof *o, dj_cmp);
            for (int r = 0; r < k; r++)
                if (rank[o[r].j] > k) pen += rank[o[r].j] - k;
        }
        free(o);
        free(rank);
    }
    const double N = (double)n;
    return 1.0 - 2.0 / (k * (2.0 * N - 3.0 * k - 1.0)) * (pen / ns);
}

int main(int argc, char **argv) {
    const char *in = arg(argc, argv, "--in", NULL);
    if (!in) return fprintf(stderr, "usage: see the comment at the top of benchmarks/bench_map.c\n"), 2;
    const char *emb = arg(argc, argv, "--embedding", "image"), *kinds = arg(argc, argv, "--knn", "exact,hnsw");
    const int ns_want = atoi(arg(argc, argv, "--sample", "500")), tk = atoi(arg(argc, argv, "--tk", "10"));
    EmbView v;
    AmError err = {{0}};
    const double t_read = am_now_s();
    if (emb_read_view(in, emb, &v, &err)) return fprintf(stderr, "bench_map: %s\n", err.msg), 1;
    size_t n = v.n;
    const long rows = atol(arg(argc, argv, "--rows", "0"));
    if (rows > 0 && (size_t)rows < n) n = (size_t)rows;  // the first N rows
    const size_t d = v.d;
    printf("bench_map: %s /embeddings/%s: %zu rows of %zu, %zu dims (read in %.1f s)\n", in, emb, n, v.n, d,
           am_now_s() - t_read);
    float *U = malloc(n * d * sizeof *U);
    knn_normalize_rows(v.x, n, d, U);
    const int ns = (size_t)ns_want < n ? ns_want : (int)n;
    int64_t *sample = malloc((size_t)ns * sizeof *sample);
    const AmRng r = am_rng(7, 0, RNG_SYNTH, 5);
    for (int s = 0; s < ns; s++) sample[s] = am_rng_below(&r, (uint64_t)s, (uint32_t)n);
    UmapParams p;
    umap_params_default(&p);
    p.epochs = atoi(arg(argc, argv, "--epochs", "200"));
    p.knn_pca = atoi(arg(argc, argv, "--knn-pca", "64"));
    p.hnsw.hnsw_m = atoi(arg(argc, argv, "--hnsw-m", "32"));
    p.hnsw.ef_construction = atoi(arg(argc, argv, "--ef-construction", "40"));
    float *Y = malloc(2 * n * sizeof *Y);
    for (int kind = UMAP_KNN_EXACT; kind <= UMAP_KNN_HNSW; kind++) {
        const char *name = kind == UMAP_KNN_EXACT ? "exact" : "hnsw";
        if (!strstr(kinds, name)) continue;
        p.knn = kind;
        UmapInfo info;
        const double t0 = am_now_s();
        if (umap_embed(v.x, n, d, &p, Y, &info, &err)) return fprintf(stderr, "bench_map: %s\n", err.msg), 1;
        const double total = am_now_s() - t0;
        const double t1 = am_now_s();
        const double tw = trustworthiness(U, Y, n, d, tk, sample, ns);
        printf("RESULT n=%zu d=%zu knn=%s knn_pca=%d knn_s=%.1f layout_s=%.1f total_s=%.1f epochs=%d trust_k=%d trust_sample=%d "
               "trustworthiness=%.4f exact_rows=%zu peak_rss_mib=%.0f (trustworthiness took %.1f s)\n",
               n, d, name, kind == UMAP_KNN_HNSW ? p.knn_pca : 0, info.knn_s, info.layout_s, total, p.epochs, tk, ns, tw, info.knn_exact_rows,
               am_peak_rss_mib(), am_now_s() - t1);
        fflush(stdout);
    }
    int graph_recall = 0;
    for (int i = 1; i < argc; i++) graph_recall |= !strcmp(argv[i], "--graph-recall");
    if (graph_recall) {
        const int k = p.n_neighbors - 1;
        int32_t *ie = malloc(n * k * sizeof *ie), *ia = malloc(n * k * sizeof *ia);
        float *de = malloc(n * k * sizeof *de), *da = malloc(n * k * sizeof *da);
        double te = am_now_s();
        knn_cosine(v.x, n, d, k, ie, de);
        te = am_now_s() - te;
        double ta = am_now_s();
        if (knn_cosine_ann(v.x, n, d, k, &p.hnsw, p.knn_pca, ia, da, NULL, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        ta = am_now_s() - ta;
        size_t found = 0;
        for (size_t i = 0; i < n; i++)
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++)
                    if (ia[i * k + a] == ie[i * k + b]) {
                        found++;
                        break;
                    }
        printf("GRAPH n=%zu k=%d knn_pca=%d hnsw_m=%d ef_construction=%d exact_s=%.1f hnsw_s=%.1f recall=%.4f\n", n, k,
               p.knn_pca, p.hnsw.hnsw_m, p.hnsw.ef_construction, te, ta, (double)found / ((double)n * k));
        free(ie), free(ia), free(de), free(da);
    }
    free(Y), free(U), free(sample);
    emb_view_free(&v);
    return 0;
}
