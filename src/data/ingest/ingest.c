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
#include "data/ingest/ingest_internal.h"
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
    int64_t id;
    int found, failed;
    LcNorm lc;
    char why[520];
    int need_feat;
    Features feat;
} AsasSlot;

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

// ------------------------------------------------------------------ run
// Everything one ingest holds, filled phase by phase (ingest_run).
typedef struct {
    const IngestOptions *o;
    IngestSummary *S;
    FILE *log;
    int writer;                // rank 0 reports and writes
    Row *rows;
    int n;
    AsasSlot *slots;
    int n_slots;
    MetaTable cat;             // --catalog
    IdIdx *cat_idx, *tab_idx;
    MetaColumns tab;           // --meta-csv
    char *tab_buf;
    // metadata layout: catalogue columns [0, feat0), computed lc_* [feat0, tab0), table [tab0, n_meta)
    int meta_cat, meta_feat, meta_tab, feat0, tab0, n_meta, k_tab;
    const char *meta_names[META_MAX_COLS];
    // --stats-from
    float from_meta[2][DS_META_MAX], from_photo[2][DS_PHOTO_COLS];
    int n_from_classes;
    LsOptions ls;
    FeatQueue *fq;
    float *spec;               // one spectrum (scratch)
    // the objects to write: rows wrow[k], k < nw
    int nw;
    int *wrow;
    int64_t *wid;
    int32_t *wlab;
    uint8_t *wsplit, *wsub, *whas_meta, *use;
    double *wphoto, *wmeta;
    MetaStats st;
} Ingest;

static char g_from_classes[INGEST_MAX_CLASSES][INGEST_CLASS_NAME_MAX + 1];

