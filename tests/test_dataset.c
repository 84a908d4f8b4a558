// Dataset file (docs/data-format.md): write / read-back round trip, shards,
// rejection of malformed files, atomic temp-file rename, and an h5py cross-check.
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/format/dataset.h"
#include "testutil.h"

#define N_OBJ 10

static const char *const CLASSES[10] = {"EW", "SR", "EA", "RRAB", "EB", "ROT", "RRC", "HADS", "M", "DSCT"};
static char g_dir[64];

typedef struct {
    DsObject o;
    float t[64], f[64], e[64];
    float spec[3 * SPEC_LEN];
} ObjBuf;

static void make_obj(int i, ObjBuf *b) {
    memset(b, 0, sizeof *b);
    DsObject *o = &b->o;
    o->id = 1000 + 7 * i;
    o->label = i == 3 ? -1 : i % 10;
    o->split = (uint8_t)(i % 3);
    o->subset = (uint8_t)(i % 8);
    o->has[MOD_PHOTOMETRY] = i != 7;
    o->has[MOD_SPECTRA] = i % 3 != 1;
    o->has[MOD_METADATA] = i != 4;
    int n = 1 + (i * 13) % 60;  // ragged: 1 .. 60 steps
    if (o->has[MOD_PHOTOMETRY]) {
        for (int k = 0; k < n; k++) {
            b->t[k] = n > 1 ? (float)k / (float)(n - 1) : 0.0f;
            b->f[k] = sinf((float)(i + k));
            b->e[k] = 0.1f + 0.01f * (float)k;
        }
        o->lc.t01 = b->t;
        o->lc.flux_n = b->f;
        o->lc.err_n = b->e;
        o->lc.n = n;
        o->lc.log10_mad = -1.5f + 0.1f * (float)i;
        o->lc.dt = 3.25f + (float)i;
        for (int c = 0; c < DS_PHOTO_COLS; c++) o->photo[c] = (float)(i * 10 + c) + 0.5f;
    }
    if (o->has[MOD_SPECTRA]) {
        for (int k = 0; k < 3 * SPEC_LEN; k++) b->spec[k] = (float)i + 1e-3f * (float)k;
        o->spectrum = b->spec;
    }
    if (o->has[MOD_METADATA])
        for (int c = 0; c < DS_META_COLS; c++) o->meta[c] = (float)(i * 100 + c) * 0.25f;
}

static float g_mm[DS_META_COLS], g_ms[DS_META_COLS], g_pm[DS_PHOTO_COLS], g_ps[DS_PHOTO_COLS];

static int write_range(const char *path, int first, int count, AmError *err) {
    DsWriter *w;
    if (ds_writer_open(path, count, CLASSES, 10, &w, err)) return -1;
    static ObjBuf b;
    for (int i = first; i < first + count; i++) {
        make_obj(i, &b);
        if (ds_writer_add(w, &b.o, err)) {
            ds_writer_abort(w);
            return -1;
        }
    }
    if (ds_writer_set_stats(w, g_mm, g_ms, g_pm, g_ps, err)) {
        ds_writer_abort(w);
        return -1;
    }
    return ds_writer_close(w, err);
}

static int no_tmp_files(void) {
    DIR *d = opendir(g_dir);
    if (!d) return 0;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) ok = 0;
    closedir(d);
    return ok;
}

