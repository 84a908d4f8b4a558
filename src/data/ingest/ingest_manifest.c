// astromm ingest, the manifest: rows of id, class, files, split read and checked
// (errors name the line), the class list resolved (see ingest.h, --classes).
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/format/dataset.h"
#include "data/ingest/ingest_internal.h"
#include "data/preprocess/text_reader.h"

void ingest_row_skip(Row *r, int reason, const char *fmt, ...) {
    if (r->skip >= 0) return;  // the first reason wins
    r->skip = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

static int parse_i64(const char *s, int64_t *out) {
    if (!*s) return 1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return 1;
    *out = (int64_t)v;
    return 0;
}


// ------------------------------------------------------------------ manifest
enum { C_ID, C_CLASS, C_LC, C_SPEC, C_SPLIT, C_N };  // the manifest's columns

// The header's columns into col (-1 when absent); 0 or an error naming the line.
static int parse_header(char **fields, int nhead, int *col, const char *path, int lineno, AmError *err) {
    static const char *const names[C_N] = {"id", "class", "lightcurve", "spectrum", "split"};
    if (nhead > 256) return am_error_set(err, "%s:%d: too many header columns (%d > 256)", path, lineno, nhead);
    for (int i = 0; i < nhead; i++)
        for (int c = 0; c < C_N; c++)
            if (!strcmp(fields[i], names[c])) {
                if (col[c] >= 0) return am_error_set(err, "%s:%d: duplicate column '%s'", path, lineno, names[c]);
                col[c] = i;
            }
    if (col[C_ID] < 0) return am_error_set(err, "%s:%d: header has no 'id' column", path, lineno);
    return 0;
}

// One data line into r (a bad field marks the row skipped, with the reason).
static void parse_row(Row *r, int lineno, char **fields, int nf, int nhead, const int *col, const char *dir) {
    memset(r, 0, sizeof *r);
    r->line = lineno;
    r->label = -1;
    r->split = -1;
    r->asas_slot = -1;
    r->meta_row = -1;
    r->tab_row = -1;
    r->skip = -1;
    snprintf(r->id_txt, sizeof r->id_txt, "?");
    if (nf != nhead) {
        if (nf > 0 && col[C_ID] < nf && col[C_ID] < 256) snprintf(r->id_txt, sizeof r->id_txt, "%s", fields[col[C_ID]]);
        ingest_row_skip(r, INGEST_SKIP_ROW, "%d fields, header has %d", nf, nhead);
        return;
    }
    const char *v[C_N];
    for (int c = 0; c < C_N; c++) v[c] = col[c] >= 0 ? fields[col[c]] : "";
    snprintf(r->id_txt, sizeof r->id_txt, "%s", *v[C_ID] ? v[C_ID] : "(empty)");
    if (parse_i64(v[C_ID], &r->id)) ingest_row_skip(r, INGEST_SKIP_ROW, "id '%s' is not an integer", v[C_ID]);
    if (strlen(v[C_CLASS]) > INGEST_CLASS_NAME_MAX)
        ingest_row_skip(r, INGEST_SKIP_CLASS, "class name longer than %d characters", INGEST_CLASS_NAME_MAX);
    else snprintf(r->cls, sizeof r->cls, "%s", v[C_CLASS]);  // mapped once the class list is known
    if (*v[C_SPLIT]) {
        if (!strcmp(v[C_SPLIT], "train")) r->split = DS_SPLIT_TRAIN;
        else if (!strcmp(v[C_SPLIT], "val")) r->split = DS_SPLIT_VAL;
        else if (!strcmp(v[C_SPLIT], "test")) r->split = DS_SPLIT_TEST;
        else ingest_row_skip(r, INGEST_SKIP_ROW, "split '%s' is not train, val or test", v[C_SPLIT]);
    }
    if (!strncmp(v[C_LC], "asas:", 5)) {
        if (parse_i64(v[C_LC] + 5, &r->asas_id))
            ingest_row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve '%s': bad ASAS id", v[C_LC]);
        else r->asas_slot = 0;  // resolved later
    } else if (*v[C_LC]) {
        r->lc_path = text_resolve_path(dir, v[C_LC]);
    }
    if (*v[C_SPEC]) r->spec_path = text_resolve_path(dir, v[C_SPEC]);
}

int ingest_read_manifest(const char *path, Row **rows_out, int *n_out, AmError *err) {
    FILE *f = fopen(path, "r");
    if (!f) return am_error_set(err, "%s: cannot open manifest: %s", path, strerror(errno));
    char dir[4096] = "";  // relative file names are relative to the manifest's directory
    const char *slash = strrchr(path, '/');
    if (slash) {
        size_t nd = (size_t)(slash - path);
        if (nd == 0) nd = 1;  // "/x.csv" -> "/"
        if (nd >= sizeof dir) {
            fclose(f);
            return am_error_set(err, "%s: manifest path too long", path);
        }
        memcpy(dir, path, nd);
        dir[nd] = 0;
    }
    int col[C_N] = {-1, -1, -1, -1, -1};
    char *line = NULL, *fields[256];
    size_t cap = 0;
    int lineno = 0, nhead = 0, have_header = 0, n = 0, rcap = 0, rc = 0;
    Row *rows = NULL;
    while (!rc && getline(&line, &cap, f) >= 0) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        char *t = line;
        while (*t && isspace((unsigned char)*t)) t++;
        if (!*t) continue;
        if (!have_header) {
            nhead = text_split_commas(line, fields, 256);
            rc = parse_header(fields, nhead, col, path, lineno, err);
            have_header = !rc;
            continue;
        }
        if (n == rcap) {
            rcap = rcap ? 2 * rcap : 64;
            Row *nr = realloc(rows, (size_t)rcap * sizeof *rows);
            if (!nr) {
                rc = am_error_set(err, "%s: out of memory reading the manifest", path);
                break;
            }
            rows = nr;
        }
        const int nf = text_split_commas(line, fields, 256);
        parse_row(&rows[n++], lineno, fields, nf, nhead, col, dir);
    }
    if (!rc && ferror(f)) rc = am_error_set(err, "%s: read error", path);
    if (!rc && !have_header) rc = am_error_set(err, "%s: empty manifest (no header)", path);
    free(line);
    fclose(f);
    *rows_out = rows;
    *n_out = n;
    return rc;
}

