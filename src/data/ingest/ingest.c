// astromm ingest: manifest of real survey files -> astromm dataset; see ingest.h.
#define _POSIX_C_SOURCE 200809L
#include "data/ingest/ingest.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "data/format/dataset.h"
#include "data/ingest/feature_queue.h"
#include "data/ingest/lc_features.h"
#include "data/preprocess/lightcurve.h"
#include "data/preprocess/metadata.h"
#include "data/preprocess/spectrum.h"
#include "data/format/splits.h"
#include "io/text_out.h"
#include "mpi/comm.h"

const char *const INGEST_CLASSES[INGEST_N_CLASSES] = {"EW", "SR", "EA", "RRAB", "EB", "ROT", "RRC", "HADS", "M", "DSCT"};
const char *const INGEST_SKIP_NAMES[INGEST_N_SKIP] = {"bad row", "unknown class", "bad light curve", "bad spectrum",
                                                      "no modality"};

typedef struct {
    int line;
    char id_txt[40];
    int64_t id;
    int label, split;  // split -1: generated
    char cls[INGEST_CLASS_NAME_MAX + 1];  // class as written ("" = unlabelled)
    char *lc_path, *spec_path;
    int64_t asas_id;
    int asas_slot;  // index into the ASAS slots, -1 when not an asas: reference
    LcNorm lc;      // text-file curve (owned)
    int has_lc;
    int meta_row;   // catalogue row, -1 when absent
    int tab_row;    // row of the metadata table (meta_csv), -1 when absent
    int skip;       // -1: ok, else INGEST_SKIP_*
    char why[600];
    int need_feat;  // photo columns come from computed features
    Features feat;  // text-file curve's features (asas: rows use their slot's)
} Row;

typedef struct {
    int64_t id;
    int found, failed;
    LcNorm lc;
    char why[520];
    int need_feat;
    Features feat;
} AsasSlot;

static void row_skip(Row *r, int reason, const char *fmt, ...) AM_PRINTF(3, 4);
static void row_skip(Row *r, int reason, const char *fmt, ...) {
    if (r->skip >= 0) return;  // the first reason wins
    r->skip = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = 0;
        s++;
    }
    return s;
}

// Splits line in place at commas; returns the field count (at most max).
static int split_fields(char *line, char **f, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        char *c = strchr(p, ',');
        if (c) *c = 0;
        if (n < max) f[n] = trim(p);
        n++;
        if (!c) break;
        p = c + 1;
    }
    return n;
}

