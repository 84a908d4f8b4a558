// libFuzzer target: ds_open / ds_get (src/data/format/dataset.c, dataset_h5.c), the
// validation of an astromm dataset file's attributes, dataset types, shapes
// and contents. The input is not an HDF5 image (random bytes would mostly test
// libhdf5's own parser, which is not ours to fix) but a recipe: for every
// attribute and dataset of docs/data-format.md it picks present or absent,
// the right or a wrong type class, storage type, rank or shape, and the
// values, then builds that file with libhdf5 and opens it with the reader.
// Checked: an accepted file agrees with the recipe (count, classes) and every
// object reads back with in-range fields; a refused one says why
// (FUZZ_VERBOSE=1 in the environment prints it, to check what a seed reaches).
#include "fuzz_util.h"

#include <hdf5.h>
#include <string.h>

#include "data/format/dataset.h"

// ------------------------------------------------------------------ recipe bytes
typedef struct {
    const uint8_t *p, *end;
} Recipe;

static unsigned take(Recipe *r) { return r->p < r->end ? *r->p++ : 0; }

static uint64_t take_u64(Recipe *r, int nbytes) {
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++) v = v << 8 | take(r);
    return v;
}

static void take_bytes(Recipe *r, void *dst, size_t n) {
    size_t have = (size_t)(r->end - r->p) < n ? (size_t)(r->end - r->p) : n;
    memcpy(dst, r->p, have);
    memset((char *)dst + have, 0, n - have);
    r->p += have;
}

// Mostly the valid choice (0), so the reader gets past the early checks.
static unsigned take_mode(Recipe *r, unsigned n_modes) {
    unsigned b = take(r);
    return b < 160 ? 0 : 1 + (b - 160) % (n_modes - 1);
}

// ------------------------------------------------------------------ attributes
static void put_str_attr(hid_t loc, const char *name, Recipe *r, const char *valid) {
    char text[4][24];
    int n = -1;  // scalar
    int fixed = 0;
    snprintf(text[0], sizeof text[0], "%s", valid);
    switch (take_mode(r, 6)) {
    case 0: break;
    case 1: return;  // absent
    case 2: fixed = 1; break;
    case 3:  // other text, vlen or fixed
        take_bytes(r, text[0], sizeof text[0] - 1);
        text[0][sizeof text[0] - 1] = '\0';
        fixed = take(r) & 1;
        break;
    case 4: {  // 1-D array of 0..4 strings
        n = (int)(take(r) % 5);
        fixed = take(r) & 1;
        for (int i = 0; i < n; i++) {
            take_bytes(r, text[i], sizeof text[i] - 1);
            text[i][sizeof text[i] - 1] = '\0';
            if (take(r) & 1) snprintf(text[i], sizeof text[i], "%s", valid);
        }
        break;
    }
    case 5: {  // not a string
        hid_t s = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(loc, name, H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
        int v = 1;
        H5Awrite(a, H5T_NATIVE_INT, &v);
        H5Aclose(a);
        H5Sclose(s);
        return;
    }
    }
    hsize_t d = (hsize_t)(n < 0 ? 1 : n);
    hid_t s = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
    hid_t t = H5Tcopy(H5T_C_S1);
    if (fixed) {
        H5Tset_size(t, sizeof text[0]);
        H5Tset_strpad(t, (take(r) & 1) ? H5T_STR_NULLPAD : H5T_STR_NULLTERM);
    } else {
        H5Tset_size(t, H5T_VARIABLE);
    }
    H5Tset_cset(t, (take(r) & 1) ? H5T_CSET_ASCII : H5T_CSET_UTF8);  // h5py: bytes / str
    hid_t a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (fixed) {
        H5Awrite(a, t, text);
    } else {
        const char *ptrs[4] = {text[0], text[1], text[2], text[3]};
        H5Awrite(a, t, ptrs);
    }
    H5Aclose(a);
    H5Tclose(t);
    H5Sclose(s);
}

// The classes attribute: 1-D array of nc strings (vlen).
static int put_classes(hid_t loc, Recipe *r) {
    static const char *const names[5] = {"EW", "SR", "M", "RRAB", "ROT"};
    unsigned m = take_mode(r, 4);
    if (m == 1) return 0;  // absent
    int nc = m == 2 ? (int)(take(r) % 6) : 1 + (int)(take(r) % 5);
    hsize_t d = (hsize_t)nc;
    hid_t s = m == 3 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
    if (m == 3) nc = 1;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, (take(r) & 1) ? H5T_CSET_ASCII : H5T_CSET_UTF8);
    hid_t a = H5Acreate2(loc, "classes", t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, names);
    H5Aclose(a);
    H5Tclose(t);
    H5Sclose(s);
    return nc;
}

