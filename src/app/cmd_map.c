// astromm map: 2-D coordinates (PCA or a UMAP-style layout) for the embeddings
// that astromm embed wrote; CSV (id,label,class,x,y) and/or HDF5 out. See docs/map.md.
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "core/clock.h"
#include "eval/embeddings_file.h"
#include "eval/map_file.h"
#include "eval/pca.h"
#include "eval/umap.h"
#include "nn/ops.h"

static int parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi)
        return fprintf(stderr, "astromm %s: %s must be an integer in [%ld, %ld] (got '%s')\n", cmd, opt, lo, hi,
                       s ? s : ""),
               2;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || *end || !(v >= lo && v <= hi))
        return fprintf(stderr, "astromm %s: %s must be a number in [%g, %g] (got '%s')\n", cmd, opt, lo, hi, s ? s : ""), 2;
    *out = (float)v;
    return 0;
}

int cmd_map(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "map")) return 2;
    if (a.help) {
        printf("usage: astromm map --in EMB.h5 [--embedding fused|photometry|spectra|metadata|image]\n"
               "                  [--method umap|pca] [--neighbors 15] [--min-dist 0.1] [--epochs 200]\n"
               "                  [--init pca|random] [--seed 42] [--knn auto|exact|hnsw] [--config FILE]\n"
               "                  [--set map.knn=...|search.hnsw_*=...] --out MAP.csv [--out-h5 MAP.h5]\n\n"
               "2-D coordinates for the embeddings astromm embed wrote: PCA, or a UMAP-style layout\n"
               "(cosine kNN graph, fuzzy union, SGD with negative sampling), deterministic from --seed\n"
               "for any thread count. The k-NN graph is exact up to 50000 rows and approximate\n"
               "(FAISS HNSW, search.hnsw_* keys) beyond (--knn / map.knn to choose).\n"
               "Rows whose /has lacks the embedding are skipped. Image models'\n"
               "files hold one embedding, image.\n"
               "CSV columns: id,label,class,x,y. HDF5: /id, /label, /xy [N,2] and the parameters.\n");
        return 0;
    }
    static const char *const allowed[] = {"--in",   "--embedding", "--method", "--neighbors", "--min-dist", "--epochs",
                                          "--seed", "--out",       "--out-h5", "--init",      "--knn",      NULL};
    if (cli_reject_unknown(&a, "map", allowed)) return 2;
    for (int i = 0; i < a.n_rest; i += 2)
        if (i + 1 >= a.n_rest) return fprintf(stderr, "astromm map: %s needs a value\n", a.rest[i]), 2;
    const char *in_path = cli_option(&a, "--in");
    const char *out = cli_option(&a, "--out"), *out_h5 = cli_option(&a, "--out-h5");
    const char *emb = cli_option(&a, "--embedding"), *method = cli_option(&a, "--method");
    const char *init = cli_option(&a, "--init");
    if (!in_path) return fprintf(stderr, "astromm map: --in EMB.h5 is required\n"), 2;
    if (!out && !out_h5) return fprintf(stderr, "astromm map: --out MAP.csv (and/or --out-h5 MAP.h5) is required\n"), 2;
    if (!emb) emb = "fused";
    if (!method) method = "umap";
    if (strcmp(method, "umap") && strcmp(method, "pca"))
        return fprintf(stderr, "astromm map: --method must be umap or pca (got '%s')\n", method), 2;
    if (strlen(emb) > 60 || strchr(emb, '/'))
        return fprintf(stderr, "astromm map: --embedding '%s' is not a dataset name\n", emb), 2;
    UmapParams up;
    umap_params_default(&up);
    const char *v;
    if ((v = cli_option(&a, "--neighbors")) && parse_int("map", "--neighbors", v, 2, 1000, &up.n_neighbors)) return 2;
    if ((v = cli_option(&a, "--epochs")) && parse_int("map", "--epochs", v, 1, 100000, &up.epochs)) return 2;
    if ((v = cli_option(&a, "--min-dist")) && parse_float("map", "--min-dist", v, 0.0, 0.999, &up.min_dist)) return 2;
    if ((v = cli_option(&a, "--seed"))) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-')
            return fprintf(stderr, "astromm map: --seed must be a non-negative integer (got '%s')\n", v), 2;
        up.seed = s;
    }
    if (init) {
        if (!strcmp(init, "pca")) up.init = UMAP_INIT_PCA;
        else if (!strcmp(init, "random")) up.init = UMAP_INIT_RANDOM;
        else return fprintf(stderr, "astromm map: --init must be pca or random (got '%s')\n", init), 2;
    }
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, "map")) return 2;
    ops_init(cfg.threads);
    up.knn = cfg.map_knn;
    up.knn_pca = cfg.map_knn_pca;
    up.hnsw = (AnnParams){.type = ANN_HNSW, .hnsw_m = cfg.hnsw_m, .ef_construction = cfg.hnsw_ef_construction,
                          .ef_search = cfg.hnsw_ef_search};
    const char *knn = cli_option(&a, "--knn");
    if (knn) {
        static const char *const kinds[] = {"auto", "exact", "hnsw"};  // UMAP_KNN_* order
        up.knn = -1;
        for (int t = 0; t < 3; t++)
            if (!strcmp(knn, kinds[t])) up.knn = t;
        if (up.knn < 0) return fprintf(stderr, "astromm map: --knn must be auto, exact or hnsw (got '%s')\n", knn), 2;
    }

    AmError err = {{0}};
    EmbView in;
    const double t0 = am_now_s();
    if (emb_read_view(in_path, emb, &in, &err)) return fprintf(stderr, "astromm map: %s\n", err.msg), 1;
    if (in.n < 2) {
        fprintf(stderr, "astromm map: %s: only %zu of %zu rows have the %s embedding; need at least 2\n", in_path, in.n,
                in.n_file, emb);
        emb_view_free(&in);
        return 1;
    }
    printf("map: %s /embeddings/%s: %zu of %zu rows, %zu dims, method %s\n", in_path, emb, in.n, in.n_file, in.d,
           method);
    if (!strcmp(method, "umap") && (size_t)up.n_neighbors > in.n)
        printf("map: warning: --neighbors %d > %zu rows; using %zu\n", up.n_neighbors, in.n, in.n);
    float *xy = am_malloc(2 * in.n * sizeof *xy, "map coordinates");
    UmapInfo info = {0};
    int rc = 0;
    if (!strcmp(method, "pca")) {
        double var[2];
        pca_fit_transform(in.x, in.n, in.d, 2, xy, var);
        printf("map: PCA explained variance %.6g, %.6g\n", var[0], var[1]);
    } else if (umap_embed(in.x, in.n, in.d, &up, xy, &info, &err)) {
        fprintf(stderr, "astromm map: %s\n", err.msg);
        rc = 1;
    } else {
        printf("map: UMAP %d neighbours (%s k-NN graph in %.1f s%s), %zu edges, a=%.4f b=%.4f, %d epochs in %.1f s, "
               "seed %llu\n", info.n_neighbors, info.knn == UMAP_KNN_HNSW ? "HNSW" : "exact", info.knn_s,
               info.knn_exact_rows ? ", some rows by exact scan" : "", info.n_edges, (double)info.a, (double)info.b,
               up.epochs, info.layout_s, (unsigned long long)up.seed);
    }
    const MapMeta mm = {in_path, emb, method, up, !strcmp(method, "umap") ? &info : NULL};
    if (!rc && out && map_write_csv(out, &in, xy, &err)) fprintf(stderr, "astromm map: %s\n", err.msg), rc = 1;
    if (!rc && out_h5 && map_write_h5(out_h5, &in, xy, &mm, &err)) fprintf(stderr, "astromm map: %s\n", err.msg), rc = 1;
    if (!rc)
        printf("map: wrote %s%s%s (%zu points) in %.2f s\n", out ? out : "", out && out_h5 ? " and " : "",
               out_h5 ? out_h5 : "", in.n, am_now_s() - t0);
    free(xy);
    emb_view_free(&in);
    return rc;
}
