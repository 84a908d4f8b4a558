// astromm dataset files (HDF5). Layout and rationale: docs/data-format.md.
#define _POSIX_C_SOURCE 200809L

#include "data/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VALUES_CHUNK_ROWS 8192

// ------------------------------------------------------------------ HDF5 errors

typedef struct {
    H5E_auto2_t func;
    void *data;
} H5Quiet;

static void quiet_on(H5Quiet *q) {
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5Eclear2(H5E_DEFAULT);
}

static void quiet_off(const H5Quiet *q) {
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    char *buf = data;
    if (n == 0 && e->desc && e->desc[0]) snprintf(buf, 200, "%s", e->desc);
    return 0;
}

// The innermost HDF5 error description (empty when the stack is empty).
static void h5_desc(char buf[200]) {
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, buf);
    H5Eclear2(H5E_DEFAULT);
}

// "<file>: <what> (HDF5: <desc>)"
static int h5_fail(AmError *err, const char *file, const char *what) {
    char d[200];
    h5_desc(d);
    if (d[0])
        am_error_set(err, "%s: %s (HDF5: %s)", file, what, d);
    else
        am_error_set(err, "%s: %s", file, what);
    return -1;
}

static void close_id(hid_t *id) {
    if (*id < 0) return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE: H5Fclose(*id); break;
    case H5I_GROUP: H5Gclose(*id); break;
    case H5I_DATASET: H5Dclose(*id); break;
    case H5I_DATASPACE: H5Sclose(*id); break;
    case H5I_DATATYPE: H5Tclose(*id); break;
    case H5I_ATTR: H5Aclose(*id); break;
    case H5I_GENPROP_LST: H5Pclose(*id); break;
    default: break;
    }
    *id = -1;
}

// ------------------------------------------------------------------ attributes

static hid_t vlen_str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

// n < 0: scalar attribute holding v[0]; otherwise a 1-D array of n strings.
static int write_str_attr(hid_t loc, const char *name, const char *const *v, int n) {
    hid_t t = vlen_str_type(), s = -1, a = -1;
    int rc = -1;
    if (t < 0) goto done;
    if (n < 0) {
        s = H5Screate(H5S_SCALAR);
    } else {
        hsize_t d = (hsize_t)n;
        s = H5Screate_simple(1, &d, NULL);
    }
    if (s < 0) goto done;
    a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto done;
    if (H5Awrite(a, t, v) < 0) goto done;
    rc = 0;
done:
    close_id(&a);
    close_id(&s);
    close_id(&t);
    return rc;
}