// Returns the value written (what the reader should see if it accepts it).
static int64_t put_int_attr(hid_t loc, const char *name, Recipe *r, int64_t valid) {
    int64_t v = valid;
    hid_t ftype = H5T_STD_I64LE;
    hsize_t d = 2;
    int vec = 0;
    switch (take_mode(r, 6)) {
    case 0: break;
    case 1: return -1;
    case 2: v = (int64_t)take_u64(r, 8); break;   // any value
    case 3: ftype = H5T_STD_U8LE; v = take(r); break;  // another integer type
    case 4: ftype = H5T_IEEE_F64LE; break;             // not an integer
    case 5: vec = 1; break;                            // not a scalar
    }
    hid_t s = vec ? H5Screate_simple(1, &d, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT);
    int64_t vv[2] = {v, v};
    H5Awrite(a, H5T_NATIVE_INT64, vv);
    H5Aclose(a);
    H5Sclose(s);
    return v;
}

// ------------------------------------------------------------------ datasets
// Writes dataset `name` of type class cls (integer / float) and dims; the
// recipe may drop it, change its class, storage type, rank or one dimension.
// vals: the values (as int64 or double, per cls), dims product of them.
static void put_dataset(hid_t file, const char *name, int is_float, int rank, const hsize_t *dims_in,
                        const void *vals, Recipe *r) {
    hsize_t dims[3];
    memcpy(dims, dims_in, (size_t)rank * sizeof *dims);
    hid_t ftype = is_float ? H5T_IEEE_F32LE : H5T_STD_I64LE;
    switch (take_mode(r, 6)) {
    case 0: break;
    case 1: return;                                              // absent
    case 2: ftype = is_float ? H5T_STD_I32LE : H5T_IEEE_F64LE; break;  // wrong class
    case 3: ftype = is_float ? H5T_IEEE_F64BE : H5T_STD_I8LE; break;   // other storage type (converted)
    case 4: rank = rank == 1 ? 2 : rank - 1; dims[rank - 1] = rank == 2 ? 1 : dims[rank - 1]; break;  // rank
    case 5: dims[take(r) % (unsigned)rank] += (take(r) & 1) ? 1 : (hsize_t)-1; break;  // one dimension off
    }
    hsize_t n = 1;
    for (int k = 0; k < rank; k++) {
        if (dims[k] > 64) dims[k] = 0;  // a wrapped "- 1": empty instead
        n *= dims[k];
    }
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(file, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0 && n > 0) {
        // vals holds at least as many values as the valid shape; a grown
        // dimension reads the recipe's values again from the start.
        H5Dwrite(d, is_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, vals);
    }
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
}

enum { MAX_N = 6, MAX_ROWS = 40 };