// Compares object got with the expected object i.
static void check_obj(const DsObject *got, int i) {
    static ObjBuf b;
    make_obj(i, &b);
    const DsObject *x = &b.o;
    EXPECT(got->id == x->id, "obj %d id %lld != %lld", i, (long long)got->id, (long long)x->id);
    EXPECT(got->label == x->label, "obj %d label %d != %d", i, got->label, x->label);
    EXPECT(got->split == x->split && got->subset == x->subset, "obj %d split/subset", i);
    EXPECT(memcmp(got->has, x->has, 3) == 0, "obj %d has", i);
    EXPECT(got->lc.n == x->lc.n, "obj %d n %d != %d", i, got->lc.n, x->lc.n);
    if (got->lc.n == x->lc.n && x->lc.n > 0) {
        size_t sz = (size_t)x->lc.n * sizeof(float);
        EXPECT(memcmp(got->lc.t01, x->lc.t01, sz) == 0 && memcmp(got->lc.flux_n, x->lc.flux_n, sz) == 0 &&
                   memcmp(got->lc.err_n, x->lc.err_n, sz) == 0,
               "obj %d light curve differs", i);
    }
    if (x->has[MOD_PHOTOMETRY]) {
        EXPECT(got->lc.log10_mad == x->lc.log10_mad && got->lc.dt == x->lc.dt, "obj %d scalars", i);
        EXPECT(memcmp(got->photo, x->photo, sizeof x->photo) == 0, "obj %d photo", i);
    } else {
        EXPECT(got->lc.t01 == NULL && isnan(got->lc.dt) && isnan(got->photo[0]), "obj %d absent photometry", i);
    }
    if (x->spectrum) {
        EXPECT(got->spectrum && memcmp(got->spectrum, x->spectrum, sizeof b.spec) == 0, "obj %d spectrum", i);
    } else {
        EXPECT(got->spectrum == NULL, "obj %d spectrum should be absent", i);
    }
    if (x->has[MOD_METADATA])
        EXPECT(memcmp(got->meta, x->meta, sizeof x->meta) == 0, "obj %d meta", i);
    else
        EXPECT(isnan(got->meta[0]) && isnan(got->meta[33]), "obj %d absent meta not NaN", i);
}

static void check_dataset(const char *path, int first, int count) {
    Dataset *ds = NULL;
    AmError err = {{0}};
    int rc = ds_open(path, &ds, &err);
    EXPECT(rc == 0, "ds_open %s: %s", path, err.msg);
    if (rc) return;
    EXPECT(ds_count(ds) == count, "count %lld", (long long)ds_count(ds));
    const char *const *names;
    int nc;
    ds_classes(ds, &names, &nc);
    EXPECT(nc == 10 && strcmp(names[3], "RRAB") == 0 && strcmp(names[9], "DSCT") == 0, "classes");
    const float *mm, *ms, *pm, *ps;
    ds_stats(ds, &mm, &ms, &pm, &ps);
    EXPECT(memcmp(mm, g_mm, sizeof g_mm) == 0 && memcmp(ms, g_ms, sizeof g_ms) == 0 &&
               memcmp(pm, g_pm, sizeof g_pm) == 0 && memcmp(ps, g_ps, sizeof g_ps) == 0,
           "stats differ");
    // Reverse order, so buffers are reused with shrinking and growing sizes.
    for (int k = count - 1; k >= 0; k--) {
        DsObject o;
        rc = ds_get(ds, k, &o, &err);
        EXPECT(rc == 0, "ds_get %d: %s", k, err.msg);
        if (!rc) check_obj(&o, first + k);
    }
    DsObject o;
    EXPECT(ds_get(ds, count, &o, &err) != 0, "ds_get past the end succeeded");
    ds_close(ds);
}

static void copy_file(const char *src, const char *dst, long max_bytes) {
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    REQUIRE(a && b, "copy %s -> %s", src, dst);
    char buf[65536];
    size_t r;
    long done = 0;
    while ((r = fread(buf, 1, sizeof buf, a)) > 0) {
        if (max_bytes >= 0 && done + (long)r > max_bytes) r = (size_t)(max_bytes - done);
        fwrite(buf, 1, r, b);
        done += (long)r;
        if (max_bytes >= 0 && done >= max_bytes) break;
    }
    fclose(a);
    fclose(b);
}

// Expects ds_open(path) to fail with a message containing path and needle.
static void expect_reject(const char *path, const char *needle, const char *what) {
    Dataset *ds = NULL;
    AmError err = {{0}};
    int rc = ds_open(path, &ds, &err);
    EXPECT(rc != 0, "%s: ds_open accepted a bad file", what);
    if (rc == 0) {
        ds_close(ds);
        return;
    }
    printf("  rejected (%s): %s\n", what, err.msg);
    EXPECT(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", what, err.msg);
    EXPECT(strstr(err.msg, needle) != NULL, "%s: message lacks \"%s\": %s", what, needle, err.msg);
}

static void set_str_attr(const char *path, const char *name, const char *value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0, "open %s", path);
    REQUIRE(H5Adelete(f, name) >= 0, "delete attr");
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(a >= 0 && H5Awrite(a, t, &value) >= 0, "write attr");
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    H5Fclose(f);
}