static int write_num_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v) {
    hid_t s = H5Screate(H5S_SCALAR), a = -1;
    int rc = -1;
    if (s < 0) goto done;
    a = H5Acreate2(loc, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto done;
    if (H5Awrite(a, mtype, v) < 0) goto done;
    rc = 0;
done:
    close_id(&a);
    close_id(&s);
    return rc;
}

static void free_strs(char **v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

// Reads a string attribute (scalar or 1-D; fixed or variable length) into a
// malloc'd array of malloc'd strings. Fills err naming file and object path.
static int read_str_attr(hid_t loc, const char *file, const char *obj, const char *name, char ***out, int *n_out,
                         AmError *err) {
    hid_t a = -1, ft = -1, s = -1, mt = -1;
    char **res = NULL;
    int n = 0, rc = -1;
    htri_t ex = H5Aexists(loc, name);
    if (ex < 0) return h5_fail(err, file, "cannot query attributes");
    if (ex == 0) return am_error_set(err, "%s: missing attribute %s%s%s", file, obj, strcmp(obj, "/") ? "/" : "", name);
    a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return h5_fail(err, file, "cannot open attribute");
    ft = H5Aget_type(a);
    s = H5Aget_space(a);
    if (ft < 0 || s < 0) {
        h5_fail(err, file, "cannot inspect attribute");
        goto done;
    }
    if (H5Tget_class(ft) != H5T_STRING) {
        am_error_set(err, "%s: attribute %s%s%s is not a string", file, obj, strcmp(obj, "/") ? "/" : "", name);
        goto done;
    }
    int rank = H5Sget_simple_extent_ndims(s);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    if (rank < 0 || rank > 1 || np < 0 || np > 100000) {
        am_error_set(err, "%s: attribute %s%s%s has an unexpected shape", file, obj, strcmp(obj, "/") ? "/" : "", name);
        goto done;
    }
    n = (int)np;
    res = am_calloc((size_t)(n ? n : 1), sizeof *res, "string attribute");
    htri_t var = H5Tis_variable_str(ft);
    if (var < 0) {
        h5_fail(err, file, "cannot inspect attribute type");
        goto done;
    }
    if (var) {
        mt = vlen_str_type();
        char **tmp = am_calloc((size_t)(n ? n : 1), sizeof *tmp, "string attribute");
        if (mt < 0 || H5Aread(a, mt, tmp) < 0) {
            free(tmp);
            h5_fail(err, file, "cannot read string attribute");
            goto done;
        }
        for (int i = 0; i < n; i++) {
            const char *src = tmp[i] ? tmp[i] : "";
            res[i] = am_malloc(strlen(src) + 1, "string");
            memcpy(res[i], src, strlen(src) + 1);
        }
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mt, s, H5P_DEFAULT, tmp);
#else
        H5Dvlen_reclaim(mt, s, H5P_DEFAULT, tmp);
#endif
        free(tmp);
    } else {
        size_t sz = H5Tget_size(ft);
        mt = H5Tcopy(H5T_C_S1);
        if (sz == 0 || mt < 0 || H5Tset_size(mt, sz + 1) < 0 || H5Tset_strpad(mt, H5T_STR_NULLTERM) < 0) {
            h5_fail(err, file, "cannot build string type");
            goto done;
        }
        char *buf = am_calloc((size_t)(n ? n : 1), sz + 1, "string attribute");
        if (H5Aread(a, mt, buf) < 0) {
            free(buf);
            h5_fail(err, file, "cannot read string attribute");
            goto done;
        }
        for (int i = 0; i < n; i++) {
            const char *src = buf + (size_t)i * (sz + 1);
            size_t l = strnlen(src, sz);
            res[i] = am_malloc(l + 1, "string");
            memcpy(res[i], src, l);
            res[i][l] = '\0';
        }
        free(buf);
    }
    rc = 0;
done:
    close_id(&mt);
    close_id(&s);
    close_id(&ft);
    close_id(&a);
    if (rc) {
        free_strs(res, n);
        return rc;
    }
    *out = res;
    *n_out = n;
    return 0;
}

static int read_int_attr(hid_t loc, const char *file, const char *name, int64_t *v, AmError *err) {
    htri_t ex = H5Aexists(loc, name);
    if (ex < 0) return h5_fail(err, file, "cannot query attributes");
    if (ex == 0) return am_error_set(err, "%s: missing attribute /%s", file, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), ft = -1, s = -1;
    int rc = -1;
    if (a < 0) return h5_fail(err, file, "cannot open attribute");
    ft = H5Aget_type(a);
    s = H5Aget_space(a);
    if (ft < 0 || s < 0) {
        h5_fail(err, file, "cannot inspect attribute");
    } else if (H5Tget_class(ft) != H5T_INTEGER || H5Sget_simple_extent_npoints(s) != 1) {
        am_error_set(err, "%s: attribute /%s must be a scalar integer", file, name);
    } else if (H5Aread(a, H5T_NATIVE_INT64, v) < 0) {
        h5_fail(err, file, "cannot read integer attribute");
    } else {
        rc = 0;
    }
    close_id(&s);
    close_id(&ft);
    close_id(&a);
    return rc;
}

// ------------------------------------------------------------------ writer

struct DsWriter {
    char *path, *tmp;
    hid_t file, d_spec, d_vals;
    int64_t n, added, total;
    int n_classes, have_stats, failed;
    int64_t *ids, *offsets;
    int32_t *labels;
    uint8_t *split, *subset, *has;
    float *scalars, *photo, *meta;
    float stats_meta[2][DS_META_COLS], stats_photo[2][DS_PHOTO_COLS];
    float *vals;
    size_t vals_cap;
};

static void writer_free(DsWriter *w) {
    close_id(&w->d_spec);
    close_id(&w->d_vals);
    close_id(&w->file);
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
    free(w->vals);
    free(w);
}

static void writer_discard(DsWriter *w) {
    close_id(&w->d_spec);
    close_id(&w->d_vals);
    close_id(&w->file);
    if (w->tmp) remove(w->tmp);
    writer_free(w);
}

static hid_t create_ds(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *dims, const hsize_t *maxdims,
                       const hsize_t *chunk) {
    hid_t s = H5Screate_simple(rank, dims, maxdims), p = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    if (s < 0 || p < 0) goto done;
    if (chunk && H5Pset_chunk(p, rank, chunk) < 0) goto done;
    d = H5Dcreate2(loc, name, ftype, s, H5P_DEFAULT, p, H5P_DEFAULT);
done:
    close_id(&p);
    close_id(&s);
    return d;
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
    w->file = w->d_spec = w->d_vals = -1;
    w->n = n;
    w->n_classes = n_classes;
    size_t pl = strlen(path);
    w->path = am_malloc(pl + 1, "path");
    memcpy(w->path, path, pl + 1);
    w->tmp = am_malloc(pl + 40, "path");
    snprintf(w->tmp, pl + 40, "%s.tmp.%ld", path, (long)getpid());
    size_t un = (size_t)n;
    w->ids = am_calloc(un, sizeof *w->ids, "ids");
    w->offsets = am_calloc(un + 1, sizeof *w->offsets, "offsets");
    w->labels = am_calloc(un, sizeof *w->labels, "labels");
    w->split = am_calloc(un, 1, "split");
    w->subset = am_calloc(un, 1, "subset");
    w->has = am_calloc(un * DS_N_MOD, 1, "has");
    w->scalars = am_calloc(un * 2, sizeof(float), "scalars");
    w->photo = am_calloc(un * DS_PHOTO_COLS, sizeof(float), "photo");
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
    if (write_str_attr(w->file, "format", &fmt, -1) < 0 ||
        write_num_attr(w->file, "version", H5T_STD_I32LE, H5T_NATIVE_INT32, &ver) < 0 ||
        write_num_attr(w->file, "n_objects", H5T_STD_I64LE, H5T_NATIVE_INT64, &nn) < 0 ||
        write_str_attr(w->file, "classes", classes, n_classes) < 0) {
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
        close_id(&g);
    }
    hsize_t sd[3] = {(hsize_t)n, 3, SPEC_LEN}, sc[3] = {1, 3, SPEC_LEN};
    w->d_spec = create_ds(w->file, "spectra", H5T_IEEE_F32LE, 3, sd, NULL, sc);
    if (w->d_spec < 0) {
        h5_fail(err, w->tmp, "cannot create dataset /spectra");
        goto fail;
    }
    hsize_t vd[2] = {0, DS_LC_VALUES}, vm[2] = {H5S_UNLIMITED, DS_LC_VALUES}, vc[2] = {VALUES_CHUNK_ROWS, DS_LC_VALUES};
    w->d_vals = create_ds(w->file, "photometry/values", H5T_IEEE_F32LE, 2, vd, vm, vc);
    if (w->d_vals < 0) {
        h5_fail(err, w->tmp, "cannot create dataset /photometry/values");
        goto fail;
    }
    *out = w;
    return 0;
fail:
    close_id(&g);
    writer_discard(w);
    return -1;
}

static int ds_writer_add_impl(DsWriter *w, const DsObject *o, AmError *err) {
    if (w->failed) return am_error_set(err, "%s: writer already failed", w->path);
    if (w->added >= w->n)
        return am_error_set(err, "%s: more objects added than n_objects = %lld", w->path, (long long)w->n);
    int64_t i = w->added;
    for (int m = 0; m < DS_N_MOD; m++)
        if (o->has[m] > 1) return am_error_set(err, "%s: object %lld: has[%d] must be 0 or 1", w->path, (long long)o->id, m);
    if (o->label < -1 || o->label >= w->n_classes)
        return am_error_set(err, "%s: object %lld: label %d outside -1 .. %d", w->path, (long long)o->id, o->label,
                            w->n_classes - 1);
    if (o->split > DS_SPLIT_TEST)
        return am_error_set(err, "%s: object %lld: split %d outside 0 .. 2", w->path, (long long)o->id, o->split);
    if (o->subset > 7)
        return am_error_set(err, "%s: object %lld: subset bits 0x%x outside 0x7", w->path, (long long)o->id, o->subset);
    int n = o->has[DS_MOD_PHOT] ? o->lc.n : 0;
    if (o->has[DS_MOD_PHOT] && (n < 1 || !o->lc.t01 || !o->lc.flux_n || !o->lc.err_n))
        return am_error_set(err, "%s: object %lld: light curve marked present but empty", w->path, (long long)o->id);
    if ((o->spectrum != NULL) != (o->has[DS_MOD_SPEC] != 0))
        return am_error_set(err, "%s: object %lld: spectrum pointer and has[%d] disagree", w->path, (long long)o->id,
                            DS_MOD_SPEC);

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
        hsize_t nd[2] = {(hsize_t)(w->total + n), DS_LC_VALUES}, st[2] = {(hsize_t)w->total, 0},
                ct[2] = {(hsize_t)n, DS_LC_VALUES};
        hid_t fs = -1, ms = -1;
        int ok = H5Dset_extent(w->d_vals, nd) >= 0 && (fs = H5Dget_space(w->d_vals)) >= 0 &&
                 H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) >= 0 &&
                 (ms = H5Screate_simple(2, ct, NULL)) >= 0 &&
                 H5Dwrite(w->d_vals, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, w->vals) >= 0;
        close_id(&ms);
        close_id(&fs);
        if (!ok) {
            w->failed = 1;
            return h5_fail(err, w->tmp, "cannot write /photometry/values");
        }
    }
    if (o->spectrum) {
        hsize_t st[3] = {(hsize_t)i, 0, 0}, ct[3] = {1, 3, SPEC_LEN};
        hid_t fs = -1, ms = -1;
        int ok = (fs = H5Dget_space(w->d_spec)) >= 0 &&
                 H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) >= 0 &&
                 (ms = H5Screate_simple(3, ct, NULL)) >= 0 &&
                 H5Dwrite(w->d_spec, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, o->spectrum) >= 0;
        close_id(&ms);
        close_id(&fs);
        if (!ok) {
            w->failed = 1;
            return h5_fail(err, w->tmp, "cannot write /spectra");
        }
    }
    w->ids[i] = o->id;
    w->labels[i] = o->label;
    w->split[i] = o->split;
    w->subset[i] = o->subset;
    memcpy(w->has + (size_t)i * DS_N_MOD, o->has, DS_N_MOD);
    w->scalars[2 * i] = o->has[DS_MOD_PHOT] ? o->lc.log10_mad : NAN;
    w->scalars[2 * i + 1] = o->has[DS_MOD_PHOT] ? o->lc.dt : NAN;
    for (int c = 0; c < DS_PHOTO_COLS; c++)
        w->photo[(size_t)i * DS_PHOTO_COLS + c] = o->has[DS_MOD_PHOT] ? o->photo[c] : NAN;
    for (int c = 0; c < DS_META_COLS; c++)
        w->meta[(size_t)i * DS_META_COLS + c] = o->has[DS_MOD_META] ? o->meta[c] : NAN;
    w->total += n;
    w->offsets[i + 1] = w->total;
    w->added++;
    return 0;
}

