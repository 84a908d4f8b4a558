// astromm anomalies, oracle and interactive runs: see anomaly_run.h.
#define _POSIX_C_SOURCE 200809L
#include "eval/anomaly_run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/preprocess/text_reader.h"
#include "eval/montage.h"
#include "io/text_out.h"

typedef struct {
    EmbSet s;
    int slot;
    AnomalySpace sp;
    int64_t *pool_of_row;  // [s.n] pool index of a file row, -1 outside the pool
    int64_t *lab;          // [cap] pool indices labelled, in labelling order
    double *score;         // [cap]
    int n_lab, cap;
} Session;

static void session_free(Session *x) {
    anomaly_space_free(&x->sp);
    emb_free(&x->s);
    free(x->pool_of_row);
    free(x->lab);
    free(x->score);
}

// Sets (or replaces) the score of pool index p.
static void put_label(Session *x, int64_t p, double v) {
    for (int i = 0; i < x->n_lab; i++)
        if (x->lab[i] == p) {
            x->score[i] = v;
            return;
        }
    if (x->n_lab == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 256;
        x->lab = am_realloc(x->lab, (size_t)x->cap * sizeof *x->lab, "labels");
        x->score = am_realloc(x->score, (size_t)x->cap * sizeof *x->score, "labels");
    }
    x->lab[x->n_lab] = p;
    x->score[x->n_lab++] = v;
}


typedef struct {
    int64_t id;
    double score;
    int line;
} LabelLine;

// Reads a label file (id,score) into the session. Lines with an empty score
// are skipped and counted in *blank (NULL: they are errors). The ids are
// looked up all at once (one index of the file's ids); errors name the first
// bad line. Returns 0 or 2.
static int read_labels(Session *x, const char *path, int *n_read, int *blank) {
    TextReader tr;
    AmError terr = {{0}};
    if (text_open(&tr, path, &terr)) return fprintf(stderr, "astromm anomalies: %s\n", terr.msg), 2;
    char bad[1024] = "";  // the first line that does not parse, reported after the lines before it
    int n = 0, cap = 0, got;
    LabelLine *e = NULL;
    *n_read = 0;
    while (!bad[0] && (got = text_read_line(&tr, &terr)) == 1) {
        const int line = (int)tr.line;
        if (text_is_blank(tr.buf)) continue;
        char *f[3];  // id, score; further columns (a label hint) are ignored
        const int nf = text_split_commas(tr.buf, f, 3);
        if (f[0][0] == '#') continue;
        if (line == 1 && !strncmp(f[0], "id", 2)) continue;  // the header
        if (nf < 2) {
            snprintf(bad, sizeof bad, "%s:%d: expected 'id,score', got '%s'", path, line, f[0]);
            break;
        }
        char *ids = f[0], *vs = f[1], *end;
        errno = 0;
        const long long id = strtoll(ids, &end, 10);
        if (errno || end == ids || *end) {
            snprintf(bad, sizeof bad, "%s:%d: '%s' is not an object id (integer)", path, line, ids);
            break;
        }
        if (!*vs) {
            if (blank) {
                (*blank)++;
                continue;
            }
            snprintf(bad, sizeof bad, "%s:%d: object %lld has no score", path, line, id);
            break;
        }
        const double v = strtod(vs, &end);
        if (end == vs || *end || !isfinite(v) || v < 0 || v > 5) {
            snprintf(bad, sizeof bad, "%s:%d: score '%s' of object %lld is not a number from 0 to 5", path, line, vs,
                     id);
            break;
        }
        if (n == cap) e = am_realloc(e, (size_t)(cap = cap ? 2 * cap : 256) * sizeof *e, "labels");
        e[n++] = (LabelLine){id, v, line};
    }
    text_close(&tr);
    if (!bad[0] && got < 0) snprintf(bad, sizeof bad, "%s", terr.msg);
    int64_t *ids = am_malloc((size_t)n * sizeof *ids + 8, "labels"), *rows = am_malloc((size_t)n * sizeof *rows + 8, "labels");
    for (int i = 0; i < n; i++) ids[i] = e[i].id;
    emb_find_ids(&x->s, ids, n, rows);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (rows[i] < 0) {
            fprintf(stderr, "astromm anomalies: %s:%d: unknown id %lld (not in %s)\n", path, e[i].line,
                    (long long)e[i].id, x->s.path);
            rc = 2;
        } else if (x->pool_of_row[rows[i]] < 0) {
            fprintf(stderr, "astromm anomalies: %s:%d: object %lld is not in the pool (no %s embedding, or another split)\n",
                    path, e[i].line, (long long)e[i].id, x->s.slot[x->slot]);
            rc = 2;
        } else {
            put_label(x, x->pool_of_row[rows[i]], e[i].score);
            (*n_read)++;
        }
    }
    if (!rc && bad[0]) {
        fprintf(stderr, "astromm anomalies: %s\n", bad);
        rc = 2;
    }
    free(ids), free(rows), free(e);
    return rc;
}

