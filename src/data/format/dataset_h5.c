// HDF5 helpers for dataset files: see dataset_h5.h.
#define _POSIX_C_SOURCE 200809L

#include "data/format/dataset_h5.h"

#include "core/half.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ------------------------------------------------------------------ HDF5 errors


void h5_quiet_on(H5Quiet *q) {
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5Eclear2(H5E_DEFAULT);
}

void h5_quiet_off(const H5Quiet *q) {
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
int h5_fail(AmError *err, const char *file, const char *what) {
    char d[200];
    h5_desc(d);
    if (d[0])
        am_error_set(err, "%s: %s (HDF5: %s)", file, what, d);
    else
        am_error_set(err, "%s: %s", file, what);
    return -1;
}

void h5_close_id(hid_t *id) {
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

hid_t h5_vlen_str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

// n < 0: scalar attribute holding v[0]; otherwise a 1-D array of n strings.
int h5_write_str_attr(hid_t loc, const char *name, const char *const *v, int n) {
    hid_t t = h5_vlen_str_type(), s = -1, a = -1;
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
    if (n != 0 && H5Awrite(a, t, v) < 0) goto done;  // an empty list (no classes) has nothing to write
    rc = 0;
done:
    h5_close_id(&a);
    h5_close_id(&s);
    h5_close_id(&t);
    return rc;
}

int h5_write_num_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v) {
    hid_t s = H5Screate(H5S_SCALAR), a = -1;
    int rc = -1;
    if (s < 0) goto done;
    a = H5Acreate2(loc, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto done;
    if (H5Awrite(a, mtype, v) < 0) goto done;
    rc = 0;
done:
    h5_close_id(&a);
    h5_close_id(&s);
    return rc;
}

void h5_free_strs(char **v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

// Reads a string attribute (scalar or 1-D; fixed or variable length) into a
// malloc'd array of malloc'd strings. Fills err naming file and object path.
int h5_read_str_attr(hid_t loc, const char *file, const char *obj, const char *name, char ***out, int *n_out,
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
    // The memory type takes the file's character set: HDF5 does not convert
    // every form between ASCII and UTF-8 (a fixed-length UTF-8 attribute could
    // not be read as ASCII; found by tests/fuzz/fuzz_dataset).
    H5T_cset_t cset = H5Tget_cset(ft);
    if (var) {
        mt = h5_vlen_str_type();
        char **tmp = am_calloc((size_t)(n ? n : 1), sizeof *tmp, "string attribute");
        if (mt < 0 || cset < 0 || H5Tset_cset(mt, cset) < 0 || H5Aread(a, mt, tmp) < 0) {
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
        if (sz == 0 || mt < 0 || cset < 0 || H5Tset_size(mt, sz + 1) < 0 || H5Tset_strpad(mt, H5T_STR_NULLTERM) < 0 ||
            H5Tset_cset(mt, cset) < 0) {
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
    h5_close_id(&mt);
    h5_close_id(&s);
    h5_close_id(&ft);
    h5_close_id(&a);
    if (rc) {
        h5_free_strs(res, n);
        return rc;
    }
    *out = res;
    *n_out = n;
    return 0;
}

int h5_read_int_attr(hid_t loc, const char *file, const char *name, int64_t *v, AmError *err) {
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
    h5_close_id(&s);
    h5_close_id(&ft);
    h5_close_id(&a);
    return rc;
}

hid_t h5_open_dataset(hid_t loc, const char *file, const char *name, int *rank, hsize_t dims[4], int *numeric,
                      AmError *err) {
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return h5_fail(err, file, "cannot open a dataset"), -1;
    hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
    *rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (*rank >= 0 && *rank <= 4) H5Sget_simple_extent_dims(sp, dims, NULL);
    const H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    *numeric = cls == H5T_INTEGER || cls == H5T_FLOAT;
    h5_close_id(&t);
    h5_close_id(&sp);
    if (*rank < 0) {
        h5_fail(err, file, "cannot read the shape of a dataset");
        h5_close_id(&ds);
        return -1;
    }
    return ds;
}

hid_t h5_float16_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return -1;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0 ||
        H5Tset_precision(t, 16) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

int h5_is_float16(hid_t ds) {
    const hid_t t = H5Dget_type(ds);
    if (t < 0) return 0;
    const int yes = H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 2;
    H5Tclose(t);
    return yes;
}

herr_t h5_read_floats(hid_t ds, hid_t ms, hid_t fs, hid_t dxpl, size_t count, float *out) {
    if (!h5_is_float16(ds)) return H5Dread(ds, H5T_NATIVE_FLOAT, ms, fs, dxpl, out);
    // The bits as stored (the same type in memory: HDF5 converts nothing), then widened here.
    const hid_t t = h5_float16_type();
    uint16_t *h = malloc(count * sizeof *h + 2);
    herr_t st = t < 0 || !h ? -1 : H5Dread(ds, t, ms, fs, dxpl, h);
    if (st >= 0) half_to_floats(h, count, out);
    free(h);
    if (t >= 0) H5Tclose(t);
    return st;
}

int h5_read_whole(hid_t ds, hid_t mtype, void *buf, const char *file, const char *name, AmError *err) {
    herr_t st;
    if (H5Tequal(mtype, H5T_NATIVE_FLOAT) > 0 && h5_is_float16(ds)) {
        const hid_t sp = H5Dget_space(ds);
        const hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
        if (sp >= 0) H5Sclose(sp);
        st = n < 0 ? -1 : h5_read_floats(ds, H5S_ALL, H5S_ALL, H5P_DEFAULT, (size_t)n, buf);
    } else {
        st = H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    }
    if (st >= 0) return 0;
    char what[300];
    snprintf(what, sizeof what, "cannot read %.280s", name);
    return h5_fail(err, file, what);
}