// The metadata layout: the catalogue's 34 columns (with a catalogue), then the
// computed light-curve columns LCF_META_NAMES when every curve gets features
// (features always, or auto without a catalogue; and the manifest lists curves),
// then the named columns of the metadata table. None of them: the default 34
// columns, and no object has metadata.
static int plan_metadata(Ingest *I, AmError *err) {
    const IngestOptions *o = I->o;
    I->meta_cat = o->catalog != NULL;
    int any_curve = 0;
    for (int i = 0; i < I->n; i++) any_curve |= I->rows[i].lc_path || I->rows[i].asas_slot >= 0;
    I->meta_feat =
        any_curve && (o->features == INGEST_FEATURES_ALWAYS || (o->features == INGEST_FEATURES_AUTO && !o->catalog));
    I->feat0 = I->meta_cat ? META_N : 0;
    I->tab0 = I->feat0 + (I->meta_feat ? LCF_META_N : 0);
    I->n_meta = I->tab0;
    for (int c = 0; c < I->feat0; c++) I->meta_names[c] = META_COLUMNS[c];
    for (int c = I->feat0; c < I->tab0; c++) I->meta_names[c] = LCF_META_NAMES[c - I->feat0];
    if (o->meta_csv) {
        if (!o->meta_columns || !*o->meta_columns)
            return am_error_set(err, "ingest: a metadata table (%s) needs its column names", o->meta_csv);
        I->tab_buf = am_strdup(o->meta_columns, "metadata table columns");
        for (char *save = NULL, *t = strtok_r(I->tab_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ') t++;
            for (char *e = t + strlen(t); e > t && e[-1] == ' ';) *--e = '\0';
            if (!*t || I->n_meta == META_MAX_COLS)
                return am_error_set(err, "ingest: --meta-columns '%s': %s", o->meta_columns,
                                    *t ? "more metadata columns than a dataset holds (64 with the others)"
                                       : "an empty column name");
            for (int c = 0; c < I->n_meta; c++)
                if (!strcmp(I->meta_names[c], t))
                    return am_error_set(err, "ingest: --meta-columns: '%s' named twice (or clashes with a catalogue "
                                        "or lc_* column)", t);
            I->meta_names[I->n_meta++] = t;
            I->k_tab++;
        }
    }
    I->meta_tab = I->k_tab > 0;
    if (!I->n_meta) {
        I->n_meta = META_N;
        for (int c = 0; c < META_N; c++) I->meta_names[c] = META_COLUMNS[c];
    }
    I->S->meta_cols = I->n_meta;
    I->S->meta_feature_cols = I->meta_feat ? LCF_META_N : 0;
    I->S->meta_table_cols = I->k_tab;
    return 0;
}

// --stats-from: the statistics and classes of another dataset, read first so a
// bad path fails before the work.
static int read_stats_from(Ingest *I, AmError *err) {
    const IngestOptions *o = I->o;
    if (o->stats_from && o->classes)
        return am_error_set(err, "ingest: give a class list or --stats-from (whose classes are used), not both");
    if (!o->stats_from) return 0;
    Dataset *src = NULL;
    AmError e;
    if (ds_open(o->stats_from, &src, &e)) return am_error_set(err, "--stats-from: %s", e.msg);
    // The same metadata columns, or the copied statistics would z-score the wrong ones.
    const int sm = ds_meta_cols(src);
    const char *const *sn = ds_meta_names(src);
    int same = sm == I->n_meta;
    for (int c = 0; same && c < I->n_meta; c++) same = !strcmp(sn[c], I->meta_names[c]);
    if (!same) {
        const int rc = am_error_set(err, "--stats-from %s: its %d metadata columns (%s, ...) differ from the %d this "
                                    "ingest writes (%s, ...); hint: use the same --catalog and --features as for that "
                                    "dataset", o->stats_from, sm, sn[0], I->n_meta, I->meta_names[0]);
        ds_close(src);
        return rc;
    }
    const float *mm, *ms, *pm, *ps;
    ds_stats(src, &mm, &ms, &pm, &ps);
    for (int c = 0; c < I->n_meta; c++) I->from_meta[0][c] = mm[c], I->from_meta[1][c] = ms[c];
    for (int c = 0; c < DS_PHOTO_COLS; c++) I->from_photo[0][c] = pm[c], I->from_photo[1][c] = ps[c];
    const char *const *cn;
    int nc = 0;
    ds_classes(src, &cn, &nc);
    for (int k = 0; k < nc && k < INGEST_MAX_CLASSES; k++)
        snprintf(g_from_classes[k], sizeof g_from_classes[k], "%s", cn[k]);
    I->n_from_classes = nc > INGEST_MAX_CLASSES ? INGEST_MAX_CLASSES : nc;
    ds_close(src);
    return 0;
}

// Duplicate ids: the first row keeps the id.
static void skip_duplicate_ids(Ingest *I) {
    Row *rows = I->rows;
    IdIdx *ids = am_calloc((size_t)(I->n ? I->n : 1), sizeof *ids, "ingest ids");
    int nids = 0;
    for (int i = 0; i < I->n; i++)
        if (rows[i].skip != INGEST_SKIP_ROW) ids[nids].id = rows[i].id, ids[nids].idx = i, nids++;
    qsort(ids, (size_t)nids, sizeof *ids, cmp_ididx);
    for (int k = 1; k < nids; k++)
        if (ids[k].id == ids[k - 1].id) {
            int first = ids[k - 1].idx;
            while (k < nids && ids[k].id == ids[k - 1].id) {
                Row *r = &rows[ids[k].idx];
                r->skip = -1;  // a duplicate is reported as such, whatever else is wrong
                ingest_row_skip(r, INGEST_SKIP_ROW, "duplicate id (first on line %d)", rows[first].line);
                k++;
            }
        }
    free(ids);
}

// The catalogue and the metadata table, each indexed by id (duplicates refused);
// then which objects take their photo columns from computed features.
static int read_tables(Ingest *I, AmError *err) {
    const IngestOptions *o = I->o;
    int rc;
    if (o->catalog) {
        if ((rc = meta_read_csv(o->catalog, &I->cat, err))) return rc;
        meta_transform(&I->cat);
        I->cat_idx = am_calloc((size_t)I->cat.n, sizeof *I->cat_idx, "ingest catalogue index");
        for (int i = 0; i < I->cat.n; i++) I->cat_idx[i].id = I->cat.id[i], I->cat_idx[i].idx = i;
        qsort(I->cat_idx, (size_t)I->cat.n, sizeof *I->cat_idx, cmp_ididx);
        for (int i = 1; i < I->cat.n; i++)
            if (I->cat_idx[i].id == I->cat_idx[i - 1].id)
                return am_error_set(err, "%s: duplicate id %lld in the catalogue", o->catalog,
                                    (long long)I->cat_idx[i].id);
    }
    if (I->meta_tab) {
        const char *idc = o->meta_id ? o->meta_id : "id";
        MetaColumns *tab = &I->tab;
        if ((rc = meta_read_columns(o->meta_csv, idc, I->meta_names + I->tab0, I->k_tab, tab, err))) return rc;
        I->tab_idx = am_calloc((size_t)tab->n, sizeof *I->tab_idx, "ingest metadata table index");
        for (int i = 0; i < tab->n; i++) I->tab_idx[i].id = tab->id[i], I->tab_idx[i].idx = i;
        qsort(I->tab_idx, (size_t)tab->n, sizeof *I->tab_idx, cmp_ididx);
        for (int i = 1; i < tab->n; i++)
            if (I->tab_idx[i].id == I->tab_idx[i - 1].id)
                return am_error_set(err, "%s: duplicate %s %lld (lines %ld and %ld)", o->meta_csv, idc,
                                    (long long)I->tab_idx[i].id, tab->line[I->tab_idx[i - 1].idx],
                                    tab->line[I->tab_idx[i].idx]);
        for (int i = 0; i < I->n; i++) I->rows[i].tab_row = find_id(I->tab_idx, tab->n, I->rows[i].id);
    }
    for (int i = 0; i < I->n; i++) {
        Row *r = &I->rows[i];
        if (I->cat_idx) r->meta_row = find_id(I->cat_idx, I->cat.n, r->id);
        int has_curve = r->lc_path || r->asas_slot >= 0;
        r->need_feat = has_curve && (o->features == INGEST_FEATURES_ALWAYS ||
                                     (o->features == INGEST_FEATURES_AUTO && r->meta_row < 0));
    }
    return 0;
}

// ASAS CSV: one streamed pass over the files for every requested id (their
// features computed on the way); rows whose curve is missing or bad are skipped.
static int read_asas(Ingest *I, AmError *err) {
    const IngestOptions *o = I->o;
    Row *rows = I->rows;
    for (int i = 0; i < I->n; i++)
        if (rows[i].skip < 0 && rows[i].asas_slot >= 0) I->n_slots++;
    if (!I->n_slots) return 0;
    I->slots = am_calloc((size_t)I->n_slots, sizeof *I->slots, "ingest asas slots");
    AsasSlot *slots = I->slots;
    int k = 0;
    for (int i = 0; i < I->n; i++)
        if (rows[i].skip < 0 && rows[i].asas_slot >= 0) slots[k++].id = rows[i].asas_id;
    qsort(slots, (size_t)I->n_slots, sizeof *slots, cmp_slot);
    int u = 0;
    for (int i = 0; i < I->n_slots; i++)
        if (!u || slots[i].id != slots[u - 1].id) slots[u++] = slots[i];
    I->n_slots = u;
    for (int i = 0; i < I->n; i++)
        if (rows[i].skip < 0 && rows[i].asas_slot >= 0 && rows[i].need_feat) {
            AsasSlot key = {.id = rows[i].asas_id};
            ((AsasSlot *)bsearch(&key, slots, (size_t)I->n_slots, sizeof *slots, cmp_slot))->need_feat = 1;
        }
    AsasCtx ctx = {slots, I->n_slots, 0, I->fq};
    int rc;
    for (int fi = 0; fi < o->n_asas_csv && ctx.found < I->n_slots; fi++)
        if ((rc = lc_read_asas_csv(o->asas_csv[fi], asas_cb, &ctx, err))) return rc;
    feat_queue_flush(I->fq);
    for (int i = 0; i < I->n; i++) {
        Row *r = &rows[i];
        if (r->skip >= 0 || r->asas_slot < 0) continue;
        AsasSlot key = {.id = r->asas_id};
        AsasSlot *s = bsearch(&key, slots, (size_t)I->n_slots, sizeof *slots, cmp_slot);
        r->asas_slot = (int)(s - slots);
        if (!o->n_asas_csv) {
            ingest_row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve asas:%lld needs --asas-csv", (long long)r->asas_id);
        } else if (!s->found) {
            ingest_row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve asas:%lld: id not in %s%s", (long long)r->asas_id,
                     o->asas_csv[0], o->n_asas_csv > 1 ? " or the other ASAS CSV files" : "");
            I->S->lc_missing++;
        } else if (s->failed) {
            ingest_row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve asas:%lld: %s", (long long)r->asas_id, s->why);
        } else if (r->need_feat && s->feat.failed) {
            ingest_row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve asas:%lld: %s", (long long)r->asas_id, s->feat.why);
        }
    }
    return 0;
}