static int put_ds(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims, const void *buf) {
    hid_t d = create_ds(loc, name, ftype, rank, dims, NULL, NULL);
    if (d < 0) return -1;
    int rc = H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
    close_id(&d);
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
    hsize_t d1[1] = {n}, dh[2] = {n, DS_N_MOD}, ds2[2] = {n, 2}, dp[2] = {n, DS_PHOTO_COLS}, dm[2] = {n, DS_META_COLS},
            doff[1] = {n + 1}, dsm[1] = {DS_META_COLS}, dsp[1] = {DS_PHOTO_COLS};
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
        int ok = g >= 0 && write_str_attr(g, "stats_split", &train, -1) >= 0;
        close_id(&g);
        if (!ok) {
            h5_fail(err, w->tmp, "cannot write stats_split attribute");
            writer_discard(w);
            return -1;
        }
    }
    close_id(&w->d_spec);
    close_id(&w->d_vals);
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
    H5Quiet q;
    quiet_on(&q);
    int rc = ds_writer_open_impl(path, n_objects, classes, n_classes, out, err);
    quiet_off(&q);
    return rc;
}

int ds_writer_add(DsWriter *w, const DsObject *obj, AmError *err) {
    H5Quiet q;
    quiet_on(&q);
    int rc = ds_writer_add_impl(w, obj, err);
    quiet_off(&q);
    return rc;
}

