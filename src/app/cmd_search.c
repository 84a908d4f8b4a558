// astromm search: cosine top-k neighbours in an embeddings file (src/eval/search.h).
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
#include "eval/search.h"
#include "mpi/comm.h"

static void help(void) {
    printf("usage: [mpirun -np N] astromm search --embeddings FILE.h5 (--id ID | --ids FILE) [options]\n\n"
           "Cosine top-k neighbours of query objects in an embeddings file from astromm embed,\n"
           "within a modality or across modalities (e.g. a light curve against all spectra:\n"
           "--query-modality photometry --target-modality spectra). Brute force with BLAS; the\n"
           "targets are split across ranks and the result is identical for any rank count.\n"
           "Ties are broken by the smaller row. Within a modality the object itself comes first.\n\n"
           "  --embeddings FILE        the embeddings file (astromm embed --out)\n"
           "  --id ID                  one query object id\n"
           "  --ids FILE               query ids, one per line (blank lines and # comments skipped)\n"
           "  --modality M             query and target modality: photometry, spectra, metadata, fused\n"
           "  --query-modality M       the query's modality (default fused)\n"
           "  --target-modality M      the targets' modality (default: the query's)\n"
           "  --k N                    neighbours per query (default 10)\n"
           "  --split S                targets from split all (default), train, val or test\n"
           "  --out FILE               write the CSV there instead of stdout\n"
           "  --block N                targets per GEMM block (default 4096; blocks are dealt to ranks)\n\n"
           "output (CSV): query_id,rank,neighbour_id,label,cosine\n"
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

static int modality(const char *opt, const char *v, int *out) {
    *out = emb_modality_parse(v, 0);
    if (*out < 0)
        return say("astromm search: %s '%s': unknown modality (photometry, spectra, metadata, fused)\n",
                       opt, v), 2;
    return 0;
}

// Everything but the search itself; prints errors when loud. Returns 0 or 2.
static int setup(const CliArgs *a, EmbSet *s, SearchOptions *o, int64_t **qrows, int *nq) {
    int rc = 2;
    int64_t *ids = NULL;
    int n = 0;
    const char *path = cli_option(a, "--embeddings"), *id = cli_option(a, "--id"), *idf = cli_option(a, "--ids");
    const char *m = cli_option(a, "--modality"), *qm = cli_option(a, "--query-modality");
    const char *tm = cli_option(a, "--target-modality"), *ks = cli_option(a, "--k"), *sp = cli_option(a, "--split");
    *o = (SearchOptions){.query_mod = EMB_FUSED, .target_mod = -1, .k = 10, .target_split = -1};
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
    if (m && modality("--modality", m, &o->query_mod)) goto done;
    if (m) o->target_mod = o->query_mod;
    if (qm && modality("--query-modality", qm, &o->query_mod)) goto done;
    if (tm && modality("--target-modality", tm, &o->target_mod)) goto done;
    if (o->target_mod < 0) o->target_mod = o->query_mod;
    if (ks) {
        char *end;
        long v = strtol(ks, &end, 10);
        if (*end || end == ks || v < 1 || v > 100000) {
            say("astromm search: --k '%s': expected an integer from 1 to 100000\n", ks);
            goto done;
        }
        o->k = (int)v;
    }
    const char *bs = cli_option(a, "--block");
    if (bs) {
        char *end;
        long v = strtol(bs, &end, 10);
        if (*end || end == bs || v < 1 || v > (1L << 24)) {
            say("astromm search: --block '%s': expected an integer from 1 to 16777216\n", bs);
            goto done;
        }
        o->block = (int)v;
    }
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
    if (emb_read_some(path, (1u << o->query_mod) | (1u << o->target_mod), s, &e)) {
        say("astromm search: %s\n", e.msg);
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
                    emb_slot_name(o->query_mod), path);
            goto done;
        }
    }
    *nq = n;
    rc = 0;
done:
    free(ids);
    return rc;
}

int cmd_search(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "search")) return 2;
    if (a.help) return help(), 0;
    static const char *const allowed[] = {"--embeddings", "--id", "--ids", "--modality", "--query-modality",
                                          "--target-modality", "--k", "--split", "--out", "--block", NULL};
    if (cli_reject_unknown(&a, "search", allowed)) return 2;
    if (a.n_rest % 2) return fprintf(stderr, "astromm search: %s needs a value\n", a.rest[a.n_rest - 1]), 2;
    Comm *comm = comm_init(&argc, &argv);
    const int rank = comm_rank(comm);
    EmbSet s = {0};
    SearchOptions o;
    int64_t *qrows = NULL;
    int nq = 0;
    loud = rank == 0;
    int rc = setup(&a, &s, &o, &qrows, &nq);
    if (!rc) {
        SearchHit *hits = am_malloc((size_t)nq * o.k * sizeof *hits, "hits");
        const int64_t nt = search_topk(&s, qrows, nq, &o, comm, hits);
        if (rank == 0) {
            if (nt == 0)
                fprintf(stderr, "astromm search: warning: no targets with %s data%s%s\n", emb_slot_name(o.target_mod),
                        o.target_split >= 0 ? " in split " : "", o.target_split >= 0 ? emb_split_name(o.target_split) : "");
            const char *out = cli_option(&a, "--out");
            TextOut t;
            AmError err = {{0}};
            if (text_out_open(&t, out ? out : "-", &err)) {
                fprintf(stderr, "astromm search: --out: %s\n", err.msg);
                rc = 1;
            } else {
                search_write_csv(t.f, &s, qrows, nq, o.k, hits, 1);
                if (text_out_commit(&t, &err)) {
                    fprintf(stderr, "astromm search: %s\n", err.msg);
                    rc = 1;
                }
            }
        }
        free(hits);
    }
    free(qrows);
    emb_free(&s);
    comm_finalize(comm);
    return rc;
}