// Per-object validation: text light curves (their features queued), spectra,
// and that something is left; then the skips are reported. 0, or an error when
// nothing is left to write.
static int validate_objects(Ingest *I, AmError *err) {
    const IngestOptions *o = I->o;
    Row *rows = I->rows;
    for (int i = 0; i < I->n; i++) {
        Row *r = &rows[i];
        if (r->skip >= 0) continue;
        AmError e;
        if (r->lc_path) {
            LightCurve lc = {0};
            if (lc_read_asassn(r->lc_path, &lc, &e)) ingest_row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve: %s", e.msg);
            else if (lc_normalize(&lc, &r->lc, &e)) ingest_row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve: %s", e.msg);
            else if (!lc_finite(&r->lc))
                ingest_row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve %s: non-finite normalised value", r->lc_path);
            else {
                r->has_lc = 1;
                if (r->need_feat) feat_queue_push(I->fq, &lc, &r->feat);
            }
            lc_free(&lc);
        } else if (r->asas_slot >= 0) {
            r->has_lc = 1;
        }
        if (r->skip < 0 && r->spec_path && load_spectrum(r->spec_path, I->spec, &e))
            ingest_row_skip(r, INGEST_SKIP_SPECTRUM, "spectrum: %s", e.msg);
        if (r->skip < 0 && !r->has_lc && !r->spec_path && r->meta_row < 0 && r->tab_row < 0)
            ingest_row_skip(r, INGEST_SKIP_EMPTY, "no light curve, spectrum, catalogue or metadata-table row");
    }
    feat_queue_flush(I->fq);
    for (int i = 0; i < I->n; i++) {
        Row *r = &rows[i];
        if (r->skip < 0 && r->lc_path && r->need_feat && r->feat.failed)
            ingest_row_skip(r, INGEST_SKIP_LIGHTCURVE, "light curve %s: %s", r->lc_path, r->feat.why);
    }
    I->S->features_computed = I->fq->computed;
    for (int i = 0; i < I->n; i++) {
        Row *r = &rows[i];
        if (r->skip < 0) {
            I->nw++;
            continue;
        }
        I->S->skipped++;
        I->S->skip_count[r->skip]++;
        if (I->writer) fprintf(I->log, "%s:%d: id %s: skipped: %s\n", o->manifest, r->line, r->id_txt, r->why);
    }
    fflush(I->log);
    if (I->nw == 0) return am_error_set(err, "%s: nothing to write: all %d objects skipped", o->manifest, I->n);
    return 0;
}