int ds_writer_set_stats(DsWriter *w, const float meta_mean[DS_META_COLS], const float meta_std[DS_META_COLS],
                        const float photo_mean[DS_PHOTO_COLS], const float photo_std[DS_PHOTO_COLS], AmError *err) {
    for (int c = 0; c < DS_META_COLS; c++)
        if (!isfinite(meta_mean[c]) || !isfinite(meta_std[c]))
            return am_error_set(err, "%s: metadata statistics for column %d are not finite", w->path, c);
    for (int c = 0; c < DS_PHOTO_COLS; c++)
        if (!isfinite(photo_mean[c]) || !isfinite(photo_std[c]))
            return am_error_set(err, "%s: photo-column statistics for column %d are not finite", w->path, c);
    memcpy(w->stats_meta[0], meta_mean, sizeof w->stats_meta[0]);
    memcpy(w->stats_meta[1], meta_std, sizeof w->stats_meta[1]);
    memcpy(w->stats_photo[0], photo_mean, sizeof w->stats_photo[0]);
    memcpy(w->stats_photo[1], photo_std, sizeof w->stats_photo[1]);
    w->have_stats = 1;
    return 0;
}

int ds_writer_close(DsWriter *w, AmError *err) {
    if (!w) return 0;
    H5Quiet q;
    quiet_on(&q);
    int rc = ds_writer_close_impl(w, err);
    quiet_off(&q);
    return rc;
}

void ds_writer_abort(DsWriter *w) {
    if (!w) return;
    H5Quiet q;
    quiet_on(&q);
    writer_discard(w);
    quiet_off(&q);
}

// ------------------------------------------------------------------ reader

typedef struct {
    char *path;
    hid_t file, d_spec, d_vals;
    int64_t n, base, total;
    int64_t *ids, *offsets;
    int32_t *labels;
    uint8_t *split, *subset, *has;
    float *scalars, *photo, *meta;
} DsShard;

struct Dataset {
    DsShard *sh;
    int n_sh;
    int64_t n;
    char **classes;
    int n_classes;
    float meta_mean[DS_META_COLS], meta_std[DS_META_COLS], photo_mean[DS_PHOTO_COLS], photo_std[DS_PHOTO_COLS];
    float *spec_buf, *vals_buf, *lc_buf;
    size_t lc_cap;
};

