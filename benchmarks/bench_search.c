// bench_search: astromm search (src/eval/search.h) on a synthetic embeddings
// file with cluster structure, one index type per process (so the peak RSS is
// that index's). benchmarks/search.sh runs it for each size and index type and
// writes benchmarks/results/search.md.
//
//   bench_search --generate --file F --n N [--dim 512] [--clusters 1000] [--seed 1]
//       writes F: N rows around `clusters` centres; each cluster spreads along
//       its own 16 random directions (std 1) plus isotropic noise (std 0.05):
//       embeddings of low intrinsic dimension, as learned ones are. Philox
//       (RNG_SYNTH) by element index: the same file for any thread count.
//   bench_search --file F --index exact|flat|hnsw|ivfpq [--queries 100] [--k 10]
//       [--repeat 3] [--ref R.bin] [--write-ref] [--metric cosine|euclidean]
//       [--hnsw-m 32] [--ef-construction 40] [--ef-search 64] [--nlist 0]
//       [--nprobe 16] [--pq-m 0] [--refine 0] [--block 4096] [--sweep 16,32,64,...]
//       [--sweep-refine 2,10,...]
//       builds the index (rebuild), then searches --repeat times with the saved
//       index; prints one line "RESULT n=... index=... build_s=... search_s_median=...
//       search_s_min=... search_s_max=... qps=... recall=... peak_rss_mib=...
//       index_mib=...". --write-ref stores the hits (exact: the reference) in R;
//       otherwise recall@k is measured against R when given. --sweep then
//       searches the same saved index at each search-effort value (efSearch for
//       hnsw, nprobe for ivfpq) and prints one line "SWEEP ... param=... value=...
//       search_s_median=... qps=... recall=..." per value: the recall curve
//       costs one build. --sweep-refine does the same for search.refine
//       values (at the given efSearch / nprobe).
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/rng.h"
#include "eval/embeddings_file.h"
#include "eval/search.h"
#include "mpi/comm.h"

static const char *arg(int argc, char **argv, const char *name, const char *def) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return def;
}
static int flag(int argc, char **argv, const char *name) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name)) return 1;
    return 0;
}

static int generate(Comm *comm, const char *path, int64_t n, int D, int C, uint64_t seed) {
    enum { R = 16 };
    float *centre = malloc((size_t)C * D * sizeof *centre), *dirs = malloc((size_t)C * R * D * sizeof *dirs);
    const AmRng rc = am_rng(seed, 0, RNG_SYNTH, 0), rd = am_rng(seed, 0, RNG_SYNTH, 1);
    for (size_t i = 0; i < (size_t)C * D; i++) centre[i] = 3.0f * am_rng_normal(&rc, i);
    for (size_t i = 0; i < (size_t)C * R * D; i++) dirs[i] = am_rng_normal(&rd, i) / sqrtf((float)D);
    const char *names[1] = {"image"};
    EmbFileInfo info = {.checkpoint = "synthetic", .dataset = "bench_search", .n = n, .dim = D, .n_slots = 1,
                        .n_has = 1, .slot_names = names};
    EmbWriter *w = NULL;
    AmError err = {{0}};
    if (emb_writer_open(path, comm, &info, &w, &err)) return fprintf(stderr, "bench_search: %s\n", err.msg), 1;
    const int64_t B = 65536;
    float *x = malloc((size_t)B * D * sizeof *x);
    int64_t *id = malloc(B * sizeof *id), *index = malloc(B * sizeof *index);
    int32_t *label = malloc(B * sizeof *label);
    uint8_t *split = malloc(B), *has = malloc(B);
    const AmRng rm = am_rng(seed, 0, RNG_SYNTH, 2), rz = am_rng(seed, 0, RNG_SYNTH, 3),
                re = am_rng(seed, 0, RNG_SYNTH, 4);
    for (int64_t r0 = 0; r0 < n; r0 += B) {
        const int64_t nb = r0 + B < n ? B : n - r0;
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < nb; j++) {
            const int64_t i = r0 + j;
            const int c = (int)am_rng_below(&rm, (uint64_t)i, (uint32_t)C);
            float z[R];
            for (int t = 0; t < R; t++) z[t] = am_rng_normal(&rz, (uint64_t)i * R + t);
            float *v = x + (size_t)j * D;
            for (int d = 0; d < D; d++) {
                float s = centre[(size_t)c * D + d] + 0.05f * am_rng_normal(&re, (uint64_t)i * D + d);
                for (int t = 0; t < R; t++) s += z[t] * dirs[((size_t)c * R + t) * D + d] * sqrtf((float)D) / 4.0f;
                v[d] = s;
            }
            id[j] = i + 1;
            index[j] = i;
            label[j] = -1;
            split[j] = (uint8_t)(i % 10 < 8 ? 0 : i % 10 == 8 ? 1 : 2);
            has[j] = 1;
        }
        const float *e[1] = {x};
        if (emb_writer_write(w, r0, nb, id, label, split, has, index, e, &err))
            return fprintf(stderr, "bench_search: %s\n", err.msg), 1;
    }
    if (emb_writer_close(w, 1, &err)) return fprintf(stderr, "bench_search: %s\n", err.msg), 1;
    free(centre), free(dirs), free(x), free(id), free(index), free(label), free(split), free(has);
    return 0;
}

