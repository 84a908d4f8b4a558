// astromm dataset files (HDF5), writer: atomic (temporary file renamed on close).
// Layout and rationale: docs/data-format.md.
#define _POSIX_C_SOURCE 200809L

#include "data/format/dataset.h"
#include "data/format/dataset_h5.h"
#include "io/output_path.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Light-curve steps are staged in a raw side file while objects stream in and
// copied into a contiguous /photometry/values at close, this many rows at a time.
#define VALUES_COPY_ROWS ((size_t)1 << 18)

// ------------------------------------------------------------------ writer

struct DsWriter {
    char *path, *tmp;
    hid_t file, d_spec;
    FILE *vals_file;   // staged light-curve steps (raw float32 rows of 3)
    char *vals_path;
    int64_t n, added, total;
    int n_classes, have_stats, failed;
    int meta_cols;       // width of /metadata/raw (DS_META_COLS unless set)
    char **meta_names;   // [meta_cols] /metadata attribute "columns"
    int64_t *ids, *offsets;
    int32_t *labels;
    uint8_t *split, *subset, *has;
    float *scalars, *photo, *meta;
    float stats_meta[2][DS_META_MAX], stats_photo[2][DS_PHOTO_COLS];
    float *vals;
    size_t vals_cap;
};

static void writer_free(DsWriter *w) {
    h5_close_id(&w->d_spec);
    h5_close_id(&w->file);
    if (w->vals_file) fclose(w->vals_file);
    if (w->vals_path) remove(w->vals_path);
    free(w->vals_path);
    free(w->path);
    free(w->tmp);
    free(w->ids);
    free(w->offsets);
    free(w->labels);
    free(w->split);
    free(w->subset);
    free(w->has);
    free(w->scalars);
    free(w->photo);
    free(w->meta);
    if (w->meta_names)
        for (int c = 0; c < w->meta_cols; c++) free(w->meta_names[c]);
    free(w->meta_names);
    free(w->vals);
    free(w);
}

static void writer_discard(DsWriter *w) {
    h5_close_id(&w->d_spec);
    h5_close_id(&w->file);
    if (w->tmp) remove(w->tmp);
    writer_free(w);
}

// Contiguous datasets: the parallel loader's collective reads of row unions
// then become one MPI-IO file view; with one chunk per row HDF5 maps the
// selection chunk by chunk (measured 100x slower per batch, see io.md).
// Every element is written, so no fill is needed.
static hid_t create_ds(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *dims) {
    hid_t s = H5Screate_simple(rank, dims, NULL), p = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    if (s < 0 || p < 0) goto done;
    if (H5Pset_fill_time(p, H5D_FILL_TIME_NEVER) < 0) goto done;
    d = H5Dcreate2(loc, name, ftype, s, H5P_DEFAULT, p, H5P_DEFAULT);
done:
    h5_close_id(&p);
    h5_close_id(&s);
    return d;
}

static const float *spec_zeros(void) {
    static const float z[3 * SPEC_LEN];
    return z;
}

