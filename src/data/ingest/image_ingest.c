// astromm ingest --images (see image_ingest.h): parse the catalogue, decode
// and resample the images in parallel blocks, write them in catalogue order.
#define _POSIX_C_SOURCE 200809L

#include "data/ingest/image_ingest.h"

#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/vote_schema.h"
#include "data/format/dataset.h"
#include "data/format/image_dataset.h"
#include "data/format/splits.h"
#include "data/preprocess/image.h"
#include "data/preprocess/text_reader.h"
#include "io/image_codec.h"

#define MAX_FIELDS 1024
#define MAX_CLASSES 256
#define MIN_SIDE 16

void image_ingest_defaults(ImageIngestOptions *o) {
    memset(o, 0, sizeof *o);
    o->file_column = "file";
    o->image_size = 128;
    o->channels = 3;
    o->seed = 42;
}

typedef struct {
    long line;
    char name[IMGDS_NAME_MAX];
    char *path;
    char *class_text;  // raw class cell (class column)
    int32_t label;
    int split;  // DS_SPLIT_* or -1 (by hash)
    float *votes;
    int skip;
    char why[300];
} ImgRow;

typedef struct {
    const ImageIngestOptions *o;
    VoteSchema schema;
    int use_votes;
    char *classes[MAX_CLASSES];
    int n_classes;
    ImgRow *rows;
    int64_t n, cap;
    char dir[4096];
    int col_file, col_name, col_class, col_label, col_split, col_votes[VOTE_MAX_ANSWERS];
} ImgIngest;