static char *resolve(const char *dir, const char *p) {
    size_t nd = strlen(dir), np = strlen(p);
    char *s = am_malloc(nd + np + 2, "ingest path");
    if (p[0] == '/' || nd == 0) memcpy(s, p, np + 1);
    else {
        memcpy(s, dir, nd);
        s[nd] = '/';
        memcpy(s + nd + 1, p, np + 1);
    }
    return s;
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

static int lc_finite(const LcNorm *nm) {
    if (!isfinite(nm->log10_mad) || !isfinite(nm->dt)) return 0;
    for (int k = 0; k < nm->n; k++)
        if (!isfinite(nm->t01[k]) || !isfinite(nm->flux_n[k]) || !isfinite(nm->err_n[k])) return 0;
    return 1;
}

// Reads and preprocesses a spectrum into out; 0 or non-zero with err set.
static int load_spectrum(const char *path, float *out, AmError *err) {
    Spectrum s = {0};
    if (spec_read_lamost(path, &s, err)) return 1;
    int rc = spec_preprocess(&s, out, err);
    spec_free(&s);
    if (rc) return rc;
    for (int k = 0; k < 3 * SPEC_LEN; k++)
        if (!isfinite(out[k])) return am_error_set(err, "%s: preprocessed spectrum has a non-finite value", path);
    return 0;
}

typedef struct {
    int64_t id;
    int idx;
} IdIdx;
static int cmp_ididx(const void *a, const void *b) {
    const IdIdx *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id ? 1 : (x->idx > y->idx) - (x->idx < y->idx);
}
static int find_id(const IdIdx *v, int n, int64_t id) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (v[mid].id == id) return v[mid].idx;
        if (v[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}
static int cmp_slot(const void *a, const void *b) {
    const AsasSlot *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

typedef struct {
    AsasSlot *slots;
    int n, found;
    FeatQueue *feat;
} AsasCtx;

static int asas_cb(int64_t id, const LightCurve *lc, void *user) {
    AsasCtx *c = user;
    AsasSlot key = {.id = id};
    AsasSlot *s = bsearch(&key, c->slots, (size_t)c->n, sizeof *c->slots, cmp_slot);
    if (!s || s->found) return 0;
    s->found = 1;
    c->found++;
    AmError e;
    if (lc_normalize(lc, &s->lc, &e)) {
        s->failed = 1;
        snprintf(s->why, sizeof s->why, "%s", e.msg);
    } else if (!lc_finite(&s->lc)) {
        s->failed = 1;
        snprintf(s->why, sizeof s->why, "normalised light curve has a non-finite value");
    } else if (s->need_feat) {
        feat_queue_push(c->feat, lc, &s->feat);
    }
    return c->found == c->n;  // stop once every requested id is in hand
}

// ------------------------------------------------------------------ manifest
static int read_manifest(const char *path, Row **rows_out, int *n_out, AmError *err) {
    FILE *f = fopen(path, "r");
    if (!f) return am_error_set(err, "%s: cannot open manifest: %s", path, strerror(errno));
    char dir[4096] = "";
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
    enum { C_ID, C_CLASS, C_LC, C_SPEC, C_SPLIT, C_N };
    static const char *const names[C_N] = {"id", "class", "lightcurve", "spectrum", "split"};
    int col[C_N] = {-1, -1, -1, -1, -1};
    char *line = NULL, *fields[256];
    size_t cap = 0;
    int lineno = 0, nhead = 0, have_header = 0, n = 0, rcap = 0, rc = 0;
    Row *rows = NULL;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        char *t = line;
        while (*t && isspace((unsigned char)*t)) t++;
        if (!*t) continue;
        if (!have_header) {
            nhead = split_fields(line, fields, 256);
            if (nhead > 256) {
                rc = am_error_set(err, "%s:%d: too many header columns (%d > 256)", path, lineno, nhead);
                break;
            }
            for (int i = 0; i < nhead; i++)
                for (int c = 0; c < C_N; c++)
                    if (!strcmp(fields[i], names[c])) {
                        if (col[c] >= 0) {
                            rc = am_error_set(err, "%s:%d: duplicate column '%s'", path, lineno, names[c]);
                            break;
                        }
                        col[c] = i;
                    }
            if (rc) break;
            if (col[C_ID] < 0) {
                rc = am_error_set(err, "%s:%d: header has no 'id' column", path, lineno);
                break;
            }
            have_header = 1;
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
        Row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        r->line = lineno;
        r->label = -1;
        r->split = -1;
        r->asas_slot = -1;
        r->meta_row = -1;
        r->tab_row = -1;
        r->skip = -1;
        snprintf(r->id_txt, sizeof r->id_txt, "?");
        int nf = split_fields(line, fields, 256);
        if (nf != nhead) {
            if (nf > 0 && col[C_ID] < nf && col[C_ID] < 256) snprintf(r->id_txt, sizeof r->id_txt, "%s", fields[col[C_ID]]);
            row_skip(r, INGEST_SKIP_ROW, "%d fields, header has %d", nf, nhead);
            continue;
        }
        const char *v[C_N];
        for (int c = 0; c < C_N; c++) v[c] = col[c] >= 0 ? fields[col[c]] : "";
        snprintf(r->id_txt, sizeof r->id_txt, "%s", *v[C_ID] ? v[C_ID] : "(empty)");
        if (parse_i64(v[C_ID], &r->id)) row_skip(r, INGEST_SKIP_ROW, "id '%s' is not an integer", v[C_ID]);
        if (strlen(v[C_CLASS]) > INGEST_CLASS_NAME_MAX)
            row_skip(r, INGEST_SKIP_CLASS, "class name longer than %d characters", INGEST_CLASS_NAME_MAX);
        else snprintf(r->cls, sizeof r->cls, "%s", v[C_CLASS]);  // mapped once the class list is known
        if (*v[C_SPLIT]) {
            if (!strcmp(v[C_SPLIT], "train")) r->split = DS_SPLIT_TRAIN;
            else if (!strcmp(v[C_SPLIT], "val")) r->split = DS_SPLIT_VAL;
            else if (!strcmp(v[C_SPLIT], "test")) r->split = DS_SPLIT_TEST;
            else row_skip(r, INGEST_SKIP_ROW, "split '%s' is not train, val or test", v[C_SPLIT]);
        }
        if (!strncmp(v[C_LC], "asas:", 5)) {
            if (parse_i64(v[C_LC] + 5, &r->asas_id))
                row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve '%s': bad ASAS id", v[C_LC]);
            else r->asas_slot = 0;  // resolved later
        } else if (*v[C_LC]) {
            r->lc_path = resolve(dir, v[C_LC]);
        }
        if (*v[C_SPEC]) r->spec_path = resolve(dir, v[C_SPEC]);
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
static int set_classes(const IngestOptions *o, const char (*from)[INGEST_CLASS_NAME_MAX + 1], int n_from, Row *rows,
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
            row_skip(r, INGEST_SKIP_CLASS, "unknown class '%s'%s", r->cls,
                     o->classes ? "" : " (not an AstroM3 code; --classes manifest keeps the manifest's names)");
    }
    return 0;
}

static void free_rows(Row *rows, int n) {
    for (int i = 0; i < n; i++) {
        free(rows[i].lc_path);
        free(rows[i].spec_path);
        lc_norm_free(&rows[i].lc);
    }
    free(rows);
}

// ------------------------------------------------------------------ run
int ingest_run(const IngestOptions *o, IngestSummary *summary, AmError *err) {
    IngestSummary sum_local, *S = summary ? summary : &sum_local;
    memset(S, 0, sizeof *S);
    if (!o || !o->manifest || !o->out) return am_error_set(err, "ingest: manifest and output paths are required");
    FILE *log = o->log ? o->log : stderr;
    Row *rows = NULL;
    int n = 0, rc;
    AsasSlot *slots = NULL;
    int n_slots = 0;
    MetaTable cat = {0};
    IdIdx *cat_idx = NULL, *ids = NULL, *tab_idx = NULL;
    MetaColumns tab = {0};
    char *tab_buf = NULL;
    int64_t *wid = NULL;
    int32_t *wlab = NULL;
    uint8_t *wsplit = NULL, *wsub = NULL;
    int *wrow = NULL;
    float *spec = am_calloc(3 * SPEC_LEN, sizeof *spec, "ingest spectrum");
    DsWriter *w = NULL;
    double *wphoto = NULL, *wmeta = NULL;
    uint8_t *whas_meta = NULL, *use = NULL;
    LsOptions ls = o->ls ? *o->ls : ls_default_options();
    FeatQueue *fq = am_calloc(1, sizeof *fq, "ingest feature queue");
    fq->ls = &ls;
    fq->comm = o->comm;
    const int writer = !o->comm || comm_rank(o->comm) == 0;  // rank 0 reports and writes
    if (o->features < INGEST_FEATURES_AUTO || o->features > INGEST_FEATURES_OFF) {
        rc = am_error_set(err, "ingest: bad features mode %d", o->features);
        goto done;
    }
    if (o->features_out && o->features == INGEST_FEATURES_OFF) {
        rc = am_error_set(err, "ingest: a features table (%s) needs features (auto or always), not off", o->features_out);
        goto done;
    }

    if ((rc = read_manifest(o->manifest, &rows, &n, err))) goto done;
    S->rows = n;

    // Metadata layout: the catalogue's 34 columns (with a catalogue), then the
    // computed light-curve columns LCF_META_NAMES when every curve gets features
    // (features always, or auto without a catalogue; and the manifest lists
    // curves), then the named columns of
    // the metadata table. None of them: the default 34 columns, and no object has
    // metadata.
    const int meta_cat = o->catalog != NULL;
    int any_curve = 0;
    for (int i = 0; i < n; i++) any_curve |= rows[i].lc_path || rows[i].asas_slot >= 0;
    const int meta_feat =
        any_curve && (o->features == INGEST_FEATURES_ALWAYS || (o->features == INGEST_FEATURES_AUTO && !o->catalog));
    const int feat0 = meta_cat ? META_N : 0, tab0 = feat0 + (meta_feat ? LCF_META_N : 0);
    const char *meta_names[META_MAX_COLS];
    int n_meta = tab0, k_tab = 0;
    for (int c = 0; c < feat0; c++) meta_names[c] = META_COLUMNS[c];
    for (int c = feat0; c < tab0; c++) meta_names[c] = LCF_META_NAMES[c - feat0];
    if (o->meta_csv) {
        if (!o->meta_columns || !*o->meta_columns) {
            rc = am_error_set(err, "ingest: a metadata table (%s) needs its column names", o->meta_csv);
            goto done;
        }
        tab_buf = am_strdup(o->meta_columns, "metadata table columns");
        for (char *save = NULL, *t = strtok_r(tab_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ') t++;
            for (char *e = t + strlen(t); e > t && e[-1] == ' ';) *--e = '\0';
            if (!*t || n_meta == META_MAX_COLS) {
                rc = am_error_set(err, "ingest: --meta-columns '%s': %s", o->meta_columns,
                                  *t ? "more metadata columns than a dataset holds (64 with the others)"
                                     : "an empty column name");
                goto done;
            }
            for (int c = 0; c < n_meta; c++)
                if (!strcmp(meta_names[c], t)) {
                    rc = am_error_set(err, "ingest: --meta-columns: '%s' named twice (or clashes with a catalogue "
                                      "or lc_* column)", t);
                    goto done;
                }
            meta_names[n_meta++] = t;
            k_tab++;
        }
    }
    const int meta_tab = k_tab > 0;
    if (!n_meta) {
        n_meta = META_N;
        for (int c = 0; c < META_N; c++) meta_names[c] = META_COLUMNS[c];
    }
    S->meta_cols = n_meta;
    S->meta_feature_cols = meta_feat ? LCF_META_N : 0;
    S->meta_table_cols = k_tab;

    // Statistics of another dataset: read first, so a bad path fails before the work.
    float from_meta[2][DS_META_MAX], from_photo[2][DS_PHOTO_COLS];
    static char from_classes[INGEST_MAX_CLASSES][INGEST_CLASS_NAME_MAX + 1];
    int n_from_classes = 0;
    if (o->stats_from && o->classes) {
        rc = am_error_set(err, "ingest: give a class list or --stats-from (whose classes are used), not both");
        goto done;
    }
    if (o->stats_from) {
        Dataset *src = NULL;
        AmError e;
        if (ds_open(o->stats_from, &src, &e)) {
            rc = am_error_set(err, "--stats-from: %s", e.msg);
            goto done;
        }
        // The same metadata columns, or the copied statistics would z-score the wrong ones.
        const int sm = ds_meta_cols(src);
        const char *const *sn = ds_meta_names(src);
        int same = sm == n_meta;
        for (int c = 0; same && c < n_meta; c++) same = !strcmp(sn[c], meta_names[c]);
        if (!same) {
            rc = am_error_set(err, "--stats-from %s: its %d metadata columns (%s, ...) differ from the %d this ingest "
                              "writes (%s, ...); hint: use the same --catalog and --features as for that dataset",
                              o->stats_from, sm, sn[0], n_meta, meta_names[0]);
            ds_close(src);
            goto done;
        }
        const float *mm, *ms, *pm, *ps;
        ds_stats(src, &mm, &ms, &pm, &ps);
        for (int c = 0; c < n_meta; c++) from_meta[0][c] = mm[c], from_meta[1][c] = ms[c];
        for (int c = 0; c < DS_PHOTO_COLS; c++) from_photo[0][c] = pm[c], from_photo[1][c] = ps[c];
        const char *const *cn;
        ds_classes(src, &cn, &n_from_classes);
        for (int k = 0; k < n_from_classes && k < INGEST_MAX_CLASSES; k++)
            snprintf(from_classes[k], sizeof from_classes[k], "%s", cn[k]);
        if (n_from_classes > INGEST_MAX_CLASSES) n_from_classes = INGEST_MAX_CLASSES;
        ds_close(src);
    }

    if ((rc = set_classes(o, (const char(*)[INGEST_CLASS_NAME_MAX + 1])from_classes, n_from_classes, rows, n, S, err)))
        goto done;

    // Duplicate ids: the first row keeps the id.
    ids = am_calloc((size_t)(n ? n : 1), sizeof *ids, "ingest ids");
    int nids = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].skip != INGEST_SKIP_ROW) ids[nids].id = rows[i].id, ids[nids].idx = i, nids++;
    qsort(ids, (size_t)nids, sizeof *ids, cmp_ididx);
    for (int k = 1; k < nids; k++)
        if (ids[k].id == ids[k - 1].id) {
            int first = ids[k - 1].idx;
            while (k < nids && ids[k].id == ids[k - 1].id) {
                Row *r = &rows[ids[k].idx];
                r->skip = -1;  // a duplicate is reported as such, whatever else is wrong
                row_skip(r, INGEST_SKIP_ROW, "duplicate id (first on line %d)", rows[first].line);
                k++;
            }
        }

    // Catalogue.
    if (o->catalog) {
        if ((rc = meta_read_csv(o->catalog, &cat, err))) goto done;
        meta_transform(&cat);
        cat_idx = am_calloc((size_t)cat.n, sizeof *cat_idx, "ingest catalogue index");
        for (int i = 0; i < cat.n; i++) cat_idx[i].id = cat.id[i], cat_idx[i].idx = i;
        qsort(cat_idx, (size_t)cat.n, sizeof *cat_idx, cmp_ididx);
        for (int i = 1; i < cat.n; i++)
            if (cat_idx[i].id == cat_idx[i - 1].id) {
                rc = am_error_set(err, "%s: duplicate id %lld in the catalogue", o->catalog, (long long)cat_idx[i].id);
                goto done;
            }
    }

    // Metadata table.
    if (meta_tab) {
        const char *idc = o->meta_id ? o->meta_id : "id";
        if ((rc = meta_read_columns(o->meta_csv, idc, meta_names + tab0, k_tab, &tab, err))) goto done;
        tab_idx = am_calloc((size_t)tab.n, sizeof *tab_idx, "ingest metadata table index");
        for (int i = 0; i < tab.n; i++) tab_idx[i].id = tab.id[i], tab_idx[i].idx = i;
        qsort(tab_idx, (size_t)tab.n, sizeof *tab_idx, cmp_ididx);
        for (int i = 1; i < tab.n; i++)
            if (tab_idx[i].id == tab_idx[i - 1].id) {
                rc = am_error_set(err, "%s: duplicate %s %lld (lines %ld and %ld)", o->meta_csv, idc,
                                  (long long)tab_idx[i].id, tab.line[tab_idx[i - 1].idx], tab.line[tab_idx[i].idx]);
                goto done;
            }
        for (int i = 0; i < n; i++) rows[i].tab_row = find_id(tab_idx, tab.n, rows[i].id);
    }

    // Which objects take their photo columns from computed features.
    for (int i = 0; i < n; i++) {
        Row *r = &rows[i];
        if (cat_idx) r->meta_row = find_id(cat_idx, cat.n, r->id);
        int has_curve = r->lc_path || r->asas_slot >= 0;
        r->need_feat = has_curve && (o->features == INGEST_FEATURES_ALWAYS ||
                                     (o->features == INGEST_FEATURES_AUTO && r->meta_row < 0));
    }

    // ASAS CSV: one streamed pass for every requested id.
    for (int i = 0; i < n; i++)
        if (rows[i].skip < 0 && rows[i].asas_slot >= 0) n_slots++;
    if (n_slots) {
        slots = am_calloc((size_t)n_slots, sizeof *slots, "ingest asas slots");
        int k = 0;
        for (int i = 0; i < n; i++)
            if (rows[i].skip < 0 && rows[i].asas_slot >= 0) slots[k++].id = rows[i].asas_id;
        qsort(slots, (size_t)n_slots, sizeof *slots, cmp_slot);
        int u = 0;
        for (int i = 0; i < n_slots; i++)
            if (!u || slots[i].id != slots[u - 1].id) slots[u++] = slots[i];
        n_slots = u;
        for (int i = 0; i < n; i++)
            if (rows[i].skip < 0 && rows[i].asas_slot >= 0 && rows[i].need_feat) {
                AsasSlot key = {.id = rows[i].asas_id};
                ((AsasSlot *)bsearch(&key, slots, (size_t)n_slots, sizeof *slots, cmp_slot))->need_feat = 1;
            }
        AsasCtx ctx = {slots, n_slots, 0, fq};
        for (int fi = 0; fi < o->n_asas_csv && ctx.found < n_slots; fi++)
            if ((rc = lc_read_asas_csv(o->asas_csv[fi], asas_cb, &ctx, err))) goto done;
        feat_queue_flush(fq);
        for (int i = 0; i < n; i++) {
            Row *r = &rows[i];
            if (r->skip >= 0 || r->asas_slot < 0) continue;
            AsasSlot key = {.id = r->asas_id};
            AsasSlot *s = bsearch(&key, slots, (size_t)n_slots, sizeof *slots, cmp_slot);
            r->asas_slot = (int)(s - slots);
            if (!o->n_asas_csv)
                row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve asas:%lld needs --asas-csv", (long long)r->asas_id);
            else if (!s->found) {
                row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve asas:%lld: id not in %s%s", (long long)r->asas_id,
                         o->asas_csv[0], o->n_asas_csv > 1 ? " or the other ASAS CSV files" : "");
                S->lc_missing++;
            }
            else if (s->failed)
                row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve asas:%lld: %s", (long long)r->asas_id, s->why);
            else if (r->need_feat && s->feat.failed)
                row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve asas:%lld: %s", (long long)r->asas_id,
                         s->feat.why);
        }
    }

    // Per-object validation: text light curves, spectra, catalogue rows.
    for (int i = 0; i < n; i++) {
        Row *r = &rows[i];
        if (r->skip >= 0) continue;
        AmError e;
        if (r->lc_path) {
            LightCurve lc = {0};
            if (lc_read_asassn(r->lc_path, &lc, &e)) row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve: %s", e.msg);
            else if (lc_normalize(&lc, &r->lc, &e)) row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve: %s", e.msg);
            else if (!lc_finite(&r->lc))
                row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve %s: non-finite normalised value", r->lc_path);
            else {
                r->has_lc = 1;
                if (r->need_feat) feat_queue_push(fq, &lc, &r->feat);
            }
            lc_free(&lc);
        } else if (r->asas_slot >= 0) {
            r->has_lc = 1;
        }
        if (r->skip < 0 && r->spec_path && load_spectrum(r->spec_path, spec, &e))
            row_skip(r, INGEST_SKIP_SPECTRUM, "spectrum: %s", e.msg);
        if (r->skip < 0 && !r->has_lc && !r->spec_path && r->meta_row < 0 && r->tab_row < 0)
            row_skip(r, INGEST_SKIP_EMPTY, "no light curve, spectrum, catalogue or metadata-table row");
    }
    feat_queue_flush(fq);
    for (int i = 0; i < n; i++) {
        Row *r = &rows[i];
        if (r->skip < 0 && r->lc_path && r->need_feat && r->feat.failed)
            row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve %s: %s", r->lc_path, r->feat.why);
    }
    S->features_computed = fq->computed;
    int nw = 0;
    for (int i = 0; i < n; i++) {
        Row *r = &rows[i];
        if (r->skip < 0) {
            nw++;
            continue;
        }
        S->skipped++;
        S->skip_count[r->skip]++;
        if (writer) fprintf(log, "%s:%d: id %s: skipped: %s\n", o->manifest, r->line, r->id_txt, r->why);
    }
    fflush(log);
    if (nw == 0) {
        rc = am_error_set(err, "%s: nothing to write: all %d objects skipped", o->manifest, n);
        goto done;
    }

    // Splits, subsets, statistics over the objects to write.
    wid = am_calloc((size_t)nw, sizeof *wid, "ingest ids");
    wlab = am_calloc((size_t)nw, sizeof *wlab, "ingest labels");
    wsplit = am_calloc((size_t)nw, 1, "ingest splits");
    wsub = am_calloc((size_t)nw, 1, "ingest subsets");
    wrow = am_calloc((size_t)nw, sizeof *wrow, "ingest rows");
    for (int i = 0, k = 0; i < n; i++)
        if (rows[i].skip < 0) wrow[k] = i, wid[k] = rows[i].id, wlab[k] = rows[i].label, k++;
    split_by_id(wid, nw, o->seed, wsplit);
    for (int k = 0; k < nw; k++)
        if (rows[wrow[k]].split >= 0) wsplit[k] = (uint8_t)rows[wrow[k]].split;
    if (subsets_by_class(wid, wlab, wsplit, nw, S->n_classes, o->seed, wsub)) {
        rc = am_error_set(err, "%s: out of memory computing subsets", o->out);
        goto done;
    }
    // Metadata rows: an object has metadata when it has every part of the layout
    // (its catalogue row; its computed features). Statistics: over the training
    // objects with metadata, column by column (mean 0 / std 1 when there is none).
    MetaStats st;
    memset(&st, 0, sizeof st);
    wmeta = am_calloc((size_t)nw * (size_t)n_meta, sizeof *wmeta, "ingest metadata");
    whas_meta = am_calloc((size_t)nw, 1, "ingest metadata flags");
    use = am_calloc((size_t)nw, 1, "ingest statistics rows");
    int n_train_meta = 0;
    for (int k = 0; k < nw; k++) {
        const Row *r = &rows[wrow[k]];
        double *m = wmeta + (size_t)k * n_meta;
        int has = (meta_cat || meta_feat || meta_tab) && (!meta_cat || r->meta_row >= 0) &&
                  (!meta_feat || (r->has_lc && r->need_feat)) && (!meta_tab || r->tab_row >= 0);
        if (has && meta_cat) memcpy(m, cat.meta + (size_t)r->meta_row * META_N, META_N * sizeof(double));
        if (has && meta_feat) {
            AmError e;  // cannot fail: lcf_compute refused curves whose columns are not finite
            const Features *f = r->asas_slot >= 0 ? &slots[r->asas_slot].feat : &r->feat;
            has = lcf_meta_values(f->v, m + feat0, &e) == 0;
        }
        if (has && meta_tab) memcpy(m + tab0, tab.v + (size_t)r->tab_row * k_tab, (size_t)k_tab * sizeof(double));
        whas_meta[k] = (uint8_t)has;
        use[k] = has && wsplit[k] == DS_SPLIT_TRAIN;
        n_train_meta += use[k];
    }
    for (int c = 0; c < n_meta; c++)
        meta_column_stats(wmeta + c, nw, n_meta, use, &st.meta_mean[c], &st.meta_std[c], &st.meta_std_zero[c]);
    S->stats_fallback = n_train_meta == 0;
    // Photo columns of every written object with a light curve: the catalogue's,
    // or the computed features' (amplitude, log10 period, Lafler-Kinman; rfr_score
    // stays NaN, which the loader feeds as 0). Statistics: over the training
    // objects with a light curve and a finite value, column by column.
    wphoto = am_calloc((size_t)nw * PHOTO_N, sizeof *wphoto, "ingest photo columns");
    const int pc_amp = photo_column_index("amplitude"), pc_per = photo_column_index("period"),
              pc_lk = photo_column_index("lksl_statistic");
    for (int k = 0; k < nw; k++) {
        Row *r = &rows[wrow[k]];
        double *ph = wphoto + (size_t)k * PHOTO_N;
        for (int c = 0; c < PHOTO_N; c++)
            ph[c] = r->has_lc && r->meta_row >= 0 ? cat.photo[(size_t)r->meta_row * PHOTO_N + c] : NAN;
        if (r->has_lc && r->need_feat) {
            const Features *f = r->asas_slot >= 0 ? &slots[r->asas_slot].feat : &r->feat;
            ph[pc_amp] = f->v[LCF_AMPLITUDE];
            ph[pc_per] = log10(f->v[LCF_PERIOD]);
            ph[pc_lk] = f->v[LCF_LKSL];
            S->features_used++;
        }
    }
    for (int c = 0; c < PHOTO_N; c++) {
        for (int k = 0; k < nw; k++) use[k] = wsplit[k] == DS_SPLIT_TRAIN && isfinite(wphoto[(size_t)k * PHOTO_N + c]);
        meta_column_stats(wphoto + c, nw, PHOTO_N, use, &st.photo_mean[c], &st.photo_std[c], &st.photo_std_zero[c]);
    }
    if (o->stats_from) {
        for (int c = 0; c < n_meta; c++) st.meta_mean[c] = from_meta[0][c], st.meta_std[c] = from_meta[1][c];
        for (int c = 0; c < PHOTO_N; c++) st.photo_mean[c] = from_photo[0][c], st.photo_std[c] = from_photo[1][c];
        S->stats_fallback = 0;
        S->stats_copied = 1;
    }

    // Write (rank 0; the other ranks only helped with the features).
    if (!writer) goto done;
    const char *class_ptr[INGEST_MAX_CLASSES];
    for (int k = 0; k < S->n_classes; k++) class_ptr[k] = S->class_names[k];
    if (S->n_classes < 1) {
        rc = am_error_set(err, "%s: --classes manifest: no object has a class", o->manifest);
        goto done;
    }
    if ((rc = ds_writer_open(o->out, nw, class_ptr, S->n_classes, &w, err)) ||
        (rc = ds_writer_set_meta_columns(w, meta_names, n_meta, err)))
        goto done;
    for (int k = 0; k < nw && !rc; k++) {
        Row *r = &rows[wrow[k]];
        DsObject ob;
        memset(&ob, 0, sizeof ob);
        ob.id = r->id;
        ob.label = r->label;
        ob.split = wsplit[k];
        ob.subset = wsub[k];
        if (r->has_lc) {
            ob.has[MOD_PHOTOMETRY] = 1;
            ob.lc = r->asas_slot >= 0 ? slots[r->asas_slot].lc : r->lc;
        }
        if (r->spec_path) {
            AmError e;
            if (load_spectrum(r->spec_path, spec, &e)) {
                rc = am_error_set(err, "%s: spectrum changed while ingesting: %s", o->out, e.msg);
                break;
            }
            ob.has[MOD_SPECTRA] = 1;
            ob.spectrum = spec;
        }
        for (int c = 0; c < DS_PHOTO_COLS; c++) ob.photo[c] = (float)wphoto[(size_t)k * PHOTO_N + c];
        if (whas_meta[k]) {
            ob.has[MOD_METADATA] = 1;
            for (int c = 0; c < n_meta; c++) ob.meta[c] = (float)wmeta[(size_t)k * n_meta + c];
        }
        rc = ds_writer_add(w, &ob, err);
        if (!rc) {
            S->written++;
            if (ob.label >= 0) S->class_count[ob.label]++;
            else S->unlabelled++;
            S->split_count[ob.split]++;
            for (int m = 0; m < MOD_COUNT; m++) S->modality_count[m] += ob.has[m];
        }
    }
    // The computed features table, committed only with the dataset.
    TextOut fo = {0};
    int fo_open = 0;
    if (!rc && o->features_out) {
        if ((rc = text_out_open(&fo, o->features_out, err)) == 0) {
            fo_open = 1;
            fprintf(fo.f, "id");
            for (int c = 0; c < LCF_N; c++) fprintf(fo.f, ",%s", LCF_NAMES[c]);
            fputc('\n', fo.f);
            for (int k = 0; k < nw; k++) {
                const Row *r = &rows[wrow[k]];
                if (!r->has_lc || !r->need_feat) continue;
                const Features *f = r->asas_slot >= 0 ? &slots[r->asas_slot].feat : &r->feat;
                fprintf(fo.f, "%lld", (long long)r->id);
                for (int c = 0; c < LCF_N; c++) fprintf(fo.f, ",%.17g", f->v[c]);
                fputc('\n', fo.f);
                S->features_written++;
            }
        }
    }
    rc = ds_writer_finish(w, rc, &st, err);
    w = NULL;
    if (fo_open) {
        if (rc) text_out_abort(&fo);
        else if ((rc = text_out_commit(&fo, err))) S->features_written = 0;
    }
    if (rc) {
        S->written = 0;
        memset(S->class_count, 0, sizeof S->class_count);
        memset(S->split_count, 0, sizeof S->split_count);
        memset(S->modality_count, 0, sizeof S->modality_count);
        S->unlabelled = 0;
    }

done:
    if (w) ds_writer_abort(w);
    for (int i = 0; i < n_slots; i++) lc_norm_free(&slots[i].lc);
    free(slots);
    free_rows(rows, n);
    meta_free(&cat);
    free(cat_idx);
    free(tab_idx);
    free(tab_buf);
    meta_columns_free(&tab);
    free(ids);
    free(wid);
    free(wlab);
    free(wsplit);
    free(wsub);
    free(wrow);
    free(spec);
    free(wphoto);
    free(wmeta);
    free(whas_meta);
    free(use);
    feat_queue_discard(fq);  // curves left queued by a fatal error
    free(fq);
    return rc;
}
