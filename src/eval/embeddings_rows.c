// Row ranges and row lists of one embedding: see embeddings_rows.h.
#include "eval/embeddings_rows.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/format/dataset_h5.h"

struct EmbRows {
    hid_t file, dset, space;
    int64_t n;
    int dim;           // columns delivered (the first dim of the dataset's)
    char where[1200];  // "<path>: /embeddings/<slot>" for messages
};

// Opens dataset `name` of the file at path as rows [n, *width]: *width = -1
// takes the stored width, else it must be the stored width (exact = 1) or at
// most it (exact = 0: the first *width columns). absent_ok: a missing dataset
// is no error (returns 0 with *out = NULL).
static int open_rows(const char *path, const char *name, int64_t n, int *width, int exact, int absent_ok,
                     EmbRows **out, AmError *err) {
    *out = NULL;
    EmbRows *r = am_calloc(1, sizeof *r, "embedding rows");
    r->file = r->dset = r->space = -1;
    r->n = n;
    snprintf(r->where, sizeof r->where, "%s: /%s", path, name);
    H5Quiet q;
    h5_quiet_on(&q);
    int rank = 0, numeric = 0, absent = 0;
    hsize_t dims[4] = {0, 0, 0, 0};
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0) {
        am_error_set(err, "%s: cannot open (HDF5)", path);
    } else if (absent_ok) {  // each link of the path in turn: H5Lexists needs its parents
        char part[256];
        for (const char *c = strchr(name, '/');; c = strchr(c + 1, '/')) {
            snprintf(part, sizeof part, "%.*s", (int)(c ? (size_t)(c - name) : strlen(name)), name);
            if ((absent = H5Lexists(r->file, part, H5P_DEFAULT) <= 0) || !c) break;
        }
    }
    if (r->file >= 0 && !absent) r->dset = h5_open_dataset(r->file, path, name, &rank, dims, &numeric, err);
    h5_quiet_off(&q);
    if (absent) return emb_rows_close(r), 0;
    if (r->dset < 0) return emb_rows_close(r), 1;
    const int stored = rank == 2 ? (int)dims[1] : -1;
    if (*width < 0) *width = stored;
    r->dim = *width;
    if (rank != 2 || dims[0] != (hsize_t)n || !numeric || *width < 1 || (exact ? stored != *width : stored < *width)) {
        am_error_set(err, "%s: shape [%llu, %llu], expected float [%lld, %s%d]", r->where, (unsigned long long)dims[0],
                     (unsigned long long)dims[1], (long long)n, exact ? "" : ">= ", *width);
        return emb_rows_close(r), 1;
    }
    r->space = H5Dget_space(r->dset);
    *out = r;
    return 0;
}

int emb_rows_open(const char *path, const char *slot, int64_t n, int dim, EmbRows **out, AmError *err) {
    char name[96];
    snprintf(name, sizeof name, "embeddings/%s", slot);
    return open_rows(path, name, n, &dim, 1, 0, out, err);
}

int emb_rows_open_pca(const char *path, const char *slot, int64_t n, int cols, int *stored, EmbRows **out,
                      AmError *err) {
    char name[96];
    snprintf(name, sizeof name, "pca/%s/scores", slot);
    int w = -1;
    *stored = 0;
    EmbRows *all = NULL;
    if (open_rows(path, name, n, &w, 0, 1, &all, err)) return 1;
    if (!all) return *out = NULL, 0;
    *stored = w;
    emb_rows_close(all);
    if (w < cols) return *out = NULL, 0;
    return open_rows(path, name, n, &cols, 0, 0, out, err);
}

static int read_selected(EmbRows *r, hsize_t count, float *out, AmError *err) {
    const hsize_t mdims[2] = {count, (hsize_t)r->dim};
    hid_t ms = H5Screate_simple(2, mdims, NULL);
    const herr_t st = ms < 0 ? -1 : h5_read_floats(r->dset, ms, r->space, H5P_DEFAULT, (size_t)count * r->dim, out);
    if (ms >= 0) H5Sclose(ms);
    return st < 0 ? am_error_set(err, "%s: reading %llu rows failed (HDF5)", r->where, (unsigned long long)count) : 0;
}

int emb_rows_read_range(EmbRows *r, int64_t row0, int64_t count, float *out, AmError *err) {
    if (count == 0) return 0;
    if (row0 < 0 || count < 0 || row0 + count > r->n)
        return am_error_set(err, "%s: rows %lld..%lld outside 0..%lld", r->where, (long long)row0,
                            (long long)(row0 + count - 1), (long long)r->n - 1);
    const hsize_t start[2] = {(hsize_t)row0, 0}, cnt[2] = {(hsize_t)count, (hsize_t)r->dim};
    if (H5Sselect_hyperslab(r->space, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0)
        return am_error_set(err, "%s: selecting rows failed (HDF5)", r->where);
    return read_selected(r, (hsize_t)count, out, err);
}

int emb_rows_read_list(EmbRows *r, const int64_t *rows, int64_t count, float *out, AmError *err) {
    // One hyperslab per row, read one at a time: HDF5 returns a union of
    // selections in file order, not the caller's, and rows may repeat.
    for (int64_t i = 0; i < count; i++)
        if (emb_rows_read_range(r, rows[i], 1, out + (size_t)i * r->dim, err)) return 1;
    return 0;
}

void emb_rows_close(EmbRows *r) {
    if (!r) return;
    if (r->space >= 0) H5Sclose(r->space);
    if (r->dset >= 0) H5Dclose(r->dset);
    if (r->file >= 0) H5Fclose(r->file);
    free(r);
}