static int ds_writer_open_impl(const char *path, int64_t n, const char *const classes[], int n_classes,
                               DsWriter **out, AmError *err) {
    *out = NULL;
    if (!path || !*path) return am_error_set(err, "ds_writer_open: empty path");
    if (n < 1) return am_error_set(err, "%s: n_objects must be >= 1 (got %lld)", path, (long long)n);
    if (n_classes < 1 || !classes) return am_error_set(err, "%s: at least one class name is required", path);
    for (int i = 0; i < n_classes; i++)
        if (!classes[i] || !classes[i][0]) return am_error_set(err, "%s: class %d has an empty name", path, i);
    DsWriter *w = am_calloc(1, sizeof *w, "dataset writer");
    w->file = w->d_spec = -1;
    w->n = n;
    w->n_classes = n_classes;
    size_t pl = strlen(path);
    w->path = am_strdup(path, "path");
    w->tmp = am_malloc(pl + 40, "path");
    snprintf(w->tmp, pl + 40, "%s.tmp.%ld", path, (long)getpid());
    size_t un = (size_t)n;
    w->ids = am_calloc(un, sizeof *w->ids, "ids");
    w->offsets = am_calloc(un + 1, sizeof *w->offsets, "offsets");
    w->labels = am_calloc(un, sizeof *w->labels, "labels");
    w->split = am_calloc(un, 1, "split");
    w->subset = am_calloc(un, 1, "subset");
    w->has = am_calloc(un * MOD_COUNT, 1, "has");
    w->scalars = am_calloc(un * 2, sizeof(float), "scalars");
    w->photo = am_calloc(un * DS_PHOTO_COLS, sizeof(float), "photo");
    w->meta_cols = DS_META_COLS;
    w->meta_names = am_calloc(DS_META_COLS, sizeof *w->meta_names, "metadata column names");
    for (int c = 0; c < DS_META_COLS; c++) w->meta_names[c] = am_strdup(META_COLUMNS[c], "metadata column name");
    w->meta = am_calloc(un * DS_META_COLS, sizeof(float), "meta");

    hid_t g = -1;
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        h5_fail(err, w->tmp, "cannot create file");
        goto fail;
    }
    const char *fmt = DS_FORMAT;
    int32_t ver = DS_VERSION;
    int64_t nn = n;
    if (h5_write_str_attr(w->file, "format", &fmt, -1) < 0 ||
        h5_write_num_attr(w->file, "version", H5T_STD_I32LE, H5T_NATIVE_INT32, &ver) < 0 ||
        h5_write_num_attr(w->file, "n_objects", H5T_STD_I64LE, H5T_NATIVE_INT64, &nn) < 0 ||
        h5_write_str_attr(w->file, "classes", classes, n_classes) < 0) {
        h5_fail(err, w->tmp, "cannot write root attributes");
        goto fail;
    }
    const char *groups[] = {"photometry", "metadata"};
    for (int i = 0; i < 2; i++) {
        g = H5Gcreate2(w->file, groups[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) {
            h5_fail(err, w->tmp, "cannot create group");
            goto fail;
        }
        h5_close_id(&g);
    }
    hsize_t sd[3] = {(hsize_t)n, 3, SPEC_LEN};
    w->d_spec = create_ds(w->file, "spectra", H5T_IEEE_F32LE, 3, sd);
    if (w->d_spec < 0) {
        h5_fail(err, w->tmp, "cannot create dataset /spectra");
        goto fail;
    }
    w->vals_path = am_malloc(pl + 48, "path");
    snprintf(w->vals_path, pl + 48, "%s.values", w->tmp);
    w->vals_file = fopen(w->vals_path, "w+b");
    if (!w->vals_file) {
        am_error_set(err, "%s: cannot create staging file %s: %s", path, w->vals_path, strerror(errno));
        goto fail;
    }
    *out = w;
    return 0;
fail:
    h5_close_id(&g);
    writer_discard(w);
    return -1;
}