// Opens dataset `name`, checks its type class, rank and dims (-1 = any).
static hid_t open_checked(hid_t file, const char *fpath, const char *name, H5T_class_t cls, int rank,
                          const int64_t *dims, hsize_t *got, AmError *err) {
    htri_t ex = H5Lexists(file, name, H5P_DEFAULT);
    if (ex <= 0) {
        // H5Lexists fails when an intermediate group is missing: same message.
        H5Eclear2(H5E_DEFAULT);
        am_error_set(err, "%s: missing dataset /%s", fpath, name);
        return -1;
    }
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT), t = -1, s = -1;
    if (d < 0) {
        char what[160];
        snprintf(what, sizeof what, "cannot open dataset /%s", name);
        h5_fail(err, fpath, what);
        return -1;
    }
    int ok = 0;
    t = H5Dget_type(d);
    s = H5Dget_space(d);
    if (t < 0 || s < 0) {
        h5_fail(err, fpath, "cannot inspect dataset");
        goto done;
    }
    if (H5Tget_class(t) != cls) {
        am_error_set(err, "%s: dataset /%s has the wrong type (expected %s)", fpath, name,
                     cls == H5T_FLOAT ? "float" : "integer");
        goto done;
    }
    hsize_t dd[8];
    int r = H5Sget_simple_extent_ndims(s);
    if (r != rank || H5Sget_simple_extent_dims(s, dd, NULL) < 0) {
        am_error_set(err, "%s: dataset /%s has rank %d, expected %d", fpath, name, r, rank);
        goto done;
    }
    for (int k = 0; k < rank; k++) {
        if (dims[k] >= 0 && dd[k] != (hsize_t)dims[k]) {
            char gs[96] = "", es[96] = "";
            for (int j = 0; j < rank; j++) {
                size_t gl = strlen(gs), el = strlen(es);
                snprintf(gs + gl, sizeof gs - gl, "%s%llu", j ? "," : "", (unsigned long long)dd[j]);
                if (dims[j] >= 0)
                    snprintf(es + el, sizeof es - el, "%s%lld", j ? "," : "", (long long)dims[j]);
                else
                    snprintf(es + el, sizeof es - el, "%s*", j ? "," : "");
            }
            am_error_set(err, "%s: dataset /%s has shape [%s], expected [%s]", fpath, name, gs, es);
            goto done;
        }
        if (got) got[k] = dd[k];
    }
    ok = 1;
done:
    close_id(&s);
    close_id(&t);
    if (!ok) close_id(&d);
    return d;
}

static int read_whole(hid_t file, const char *fpath, const char *name, H5T_class_t cls, hid_t mtype, int rank,
                      const int64_t *dims, void *buf, AmError *err) {
    hid_t d = open_checked(file, fpath, name, cls, rank, dims, NULL, err);
    if (d < 0) return -1;
    int rc = 0;
    if (H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        char what[160];
        snprintf(what, sizeof what, "cannot read dataset /%s", name);
        rc = h5_fail(err, fpath, what);
    }
    close_id(&d);
    return rc;
}

static void shard_free(DsShard *s) {
    close_id(&s->d_spec);
    close_id(&s->d_vals);
    close_id(&s->file);
    free(s->path);
    free(s->ids);
    free(s->offsets);
    free(s->labels);
    free(s->split);
    free(s->subset);
    free(s->has);
    free(s->scalars);
    free(s->photo);
    free(s->meta);
    memset(s, 0, sizeof *s);
    s->file = s->d_spec = s->d_vals = -1;
}

static int check_stats_split(hid_t file, const char *fpath, const char *group, AmError *err) {
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0) {
        H5Eclear2(H5E_DEFAULT);
        return am_error_set(err, "%s: missing group /%s", fpath, group);
    }
    char **v = NULL;
    int nv = 0;
    char obj[64];
    snprintf(obj, sizeof obj, "/%s", group);
    int rc = read_str_attr(g, fpath, obj, "stats_split", &v, &nv, err);
    close_id(&g);
    if (rc) return rc;
    if (nv != 1 || strcmp(v[0], "train") != 0) {
        rc = am_error_set(err, "%s: attribute /%s/stats_split must be \"train\"", fpath, group);
    }
    free_strs(v, nv);
    return rc;
}