// Rewrites string attribute `name` as n strings (n < 0: scalar) of the given
// form: fixed length or variable, ASCII or UTF-8 (h5py writes bytes as ASCII,
// str as UTF-8; other tools vary).
static void set_str_attr_as(const char *path, const char *name, const char *const *v, int n, int fixed,
                            H5T_cset_t cset) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0 && H5Adelete(f, name) >= 0, "open %s, delete %s", path, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    char buf[16][24] = {{0}};
    const int cnt = n < 0 ? 1 : n;
    for (int i = 0; i < cnt && i < 16; i++) snprintf(buf[i], sizeof buf[i], "%s", v[i]);
    H5Tset_size(t, fixed ? sizeof buf[0] : H5T_VARIABLE);
    H5Tset_cset(t, cset);
    hsize_t d = (hsize_t)cnt;
    hid_t s = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(f, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(a >= 0 && H5Awrite(a, t, fixed ? (const void *)buf : (const void *)v) >= 0, "write attr %s", name);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    H5Fclose(f);
}

static void set_int_attr(const char *path, const char *name, int64_t value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0, "open %s", path);
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    REQUIRE(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &value) >= 0, "write attr");
    H5Aclose(a);
    H5Fclose(f);
}

static void delete_link(const char *path, const char *name) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0 && H5Ldelete(f, name, H5P_DEFAULT) >= 0, "delete %s", name);
    H5Fclose(f);
}