static int ds_writer_add_impl(DsWriter *w, const DsObject *o, AmError *err) {
    if (w->failed) return am_error_set(err, "%s: writer already failed", w->path);
    if (w->added >= w->n)
        return am_error_set(err, "%s: more objects added than n_objects = %lld", w->path, (long long)w->n);
    int64_t i = w->added;
    for (int m = 0; m < MOD_COUNT; m++)
        if (o->has[m] > 1) return am_error_set(err, "%s: object %lld: has[%d] must be 0 or 1", w->path, (long long)o->id, m);
    if (o->label < -1 || o->label >= w->n_classes)
        return am_error_set(err, "%s: object %lld: label %d outside -1 .. %d", w->path, (long long)o->id, o->label,
                            w->n_classes - 1);
    if (o->split > DS_SPLIT_TEST)
        return am_error_set(err, "%s: object %lld: split %d outside 0 .. 2", w->path, (long long)o->id, o->split);
    if (o->subset > 7)
        return am_error_set(err, "%s: object %lld: subset bits 0x%x outside 0x7", w->path, (long long)o->id, o->subset);
    int n = o->has[MOD_PHOTOMETRY] ? o->lc.n : 0;
    if (o->has[MOD_PHOTOMETRY] && (n < 1 || !o->lc.t01 || !o->lc.flux_n || !o->lc.err_n))
        return am_error_set(err, "%s: object %lld: light curve marked present but empty", w->path, (long long)o->id);
    if ((o->spectrum != NULL) != (o->has[MOD_SPECTRA] != 0))
        return am_error_set(err, "%s: object %lld: spectrum pointer and has[%d] disagree", w->path, (long long)o->id,
                            MOD_SPECTRA);

    if (n > 0) {
        size_t need = (size_t)n * DS_LC_VALUES;
        if (need > w->vals_cap) {
            free(w->vals);
            w->vals = am_malloc(need * sizeof(float), "light-curve values");
            w->vals_cap = need;
        }
        for (int k = 0; k < n; k++) {
            w->vals[3 * k] = o->lc.t01[k];
            w->vals[3 * k + 1] = o->lc.flux_n[k];
            w->vals[3 * k + 2] = o->lc.err_n[k];
        }
        if (fwrite(w->vals, sizeof(float), need, w->vals_file) != need) {
            w->failed = 1;
            return am_error_set(err, "%s: cannot write staging file %s: %s", w->path, w->vals_path, strerror(errno));
        }
    }
    {  // every row is written (zeros when absent): the dataset has no fill
        hsize_t st[3] = {(hsize_t)i, 0, 0}, ct[3] = {1, 3, SPEC_LEN};
        hid_t fs = -1, ms = -1;
        int ok = (fs = H5Dget_space(w->d_spec)) >= 0 &&
                 H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) >= 0 &&
                 (ms = H5Screate_simple(3, ct, NULL)) >= 0 &&
                 H5Dwrite(w->d_spec, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT,
                          o->spectrum ? o->spectrum : spec_zeros()) >= 0;
        h5_close_id(&ms);
        h5_close_id(&fs);
        if (!ok) {
            w->failed = 1;
            return h5_fail(err, w->tmp, "cannot write /spectra");
        }
    }
    w->ids[i] = o->id;
    w->labels[i] = o->label;
    w->split[i] = o->split;
    w->subset[i] = o->subset;
    memcpy(w->has + (size_t)i * MOD_COUNT, o->has, MOD_COUNT);
    w->scalars[2 * i] = o->has[MOD_PHOTOMETRY] ? o->lc.log10_mad : NAN;
    w->scalars[2 * i + 1] = o->has[MOD_PHOTOMETRY] ? o->lc.dt : NAN;
    for (int c = 0; c < DS_PHOTO_COLS; c++)
        w->photo[(size_t)i * DS_PHOTO_COLS + c] = o->has[MOD_PHOTOMETRY] ? o->photo[c] : NAN;
    for (int c = 0; c < w->meta_cols; c++)
        w->meta[(size_t)i * w->meta_cols + c] = o->has[MOD_METADATA] ? o->meta[c] : NAN;
    w->total += n;
    w->offsets[i + 1] = w->total;
    w->added++;
    return 0;
}

// The staged steps -> contiguous /photometry/values [total, 3].
static int copy_values(DsWriter *w, AmError *err) {
    hsize_t dims[2] = {(hsize_t)w->total, DS_LC_VALUES};
    hid_t d = create_ds(w->file, "photometry/values", H5T_IEEE_F32LE, 2, dims);
    if (d < 0) return h5_fail(err, w->tmp, "cannot create dataset /photometry/values");
    int rc = 0;
    if (fflush(w->vals_file) != 0 || fseek(w->vals_file, 0, SEEK_SET) != 0)
        rc = am_error_set(err, "%s: cannot rewind staging file %s: %s", w->path, w->vals_path, strerror(errno));
    float *buf = rc ? NULL : am_malloc(VALUES_COPY_ROWS * DS_LC_VALUES * sizeof(float), "value copy buffer");
    for (hsize_t r = 0; !rc && r < (hsize_t)w->total;) {
        const hsize_t rows = (hsize_t)w->total - r < VALUES_COPY_ROWS ? (hsize_t)w->total - r : VALUES_COPY_ROWS;
        const size_t nf = (size_t)rows * DS_LC_VALUES;
        if (fread(buf, sizeof(float), nf, w->vals_file) != nf) {
            rc = am_error_set(err, "%s: staging file %s is short (%s)", w->path, w->vals_path,
                              ferror(w->vals_file) ? strerror(errno) : "end of file");
            break;
        }
        hsize_t st[2] = {r, 0}, ct[2] = {rows, DS_LC_VALUES};
        hid_t fs = -1, ms = -1;
        int ok = (fs = H5Dget_space(d)) >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) >= 0 &&
                 (ms = H5Screate_simple(2, ct, NULL)) >= 0 &&
                 H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf) >= 0;
        h5_close_id(&ms);
        h5_close_id(&fs);
        if (!ok) rc = h5_fail(err, w->tmp, "cannot write /photometry/values");
        r += rows;
    }
    free(buf);
    h5_close_id(&d);
    return rc;
}