// The features of a written row's curve (its ASAS slot's or its own).
static const Features *row_features(const Ingest *I, const Row *r) {
    return r->asas_slot >= 0 ? &I->slots[r->asas_slot].feat : &r->feat;
}

// Splits and limited-label subsets of the objects to write.
static int assign_splits(Ingest *I, AmError *err) {
    const int nw = I->nw;
    I->wid = am_calloc((size_t)nw, sizeof *I->wid, "ingest ids");
    I->wlab = am_calloc((size_t)nw, sizeof *I->wlab, "ingest labels");
    I->wsplit = am_calloc((size_t)nw, 1, "ingest splits");
    I->wsub = am_calloc((size_t)nw, 1, "ingest subsets");
    I->wrow = am_calloc((size_t)nw, sizeof *I->wrow, "ingest rows");
    for (int i = 0, k = 0; i < I->n; i++)
        if (I->rows[i].skip < 0) I->wrow[k] = i, I->wid[k] = I->rows[i].id, I->wlab[k] = I->rows[i].label, k++;
    split_by_id(I->wid, nw, I->o->seed, I->wsplit);
    for (int k = 0; k < nw; k++)
        if (I->rows[I->wrow[k]].split >= 0) I->wsplit[k] = (uint8_t)I->rows[I->wrow[k]].split;
    if (subsets_by_class(I->wid, I->wlab, I->wsplit, nw, I->S->n_classes, I->o->seed, I->wsub))
        return am_error_set(err, "%s: out of memory computing subsets", I->o->out);
    return 0;
}