// Opens one dataset file into *s; on the first shard (ds->classes == NULL) sets
// classes and statistics, later shards must match them.
static int shard_open(Dataset *ds, DsShard *s, const char *path, AmError *err) {
    memset(s, 0, sizeof *s);
    s->file = s->d_spec = s->d_vals = -1;
    size_t pl = strlen(path);
    s->path = am_malloc(pl + 1, "path");
    memcpy(s->path, path, pl + 1);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        if (access(path, R_OK) != 0)
            return am_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return h5_fail(err, path, "not an HDF5 file (or truncated/corrupt)");
    }
    s->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (s->file < 0) return h5_fail(err, path, "cannot open HDF5 file (truncated or corrupt?)");

    char **fmt = NULL;
    int nf = 0;
    if (read_str_attr(s->file, path, "/", "format", &fmt, &nf, err)) return -1;
    int bad = nf != 1 || strcmp(fmt[0], DS_FORMAT) != 0;
    if (bad)
        am_error_set(err, "%s: attribute /format is \"%s\", expected \"%s\"", path, nf >= 1 ? fmt[0] : "", DS_FORMAT);
    free_strs(fmt, nf);
    if (bad) return -1;
    int64_t ver = 0, n = 0;
    if (read_int_attr(s->file, path, "version", &ver, err)) return -1;
    if (ver != DS_VERSION)
        return am_error_set(err, "%s: attribute /version is %lld, this reader supports %d", path, (long long)ver,
                            DS_VERSION);
    if (read_int_attr(s->file, path, "n_objects", &n, err)) return -1;
    if (n < 1 || n > ((int64_t)1 << 40))
        return am_error_set(err, "%s: attribute /n_objects = %lld is invalid", path, (long long)n);
    s->n = n;
    char **cls = NULL;
    int nc = 0;
    if (read_str_attr(s->file, path, "/", "classes", &cls, &nc, err)) return -1;
    if (nc < 1) {
        free_strs(cls, nc);
        return am_error_set(err, "%s: attribute /classes is empty", path);
    }
    if (!ds->classes) {
        ds->classes = cls;
        ds->n_classes = nc;
    } else {
        int same = nc == ds->n_classes;
        for (int i = 0; same && i < nc; i++) same = strcmp(cls[i], ds->classes[i]) == 0;
        free_strs(cls, nc);
        if (!same) return am_error_set(err, "%s: attribute /classes differs from %s", path, ds->sh[0].path);
    }

    size_t un = (size_t)n;
    s->ids = am_malloc(un * sizeof *s->ids, "ids");
    s->offsets = am_malloc((un + 1) * sizeof *s->offsets, "offsets");
    s->labels = am_malloc(un * sizeof *s->labels, "labels");
    s->split = am_malloc(un, "split");
    s->subset = am_calloc(un, 1, "subset");
    s->has = am_malloc(un * DS_N_MOD, "has");
    s->scalars = am_malloc(un * 2 * sizeof(float), "scalars");
    s->photo = am_malloc(un * DS_PHOTO_COLS * sizeof(float), "photo");
    s->meta = am_malloc(un * DS_META_COLS * sizeof(float), "meta");
    int64_t d1[1] = {n}, dh[2] = {n, DS_N_MOD}, ds2[2] = {n, 2}, dp[2] = {n, DS_PHOTO_COLS}, dm[2] = {n, DS_META_COLS},
            doff[1] = {n + 1}, dsm[1] = {DS_META_COLS}, dsp[1] = {DS_PHOTO_COLS};
    float sm[2][DS_META_COLS], sp[2][DS_PHOTO_COLS];
    if (read_whole(s->file, path, "id", H5T_INTEGER, H5T_NATIVE_INT64, 1, d1, s->ids, err) ||
        read_whole(s->file, path, "label", H5T_INTEGER, H5T_NATIVE_INT32, 1, d1, s->labels, err) ||
        read_whole(s->file, path, "split", H5T_INTEGER, H5T_NATIVE_UINT8, 1, d1, s->split, err) ||
        read_whole(s->file, path, "has", H5T_INTEGER, H5T_NATIVE_UINT8, 2, dh, s->has, err) ||
        read_whole(s->file, path, "photometry/offsets", H5T_INTEGER, H5T_NATIVE_INT64, 1, doff, s->offsets, err) ||
        read_whole(s->file, path, "photometry/scalars", H5T_FLOAT, H5T_NATIVE_FLOAT, 2, ds2, s->scalars, err) ||
        read_whole(s->file, path, "photometry/photo_columns", H5T_FLOAT, H5T_NATIVE_FLOAT, 2, dp, s->photo, err) ||
        read_whole(s->file, path, "photometry/photo_mean", H5T_FLOAT, H5T_NATIVE_FLOAT, 1, dsp, sp[0], err) ||
        read_whole(s->file, path, "photometry/photo_std", H5T_FLOAT, H5T_NATIVE_FLOAT, 1, dsp, sp[1], err) ||
        read_whole(s->file, path, "metadata/raw", H5T_FLOAT, H5T_NATIVE_FLOAT, 2, dm, s->meta, err) ||
        read_whole(s->file, path, "metadata/mean", H5T_FLOAT, H5T_NATIVE_FLOAT, 1, dsm, sm[0], err) ||
        read_whole(s->file, path, "metadata/std", H5T_FLOAT, H5T_NATIVE_FLOAT, 1, dsm, sm[1], err))
        return -1;
    htri_t has_subset = H5Lexists(s->file, "subset", H5P_DEFAULT);
    if (has_subset > 0) {
        if (read_whole(s->file, path, "subset", H5T_INTEGER, H5T_NATIVE_UINT8, 1, d1, s->subset, err)) return -1;
    } else {
        H5Eclear2(H5E_DEFAULT);
    }
    if (check_stats_split(s->file, path, "metadata", err) || check_stats_split(s->file, path, "photometry", err))
        return -1;
    if (ds->n_sh == 0) {
        memcpy(ds->meta_mean, sm[0], sizeof ds->meta_mean);
        memcpy(ds->meta_std, sm[1], sizeof ds->meta_std);
        memcpy(ds->photo_mean, sp[0], sizeof ds->photo_mean);
        memcpy(ds->photo_std, sp[1], sizeof ds->photo_std);
    } else if (memcmp(ds->meta_mean, sm[0], sizeof sm[0]) || memcmp(ds->meta_std, sm[1], sizeof sm[1]) ||
               memcmp(ds->photo_mean, sp[0], sizeof sp[0]) || memcmp(ds->photo_std, sp[1], sizeof sp[1])) {
        return am_error_set(err, "%s: normalisation statistics differ from %s", path, ds->sh[0].path);
    }

    int64_t sdims[3] = {n, 3, SPEC_LEN}, vdims[2] = {-1, DS_LC_VALUES};
    hsize_t vgot[2] = {0, 0};
    s->d_spec = open_checked(s->file, path, "spectra", H5T_FLOAT, 3, sdims, NULL, err);
    if (s->d_spec < 0) return -1;
    s->d_vals = open_checked(s->file, path, "photometry/values", H5T_FLOAT, 2, vdims, vgot, err);
    if (s->d_vals < 0) return -1;
    s->total = (int64_t)vgot[0];

    // Contents.
    if (s->offsets[0] != 0) return am_error_set(err, "%s: /photometry/offsets[0] must be 0", path);
    for (int64_t i = 0; i < n; i++) {
        int64_t len = s->offsets[i + 1] - s->offsets[i];
        if (len < 0 || len > INT32_MAX)
            return am_error_set(err, "%s: /photometry/offsets not non-decreasing at %lld", path, (long long)i);
        for (int m = 0; m < DS_N_MOD; m++)
            if (s->has[i * DS_N_MOD + m] > 1)
                return am_error_set(err, "%s: /has[%lld,%d] must be 0 or 1", path, (long long)i, m);
        if (s->has[i * DS_N_MOD + DS_MOD_PHOT] ? len == 0 : len != 0)
            return am_error_set(err, "%s: object %lld: /has[:,0] disagrees with /photometry/offsets", path,
                                (long long)i);
        if (s->labels[i] < -1 || s->labels[i] >= ds->n_classes)
            return am_error_set(err, "%s: /label[%lld] = %d outside -1 .. %d", path, (long long)i, s->labels[i],
                                ds->n_classes - 1);
        if (s->split[i] > DS_SPLIT_TEST)
            return am_error_set(err, "%s: /split[%lld] = %d outside 0 .. 2", path, (long long)i, s->split[i]);
    }
    if (s->offsets[n] != s->total)
        return am_error_set(err, "%s: /photometry/offsets[N] = %lld but /photometry/values has %lld rows", path,
                            (long long)s->offsets[n], (long long)s->total);
    return 0;
}