static void replace_with_shape(const char *path, const char *name, hsize_t d0, hsize_t d1) {
    delete_link(path, name);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hsize_t dims[2] = {d0, d1};
    hid_t s = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(d >= 0, "create %s", name);
    H5Dclose(d);
    H5Sclose(s);
    H5Fclose(f);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/astromm_ds_XXXXXX");
    REQUIRE(mkdtemp(g_dir) != NULL, "mkdtemp");
    for (int c = 0; c < DS_META_COLS; c++) {
        g_mm[c] = 0.5f * (float)c;
        g_ms[c] = 1.0f + (float)c;
    }
    for (int c = 0; c < DS_PHOTO_COLS; c++) {
        g_pm[c] = -(float)c;
        g_ps[c] = 2.0f;
    }
    char good[128], bad[128], shards[128], s0[160], s1[160], cmd[512];
    snprintf(good, sizeof good, "%s/good.h5", g_dir);
    snprintf(bad, sizeof bad, "%s/bad.h5", g_dir);
    snprintf(shards, sizeof shards, "%s/shards", g_dir);
    AmError err = {{0}};

    // Round trip.
    REQUIRE(write_range(good, 0, N_OBJ, &err) == 0, "write: %s", err.msg);
    EXPECT(access(good, R_OK) == 0, "no file at %s", good);
    EXPECT(no_tmp_files(), "temporary file left behind");
    check_dataset(good, 0, N_OBJ);

    // Shards: a directory of complete datasets.
    REQUIRE(mkdir(shards, 0700) == 0, "mkdir %s", shards);
    snprintf(s0, sizeof s0, "%s/shard_00000.h5", shards);
    snprintf(s1, sizeof s1, "%s/shard_00001.h5", shards);
    REQUIRE(write_range(s0, 0, 6, &err) == 0, "write shard 0: %s", err.msg);
    REQUIRE(write_range(s1, 6, N_OBJ - 6, &err) == 0, "write shard 1: %s", err.msg);
    check_dataset(shards, 0, N_OBJ);

    // h5py reads the file directly.
    if (system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/reference/check_dataset_h5py.py %s %d", good, N_OBJ);
        EXPECT(system(cmd) == 0, "h5py check failed: %s", cmd);
    } else {
        printf("SKIP h5py cross-check: /usr/bin/python3 has no h5py (apt-get install python3-h5py)\n");
    }

    // String attributes in any of HDF5's forms (fixed or variable length,
    // ASCII or UTF-8) read the same.
    for (int form = 0; form < 4; form++) {
        const int fixed = form & 1;
        const H5T_cset_t cset = (form & 2) ? H5T_CSET_UTF8 : H5T_CSET_ASCII;
        const char *fmt = DS_FORMAT;
        copy_file(good, bad, -1);
        set_str_attr_as(bad, "format", &fmt, -1, fixed, cset);
        set_str_attr_as(bad, "classes", CLASSES, 10, fixed, cset);
        Dataset *ds = NULL;
        const char *const *names = NULL;
        int nc = 0;
        EXPECT(ds_open(bad, &ds, &err) == 0, "%s %s strings refused: %s", fixed ? "fixed" : "variable",
               form & 2 ? "UTF-8" : "ASCII", err.msg);
        if (ds) ds_classes(ds, &names, &nc);
        EXPECT(nc == 10 && !strcmp(names[9], CLASSES[9]), "classes read back (form %d)", form);
        ds_close(ds);
    }

    // Rejections.
    copy_file(good, bad, -1);
    set_str_attr(bad, "format", "something-else");
    expect_reject(bad, "/format", "wrong format");
    copy_file(good, bad, -1);
    set_int_attr(bad, "version", 2);
    expect_reject(bad, "/version", "wrong version");
    // A corrupt count is refused before anything is sized by it (2^39 objects
    // used to be a fatal out-of-memory exit; found by tests/fuzz/fuzz_dataset).
    copy_file(good, bad, -1);
    set_int_attr(bad, "n_objects", (int64_t)1 << 39);
    expect_reject(bad, "dataset /id has shape", "absurd /n_objects");
    copy_file(good, bad, -1);
    delete_link(bad, "spectra");
    expect_reject(bad, "missing dataset /spectra", "missing /spectra");
    copy_file(good, bad, -1);
    delete_link(bad, "photometry/offsets");
    expect_reject(bad, "missing dataset /photometry/offsets", "missing offsets");
    copy_file(good, bad, -1);
    delete_link(bad, "metadata");
    expect_reject(bad, "/metadata/", "missing metadata group");
    copy_file(good, bad, -1);
    replace_with_shape(bad, "metadata/raw", N_OBJ, 33);
    expect_reject(bad, "/metadata/raw", "wrong shape");
    FILE *fp = fopen(bad, "wb");
    REQUIRE(fp, "fopen");
    fputs("id,label\n1,2\n", fp);
    fclose(fp);
    expect_reject(bad, "not an HDF5 file", "text file");
    long full;
    fp = fopen(good, "rb");
    fseek(fp, 0, SEEK_END);
    full = ftell(fp);
    fclose(fp);
    copy_file(good, bad, full / 2);
    expect_reject(bad, bad, "truncated file");
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope.h5", g_dir);
    expect_reject(missing, "No such file", "nonexistent file");

    // Failed writes leave nothing at path.
    char fpath[160];
    snprintf(fpath, sizeof fpath, "%s/failed.h5", g_dir);
    DsWriter *w;
    static ObjBuf b;
    REQUIRE(ds_writer_open(fpath, N_OBJ, CLASSES, 10, &w, &err) == 0, "open: %s", err.msg);
    for (int i = 0; i < 3; i++) {
        make_obj(i, &b);
        REQUIRE(ds_writer_add(w, &b.o, &err) == 0, "add: %s", err.msg);
    }
    ds_writer_set_stats(w, g_mm, g_ms, g_pm, g_ps, &err);
    EXPECT(ds_writer_close(w, &err) != 0, "close with too few objects succeeded");
    EXPECT(strstr(err.msg, fpath) && strstr(err.msg, "3 objects"), "message: %s", err.msg);
    EXPECT(access(fpath, F_OK) != 0, "a file exists at %s after a failed write", fpath);
    EXPECT(no_tmp_files(), "temporary file left after failed close");

    REQUIRE(ds_writer_open(fpath, 2, CLASSES, 10, &w, &err) == 0, "open: %s", err.msg);
    make_obj(0, &b);
    b.o.label = 10;
    EXPECT(ds_writer_add(w, &b.o, &err) != 0, "label 10 accepted");
    make_obj(0, &b);
    b.o.spectrum = NULL;  // has[1] == 1 but no pointer
    EXPECT(ds_writer_add(w, &b.o, &err) != 0, "missing spectrum pointer accepted");
    make_obj(0, &b);
    EXPECT(ds_writer_add(w, &b.o, &err) == 0, "add: %s", err.msg);
    make_obj(1, &b);
    EXPECT(ds_writer_add(w, &b.o, &err) == 0, "add: %s", err.msg);
    EXPECT(ds_writer_close(w, &err) != 0 && strstr(err.msg, "set_stats"), "close without stats: %s", err.msg);
    EXPECT(access(fpath, F_OK) != 0, "a file exists at %s after close without stats", fpath);
    EXPECT(no_tmp_files(), "temporary file left after close without stats");

    REQUIRE(ds_writer_open(fpath, 2, CLASSES, 10, &w, &err) == 0, "open: %s", err.msg);
    ds_writer_abort(w);
    EXPECT(access(fpath, F_OK) != 0 && no_tmp_files(), "abort left files");

    // Another metadata width: named columns round-trip, statistics of that width;
    // bad column sets are refused.
    {
        static const char *const names[5] = {"lc_a", "lc_b", "lc_c", "lc_d", "lc_e"};
        const float mm[5] = {1, 2, 3, 4, 5}, ms[5] = {2, 2, 2, 2, 2};
        REQUIRE(ds_writer_open(fpath, 3, CLASSES, 10, &w, &err) == 0, "open: %s", err.msg);
        const char *dup[2] = {"x", "x"};
        EXPECT(ds_writer_set_meta_columns(w, dup, 2, &err) != 0 && strstr(err.msg, "twice"), "duplicate: %s", err.msg);
        EXPECT(ds_writer_set_meta_columns(w, names, DS_META_MAX + 1, &err) != 0, "65 columns accepted");
        REQUIRE(ds_writer_set_meta_columns(w, names, 5, &err) == 0, "set columns: %s", err.msg);
        for (int i = 0; i < 3; i++) {
            make_obj(i, &b);
            b.o.has[MOD_METADATA] = 1;
            for (int c = 0; c < DS_META_MAX; c++) b.o.meta[c] = c < 5 ? (float)(10 * i + c) : -1.0f;
            EXPECT(ds_writer_add(w, &b.o, &err) == 0, "add: %s", err.msg);
        }
        EXPECT(ds_writer_set_meta_columns(w, names, 4, &err) != 0 && strstr(err.msg, "before the first"),
               "columns changed after an object: %s", err.msg);
        EXPECT(ds_writer_set_stats(w, mm, ms, g_pm, g_ps, &err) == 0, "stats: %s", err.msg);
        REQUIRE(ds_writer_close(w, &err) == 0, "close: %s", err.msg);
        Dataset *ds = NULL;
        REQUIRE(ds_open(fpath, &ds, &err) == 0, "open narrow: %s", err.msg);
        EXPECT(ds_meta_cols(ds) == 5, "meta cols %d", ds_meta_cols(ds));
        for (int c = 0; c < 5 && ds_meta_cols(ds) == 5; c++)
            EXPECT(!strcmp(ds_meta_names(ds)[c], names[c]), "column %d named %s", c, ds_meta_names(ds)[c]);
        const float *gm, *gs;
        ds_stats(ds, &gm, &gs, NULL, NULL);
        EXPECT(!memcmp(gm, mm, sizeof mm) && !memcmp(gs, ms, sizeof ms), "narrow statistics differ");
        DsObject o;
        for (int i = 0; i < 3; i++) {
            REQUIRE(ds_get(ds, i, &o, &err) == 0, "get: %s", err.msg);
            int ok = 1;
            for (int c = 0; c < DS_META_MAX; c++) ok &= o.meta[c] == (c < 5 ? (float)(10 * i + c) : 0.0f);
            EXPECT(ok, "object %d: narrow metadata row differs", i);
        }
        ds_close(ds);
        remove(fpath);
    }

    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_dir);
    return tu_finish("test_dataset");
}