static int cmp_name(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

// The class list (see IngestOptions.classes) into S->class_names / n_classes;
// then every row's label. 0, or non-zero with err set.
int ingest_set_classes(const IngestOptions *o, const char (*from)[INGEST_CLASS_NAME_MAX + 1], int n_from, Row *rows,
                       int n, IngestSummary *S, AmError *err) {
    char (*names)[INGEST_CLASS_NAME_MAX + 1] = S->class_names;
    int nc = 0, from_manifest = 0;
    const char *spec = o->classes ? o->classes : "astrom3";
    if (n_from) {
        for (int k = 0; k < n_from; k++) memcpy(names[k], from[k], sizeof names[k]);
        nc = n_from;
    } else if (!strcmp(spec, "astrom3")) {
        for (int k = 0; k < INGEST_N_CLASSES; k++) snprintf(names[k], sizeof names[k], "%s", INGEST_CLASSES[k]);
        nc = INGEST_N_CLASSES;
    } else if (!strcmp(spec, "manifest")) {
        from_manifest = 1;
        for (int i = 0; i < n; i++) {
            if (rows[i].skip >= 0 || !rows[i].cls[0]) continue;
            int k = 0;
            while (k < nc && strcmp(names[k], rows[i].cls)) k++;
            if (k < nc) continue;
            if (nc == INGEST_MAX_CLASSES)
                return am_error_set(err, "%s: more than %d distinct classes", o->manifest, INGEST_MAX_CLASSES);
            memcpy(names[nc++], rows[i].cls, sizeof names[0]);
        }
        qsort(names, (size_t)nc, sizeof names[0], cmp_name);  // byte order: the same list from any manifest
    } else {
        const char *p = spec;
        for (;;) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            if (len == 0 || len > INGEST_CLASS_NAME_MAX)
                return am_error_set(err, "class list '%s': empty or over-long (> %d) name", spec, INGEST_CLASS_NAME_MAX);
            if (nc == INGEST_MAX_CLASSES) return am_error_set(err, "class list: more than %d classes", INGEST_MAX_CLASSES);
            memcpy(names[nc], p, len);
            names[nc][len] = 0;
            for (int k = 0; k < nc; k++)
                if (!strcmp(names[k], names[nc])) return am_error_set(err, "class list: '%s' twice", names[nc]);
            nc++;
            if (!c) break;
            p = c + 1;
        }
    }
    if (nc < 1 && !from_manifest) return am_error_set(err, "empty class list");
    S->n_classes = nc;
    for (int i = 0; i < n; i++) {
        Row *r = &rows[i];
        if (!r->cls[0]) continue;
        for (int k = 0; k < nc; k++)
            if (!strcmp(r->cls, names[k])) r->label = k;
        if (r->label < 0)
            ingest_row_skip(r, INGEST_SKIP_CLASS, "unknown class '%s'%s", r->cls,
                     o->classes ? "" : " (not an AstroM3 code; --classes manifest keeps the manifest's names)");
    }
    return 0;
}

void ingest_free_rows(Row *rows, int n) {
    for (int i = 0; i < n; i++) {
        free(rows[i].lc_path);
        free(rows[i].spec_path);
        lc_norm_free(&rows[i].lc);
    }
    free(rows);
}