static void dataset_free(Dataset *ds) {
    for (int i = 0; i < ds->n_sh; i++) shard_free(&ds->sh[i]);
    free(ds->sh);
    free_strs(ds->classes, ds->n_classes);
    free(ds->spec_buf);
    free(ds->vals_buf);
    free(ds->lc_buf);
    free(ds);
}

static int is_shard_name(const char *s, long *idx) {
    size_t l = strlen(s);
    if (l != strlen("shard_00000.h5") || strncmp(s, "shard_", 6) != 0 || strcmp(s + l - 3, ".h5") != 0) return 0;
    long v = 0;
    for (int k = 6; k < 11; k++) {
        if (s[k] < '0' || s[k] > '9') return 0;
        v = v * 10 + (s[k] - '0');
    }
    *idx = v;
    return 1;
}

static int ds_open_impl(const char *path, Dataset **out, AmError *err) {
    *out = NULL;
    Dataset *ds = am_calloc(1, sizeof *ds, "dataset");
    DIR *dir = opendir(path);
    if (dir) {
        long count = 0, maxidx = -1, idx;
        struct dirent *e;
        while ((e = readdir(dir)) != NULL)
            if (is_shard_name(e->d_name, &idx)) {
                count++;
                if (idx > maxidx) maxidx = idx;
            }
        closedir(dir);
        if (count == 0) {
            am_error_set(err, "%s: directory holds no shard_NNNNN.h5 files", path);
            goto fail;
        }
        if (maxidx + 1 != count) {
            am_error_set(err, "%s: shard files are not numbered 00000 .. %05ld without gaps", path, count - 1);
            goto fail;
        }
        ds->sh = am_calloc((size_t)count, sizeof *ds->sh, "shards");
        size_t pl = strlen(path) + 32;
        char *sp = am_malloc(pl, "path");
        for (long i = 0; i < count; i++) {
            snprintf(sp, pl, "%s/shard_%05ld.h5", path, i);
            int rc = shard_open(ds, &ds->sh[i], sp, err);
            ds->n_sh++;
            if (rc) {
                free(sp);
                goto fail;
            }
        }
        free(sp);
    } else {
        ds->sh = am_calloc(1, sizeof *ds->sh, "shards");
        int rc = shard_open(ds, &ds->sh[0], path, err);
        ds->n_sh = 1;
        if (rc) goto fail;
    }
    for (int i = 0; i < ds->n_sh; i++) {
        ds->sh[i].base = ds->n;
        ds->n += ds->sh[i].n;
    }
    ds->spec_buf = am_malloc(3 * SPEC_LEN * sizeof(float), "spectrum buffer");
    *out = ds;
    return 0;
fail:
    dataset_free(ds);
    return -1;
}

