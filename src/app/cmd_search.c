// astromm search: top-k neighbours in an embeddings file (src/eval/search.h),
// optionally with a montage of the images (src/eval/montage.h).
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "io/text_out.h"
#include "core/error.h"
#include "eval/embeddings_file.h"
#include "eval/montage.h"
#include "eval/search.h"
#include "mpi/comm.h"

static void help(void) {
    printf("usage: [mpirun -np N] astromm search --embeddings FILE.h5 (--id ID | --ids FILE) [options]\n\n"
           "Top-k neighbours of query objects in an embeddings file from astromm embed, by\n"
           "cosine similarity (default) or Euclidean distance, within an embedding or across\n"
           "them (e.g. a light curve against all spectra: --query-modality photometry\n"
           "--target-modality spectra), optionally in the first P principal components of the\n"
           "targets (Zoobot's similarity search: --pca 10 --metric euclidean). The targets are\n"
           "sharded across ranks: each rank reads and searches only its share, and the top-k\n"
           "lists are merged. Exact brute force by default (identical for any rank count); FAISS\n"
           "indexes (flat, hnsw, ivfpq) with --index or search.* config keys, each rank's index\n"
           "saved under FILE.h5.index/ and reused. Ties are broken by the smaller row. Within an\n"
           "embedding the object itself comes first.\n\n"
           "  --embeddings FILE        the embeddings file (astromm embed --out)\n"
           "  --id ID                  one query object id\n"
           "  --ids FILE               query ids, one per line (blank lines and # comments skipped)\n"
           "  --modality M             query and target embedding: AstroM3 photometry, spectra,\n"
           "                           metadata, fused; images: image\n"
           "  --query-modality M       the query's embedding (default fused, or the file's only one)\n"
           "  --target-modality M      the targets' embedding (default: the query's)\n"
           "  --metric M               cosine (default) or euclidean\n"
           "  --pca P                  search in the first P principal components of the targets\n"
           "  --k N                    neighbours per query (default 10)\n"
           "  --split S                targets from split all (default), train, val or test\n"
           "  --out FILE               write the CSV there instead of stdout\n"
           "  --montage FILE.png       the images of each query (first column) and its neighbours,\n"
           "                           one row per query (image datasets)\n"
           "  --dataset FILE           the image dataset for --montage (default: the file's dataset)\n"
           "  --block N                targets per work block (default 4096; blocks are dealt to ranks)\n"
           "  --index T                exact (default: brute force), flat, hnsw or ivfpq (search.index)\n"
           "  --config FILE, --set K=V search.* keys: hnsw_m, hnsw_ef_construction, hnsw_ef_search,\n"
           "                           ivf_nlist, ivf_nprobe, pq_m, pq_nbits, refine, pca_sample, index_dir,\n"
           "                           rebuild (true: build even where a saved index exists)\n\n"
           "output (CSV): query_id,rank,neighbour_id,label,cosine (or euclidean: the distance)\n"
           "exit codes: 0 done, 1 runtime error, 2 bad arguments or input.\n");
}

static int loud = 1;  // only rank 0 reports argument errors

static int say(const char *fmt, ...) AM_PRINTF(1, 2);
static int say(const char *fmt, ...) {
    if (loud) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    return 2;
}

static int parse_id(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') end++;
    if (errno || end == s || *end) return 1;
    *out = (int64_t)v;
    return 0;
}

// Reads ids into *ids (malloc'd). Returns 0 or prints the error (file:line) and returns 2.
static int read_ids(const char *path, int64_t **ids, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) return say("astromm search: --ids %s: %s\n", path, strerror(errno)), 2;
    int cap = 64, line = 0;
    *ids = malloc((size_t)cap * sizeof **ids);
    *n = 0;
    char buf[256];
    while (fgets(buf, sizeof buf, f)) {
        line++;
        char *p = buf;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || !*p) continue;
        int64_t v;
        if (parse_id(p, &v)) {
            buf[strcspn(buf, "\r\n")] = '\0';
            say("astromm search: %s:%d: '%s' is not an object id (integer)\n", path, line, buf);
            fclose(f);
            return 2;
        }
        if (*n == cap) *ids = realloc(*ids, (size_t)(cap *= 2) * sizeof **ids);
        CHECK(*ids, "out of memory reading %s", path);
        (*ids)[(*n)++] = v;
    }
    fclose(f);
    if (!*n) return say("astromm search: --ids %s: no ids in the file\n", path), 2;
    return 0;
}

// A positive integer option in 1..max (absent: *out unchanged). Returns 0 or 2.
static int int_option(const CliArgs *a, const char *opt, long max, int *out) {
    const char *v = cli_option(a, opt);
    if (!v) return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || end == v || x < 1 || x > max)
        return say("astromm search: %s '%s': expected an integer from 1 to %ld\n", opt, v, max);
    *out = (int)x;
    return 0;
}