// Metadata rows: an object has metadata when it has every part of the layout
// (its catalogue row; its computed features; its table row). Statistics: over
// the training objects with metadata, column by column (mean 0 / std 1 when
// there is none).
static void metadata_rows(Ingest *I) {
    const int nw = I->nw, n_meta = I->n_meta;
    I->wmeta = am_calloc((size_t)nw * (size_t)n_meta, sizeof *I->wmeta, "ingest metadata");
    I->whas_meta = am_calloc((size_t)nw, 1, "ingest metadata flags");
    I->use = am_calloc((size_t)nw, 1, "ingest statistics rows");
    int n_train_meta = 0;
    for (int k = 0; k < nw; k++) {
        const Row *r = &I->rows[I->wrow[k]];
        double *m = I->wmeta + (size_t)k * n_meta;
        int has = (I->meta_cat || I->meta_feat || I->meta_tab) && (!I->meta_cat || r->meta_row >= 0) &&
                  (!I->meta_feat || (r->has_lc && r->need_feat)) && (!I->meta_tab || r->tab_row >= 0);
        if (has && I->meta_cat) memcpy(m, I->cat.meta + (size_t)r->meta_row * META_N, META_N * sizeof(double));
        if (has && I->meta_feat) {
            AmError e;  // cannot fail: lcf_compute refused curves whose columns are not finite
            has = lcf_meta_values(row_features(I, r)->v, m + I->feat0, &e) == 0;
        }
        if (has && I->meta_tab)
            memcpy(m + I->tab0, I->tab.v + (size_t)r->tab_row * I->k_tab, (size_t)I->k_tab * sizeof(double));
        I->whas_meta[k] = (uint8_t)has;
        I->use[k] = has && I->wsplit[k] == DS_SPLIT_TRAIN;
        n_train_meta += I->use[k];
    }
    for (int c = 0; c < n_meta; c++)
        meta_column_stats(I->wmeta + c, nw, n_meta, I->use, &I->st.meta_mean[c], &I->st.meta_std[c],
                          &I->st.meta_std_zero[c]);
    I->S->stats_fallback = n_train_meta == 0;
}