// Writes id,score lines of pool indices (scores blank when score is NULL). Returns 0 or 1.
static int write_labels(const Session *x, const char *path, const int64_t *idx, const double *score, int n) {
    TextOut t;
    AmError err = {{0}};
    if (text_out_open(&t, path, &err)) return fprintf(stderr, "astromm anomalies: %s\n", err.msg), 1;
    fprintf(t.f, "id,score\n");
    for (int i = 0; i < n; i++) {
        fprintf(t.f, "%lld,", (long long)x->s.id[x->sp.row[idx[i]]]);
        if (score) fprintf(t.f, "%.17g", score[i]);
        fputc('\n', t.f);
    }
    if (text_out_commit(&t, &err)) return fprintf(stderr, "astromm anomalies: %s\n", err.msg), 1;
    return 0;
}

// The ranking after the session's labels (anomaly_rank): per pool index the
// interest and its sd, and the pool order best first.
typedef struct {
    double *value, *sd;
    int64_t *order;
} Ranking;

static void ranking_free(Ranking *k) { free(k->value), free(k->sd), free(k->order); }

// Returns 0, or 1 with the message printed (k freed either way on failure).
static int rank_session(const Session *x, Ranking *k) {
    const size_t n = (size_t)x->sp.n;
    *k = (Ranking){am_malloc(n * sizeof *k->value, "ranking"), am_malloc(n * sizeof *k->sd, "ranking"),
                   am_malloc(n * sizeof *k->order, "ranking")};
    AmError err = {{0}};
    if (!anomaly_rank(&x->sp, x->lab, x->score, x->n_lab, k->value, k->sd, k->order, &err)) return 0;
    fprintf(stderr, "astromm anomalies: %s\n", err.msg);
    ranking_free(k);
    return 1;
}

// The ranking CSV and the montage of the top candidates. Returns 0 or 1.
static int write_ranking(const Session *x, const AnomalyRun *r, const Ranking *rk) {
    const double *value = rk->value, *sd = rk->sd;
    const int64_t *order = rk->order;
    const int64_t n = x->sp.n;
    uint8_t *done = am_calloc((size_t)n, 1, "labels");
    for (int i = 0; i < x->n_lab; i++) done[x->lab[i]] = 1;
    int rc = 0;
    AmError err = {{0}};
    if (r->out) {
        TextOut t;
        if (text_out_open(&t, r->out, &err)) {
            fprintf(stderr, "astromm anomalies: --out: %s\n", err.msg);
            rc = 1;
        } else {
            fprintf(t.f, "rank,id,label,interest,sd,labelled\n");
            for (int64_t k = 0; k < n; k++) {
                const int64_t p = order[k], row = x->sp.row[p];
                fprintf(t.f, "%lld,%lld,", (long long)(k + 1), (long long)x->s.id[row]);
                csv_field(t.f, emb_class_name(&x->s, x->s.label[row]));
                fprintf(t.f, ",%.6f,%.6f,%d\n", value[p], sd[p], done[p]);
            }
            if (text_out_commit(&t, &err)) fprintf(stderr, "astromm anomalies: --out: %s\n", err.msg), rc = 1;
        }
    }
    if (r->montage && !rc) {
        const int top = (int)(r->top < n ? r->top : n), cols = top < 5 ? top : 5, rows = (top + cols - 1) / cols;
        int64_t *tiles = am_malloc((size_t)rows * cols * sizeof *tiles, "montage");
        for (int i = 0; i < rows * cols; i++) tiles[i] = i < top ? x->s.index[x->sp.row[order[i]]] : -1;
        if (montage_write(r->dataset ? r->dataset : x->s.dataset, tiles, rows, cols, 0, r->montage, &err)) {
            fprintf(stderr, "astromm anomalies: --montage: %s%s\n", err.msg, r->dataset ? "" : " (give the images with --dataset FILE)");
            rc = 1;
        }
        free(tiles);
    }
    free(done);
    return rc;
}