static double dir_mib(const char *dir) {
    DIR *d = opendir(dir);
    double bytes = 0;
    struct dirent *e;
    char p[2048];
    struct stat st;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (!stat(p, &st) && strstr(e->d_name, ".faiss")) bytes += (double)st.st_size;
        }
    if (d) closedir(d);
    return bytes / 1048576.0;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Searches repeat + 1 times: the first builds the index (approximate; it is
// saved and later searches load it) or warms the page cache (exact); ts gets
// the median, min and max of the others.
static int timed_searches(const EmbSet *s, const int64_t *q, int nq, SearchOptions *o, Comm *comm, int repeat,
                          SearchHit *hits, double *build, double ts[3], AmError *err) {
    double *t = malloc((size_t)(repeat + 1) * sizeof *t);
    SearchStats st;
    for (int r = 0; r <= repeat; r++) {
        if (search_topk(s, q, nq, o, comm, hits, &st, err) < 0) return free(t), 1;
        if (r == 0) *build = st.build_s;
        t[r] = st.search_s;
        o->rebuild_index = 0;
    }
    qsort(t + 1, (size_t)repeat, sizeof *t, cmp_double);
    ts[0] = repeat % 2 ? t[1 + repeat / 2] : 0.5 * (t[repeat / 2] + t[1 + repeat / 2]);
    ts[1] = t[1], ts[2] = t[repeat];
    free(t);
    return 0;
}

// recall@k: the share of the reference's k rows per query found in the hits.
static double recall_at_k(const SearchHit *hits, const int64_t *ref_rows, int nq, int k) {
    size_t hit = 0;
    for (int i = 0; i < nq; i++)
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                if (hits[(size_t)i * k + a].row >= 0 && hits[(size_t)i * k + a].row == ref_rows[(size_t)i * k + b]) {
                    hit++;
                    break;
                }
    return (double)hit / ((double)nq * k);
}

int main(int argc, char **argv) {
    Comm *comm = comm_init(&argc, &argv);  // the writer and the search are collective (one rank here)
    const char *path = arg(argc, argv, "--file", NULL);
    if (!path) return fprintf(stderr, "usage: see the comment at the top of benchmarks/bench_search.c\n"), 2;
    if (flag(argc, argv, "--generate")) {
        const double t0 = am_now_s();
        const int64_t n = atoll(arg(argc, argv, "--n", "100000"));
        const int rc = generate(comm, path, n, atoi(arg(argc, argv, "--dim", "512")), atoi(arg(argc, argv, "--clusters", "1000")),
                                strtoull(arg(argc, argv, "--seed", "1"), NULL, 10));
        if (!rc) printf("generated %s: %lld rows in %.1f s\n", path, (long long)n, am_now_s() - t0);
        comm_finalize(comm);
        return rc;
    }
    const char *type = arg(argc, argv, "--index", "exact");
    SearchOptions o = {.query_mod = 0, .target_mod = 0, .k = atoi(arg(argc, argv, "--k", "10")), .target_split = -1,
                       .block = atoi(arg(argc, argv, "--block", "4096")), .quiet = 1, .rebuild_index = 1,
                       .refine = atoi(arg(argc, argv, "--refine", "0")),
                       .metric = strcmp(arg(argc, argv, "--metric", "cosine"), "euclidean") ? SEARCH_COSINE
                                                                                            : SEARCH_EUCLIDEAN};
    o.ann = (AnnParams){.type = ANN_EXACT, .hnsw_m = atoi(arg(argc, argv, "--hnsw-m", "32")),
                        .ef_construction = atoi(arg(argc, argv, "--ef-construction", "40")),
                        .ef_search = atoi(arg(argc, argv, "--ef-search", "64")),
                        .ivf_nlist = atoi(arg(argc, argv, "--nlist", "0")),
                        .ivf_nprobe = atoi(arg(argc, argv, "--nprobe", "16")),
                        .pq_m = atoi(arg(argc, argv, "--pq-m", "0")), .pq_nbits = 8};
    for (int t = 0; t <= ANN_IVFPQ; t++)
        if (!strcmp(type, ann_type_name(t))) o.ann.type = t;
    if (strcmp(type, ann_type_name(o.ann.type))) return fprintf(stderr, "bench_search: --index %s?\n", type), 2;
    const int nq = atoi(arg(argc, argv, "--queries", "100")), repeat = atoi(arg(argc, argv, "--repeat", "3"));
    const char *ref = arg(argc, argv, "--ref", NULL);
    EmbSet s;
    AmError err = {{0}};
    static const char *const none[1] = {""};
    if (emb_read_some(path, none, 0, &s, &err)) return fprintf(stderr, "bench_search: %s\n", err.msg), 1;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s.index", path);
    o.index_dir = dir;
    int64_t *q = malloc((size_t)nq * sizeof *q);
    for (int i = 0; i < nq; i++) q[i] = (int64_t)((double)i * (double)s.n / nq) + 1;
    SearchHit *hits = malloc((size_t)nq * o.k * sizeof *hits);
    const size_t nh = (size_t)nq * o.k;
    int64_t *rows = malloc(nh * sizeof *rows);
    double build = 0, ts[3];
    if (timed_searches(&s, q, nq, &o, comm, repeat, hits, &build, ts, &err))
        return fprintf(stderr, "bench_search: %s\n", err.msg), 1;
    double recall = NAN;
    const int have_ref = ref && !flag(argc, argv, "--write-ref");
    if (ref && !have_ref) {
        for (size_t i = 0; i < nh; i++) rows[i] = hits[i].row;
        FILE *f = fopen(ref, "wb");
        if (!f || fwrite(rows, sizeof *rows, nh, f) != nh || fclose(f))
            return fprintf(stderr, "bench_search: cannot write %s\n", ref), 1;
    } else if (ref) {
        FILE *f = fopen(ref, "rb");
        if (!f || fread(rows, sizeof *rows, nh, f) != nh) return fprintf(stderr, "bench_search: cannot read %s\n", ref), 1;
        fclose(f);
        recall = recall_at_k(hits, rows, nq, o.k);
    }
    char desc[80];
    ann_describe(&o.ann, s.dim, s.n, desc, 64);
    if (o.refine > 0) snprintf(desc + strlen(desc), sizeof desc - strlen(desc), "+refine%d", o.refine);
    printf("RESULT n=%lld dim=%d index=%s desc=%s queries=%d k=%d build_s=%.3f search_s_median=%.4f "
           "search_s_min=%.4f search_s_max=%.4f qps=%.1f recall=%.4f peak_rss_mib=%.0f index_mib=%.1f\n",
           (long long)s.n, s.dim, type, o.ann.type == ANN_EXACT ? "brute-force" : desc, nq, o.k, build, ts[0],
           ts[1], ts[2], nq / ts[0], recall, am_peak_rss_mib(), o.ann.type == ANN_EXACT ? 0.0 : dir_mib(dir));
    fflush(stdout);
    const AnnParams given = o.ann;
    for (int pass = 0; pass < 2; pass++) {
        const char *sweep = arg(argc, argv, pass ? "--sweep-refine" : "--sweep", NULL);
        if (!sweep || o.ann.type == ANN_EXACT || (!pass && o.ann.type == ANN_FLAT)) continue;
        const char *param = pass ? "refine" : o.ann.type == ANN_HNSW ? "efSearch" : "nprobe";
        o.ann = given;
        for (const char *p = sweep; *p;) {
            const int v = atoi(p);
            if (pass) o.refine = v;
            else if (o.ann.type == ANN_HNSW) o.ann.ef_search = v;
            else o.ann.ivf_nprobe = v;
            double unused;
            if (timed_searches(&s, q, nq, &o, comm, repeat, hits, &unused, ts, &err))
                return fprintf(stderr, "bench_search: %s\n", err.msg), 1;
            printf("SWEEP n=%lld index=%s desc=%s param=%s value=%d search_s_median=%.4f search_s_min=%.4f "
                   "search_s_max=%.4f qps=%.1f recall=%.4f\n",
                   (long long)s.n, type, desc, param, v, ts[0], ts[1], ts[2], nq / ts[0],
                   have_ref ? recall_at_k(hits, rows, nq, o.k) : NAN);
            fflush(stdout);
            while (*p && *p != ',') p++;
            if (*p == ',') p++;
        }
    }
    free(rows), free(hits), free(q);
    emb_free(&s);
    comm_finalize(comm);
    return 0;
}