// Photo columns of every written object with a light curve: the catalogue's, or
// the computed features' (amplitude, log10 period, Lafler-Kinman; rfr_score
// stays NaN, which the loader feeds as 0). Statistics: over the training objects
// with a light curve and a finite value, column by column. --stats-from
// replaces both statistics.
static void photo_rows(Ingest *I) {
    const int nw = I->nw;
    I->wphoto = am_calloc((size_t)nw * PHOTO_N, sizeof *I->wphoto, "ingest photo columns");
    const int pc_amp = photo_column_index("amplitude"), pc_per = photo_column_index("period"),
              pc_lk = photo_column_index("lksl_statistic");
    for (int k = 0; k < nw; k++) {
        Row *r = &I->rows[I->wrow[k]];
        double *ph = I->wphoto + (size_t)k * PHOTO_N;
        for (int c = 0; c < PHOTO_N; c++)
            ph[c] = r->has_lc && r->meta_row >= 0 ? I->cat.photo[(size_t)r->meta_row * PHOTO_N + c] : NAN;
        if (r->has_lc && r->need_feat) {
            const Features *f = row_features(I, r);
            ph[pc_amp] = f->v[LCF_AMPLITUDE];
            ph[pc_per] = log10(f->v[LCF_PERIOD]);
            ph[pc_lk] = f->v[LCF_LKSL];
            I->S->features_used++;
        }
    }
    for (int c = 0; c < PHOTO_N; c++) {
        for (int k = 0; k < nw; k++)
            I->use[k] = I->wsplit[k] == DS_SPLIT_TRAIN && isfinite(I->wphoto[(size_t)k * PHOTO_N + c]);
        meta_column_stats(I->wphoto + c, nw, PHOTO_N, I->use, &I->st.photo_mean[c], &I->st.photo_std[c],
                          &I->st.photo_std_zero[c]);
    }
    if (I->o->stats_from) {
        for (int c = 0; c < I->n_meta; c++) I->st.meta_mean[c] = I->from_meta[0][c], I->st.meta_std[c] = I->from_meta[1][c];
        for (int c = 0; c < PHOTO_N; c++)
            I->st.photo_mean[c] = I->from_photo[0][c], I->st.photo_std[c] = I->from_photo[1][c];
        I->S->stats_fallback = 0;
        I->S->stats_copied = 1;
    }
}

// The computed features table (--features-out), opened in fo; 0 or an error.
static int write_features_table(Ingest *I, TextOut *fo, AmError *err) {
    int rc = text_out_open(fo, I->o->features_out, err);
    if (rc) return rc;
    fprintf(fo->f, "id");
    for (int c = 0; c < LCF_N; c++) fprintf(fo->f, ",%s", LCF_NAMES[c]);
    fputc('\n', fo->f);
    for (int k = 0; k < I->nw; k++) {
        const Row *r = &I->rows[I->wrow[k]];
        if (!r->has_lc || !r->need_feat) continue;
        const Features *f = row_features(I, r);
        fprintf(fo->f, "%lld", (long long)r->id);
        for (int c = 0; c < LCF_N; c++) fprintf(fo->f, ",%.17g", f->v[c]);
        fputc('\n', fo->f);
        I->S->features_written++;
    }
    return 0;
}

// One written object of row k.
static int add_object(Ingest *I, DsWriter *w, int k, AmError *err) {
    Row *r = &I->rows[I->wrow[k]];
    IngestSummary *S = I->S;
    DsObject ob;
    memset(&ob, 0, sizeof ob);
    ob.id = r->id;
    ob.label = r->label;
    ob.split = I->wsplit[k];
    ob.subset = I->wsub[k];
    if (r->has_lc) {
        ob.has[MOD_PHOTOMETRY] = 1;
        ob.lc = r->asas_slot >= 0 ? I->slots[r->asas_slot].lc : r->lc;
    }
    if (r->spec_path) {
        AmError e;
        if (load_spectrum(r->spec_path, I->spec, &e))
            return am_error_set(err, "%s: spectrum changed while ingesting: %s", I->o->out, e.msg);
        ob.has[MOD_SPECTRA] = 1;
        ob.spectrum = I->spec;
    }
    for (int c = 0; c < DS_PHOTO_COLS; c++) ob.photo[c] = (float)I->wphoto[(size_t)k * PHOTO_N + c];
    if (I->whas_meta[k]) {
        ob.has[MOD_METADATA] = 1;
        for (int c = 0; c < I->n_meta; c++) ob.meta[c] = (float)I->wmeta[(size_t)k * I->n_meta + c];
    }
    const int rc = ds_writer_add(w, &ob, err);
    if (rc) return rc;
    S->written++;
    if (ob.label >= 0) S->class_count[ob.label]++;
    else S->unlabelled++;
    S->split_count[ob.split]++;
    for (int m = 0; m < MOD_COUNT; m++) S->modality_count[m] += ob.has[m];
    return 0;
}