// Everything but the search itself; prints errors when loud. Returns 0 or 2.
static int setup(const CliArgs *a, const RunConfig *cfg, EmbSet *s, SearchOptions *o, int64_t **qrows, int *nq) {
    int rc = 2;
    int64_t *ids = NULL;
    int n = 0;
    const char *path = cli_option(a, "--embeddings"), *id = cli_option(a, "--id"), *idf = cli_option(a, "--ids");
    const char *m = cli_option(a, "--modality"), *qm = cli_option(a, "--query-modality");
    const char *tm = cli_option(a, "--target-modality"), *sp = cli_option(a, "--split");
    const char *metric = cli_option(a, "--metric");
    *o = (SearchOptions){.k = 10, .target_split = -1, .metric = SEARCH_COSINE, .pca_sample = cfg->search_pca_sample,
                         .pca_refit = cfg->search_pca_refit, .refine = cfg->search_refine,
                         .index_dir = cfg->index_dir, .rebuild_index = cfg->search_rebuild,
                         .ann = {.type = cfg->search_index, .hnsw_m = cfg->hnsw_m,
                                 .ef_construction = cfg->hnsw_ef_construction, .ef_search = cfg->hnsw_ef_search,
                                 .ivf_nlist = cfg->ivf_nlist, .ivf_nprobe = cfg->ivf_nprobe, .pq_m = cfg->pq_m,
                                 .pq_nbits = cfg->pq_nbits}};
    const char *index = cli_option(a, "--index");
    if (index) {
        static const char *const types[] = {"exact", "flat", "hnsw", "ivfpq"};
        o->ann.type = -1;
        for (int t = 0; t < 4; t++)
            if (!strcmp(index, types[t])) o->ann.type = t;  // ANN_* order
        if (o->ann.type < 0) {
            say("astromm search: --index '%s': expected exact, flat, hnsw or ivfpq\n", index);
            goto done;
        }
    }
    if (!path) {
        say("astromm search: --embeddings FILE is required (try: astromm search --help)\n");
        goto done;
    }
    if (!id == !idf) {
        say("astromm search: give exactly one of --id ID or --ids FILE\n");
        goto done;
    }
    if (m && (qm || tm)) {
        say("astromm search: --modality sets both; do not combine it with --query-/--target-modality\n");
        goto done;
    }
    if (m) qm = tm = m;
    if (int_option(a, "--k", 100000, &o->k) || int_option(a, "--block", 1L << 24, &o->block) ||
        int_option(a, "--pca", 1L << 20, &o->pca))
        goto done;
    if (metric && strcmp(metric, "cosine") && strcmp(metric, "euclidean")) {
        say("astromm search: --metric '%s': expected cosine or euclidean\n", metric);
        goto done;
    }
    if (metric && !strcmp(metric, "euclidean")) o->metric = SEARCH_EUCLIDEAN;
    if (sp) {
        o->target_split = emb_split_parse(sp);
        if (o->target_split == -2) {
            say("astromm search: --split '%s': expected all, train, val or test\n", sp);
            goto done;
        }
    }
    if (id) {
        ids = malloc(sizeof *ids);
        n = 1;
        if (parse_id(id, ids)) {
            say("astromm search: --id '%s' is not an object id (integer)\n", id);
            goto done;
        }
    } else if (read_ids(idf, &ids, &n)) {
        goto done;
    }
    AmError e = {{0}};
    char dflt[EMB_SLOT_NAME_MAX];
    if (!qm) {  // the default: fused, or the file's only embedding
        if (emb_default_name(path, dflt, sizeof dflt, &e)) {
            say("astromm search: %s\n", e.msg);
            goto done;
        }
        qm = dflt;
    }
    // the metadata only: each rank reads the rows it searches (search.h)
    const char *want[2] = {qm, tm ? tm : qm};
    if (emb_read_some(path, want, 0, s, &e)) {
        say("astromm search: %s\n", e.msg);
        goto done;
    }
    o->query_mod = emb_slot_index(s, want[0]);
    o->target_mod = emb_slot_index(s, want[1]);
    for (int i = 0; i < 2; i++)
        if ((i ? o->target_mod : o->query_mod) < 0) {
            char list[EMB_MAX_SLOTS * EMB_SLOT_NAME_MAX];
            emb_slot_list(s, list, sizeof list);
            say("astromm search: %s: no embedding '%s' in the file (it has: %s)\n", path, want[i], list);
            goto done;
        }
    if (o->pca > s->dim) {
        say("astromm search: --pca %d is larger than the embedding dimension %d of %s\n", o->pca, s->dim, path);
        goto done;
    }
    *qrows = malloc((size_t)n * sizeof **qrows);
    emb_find_ids(s, ids, n, *qrows);
    for (int i = 0; i < n; i++) {
        const int64_t r = (*qrows)[i];
        if (r < 0) {
            say("astromm search: unknown query id %lld: not in %s\n", (long long)ids[i], path);
            goto done;
        }
        if (!emb_row_has(s, r, o->query_mod)) {
            say("astromm search: object %lld has no %s data (/has in %s)\n", (long long)ids[i],
                s->slot[o->query_mod], path);
            goto done;
        }
    }
    const int64_t nt = search_count_targets(s, o);
    if (nt == 0) {
        say("astromm search: no targets with %s embeddings%s%s in %s: nothing to search\n", s->slot[o->target_mod],
            o->target_split >= 0 ? " in split " : "", o->target_split >= 0 ? emb_split_name(o->target_split) : "", path);
        goto done;
    }
    if (o->k > nt) {
        say("astromm search: --k %d is larger than the %lld targets (%s%s%s)\n", o->k, (long long)nt,
            s->slot[o->target_mod], o->target_split >= 0 ? ", split " : "",
            o->target_split >= 0 ? emb_split_name(o->target_split) : "");
        goto done;
    }
    *nq = n;
    rc = 0;
done:
    free(ids);
    return rc;
}

