// astromm dataset files (HDF5), reader of one file or a directory of shards.
// Layout and rationale: docs/data-format.md.
#define _POSIX_C_SOURCE 200809L

#include "data/format/dataset.h"
#include "data/format/dataset_h5.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


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
    int meta_cols;       // width of /metadata/raw, the same in every shard
    char **meta_names;   // [meta_cols]
    float meta_mean[DS_META_MAX], meta_std[DS_META_MAX], photo_mean[DS_PHOTO_COLS], photo_std[DS_PHOTO_COLS];
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
    h5_close_id(&s);
    h5_close_id(&t);
    if (!ok) h5_close_id(&d);
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
    h5_close_id(&d);
    return rc;
}

static void shard_free(DsShard *s) {
    h5_close_id(&s->d_spec);
    h5_close_id(&s->d_vals);
    h5_close_id(&s->file);
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
    int rc = h5_read_str_attr(g, fpath, obj, "stats_split", &v, &nv, err);
    h5_close_id(&g);
    if (rc) return rc;
    if (nv != 1 || strcmp(v[0], "train") != 0) {
        rc = am_error_set(err, "%s: attribute /%s/stats_split must be \"train\"", fpath, group);
    }
    h5_free_strs(v, nv);
    return rc;
}

// The root attributes: format, version, n_objects (-> s->n) and the classes
// (the first shard's are the dataset's; a later shard must repeat them).
static int shard_header(Dataset *ds, DsShard *s, const char *path, AmError *err) {
    char **fmt = NULL;
    int nf = 0;
    if (h5_read_str_attr(s->file, path, "/", "format", &fmt, &nf, err)) return -1;
    int bad = nf != 1 || strcmp(fmt[0], DS_FORMAT) != 0;
    if (bad)
        am_error_set(err, "%s: attribute /format is \"%s\", expected \"%s\"", path, nf >= 1 ? fmt[0] : "", DS_FORMAT);
    h5_free_strs(fmt, nf);
    if (bad) return -1;
    int64_t ver = 0, n = 0;
    if (h5_read_int_attr(s->file, path, "version", &ver, err)) return -1;
    if (ver != DS_VERSION)
        return am_error_set(err, "%s: attribute /version is %lld, this reader supports %d", path, (long long)ver,
                            DS_VERSION);
    if (h5_read_int_attr(s->file, path, "n_objects", &n, err)) return -1;
    if (n < 1 || n > ((int64_t)1 << 40))
        return am_error_set(err, "%s: attribute /n_objects = %lld is invalid", path, (long long)n);
    s->n = n;
    char **cls = NULL;
    int nc = 0;
    if (h5_read_str_attr(s->file, path, "/", "classes", &cls, &nc, err)) return -1;
    if (nc < 1) {
        h5_free_strs(cls, nc);
        return am_error_set(err, "%s: attribute /classes is empty", path);
    }
    if (!ds->classes) {
        ds->classes = cls;
        ds->n_classes = nc;
    } else {
        int same = nc == ds->n_classes;
        for (int i = 0; same && i < nc; i++) same = strcmp(cls[i], ds->classes[i]) == 0;
        h5_free_strs(cls, nc);
        if (!same) return am_error_set(err, "%s: attribute /classes differs from %s", path, ds->sh[0].path);
    }
    return 0;
}