// Oracle: interesting[pool index] from the class list. Returns 0 or 2.
static int oracle_truth(const Session *x, const char *list, uint8_t *interesting, double *rate) {
    uint8_t *want = am_calloc((size_t)x->s.n_classes + 1, 1, "oracle classes");
    char *copy = am_strdup(list, "oracle classes");
    const int max = (int)strlen(list) + 1;  // at most one name per comma, plus one
    char **names = am_malloc((size_t)max * sizeof *names, "oracle classes");
    const int nn = text_split_commas(copy, names, max);
    int rc = 0;
    for (int i = 0; i < nn && !rc; i++) {
        const char *t = names[i];
        if (!*t) continue;  // "a,,b"
        int c = -1;
        for (int k = 0; k < x->s.n_classes && c < 0; k++)
            if (!strcmp(x->s.classes[k], t)) c = k;
        if (c < 0) {
            fprintf(stderr, "astromm anomalies: --oracle: no class '%s' in %s (classes:", t, x->s.path);
            for (int k = 0; k < x->s.n_classes; k++) fprintf(stderr, " %s", x->s.classes[k]);
            fprintf(stderr, ")\n");
            rc = 2;
        } else {
            want[c] = 1;
        }
    }
    free(names);
    free(copy);
    int64_t hits = 0;
    for (int64_t i = 0; i < x->sp.n && !rc; i++) hits += interesting[i] = want[x->s.label[x->sp.row[i]]];
    *rate = x->sp.n ? (double)hits / (double)x->sp.n : 0.0;
    free(want);
    if (!rc && hits == 0) {
        fprintf(stderr, "astromm anomalies: --oracle %s: no galaxy of the pool is of these classes\n", list);
        rc = 2;
    }
    return rc;
}

static int run_oracle(Session *x, const AnomalyRun *r, const uint8_t *interesting, double rate) {
    int64_t *next = am_malloc((size_t)(r->al.batch > r->al.seeds ? r->al.batch : r->al.seeds) * sizeof *next, "next");
    AmError err = {{0}};
    int rc = 0, round = 0;
    while (x->n_lab < r->al.budget) {
        int nn = 0;
        if (anomaly_next(&x->sp, x->lab, x->score, x->n_lab, &r->al, next, &nn, &err)) {
            fprintf(stderr, "astromm anomalies: %s\n", err.msg);
            rc = 1;
            break;
        }
        if (!nn) break;
        for (int i = 0; i < nn; i++) put_label(x, next[i], interesting[next[i]] ? 5.0 : 0.0);
        int found = 0;
        for (int i = 0; i < x->n_lab; i++) found += x->score[i] > 0;
        printf("round %2d: %3d labelled, %3d interesting found\n", ++round, x->n_lab, found);
    }
    free(next);
    if (rc) return rc;
    const int64_t n = x->sp.n;
    Ranking rk;
    if (rank_session(x, &rk)) return 1;
    const int64_t *order = rk.order;
    double *bval = am_malloc((size_t)n * sizeof *bval, "ranking");
    int64_t *border = am_malloc((size_t)n * sizeof *border, "ranking");
    anomaly_baseline(&x->sp, bval, border);
    int found = 0;
    for (int i = 0; i < x->n_lab; i++) found += x->score[i] > 0;
    static const int64_t ks[3] = {50, 100, 200};
    printf("pool %lld galaxies, %.1f%% interesting (%s); %d labelled, %d interesting among them "
           "(random order: %.1f expected)\n", (long long)n, 100 * rate, r->oracle, x->n_lab, found, rate * x->n_lab);
    printf("  %-34s %8s %8s %8s\n", "precision at", "50", "100", "200");
    printf("  %-34s", "GP active learning (labels + mean)");
    for (int k = 0; k < 3; k++) printf(" %8.3f", anomaly_precision_at(order, n, interesting, ks[k]));
    printf("\n  %-34s", "distance from the mean (no labels)");
    for (int k = 0; k < 3; k++) printf(" %8.3f", anomaly_precision_at(border, n, interesting, ks[k]));
    printf("\n  %-34s %8.3f %8.3f %8.3f\n", "random order (expected)", rate, rate, rate);
    if (r->json) {
        TextOut t;
        if (text_out_open(&t, r->json, &err)) {
            fprintf(stderr, "astromm anomalies: --json: %s\n", err.msg);
            rc = 1;
        } else {
            fprintf(t.f, "{\"embeddings\": \"%s\", \"embedding\": \"%s\", \"oracle\": \"%s\", \"pool\": %lld, "
                    "\"interesting_rate\": %.6f, \"labelled\": %d, \"found\": %d, \"found_random_expected\": %.3f, "
                    "\"pca\": %d, \"seed\": %llu", x->s.path, x->s.slot[x->slot], r->oracle, (long long)n, rate,
                    x->n_lab, found, rate * x->n_lab, r->al.pca, (unsigned long long)r->al.seed);
            for (int k = 0; k < 3; k++)
                fprintf(t.f, ", \"precision_at_%lld\": {\"active\": %.6f, \"baseline\": %.6f, \"random\": %.6f}",
                        (long long)ks[k], anomaly_precision_at(order, n, interesting, ks[k]),
                        anomaly_precision_at(border, n, interesting, ks[k]), rate);
            fprintf(t.f, "}\n");
            if (text_out_commit(&t, &err)) fprintf(stderr, "astromm anomalies: --json: %s\n", err.msg), rc = 1;
        }
    }
    if (!rc) rc = write_ranking(x, r, &rk);
    ranking_free(&rk);
    free(bval), free(border);
    return rc;
}