// Everything docs/data-format.md lists, in the reader's order. *n_out: the
// n_objects attribute as written; *nc_out: the number of classes.
static void build(hid_t f, Recipe *r, int64_t *n_out, int *nc_out) {
    const int n = 1 + (int)(take(r) % MAX_N);
    put_str_attr(f, "format", r, DS_FORMAT);
    put_int_attr(f, "version", r, DS_VERSION);
    *n_out = put_int_attr(f, "n_objects", r, n);
    *nc_out = put_classes(f, r);
    hid_t gm = H5Gcreate2(f, "metadata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t gp = H5Gcreate2(f, "photometry", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);

    // Values sized for the largest shape a grown dimension can ask for.
    static int64_t iv[(MAX_N + 2) * (DS_META_COLS + 1)];
    static double fv[(MAX_N + 2) * (DS_META_COLS + 1) * 3];
    static int64_t offsets[MAX_N + 2];
    for (size_t i = 0; i < sizeof fv / sizeof *fv; i++) fv[i] = (double)(int8_t)take(r) / 4.0;
    // Integers: small values around the valid range (labels -1..5, split 0..3, has 0..2).
    for (size_t i = 0; i < sizeof iv / sizeof *iv; i++) iv[i] = (int64_t)(take(r) % 7) - 1;
    // Offsets: non-decreasing from 0 unless the recipe says otherwise.
    offsets[0] = 0;
    for (int i = 1; i < MAX_N + 2; i++) offsets[i] = offsets[i - 1] + (int64_t)(take(r) % 8);
    if (take(r) == 255) offsets[take(r) % (MAX_N + 2)] = (int64_t)take_u64(r, 8);
    const int64_t rows = offsets[n] <= MAX_ROWS ? offsets[n] : MAX_ROWS;

    const hsize_t d1[1] = {(hsize_t)n}, dh[2] = {(hsize_t)n, MOD_COUNT}, doff[1] = {(hsize_t)n + 1},
                  ds2[2] = {(hsize_t)n, 2}, dp[2] = {(hsize_t)n, DS_PHOTO_COLS}, dsp[1] = {DS_PHOTO_COLS},
                  dm[2] = {(hsize_t)n, DS_META_COLS}, dsm[1] = {DS_META_COLS},
                  dv[2] = {(hsize_t)rows, DS_LC_VALUES};
    put_dataset(f, "id", 0, 1, d1, iv, r);
    put_dataset(f, "label", 0, 1, d1, iv, r);
    put_dataset(f, "split", 0, 1, d1, iv, r);
    put_dataset(f, "has", 0, 2, dh, iv, r);
    put_dataset(f, "photometry/offsets", 0, 1, doff, offsets, r);
    put_dataset(f, "photometry/scalars", 1, 2, ds2, fv, r);
    put_dataset(f, "photometry/photo_columns", 1, 2, dp, fv, r);
    put_dataset(f, "photometry/photo_mean", 1, 1, dsp, fv, r);
    put_dataset(f, "photometry/photo_std", 1, 1, dsp, fv, r);
    put_dataset(f, "metadata/raw", 1, 2, dm, fv, r);
    put_dataset(f, "metadata/mean", 1, 1, dsm, fv, r);
    put_dataset(f, "metadata/std", 1, 1, dsm, fv, r);
    if (take(r) & 1) put_dataset(f, "subset", 0, 1, d1, iv, r);
    put_str_attr(gm, "stats_split", r, "train");
    put_str_attr(gp, "stats_split", r, "train");
    put_dataset(f, "photometry/values", 1, 2, dv, fv, r);
    // Spectra: chunked and never written, so they read as zeros and cost no
    // time; only their type and shape matter to ds_open.
    hsize_t dsp3[3] = {(hsize_t)n, 3, SPEC_LEN};
    unsigned sm = take_mode(r, 3);
    if (sm == 2) dsp3[2] = SPEC_LEN - 1;
    const hsize_t chunk[3] = {1, 3, dsp3[2]};
    if (sm != 1) {
        hid_t s = H5Screate_simple(3, dsp3, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(pl, 3, chunk);
        hid_t d = H5Dcreate2(f, "spectra", H5T_IEEE_F32LE, s, H5P_DEFAULT, pl, H5P_DEFAULT);
        if (d >= 0) H5Dclose(d);
        H5Pclose(pl);
        H5Sclose(s);
    }
    H5Gclose(gm);
    H5Gclose(gp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);  // the recipe makes HDF5 refuse things on purpose
        // Let HDF5's free lists keep every block: each file open allocates a
        // metadata cache of a few MB, and handing it back to the (ASan)
        // allocator every time made page faults most of the run time.
        H5set_free_list_limits(-1, -1, -1, -1, -1, -1);
        init = 1;
    }
    const char *path = fz_path(".h5");
    Recipe r = {data, data + size};
    // The core driver builds the file in memory and writes it once at close.
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 1);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    FZ_ASSERT(f >= 0);
    int64_t n = 0;
    int nc = 0;
    build(f, &r, &n, &nc);
    FZ_ASSERT(H5Fclose(f) >= 0);

    Dataset *ds = NULL;
    AmError err = {{0}};
    if (ds_open(path, &ds, &err) != 0) {
        if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "refused: %s\n", err.msg);  // to check a seed
        FZ_ASSERT(ds == NULL && err.msg[0]);
        return 0;
    }
    FZ_ASSERT(ds_count(ds) == n);
    const char *const *names;
    int n_classes = 0;
    ds_classes(ds, &names, &n_classes);
    FZ_ASSERT(n_classes == nc && n_classes >= 1);
    for (int64_t i = 0; i < n; i++) {
        DsObject o;
        if (ds_get(ds, i, &o, &err) != 0) {
            FZ_ASSERT(err.msg[0]);
            continue;
        }
        FZ_ASSERT(o.label >= -1 && o.label < n_classes && o.split <= DS_SPLIT_TEST);
        FZ_ASSERT(o.has[MOD_PHOTOMETRY] ? o.lc.n >= 1 && o.lc.t01 : o.lc.n == 0);
        FZ_ASSERT(o.has[MOD_SPECTRA] ? o.spectrum != NULL : o.spectrum == NULL);
    }
    DsObject o;
    FZ_ASSERT(ds_get(ds, n, &o, &err) != 0 && ds_get(ds, -1, &o, &err) != 0);
    ds_close(ds);
    return 0;
}