// The montage of each query and its hits (rank 0). Returns 0 or 1.
static int write_montage(const CliArgs *a, const EmbSet *s, const int64_t *qrows, int nq, int k, const SearchHit *hits) {
    const char *out = cli_option(a, "--montage"), *ds = cli_option(a, "--dataset");
    int64_t *rows = am_malloc((size_t)nq * (k + 1) * sizeof *rows, "montage rows");
    for (int q = 0; q < nq; q++) {
        rows[(size_t)q * (k + 1)] = s->index[qrows[q]];
        for (int i = 0; i < k; i++) {
            const SearchHit *h = &hits[(size_t)q * k + i];
            rows[(size_t)q * (k + 1) + 1 + i] = h->row >= 0 ? s->index[h->row] : -1;
        }
    }
    AmError err = {{0}};
    const int rc = montage_write(ds ? ds : s->dataset, rows, nq, k + 1, 1, out, &err);
    if (rc) fprintf(stderr, "astromm search: --montage: %s%s\n", err.msg, ds ? "" : " (give the images with --dataset FILE)");
    free(rows);
    return rc;
}

int cmd_search(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "search")) return 2;
    if (a.help) return help(), 0;
    static const char *const allowed[] = {"--embeddings", "--id", "--ids", "--modality", "--query-modality",
                                          "--target-modality", "--k", "--split", "--out", "--block", "--metric",
                                          "--pca", "--montage", "--dataset", "--index", NULL};
    if (cli_reject_unknown(&a, "search", allowed)) return 2;
    if (a.n_rest % 2) return fprintf(stderr, "astromm search: %s needs a value\n", a.rest[a.n_rest - 1]), 2;
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, "search")) return 2;
    Comm *comm = comm_init(&argc, &argv);
    const int rank = comm_rank(comm);
    EmbSet s = {0};
    SearchOptions o;
    int64_t *qrows = NULL;
    int nq = 0;
    loud = rank == 0;
    int rc = setup(&a, &cfg, &s, &o, &qrows, &nq);
    if (!rc) {
        SearchHit *hits = am_malloc((size_t)nq * o.k * sizeof *hits, "hits");
        SearchStats st;
        AmError err = {{0}};
        const int64_t nt = search_topk(&s, qrows, nq, &o, comm, hits, &st, &err);
        if (nt < 0) {
            if (err.msg[0] && !strstr(err.msg, "another rank failed"))
                fprintf(stderr, "astromm search: rank %d: error: %s\n", rank, err.msg);
            rc = 1;
        }
        if (nt >= 0 && st.pca_stored && rank == 0)
            fprintf(stderr, "astromm search: --pca %d: the file's stored PCA scores (/pca/%s, embed.pca); "
                            "--set search.pca_refit=true fits the targets' own\n", o.pca, s.slot[o.target_mod]);
        if (nt >= 0 && o.ann.type != ANN_EXACT && rank == 0)
            fprintf(stderr, "astromm search: %s index, %d shard(s) of ~%lld targets: rank 0 %s it in %.2f s, "
                            "searched in %.3f s\n", ann_type_name(o.ann.type), comm_size(comm), (long long)st.shard,
                    st.built ? "built" : "loaded", st.build_s, st.search_s);
        if (nt >= 0 && rank == 0) {
            const char *out = cli_option(&a, "--out");
            TextOut t;
            if (text_out_open(&t, out ? out : "-", &err)) {
                fprintf(stderr, "astromm search: --out: %s\n", err.msg);
                rc = 1;
            } else {
                search_write_csv(t.f, &s, qrows, nq, o.k, o.metric, hits, 1);
                if (text_out_commit(&t, &err)) {
                    fprintf(stderr, "astromm search: %s\n", err.msg);
                    rc = 1;
                }
            }
            if (!rc && cli_option(&a, "--montage")) rc = write_montage(&a, &s, qrows, nq, o.k, hits);
        }
        free(hits);
    }
    free(qrows);
    emb_free(&s);
    comm_finalize(comm);
    return rc;
}