static void skip(ImgRow *r, const char *fmt, ...) AM_PRINTF(2, 3);
static void skip(ImgRow *r, const char *fmt, ...) {
    if (r->skip) return;
    r->skip = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

static int find_col(char **f, int n, const char *name) {
    for (int i = 0; i < n && i < MAX_FIELDS; i++)
        if (!strcmp(f[i], name)) return i;
    return -1;
}

static int parse_header(ImgIngest *I, char **f, int n, AmError *err) {
    const ImageIngestOptions *o = I->o;
    const char *path = o->catalog;
    if (n > MAX_FIELDS) return am_error_set(err, "%s:1: %d columns, at most %d", path, n, MAX_FIELDS);
    I->col_file = find_col(f, n, o->file_column);
    if (I->col_file < 0) return am_error_set(err, "%s:1: no file column '%s' in the header", path, o->file_column);
    I->col_name = o->name_column ? find_col(f, n, o->name_column) : 0;
    if (I->col_name < 0) return am_error_set(err, "%s:1: no name column '%s' in the header", path, o->name_column);
    I->col_class = o->class_column ? find_col(f, n, o->class_column) : -1;
    if (o->class_column && I->col_class < 0)
        return am_error_set(err, "%s:1: no class column '%s' in the header", path, o->class_column);
    I->col_label = o->label_column ? find_col(f, n, o->label_column) : -1;
    if (o->label_column && I->col_label < 0)
        return am_error_set(err, "%s:1: no label column '%s' in the header", path, o->label_column);
    I->col_split = o->split_column ? find_col(f, n, o->split_column) : -1;
    if (o->split_column && I->col_split < 0)
        return am_error_set(err, "%s:1: no split column '%s' in the header", path, o->split_column);
    for (int a = 0; I->use_votes && a < I->schema.answers; a++) {
        I->col_votes[a] = find_col(f, n, I->schema.column[a]);
        if (I->col_votes[a] < 0)
            return am_error_set(err, "%s:1: vote column '%s' of the %s schema is missing (columns are named "
                                     "<question>_<answer>)", path, I->schema.column[a], o->votes);
    }
    return 0;
}

static void parse_row(ImgIngest *I, ImgRow *r, char **f, int nf, int nhead) {
    const char *name = I->col_name < nf ? f[I->col_name] : "";
    snprintf(r->name, sizeof r->name, "%s", name[0] ? name : "?");
    r->label = -1;
    r->split = -1;
    if (nf != nhead) return skip(r, "%d fields, the header has %d", nf, nhead);
    if (!name[0] || strlen(name) >= IMGDS_NAME_MAX) return skip(r, "empty or over-long name");
    if (!f[I->col_file][0]) return skip(r, "no image file");
    r->path = text_resolve_path(I->dir, f[I->col_file]);
    if (I->col_class >= 0) {
        if (!f[I->col_class][0]) return skip(r, "empty class");
        r->class_text = am_strdup(f[I->col_class], "class");
    }
    if (I->col_label >= 0) {
        const char *v = f[I->col_label];
        if (!strcmp(v, "0") || !strcmp(v, "1")) r->label = v[0] - '0';
        else return skip(r, "label '%s' in column '%s' is not 0 or 1", v, I->o->label_column);
    }
    if (I->col_split >= 0) {
        const char *v = f[I->col_split];
        r->split = !strcmp(v, "train") ? DS_SPLIT_TRAIN : !strcmp(v, "val") ? DS_SPLIT_VAL : !strcmp(v, "test") ? DS_SPLIT_TEST : -2;
        if (r->split == -2) return skip(r, "split '%s' is not train, val or test", v);
    }
    if (I->use_votes) {
        r->votes = am_calloc((size_t)I->schema.answers, sizeof *r->votes, "votes");
        for (int a = 0; a < I->schema.answers; a++) {
            const char *v = f[I->col_votes[a]];
            if (!v[0]) continue;  // not asked: 0 votes
            char *end = NULL;
            const double x = strtod(v, &end);
            if (*end || !(x >= 0.0 && x < 1e9))
                return skip(r, "vote count '%s' in column '%s' is not a finite count >= 0", v, I->schema.column[a]);
            r->votes[a] = (float)x;
        }
    }
}

static int read_catalog(ImgIngest *I, AmError *err) {
    TextReader tr;
    if (text_open(&tr, I->o->catalog, err)) return 1;
    char *f[MAX_FIELDS];
    int nhead = -1, rc = 0, got;
    while ((got = text_read_line(&tr, err)) == 1) {
        if (text_is_blank(tr.buf)) continue;
        const int nf = text_split_commas(tr.buf, f, MAX_FIELDS);
        if (nhead < 0) {
            nhead = nf;
            if ((rc = parse_header(I, f, nf, err))) break;
            continue;
        }
        if (I->n == I->cap) {
            I->cap = I->cap ? 2 * I->cap : 1024;
            I->rows = am_realloc(I->rows, (size_t)I->cap * sizeof *I->rows, "catalogue rows");
        }
        ImgRow *r = &I->rows[I->n++];
        memset(r, 0, sizeof *r);
        r->line = tr.line;
        parse_row(I, r, f, nf > MAX_FIELDS ? MAX_FIELDS : nf, nhead > MAX_FIELDS ? MAX_FIELDS : nhead);
    }
    if (got < 0) rc = 1;
    if (!rc && nhead < 0) rc = am_error_set(err, "%s: empty catalogue (no header)", I->o->catalog);
    text_close(&tr);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Class list and labels: --classes names them (by position for integer
// values, by name otherwise); else integers 0..K-1 keep their value and
// names are the sorted distinct values.
static int assign_classes(ImgIngest *I, AmError *err) {
    const ImageIngestOptions *o = I->o;
    if (o->label_column) {
        char a[2 * VOTE_NAME_MAX];
        snprintf(a, sizeof a, "not-%s", o->label_column);
        I->classes[0] = am_strdup(a, "class");
        I->classes[1] = am_strdup(o->label_column, "class");
        I->n_classes = 2;
        return 0;
    }
    if (!o->class_column) return 0;
    int all_int = 1, max_int = -1;
    for (int64_t i = 0; i < I->n; i++) {
        ImgRow *r = &I->rows[i];
        if (r->skip) continue;
        char *end;
        long v = strtol(r->class_text, &end, 10);
        if (*end || v < 0 || v >= MAX_CLASSES) all_int = 0;
        else if (v > max_int) max_int = (int)v;
    }
    if (o->classes) {
        char *list = am_strdup(o->classes, "classes"), *f[MAX_CLASSES];
        const int n = text_split_commas(list, f, MAX_CLASSES);
        if (n > MAX_CLASSES) {
            free(list);
            return am_error_set(err, "--classes: %d names, at most %d", n, MAX_CLASSES);
        }
        for (int k = 0; k < n; k++) I->classes[k] = am_strdup(f[k], "class");
        I->n_classes = n;
        free(list);
    } else if (all_int) {
        for (int k = 0; k <= max_int; k++) {
            char b[16];
            snprintf(b, sizeof b, "%d", k);
            I->classes[k] = am_strdup(b, "class");
        }
        I->n_classes = max_int + 1;
    } else {
        for (int64_t i = 0; i < I->n; i++) {
            ImgRow *r = &I->rows[i];
            if (r->skip) continue;
            int found = 0;
            for (int k = 0; k < I->n_classes && !found; k++) found = !strcmp(I->classes[k], r->class_text);
            if (found) continue;
            if (I->n_classes == MAX_CLASSES)
                return am_error_set(err, "%s: more than %d distinct classes in column '%s'", o->catalog, MAX_CLASSES,
                                    o->class_column);
            I->classes[I->n_classes++] = am_strdup(r->class_text, "class");
        }
        qsort(I->classes, (size_t)I->n_classes, sizeof I->classes[0], cmp_str);
    }
    for (int64_t i = 0; i < I->n; i++) {
        ImgRow *r = &I->rows[i];
        if (r->skip) continue;
        char *end;
        long v = strtol(r->class_text, &end, 10);
        r->label = -1;
        if (all_int && !*end) {
            if (v >= 0 && v < I->n_classes) r->label = (int32_t)v;
        } else {
            for (int k = 0; k < I->n_classes; k++)
                if (!strcmp(I->classes[k], r->class_text)) r->label = k;
        }
        if (r->label < 0) skip(r, "class '%s' is not one of the %d classes", r->class_text, I->n_classes);
    }
    return 0;
}

// Decodes rows [b0, b1) into pix (one stored image per row), in parallel.
static void decode_block(ImgIngest *I, int64_t b0, int64_t b1, uint8_t *pix) {
    const int S = I->o->image_size, C = I->o->channels;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = b0; i < b1; i++) {
        ImgRow *r = &I->rows[i];
        if (r->skip) continue;
        Image img;
        AmError e;
        if (image_read(r->path, &img, &e)) {
            skip(r, "%s", e.msg);
            continue;
        }
        if (img.width < MIN_SIDE || img.height < MIN_SIDE)
            skip(r, "image %dx%d is smaller than %d px", img.width, img.height, MIN_SIDE);
        else
            image_to_stored(&img, S, C, pix + (size_t)(i - b0) * S * S * C);
        image_free(&img);
    }
}

static int write_all(ImgIngest *I, ImageIngestSummary *sum, AmError *err) {
    const ImageIngestOptions *o = I->o;
    const int S = o->image_size, C = o->channels;
    ImgDatasetSpec spec = {S, C, o->compress, (const char *const *)I->classes, I->n_classes,
                           I->use_votes ? &I->schema : NULL, 0};
    ImgWriter *w;
    if (imgds_writer_open(o->out, &spec, &w, err)) return 1;
    enum { BLOCK = 64 };
    uint8_t *pix = am_malloc((size_t)BLOCK * S * S * C, "decoded images");
    int64_t *ids = am_calloc((size_t)I->n + 1, sizeof *ids, "ids");
    int32_t *labels = am_calloc((size_t)I->n + 1, sizeof *labels, "labels");
    uint8_t *splits = am_calloc((size_t)I->n + 1, 1, "splits");
    int64_t nw = 0;
    int rc = 0;
    for (int64_t b0 = 0; b0 < I->n && !rc; b0 += BLOCK) {
        const int64_t b1 = b0 + BLOCK < I->n ? b0 + BLOCK : I->n;
        decode_block(I, b0, b1, pix);
        for (int64_t i = b0; i < b1 && !rc; i++) {
            ImgRow *r = &I->rows[i];
            if (r->skip) {
                fprintf(stderr, "%s:%ld: %s: skipped: %s\n", o->catalog, r->line, r->name, r->why);
                sum->skipped++;
                continue;
            }
            const int64_t id = imgds_id_of_name(r->name);
            uint8_t split;
            if (r->split >= 0) split = (uint8_t)r->split;
            else split_by_id(&id, 1, o->seed, &split);
            rc = imgds_writer_add(w, r->name, id, pix + (size_t)(i - b0) * S * S * C, r->label, split, 0, r->votes, err);
            ids[nw] = id, labels[nw] = r->label, splits[nw] = split;
            nw += !rc;
        }
    }
    if (!rc && nw > 0 && I->n_classes > 0) {
        uint8_t *sub = am_calloc((size_t)nw, 1, "subsets");
        if (subsets_by_class(ids, labels, splits, (int)nw, I->n_classes, o->seed, sub))
            rc = am_error_set(err, "%s: out of memory computing subsets", o->out);
        if (!rc) rc = imgds_writer_set_subsets(w, sub, nw, err);
        free(sub);
    }
    free(pix), free(ids), free(labels), free(splits);
    if (rc) {
        imgds_writer_abort(w);
        return 1;
    }
    sum->written = nw;
    return imgds_writer_close(w, sum->skipped, err);
}

int image_ingest_run(const ImageIngestOptions *o, ImageIngestSummary *sum, AmError *err) {
    memset(sum, 0, sizeof *sum);
    if (!o->catalog || !o->out) return am_error_set(err, "ingest --images needs a catalogue and --out");
    if (o->image_size < 8 || o->image_size > 4096 || (o->channels != 1 && o->channels != 3) || o->compress < 0 ||
        o->compress > 9)
        return am_error_set(err, "ingest --images: bad --image-size %d (8..4096), --channels %d (1 or 3) or --compress %d (0..9)",
                            o->image_size, o->channels, o->compress);
    if (!!o->class_column + !!o->label_column + !!o->votes > 1)
        return am_error_set(err, "ingest --images: give at most one of --votes, --class-column, --label-column");
    ImgIngest I;
    memset(&I, 0, sizeof I);
    I.o = o;
    if (o->votes) {
        if (strcmp(o->votes, "gz_decals"))
            return am_error_set(err, "--votes %s: unknown schema (known: gz_decals)", o->votes);
        vote_schema_gz_decals(&I.schema);
        I.use_votes = 1;
    }
    const char *slash = strrchr(o->catalog, '/');
    if (slash) snprintf(I.dir, sizeof I.dir, "%.*s", (int)(slash - o->catalog), o->catalog);
    int rc = read_catalog(&I, err) || assign_classes(&I, err);
    sum->rows = I.n;
    sum->n_classes = I.n_classes;
    if (!rc) rc = write_all(&I, sum, err);
    for (int64_t i = 0; i < I.n; i++) free(I.rows[i].path), free(I.rows[i].class_text), free(I.rows[i].votes);
    free(I.rows);
    for (int k = 0; k < I.n_classes; k++) free(I.classes[k]);
    return rc ? 1 : 0;
}
