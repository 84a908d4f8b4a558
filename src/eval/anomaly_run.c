// astromm anomalies, oracle and interactive runs: see anomaly_run.h.
#define _POSIX_C_SOURCE 200809L
#include "eval/anomaly_run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static char *trim(char *p) {
    while (*p == ' ' || *p == '\t') p++;
    char *e = p + strlen(p);
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) *--e = '\0';
    return p;
}

// Reads a label file (id,score) into the session. Lines with an empty score
// are skipped and counted in *blank (NULL: they are errors). Returns 0 or 2.
static int read_labels(Session *x, const char *path, int *n_read, int *blank) {
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "astromm anomalies: %s: cannot open: %s\n", path, strerror(errno)), 2;
    char buf[512];
    int line = 0, rc = 0;
    *n_read = 0;
    while (!rc && fgets(buf, sizeof buf, f)) {
        line++;
        char *p = trim(buf);
        if (!*p || *p == '#') continue;
        if (line == 1 && !strncmp(p, "id", 2)) continue;  // the header
        char *comma = strchr(p, ',');
        if (!comma) {
            fprintf(stderr, "astromm anomalies: %s:%d: expected 'id,score', got '%s'\n", path, line, p);
            rc = 2;
            break;
        }
        *comma = '\0';
        char *ids = trim(p), *vs = trim(comma + 1), *end;
        char *second = strchr(vs, ',');  // further columns (a label hint) are ignored
        if (second) *second = '\0', vs = trim(vs);
        errno = 0;
        const long long id = strtoll(ids, &end, 10);
        if (errno || end == ids || *end) {
            fprintf(stderr, "astromm anomalies: %s:%d: '%s' is not an object id (integer)\n", path, line, ids);
            rc = 2;
            break;
        }
        if (!*vs) {
            if (blank) {
                (*blank)++;
                continue;
            }
            fprintf(stderr, "astromm anomalies: %s:%d: object %lld has no score\n", path, line, id);
            rc = 2;
            break;
        }
        const double v = strtod(vs, &end);
        if (end == vs || *end || !isfinite(v) || v < 0 || v > 5) {
            fprintf(stderr, "astromm anomalies: %s:%d: score '%s' of object %lld is not a number from 0 to 5\n", path,
                    line, vs, id);
            rc = 2;
            break;
        }
        const int64_t want = id;
        int64_t row;
        emb_find_ids(&x->s, &want, 1, &row);
        if (row < 0) {
            fprintf(stderr, "astromm anomalies: %s:%d: unknown id %lld (not in %s)\n", path, line, id, x->s.path);
            rc = 2;
            break;
        }
        if (x->pool_of_row[row] < 0) {
            fprintf(stderr, "astromm anomalies: %s:%d: object %lld is not in the pool (no %s embedding, or another split)\n",
                    path, line, id, x->s.slot[x->slot]);
            rc = 2;
            break;
        }
        put_label(x, x->pool_of_row[row], v);
        (*n_read)++;
    }
    fclose(f);
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

// The ranking CSV and the montage of the top candidates. Returns 0 or 1.
static int write_ranking(const Session *x, const AnomalyRun *r, const double *value, const double *sd,
                         const int64_t *order) {
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
    uint8_t want[1024] = {0};
    char *copy = strdup(list), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
        t = trim(t);
        int c = -1;
        for (int k = 0; k < x->s.n_classes && c < 0; k++)
            if (!strcmp(x->s.classes[k], t)) c = k;
        if (c < 0 || c >= 1024) {
            fprintf(stderr, "astromm anomalies: --oracle: no class '%s' in %s (classes:", t, x->s.path);
            for (int k = 0; k < x->s.n_classes; k++) fprintf(stderr, " %s", x->s.classes[k]);
            fprintf(stderr, ")\n");
            rc = 2;
        } else {
            want[c] = 1;
        }
    }
    free(copy);
    int64_t hits = 0;
    for (int64_t i = 0; i < x->sp.n && !rc; i++) hits += interesting[i] = want[x->s.label[x->sp.row[i]]];
    *rate = x->sp.n ? (double)hits / (double)x->sp.n : 0.0;
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
    double *value = am_malloc((size_t)n * sizeof *value, "ranking"), *sd = am_malloc((size_t)n * sizeof *sd, "ranking");
    double *bval = am_malloc((size_t)n * sizeof *bval, "ranking");
    int64_t *order = am_malloc((size_t)n * sizeof *order, "ranking"), *border = am_malloc((size_t)n * sizeof *border, "ranking");
    if (anomaly_rank(&x->sp, x->lab, x->score, x->n_lab, value, sd, order, &err)) {
        fprintf(stderr, "astromm anomalies: %s\n", err.msg);
        rc = 1;
    } else {
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
        if (!rc) rc = write_ranking(x, r, value, sd, order);
    }
    free(value), free(sd), free(bval), free(order), free(border);
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
    const int64_t n = x->sp.n;
    double *value = am_malloc((size_t)n * sizeof *value, "ranking"), *sd = am_malloc((size_t)n * sizeof *sd, "ranking");
    int64_t *order = am_malloc((size_t)n * sizeof *order, "ranking");
    if (anomaly_rank(&x->sp, x->lab, x->score, x->n_lab, value, sd, order, &err)) {
        fprintf(stderr, "astromm anomalies: %s\n", err.msg);
        rc = 1;
    } else {
        rc = write_ranking(x, r, value, sd, order);
    }
    free(value), free(sd), free(order);
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