static int run_interactive(Session *x, const AnomalyRun *r) {
    int n_read = 0, blank = 0, rc = 0;
    if (access(r->state, F_OK) == 0 && (rc = read_labels(x, r->state, &n_read, NULL))) return rc;
    const int before = x->n_lab;
    int merged = 0;
    if (r->scores) {
        if ((rc = read_labels(x, r->scores, &merged, &blank))) return rc;
        if (merged == 0)
            return fprintf(stderr, "astromm anomalies: %s: no scores in the file (fill the score column with 0..5)\n",
                           r->scores), 2;
        if (write_labels(x, r->state, x->lab, x->score, x->n_lab)) return 1;
        printf("merged %d scores from %s (%d new%s) into %s\n", merged, r->scores, x->n_lab - before,
               blank ? ", some rows without a score skipped" : "", r->state);
    }
    AmError err = {{0}};
    int64_t *next = am_malloc((size_t)(r->al.batch > r->al.seeds ? r->al.batch : r->al.seeds) * sizeof *next, "next");
    int nn = 0;
    if (anomaly_next(&x->sp, x->lab, x->score, x->n_lab, &r->al, next, &nn, &err)) {
        fprintf(stderr, "astromm anomalies: %s\n", err.msg);
        free(next);
        return 1;
    }
    char def[2048];
    snprintf(def, sizeof def, "%s.next.csv", r->state);
    const char *np = r->next ? r->next : def;
    if (nn) {
        rc = write_labels(x, np, next, NULL, nn);
        if (!rc)
            printf("%d of %d labels so far; score the %d galaxies in %s (0 = ordinary .. 5 = most interesting), then\n"
                   "run again with --scores %s\n", x->n_lab, r->al.budget, nn, np, np);
    } else {
        printf("%d labels: the budget of %d is reached\n", x->n_lab, r->al.budget);
    }
    free(next);
    if (rc || x->n_lab == 0 || (!r->out && !r->montage)) return rc;
    Ranking rk;
    if (rank_session(x, &rk)) return 1;
    rc = write_ranking(x, r, &rk);
    ranking_free(&rk);
    return rc;
}

int anomaly_run(const AnomalyRun *r) {
    Session x;
    memset(&x, 0, sizeof x);
    AmError err = {{0}};
    if (emb_read_one(r->embeddings, r->modality, &x.s, &x.slot, &err)) {
        fprintf(stderr, "astromm anomalies: %s\n", err.msg);
        return 2;
    }
    if (anomaly_space(&x.s, x.slot, r->split, r->oracle != NULL, r->al.pca, &x.sp, &err)) {
        fprintf(stderr, "astromm anomalies: %s\n", err.msg);
        session_free(&x);
        return 2;
    }
    x.pool_of_row = am_malloc((size_t)x.s.n * sizeof *x.pool_of_row, "pool");
    for (int64_t i = 0; i < x.s.n; i++) x.pool_of_row[i] = -1;
    for (int64_t p = 0; p < x.sp.n; p++) x.pool_of_row[x.sp.row[p]] = p;
    int rc;
    if (r->oracle) {
        uint8_t *interesting = am_calloc((size_t)x.sp.n, 1, "truth");
        double rate = 0;
        rc = oracle_truth(&x, r->oracle, interesting, &rate);
        if (!rc) rc = run_oracle(&x, r, interesting, rate);
        free(interesting);
    } else {
        rc = run_interactive(&x, r);
    }
    session_free(&x);
    return rc;
}