static int ds_get_impl(Dataset *ds, int64_t index, DsObject *o, AmError *err) {
    memset(o, 0, sizeof *o);
    if (index < 0 || index >= ds->n)
        return am_error_set(err, "ds_get: index %lld outside 0 .. %lld", (long long)index, (long long)ds->n - 1);
    int lo = 0, hi = ds->n_sh - 1;
    while (lo < hi) {  // last shard with base <= index
        int mid = (lo + hi + 1) / 2;
        if (ds->sh[mid].base <= index)
            lo = mid;
        else
            hi = mid - 1;
    }
    DsShard *s = &ds->sh[lo];
    int64_t i = index - s->base;
    o->id = s->ids[i];
    o->label = s->labels[i];
    o->split = s->split[i];
    o->subset = s->subset[i];
    memcpy(o->has, s->has + i * DS_N_MOD, DS_N_MOD);
    memcpy(o->photo, s->photo + i * DS_PHOTO_COLS, sizeof o->photo);
    memcpy(o->meta, s->meta + i * DS_META_COLS, sizeof o->meta);
    o->lc.log10_mad = s->scalars[2 * i];
    o->lc.dt = s->scalars[2 * i + 1];
    int64_t off = s->offsets[i], n = s->offsets[i + 1] - off;
    if (n > 0) {
        if ((size_t)n > ds->lc_cap) {
            free(ds->lc_buf);
            free(ds->vals_buf);
            ds->lc_buf = am_malloc((size_t)n * 3 * sizeof(float), "light-curve buffer");
            ds->vals_buf = am_malloc((size_t)n * 3 * sizeof(float), "light-curve buffer");
            ds->lc_cap = (size_t)n;
        }
        hsize_t st[2] = {(hsize_t)off, 0}, ct[2] = {(hsize_t)n, DS_LC_VALUES};
        hid_t fs = -1, ms = -1;
        int ok = (fs = H5Dget_space(s->d_vals)) >= 0 &&
                 H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) >= 0 &&
                 (ms = H5Screate_simple(2, ct, NULL)) >= 0 &&
                 H5Dread(s->d_vals, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, ds->vals_buf) >= 0;
        close_id(&ms);
        close_id(&fs);
        if (!ok) return h5_fail(err, s->path, "cannot read /photometry/values");
        float *t = ds->lc_buf, *f = t + n, *e = f + n;
        for (int64_t k = 0; k < n; k++) {
            t[k] = ds->vals_buf[3 * k];
            f[k] = ds->vals_buf[3 * k + 1];
            e[k] = ds->vals_buf[3 * k + 2];
        }
        o->lc.t01 = t;
        o->lc.flux_n = f;
        o->lc.err_n = e;
        o->lc.n = (int)n;
    }
    if (o->has[DS_MOD_SPEC]) {
        hsize_t st[3] = {(hsize_t)i, 0, 0}, ct[3] = {1, 3, SPEC_LEN};
        hid_t fs = -1, ms = -1;
        int ok = (fs = H5Dget_space(s->d_spec)) >= 0 &&
                 H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) >= 0 &&
                 (ms = H5Screate_simple(3, ct, NULL)) >= 0 &&
                 H5Dread(s->d_spec, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, ds->spec_buf) >= 0;
        close_id(&ms);
        close_id(&fs);
        if (!ok) return h5_fail(err, s->path, "cannot read /spectra");
        o->spectrum = ds->spec_buf;
    }
    return 0;
}

int ds_open(const char *path, Dataset **out, AmError *err) {
    H5Quiet q;
    quiet_on(&q);
    int rc = ds_open_impl(path, out, err);
    quiet_off(&q);
    return rc;
}

int64_t ds_count(const Dataset *ds) { return ds->n; }

int ds_classes(const Dataset *ds, const char *const **names, int *n_classes) {
    *names = (const char *const *)ds->classes;
    *n_classes = ds->n_classes;
    return 0;
}

void ds_stats(const Dataset *ds, const float **meta_mean, const float **meta_std, const float **photo_mean,
              const float **photo_std) {
    if (meta_mean) *meta_mean = ds->meta_mean;
    if (meta_std) *meta_std = ds->meta_std;
    if (photo_mean) *photo_mean = ds->photo_mean;
    if (photo_std) *photo_std = ds->photo_std;
}

int ds_get(Dataset *ds, int64_t index, DsObject *out, AmError *err) {
    H5Quiet q;
    quiet_on(&q);
    int rc = ds_get_impl(ds, index, out, err);
    quiet_off(&q);
    return rc;
}

void ds_close(Dataset *ds) {
    if (!ds) return;
    H5Quiet q;
    quiet_on(&q);
    dataset_free(ds);
    quiet_off(&q);
}