// Rank 0: the dataset, and the features table committed only with it.
static int write_dataset(Ingest *I, AmError *err) {
    const IngestOptions *o = I->o;
    IngestSummary *S = I->S;
    const char *class_ptr[INGEST_MAX_CLASSES];
    for (int k = 0; k < S->n_classes; k++) class_ptr[k] = S->class_names[k];
    if (S->n_classes < 1) return am_error_set(err, "%s: --classes manifest: no object has a class", o->manifest);
    DsWriter *w = NULL;
    int rc;
    if ((rc = ds_writer_open(o->out, I->nw, class_ptr, S->n_classes, &w, err))) return rc;
    if ((rc = ds_writer_set_meta_columns(w, I->meta_names, I->n_meta, err))) {
        ds_writer_abort(w);
        return rc;
    }
    for (int k = 0; k < I->nw && !rc; k++) rc = add_object(I, w, k, err);
    TextOut fo = {0};
    int fo_open = 0;
    if (!rc && o->features_out) fo_open = (rc = write_features_table(I, &fo, err)) == 0;
    rc = ds_writer_finish(w, rc, &I->st, err);
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
    return rc;
}

static void ingest_free(Ingest *I) {
    for (int i = 0; i < I->n_slots; i++) lc_norm_free(&I->slots[i].lc);
    free(I->slots);
    ingest_free_rows(I->rows, I->n);
    meta_free(&I->cat);
    free(I->cat_idx);
    free(I->tab_idx);
    free(I->tab_buf);
    meta_columns_free(&I->tab);
    free(I->wid);
    free(I->wlab);
    free(I->wsplit);
    free(I->wsub);
    free(I->wrow);
    free(I->spec);
    free(I->wphoto);
    free(I->wmeta);
    free(I->whas_meta);
    free(I->use);
    feat_queue_discard(I->fq);  // curves left queued by a fatal error
    free(I->fq);
}

int ingest_run(const IngestOptions *o, IngestSummary *summary, AmError *err) {
    IngestSummary sum_local, *S = summary ? summary : &sum_local;
    memset(S, 0, sizeof *S);
    if (!o || !o->manifest || !o->out) return am_error_set(err, "ingest: manifest and output paths are required");
    if (o->features < INGEST_FEATURES_AUTO || o->features > INGEST_FEATURES_OFF)
        return am_error_set(err, "ingest: bad features mode %d", o->features);
    if (o->features_out && o->features == INGEST_FEATURES_OFF)
        return am_error_set(err, "ingest: a features table (%s) needs features (auto or always), not off",
                            o->features_out);
    Ingest *I = am_calloc(1, sizeof *I, "ingest");
    I->o = o;
    I->S = S;
    I->log = o->log ? o->log : stderr;
    I->writer = !o->comm || comm_rank(o->comm) == 0;
    I->spec = am_calloc(3 * SPEC_LEN, sizeof *I->spec, "ingest spectrum");
    I->ls = o->ls ? *o->ls : ls_default_options();
    I->fq = am_calloc(1, sizeof *I->fq, "ingest feature queue");
    I->fq->ls = &I->ls;
    I->fq->comm = o->comm;
    int rc = ingest_read_manifest(o->manifest, &I->rows, &I->n, err);
    if (!rc) S->rows = I->n;
    if (!rc) rc = plan_metadata(I, err);
    if (!rc) rc = read_stats_from(I, err);
    if (!rc) rc = ingest_set_classes(o, (const char(*)[INGEST_CLASS_NAME_MAX + 1])g_from_classes, I->n_from_classes, I->rows,
                              I->n, S, err);
    if (!rc) skip_duplicate_ids(I);
    if (!rc) rc = read_tables(I, err);
    if (!rc) rc = read_asas(I, err);
    if (!rc) rc = validate_objects(I, err);
    if (!rc) rc = assign_splits(I, err);
    if (!rc) {
        metadata_rows(I);
        photo_rows(I);
    }
    // Rank 0 writes; the other ranks only helped with the features.
    if (!rc && I->writer) rc = write_dataset(I, err);
    ingest_free(I);
    free(I);
    return rc;
}
