// Confusion-matrix metrics and their files (see confusion.h).
#define _POSIX_C_SOURCE 200809L

#include "eval/confusion.h"
#include "io/text_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void confusion_init(Confusion *c, int n_classes) {
    CHECK(n_classes >= 1, "confusion matrix needs at least one class");
    c->n_classes = n_classes;
    c->count = am_calloc((size_t)n_classes * (size_t)n_classes, sizeof *c->count, "confusion matrix");
}

void confusion_free(Confusion *c) {
    free(c->count);
    c->count = NULL;
}

void confusion_add(Confusion *c, int truth, int predicted) {
    const int C = c->n_classes;
    CHECK(truth >= 0 && truth < C && predicted >= 0 && predicted < C, "confusion: class %d/%d outside 0..%d", truth,
          predicted, C - 1);
    c->count[(size_t)truth * C + predicted]++;
}

void confusion_report(const Confusion *c, ClassReport *r) {
    const int C = c->n_classes;
    memset(r, 0, sizeof *r);
    r->precision = am_calloc((size_t)C, sizeof(double), "report");
    r->recall = am_calloc((size_t)C, sizeof(double), "report");
    r->f1 = am_calloc((size_t)C, sizeof(double), "report");
    r->support = am_calloc((size_t)C, sizeof(int64_t), "report");
    int present = 0, seen = 0;
    double recall_sum = 0, f1_sum = 0;
    for (int k = 0; k < C; k++) {
        int64_t tp = c->count[(size_t)k * C + k], row = 0, col = 0;
        for (int j = 0; j < C; j++) {
            row += c->count[(size_t)k * C + j];
            col += c->count[(size_t)j * C + k];
        }
        r->support[k] = row;
        r->total += row;
        r->correct += tp;
        r->precision[k] = col ? (double)tp / (double)col : 0.0;
        r->recall[k] = row ? (double)tp / (double)row : 0.0;
        const double ps = r->precision[k] + r->recall[k];
        r->f1[k] = ps > 0 ? 2.0 * r->precision[k] * r->recall[k] / ps : 0.0;
        if (row || col) {  // sklearn's macro average: classes in the labels or the predictions
            f1_sum += r->f1[k];
            seen++;
        }
        if (row) {
            present++;
            recall_sum += r->recall[k];
        }
    }
    r->accuracy = r->total ? (double)r->correct / (double)r->total : 0.0;
    r->balanced_accuracy = present ? recall_sum / present : 0.0;
    r->macro_f1 = seen ? f1_sum / seen : 0.0;
}

void class_report_free(ClassReport *r) {
    free(r->precision);
    free(r->recall);
    free(r->f1);
    free(r->support);
    memset(r, 0, sizeof *r);
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

// Writes through fill into an atomic text output (io/text_out.h).
static int write_atomic(const char *path, void (*fill)(FILE *, const void *), const void *arg, AmError *err) {
    TextOut t;
    if (text_out_open(&t, path, err)) return -1;
    fill(t.f, arg);
    return text_out_commit(&t, err);
}

typedef struct {
    const Confusion *c;
    const ClassReport *r;
    const char *const *names, *const *extra;
    int n_extra;
} JsonArgs;

static void fill_json(FILE *f, const void *arg) {
    const JsonArgs *a = arg;
    const int C = a->c->n_classes;
    fprintf(f, "{\n");
    for (int i = 0; i < a->n_extra; i++) {
        fprintf(f, "  ");
        json_str(f, a->extra[2 * i]);
        fprintf(f, ": ");
        json_str(f, a->extra[2 * i + 1]);
        fprintf(f, ",\n");
    }
    fprintf(f, "  \"n\": %lld,\n  \"correct\": %lld,\n  \"accuracy\": %.6f,\n  \"balanced_accuracy\": %.6f,\n"
               "  \"macro_f1\": %.6f,\n  \"classes\": [", (long long)a->r->total, (long long)a->r->correct,
            a->r->accuracy, a->r->balanced_accuracy, a->r->macro_f1);
    for (int k = 0; k < C; k++) {
        if (k) fprintf(f, ", ");
        json_str(f, a->names[k]);
    }
    fprintf(f, "],\n  \"per_class\": {\n");
    for (int k = 0; k < C; k++) {
        fprintf(f, "    ");
        json_str(f, a->names[k]);
        fprintf(f, ": {\"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": %lld}%s\n",
                a->r->precision[k], a->r->recall[k], a->r->f1[k], (long long)a->r->support[k], k + 1 < C ? "," : "");
    }
    fprintf(f, "  },\n  \"confusion\": [\n");
    for (int k = 0; k < C; k++) {
        fprintf(f, "    [");
        for (int j = 0; j < C; j++) fprintf(f, "%s%lld", j ? ", " : "", (long long)a->c->count[(size_t)k * C + j]);
        fprintf(f, "]%s\n", k + 1 < C ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
}

int confusion_write_json(const Confusion *c, const ClassReport *r, const char *const *names, const char *path,
                         const char *const *extra_kv, int n_extra, AmError *err) {
    const JsonArgs a = {c, r, names, extra_kv, n_extra};
    return write_atomic(path, fill_json, &a, err);
}

typedef struct {
    const Confusion *c;
    const char *const *names;
} CsvArgs;

static void fill_csv(FILE *f, const void *arg) {
    const CsvArgs *a = arg;
    const int C = a->c->n_classes;
    fprintf(f, "true\\predicted");
    for (int k = 0; k < C; k++) {
        fputc(',', f);
        csv_field(f, a->names[k]);
    }
    fputc('\n', f);
    for (int k = 0; k < C; k++) {
        csv_field(f, a->names[k]);
        for (int j = 0; j < C; j++) fprintf(f, ",%lld", (long long)a->c->count[(size_t)k * C + j]);
        fputc('\n', f);
    }
}

int confusion_write_csv(const Confusion *c, const char *const *names, const char *path, AmError *err) {
    const CsvArgs a = {c, names};
    return write_atomic(path, fill_csv, &a, err);
}