// The metadata width (/metadata/raw's second extent) and column names (its
// group's attribute "columns"; a file without it holds the 34 AstroM3 columns),
// the same in every shard; *mc receives the width.
static int shard_meta_columns(Dataset *ds, DsShard *s, const char *path, int *mc_out, AmError *err) {
    const int64_t n = s->n;
    hsize_t mgot[2] = {0, 0};
    const int64_t many[2] = {n, -1};
    hid_t dmeta = open_checked(s->file, path, "metadata/raw", H5T_FLOAT, 2, many, mgot, err);
    if (dmeta < 0) return -1;
    h5_close_id(&dmeta);
    if (mgot[1] < 1 || mgot[1] > DS_META_MAX)
        return am_error_set(err, "%s: /metadata/raw has %llu columns, this reader allows 1 .. %d", path,
                            (unsigned long long)mgot[1], DS_META_MAX);
    const int mc = (int)mgot[1];
    char **mnames = NULL;
    int nmn = 0;
    htri_t has_names = H5Aexists_by_name(s->file, "metadata", "columns", H5P_DEFAULT);
    if (has_names > 0) {
        hid_t g = H5Gopen2(s->file, "metadata", H5P_DEFAULT);
        int gbad = g < 0 || h5_read_str_attr(g, path, "metadata", "columns", &mnames, &nmn, err);
        if (g < 0) h5_fail(err, path, "cannot open group /metadata");
        h5_close_id(&g);
        if (gbad) return -1;
        if (nmn != mc) {
            h5_free_strs(mnames, nmn);
            return am_error_set(err, "%s: /metadata attribute columns names %d columns, /metadata/raw has %d", path,
                                nmn, mc);
        }
    } else {
        H5Eclear2(H5E_DEFAULT);
        if (mc != DS_META_COLS)
            return am_error_set(err, "%s: /metadata/raw has %d columns but /metadata has no attribute columns "
                                "naming them", path, mc);
    }
    if (!ds->meta_names) {
        ds->meta_cols = mc;
        if (!mnames) {
            mnames = am_calloc(DS_META_COLS, sizeof *mnames, "metadata column names");
            for (int c = 0; c < DS_META_COLS; c++) mnames[c] = am_strdup(META_COLUMNS[c], "metadata column name");
        }
        ds->meta_names = mnames;
    } else {
        int same = mc == ds->meta_cols;
        for (int c = 0; same && mnames && c < mc; c++) same = !strcmp(mnames[c], ds->meta_names[c]);
        for (int c = 0; same && !mnames && c < mc; c++) same = !strcmp(META_COLUMNS[c], ds->meta_names[c]);
        h5_free_strs(mnames, nmn);
        if (!same) return am_error_set(err, "%s: metadata columns differ from %s", path, ds->sh[0].path);
    }
    *mc_out = mc;
    return 0;
}

// The per-object arrays and the normalisation statistics (the same in every shard).
static int shard_arrays(Dataset *ds, DsShard *s, const char *path, int mc, AmError *err) {
    const int64_t n = s->n;
    const size_t un = (size_t)n;
    s->ids = malloc(un * sizeof *s->ids);
    s->offsets = malloc((un + 1) * sizeof *s->offsets);
    s->labels = malloc(un * sizeof *s->labels);
    s->split = malloc(un);
    s->subset = calloc(un, 1);
    s->has = malloc(un * MOD_COUNT);
    s->scalars = malloc(un * 2 * sizeof(float));
    s->photo = malloc(un * DS_PHOTO_COLS * sizeof(float));
    s->meta = malloc(un * (size_t)mc * sizeof(float));
    if (!s->ids || !s->offsets || !s->labels || !s->split || !s->subset || !s->has || !s->scalars || !s->photo ||
        !s->meta)
        return am_error_set(err, "%s: out of memory for the %lld objects of /n_objects", path, (long long)n);
    int64_t d1[1] = {n}, dh[2] = {n, MOD_COUNT}, ds2[2] = {n, 2}, dp[2] = {n, DS_PHOTO_COLS}, dm[2] = {n, mc},
            doff[1] = {n + 1}, dsm[1] = {mc}, dsp[1] = {DS_PHOTO_COLS};
    float sm[2][DS_META_MAX], sp[2][DS_PHOTO_COLS];
    const size_t msz = (size_t)mc * sizeof(float);
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
        memcpy(ds->meta_mean, sm[0], msz);
        memcpy(ds->meta_std, sm[1], msz);
        memcpy(ds->photo_mean, sp[0], sizeof ds->photo_mean);
        memcpy(ds->photo_std, sp[1], sizeof ds->photo_std);
    } else if (memcmp(ds->meta_mean, sm[0], msz) || memcmp(ds->meta_std, sm[1], msz) ||
               memcmp(ds->photo_mean, sp[0], sizeof sp[0]) || memcmp(ds->photo_std, sp[1], sizeof sp[1])) {
        return am_error_set(err, "%s: normalisation statistics differ from %s", path, ds->sh[0].path);
    }

    return 0;
}