static int put_ds(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims, const void *buf) {
    hid_t d = create_ds(loc, name, ftype, rank, dims);
    if (d < 0) return -1;
    int rc = H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
    h5_close_id(&d);
    return rc;
}

static int ds_writer_close_impl(DsWriter *w, AmError *err) {
    if (w->failed) {
        am_error_set(err, "%s: an earlier write failed; dataset discarded", w->path);
        writer_discard(w);
        return -1;
    }
    if (w->added != w->n) {
        am_error_set(err, "%s: %lld objects added, n_objects = %lld; dataset discarded", w->path, (long long)w->added,
                     (long long)w->n);
        writer_discard(w);
        return -1;
    }
    if (!w->have_stats) {
        am_error_set(err, "%s: ds_writer_set_stats was not called; dataset discarded", w->path);
        writer_discard(w);
        return -1;
    }
    hsize_t n = (hsize_t)w->n;
    hsize_t d1[1] = {n}, dh[2] = {n, MOD_COUNT}, ds2[2] = {n, 2}, dp[2] = {n, DS_PHOTO_COLS}, dm[2] = {n, (hsize_t)w->meta_cols},
            doff[1] = {n + 1}, dsm[1] = {(hsize_t)w->meta_cols}, dsp[1] = {DS_PHOTO_COLS};
    const char *train = "train";
    struct {
        const char *name;
        hid_t ft, mt;
        int rank;
        const hsize_t *dims;
        const void *buf;
    } items[] = {
        {"id", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, w->ids},
        {"label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, w->labels},
        {"split", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, d1, w->split},
        {"subset", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, d1, w->subset},
        {"has", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, dh, w->has},
        {"photometry/offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, doff, w->offsets},
        {"photometry/scalars", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, ds2, w->scalars},
        {"photometry/photo_columns", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dp, w->photo},
        {"photometry/photo_mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dsp, w->stats_photo[0]},
        {"photometry/photo_std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dsp, w->stats_photo[1]},
        {"metadata/raw", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dm, w->meta},
        {"metadata/mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dsm, w->stats_meta[0]},
        {"metadata/std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dsm, w->stats_meta[1]},
    };
    if (copy_values(w, err)) {
        writer_discard(w);
        return -1;
    }
    char what[128];
    for (size_t k = 0; k < sizeof items / sizeof items[0]; k++) {
        if (put_ds(w->file, items[k].name, items[k].ft, items[k].mt, items[k].rank, items[k].dims, items[k].buf) < 0) {
            snprintf(what, sizeof what, "cannot write dataset /%s", items[k].name);
            h5_fail(err, w->tmp, what);
            writer_discard(w);
            return -1;
        }
    }
    const char *sgroups[] = {"photometry", "metadata"};
    for (int k = 0; k < 2; k++) {
        hid_t g = H5Gopen2(w->file, sgroups[k], H5P_DEFAULT);
        int ok = g >= 0 && h5_write_str_attr(g, "stats_split", &train, -1) >= 0 &&
                 (k == 0 || h5_write_str_attr(g, "columns", (const char *const *)w->meta_names, w->meta_cols) >= 0);
        h5_close_id(&g);
        if (!ok) {
            h5_fail(err, w->tmp, "cannot write the stats_split / columns attributes");
            writer_discard(w);
            return -1;
        }
    }
    h5_close_id(&w->d_spec);
    herr_t fc = H5Fclose(w->file);
    w->file = -1;
    if (fc < 0) {
        h5_fail(err, w->tmp, "cannot close file");
        writer_discard(w);
        return -1;
    }
    if (rename(w->tmp, w->path) != 0) {
        am_error_set(err, "%s: cannot rename %s into place: %s", w->path, w->tmp, strerror(errno));
        writer_discard(w);
        return -1;
    }
    writer_free(w);
    return 0;
}

int ds_writer_open(const char *path, int64_t n_objects, const char *const classes[], int n_classes, DsWriter **out,
                   AmError *err) {
    if (output_path_check(path, err)) return 1;
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = ds_writer_open_impl(path, n_objects, classes, n_classes, out, err);
    h5_quiet_off(&q);
    return rc;
}

int ds_writer_add(DsWriter *w, const DsObject *obj, AmError *err) {
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = ds_writer_add_impl(w, obj, err);
    h5_quiet_off(&q);
    return rc;
}

int ds_writer_set_meta_columns(DsWriter *w, const char *const names[], int n, AmError *err) {
    if (w->added) return am_error_set(err, "%s: metadata columns must be set before the first object", w->path);
    if (n < 1 || n > DS_META_MAX)
        return am_error_set(err, "%s: %d metadata columns, this format allows 1 .. %d", w->path, n, DS_META_MAX);
    for (int c = 0; c < n; c++) {
        if (!names[c] || !names[c][0]) return am_error_set(err, "%s: metadata column %d has an empty name", w->path, c);
        for (int d = 0; d < c; d++)
            if (!strcmp(names[c], names[d]))
                return am_error_set(err, "%s: metadata column \"%s\" named twice", w->path, names[c]);
    }
    for (int c = 0; c < w->meta_cols; c++) free(w->meta_names[c]);
    free(w->meta_names);
    free(w->meta);
    w->meta_cols = n;
    w->meta_names = am_calloc((size_t)n, sizeof *w->meta_names, "metadata column names");
    for (int c = 0; c < n; c++) w->meta_names[c] = am_strdup(names[c], "metadata column name");
    w->meta = am_calloc((size_t)w->n * (size_t)n, sizeof(float), "meta");
    return 0;
}

int ds_writer_set_stats(DsWriter *w, const float meta_mean[], const float meta_std[],
                        const float photo_mean[DS_PHOTO_COLS], const float photo_std[DS_PHOTO_COLS], AmError *err) {
    for (int c = 0; c < w->meta_cols; c++)
        if (!isfinite(meta_mean[c]) || !isfinite(meta_std[c]))
            return am_error_set(err, "%s: metadata statistics for column %d are not finite", w->path, c);
    for (int c = 0; c < DS_PHOTO_COLS; c++)
        if (!isfinite(photo_mean[c]) || !isfinite(photo_std[c]))
            return am_error_set(err, "%s: photo-column statistics for column %d are not finite", w->path, c);
    memcpy(w->stats_meta[0], meta_mean, (size_t)w->meta_cols * sizeof(float));
    memcpy(w->stats_meta[1], meta_std, (size_t)w->meta_cols * sizeof(float));
    memcpy(w->stats_photo[0], photo_mean, sizeof w->stats_photo[0]);
    memcpy(w->stats_photo[1], photo_std, sizeof w->stats_photo[1]);
    w->have_stats = 1;
    return 0;
}

int ds_writer_close(DsWriter *w, AmError *err) {
    if (!w) return 0;
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = ds_writer_close_impl(w, err);
    h5_quiet_off(&q);
    return rc;
}

void ds_writer_abort(DsWriter *w) {
    if (!w) return;
    H5Quiet q;
    h5_quiet_on(&q);
    writer_discard(w);
    h5_quiet_off(&q);
}


int ds_writer_finish(DsWriter *w, int rc, const MetaStats *st, AmError *err) {
    if (!rc) {
        float mm[DS_META_MAX], ms[DS_META_MAX], pm[DS_PHOTO_COLS], ps[DS_PHOTO_COLS];
        for (int c = 0; c < w->meta_cols; c++) mm[c] = (float)st->meta_mean[c], ms[c] = (float)st->meta_std[c];
        for (int c = 0; c < DS_PHOTO_COLS; c++) pm[c] = (float)st->photo_mean[c], ps[c] = (float)st->photo_std[c];
        rc = ds_writer_set_stats(w, mm, ms, pm, ps, err);
    }
    if (rc) {
        ds_writer_abort(w);
        return rc;
    }
    return ds_writer_close(w, err);
}