// The arrays agree with each other and with the classes.
static int shard_check_contents(const Dataset *ds, const DsShard *s, const char *path, AmError *err) {
    const int64_t n = s->n;
    // Contents.
    if (s->offsets[0] != 0) return am_error_set(err, "%s: /photometry/offsets[0] must be 0", path);
    for (int64_t i = 0; i < n; i++) {
        int64_t len = s->offsets[i + 1] - s->offsets[i];
        if (len < 0 || len > INT32_MAX)
            return am_error_set(err, "%s: /photometry/offsets not non-decreasing at %lld", path, (long long)i);
        for (int m = 0; m < MOD_COUNT; m++)
            if (s->has[i * MOD_COUNT + m] > 1)
                return am_error_set(err, "%s: /has[%lld,%d] must be 0 or 1", path, (long long)i, m);
        if (s->has[i * MOD_COUNT + MOD_PHOTOMETRY] ? len == 0 : len != 0)
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

// Opens one dataset file into *s; on the first shard (ds->classes == NULL) sets
// classes and statistics, later shards must match them.
static int shard_open(Dataset *ds, DsShard *s, const char *path, AmError *err) {
    memset(s, 0, sizeof *s);
    s->file = s->d_spec = s->d_vals = -1;
    s->path = am_strdup(path, "path");
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        if (access(path, R_OK) != 0)
            return am_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return h5_fail(err, path, "not an HDF5 file (or truncated/corrupt)");
    }
    s->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (s->file < 0) return h5_fail(err, path, "cannot open HDF5 file (truncated or corrupt?)");
    if (shard_header(ds, s, path, err)) return -1;
    // The arrays below are sized by /n_objects: check it against the extent of
    // /id first, so a corrupt count is an error rather than a request for
    // terabytes; and running out of memory is an error too, not an exit.
    const int64_t dn[1] = {s->n};
    hid_t did = open_checked(s->file, path, "id", H5T_INTEGER, 1, dn, NULL, err);
    if (did < 0) return -1;
    h5_close_id(&did);
    int mc = 0;
    if (shard_meta_columns(ds, s, path, &mc, err) || shard_arrays(ds, s, path, mc, err)) return -1;
    int64_t sdims[3] = {s->n, 3, SPEC_LEN}, vdims[2] = {-1, DS_LC_VALUES};
    hsize_t vgot[2] = {0, 0};
    s->d_spec = open_checked(s->file, path, "spectra", H5T_FLOAT, 3, sdims, NULL, err);
    if (s->d_spec < 0) return -1;
    s->d_vals = open_checked(s->file, path, "photometry/values", H5T_FLOAT, 2, vdims, vgot, err);
    if (s->d_vals < 0) return -1;
    s->total = (int64_t)vgot[0];
    return shard_check_contents(ds, s, path, err);
}

static void dataset_free(Dataset *ds) {
    for (int i = 0; i < ds->n_sh; i++) shard_free(&ds->sh[i]);
    free(ds->sh);
    h5_free_strs(ds->classes, ds->n_classes);
    h5_free_strs(ds->meta_names, ds->meta_cols);
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

int ds_locate(const Dataset *ds, int64_t index, int64_t *local) {
    CHECK(index >= 0 && index < ds->n, "ds_locate: index %lld outside 0 .. %lld", (long long)index,
          (long long)ds->n - 1);
    int lo = 0, hi = ds->n_sh - 1;
    while (lo < hi) {  // last shard with base <= index
        int mid = (lo + hi + 1) / 2;
        if (ds->sh[mid].base <= index)
            lo = mid;
        else
            hi = mid - 1;
    }
    *local = index - ds->sh[lo].base;
    return lo;
}

void ds_get_small(const Dataset *ds, int64_t index, DsObject *o) {
    memset(o, 0, sizeof *o);
    int64_t i = 0;
    const DsShard *s = &ds->sh[ds_locate(ds, index, &i)];
    o->id = s->ids[i];
    o->label = s->labels[i];
    o->split = s->split[i];
    o->subset = s->subset[i];
    memcpy(o->has, s->has + i * MOD_COUNT, MOD_COUNT);
    memcpy(o->photo, s->photo + i * DS_PHOTO_COLS, sizeof o->photo);
    memcpy(o->meta, s->meta + i * ds->meta_cols, (size_t)ds->meta_cols * sizeof(float));
    o->lc.log10_mad = s->scalars[2 * i];
    o->lc.dt = s->scalars[2 * i + 1];
    o->lc.n = (int)(s->offsets[i + 1] - s->offsets[i]);
}

int ds_shard_count(const Dataset *ds) { return ds->n_sh; }

void ds_shard_info(const Dataset *ds, int shard, DsShardInfo *out) {
    CHECK(shard >= 0 && shard < ds->n_sh, "ds_shard_info: shard %d outside 0 .. %d", shard, ds->n_sh - 1);
    const DsShard *s = &ds->sh[shard];
    out->path = s->path;
    out->base = s->base;
    out->n = s->n;
    out->offsets = s->offsets;
}

void ds_release_files(Dataset *ds) {
    H5Quiet q;
    h5_quiet_on(&q);
    for (int k = 0; k < ds->n_sh; k++) {
        h5_close_id(&ds->sh[k].d_spec);
        h5_close_id(&ds->sh[k].d_vals);
        h5_close_id(&ds->sh[k].file);
    }
    h5_quiet_off(&q);
}

static int ds_get_impl(Dataset *ds, int64_t index, DsObject *o, AmError *err) {
    memset(o, 0, sizeof *o);
    if (index < 0 || index >= ds->n)
        return am_error_set(err, "ds_get: index %lld outside 0 .. %lld", (long long)index, (long long)ds->n - 1);
    ds_get_small(ds, index, o);
    int64_t i = 0;
    DsShard *s = &ds->sh[ds_locate(ds, index, &i)];
    if (s->file < 0)
        return am_error_set(err, "%s: ds_get after ds_release_files (the loader owns the file now)", s->path);
    o->lc.n = 0;
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
        h5_close_id(&ms);
        h5_close_id(&fs);
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
    if (o->has[MOD_SPECTRA]) {
        hsize_t st[3] = {(hsize_t)i, 0, 0}, ct[3] = {1, 3, SPEC_LEN};
        hid_t fs = -1, ms = -1;
        int ok = (fs = H5Dget_space(s->d_spec)) >= 0 &&
                 H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) >= 0 &&
                 (ms = H5Screate_simple(3, ct, NULL)) >= 0 &&
                 H5Dread(s->d_spec, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, ds->spec_buf) >= 0;
        h5_close_id(&ms);
        h5_close_id(&fs);
        if (!ok) return h5_fail(err, s->path, "cannot read /spectra");
        o->spectrum = ds->spec_buf;
    }
    return 0;
}

int ds_open(const char *path, Dataset **out, AmError *err) {
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = ds_open_impl(path, out, err);
    h5_quiet_off(&q);
    return rc;
}

int64_t ds_count(const Dataset *ds) { return ds->n; }

int ds_classes(const Dataset *ds, const char *const **names, int *n_classes) {
    *names = (const char *const *)ds->classes;
    *n_classes = ds->n_classes;
    return 0;
}

int ds_meta_cols(const Dataset *ds) { return ds->meta_cols; }
const char *const *ds_meta_names(const Dataset *ds) { return (const char *const *)ds->meta_names; }

void ds_stats(const Dataset *ds, const float **meta_mean, const float **meta_std, const float **photo_mean,
              const float **photo_std) {
    if (meta_mean) *meta_mean = ds->meta_mean;
    if (meta_std) *meta_std = ds->meta_std;
    if (photo_mean) *photo_mean = ds->photo_mean;
    if (photo_std) *photo_std = ds->photo_std;
}

int ds_get(Dataset *ds, int64_t index, DsObject *out, AmError *err) {
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = ds_get_impl(ds, index, out, err);
    h5_quiet_off(&q);
    return rc;
}

void ds_close(Dataset *ds) {
    if (!ds) return;
    H5Quiet q;
    h5_quiet_on(&q);
    dataset_free(ds);
    h5_quiet_off(&q);
}
