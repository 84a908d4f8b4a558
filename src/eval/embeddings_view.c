// One embedding of any HDF5 file laid out like an embeddings file
// (emb_read_view, embeddings_file.h): what astromm map reads.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/format/dataset_h5.h"
#include "eval/embeddings_file.h"

// ------------------------------------------------------------------ one embedding of any file
// Opens `name` of a file that may not be astromm's: it must exist, have the
// rank and be numeric; dims out.
static hid_t open_view_ds(hid_t f, const char *file, const char *name, int rank, hsize_t *dims, AmError *err) {
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return am_error_set(err, "%s: no dataset %s", file, name), -1;
    int r = 0, numeric = 0;
    hsize_t d[4] = {0, 0, 0, 0};
    hid_t ds = h5_open_dataset(f, file, name, &r, d, &numeric, err);
    if (ds < 0) return -1;
    if (r != rank || !numeric) {
        if (r != rank) am_error_set(err, "%s: dataset %s has rank %d, expected %d", file, name, r, rank);
        else am_error_set(err, "%s: dataset %s is not numeric", file, name);
        h5_close_id(&ds);
        return -1;
    }
    for (int i = 0; i < rank; i++) dims[i] = d[i];
    return ds;
}

// "photometry, spectra, ..." : the datasets under /embeddings, for messages.
static void list_embeddings(hid_t f, char *names, size_t cap) {
    names[0] = '\0';
    hid_t gr = H5Gopen2(f, "/embeddings", H5P_DEFAULT);
    H5G_info_t gi;
    if (gr >= 0 && H5Gget_info(gr, &gi) >= 0)
        for (hsize_t i = 0; i < gi.nlinks; i++) {
            char nm[64];
            if (H5Lget_name_by_idx(gr, ".", H5_INDEX_NAME, H5_ITER_INC, i, nm, sizeof nm, H5P_DEFAULT) < 0) break;
            size_t l = strlen(names);
            snprintf(names + l, cap - l, "%s%s", l ? ", " : "", nm);
        }
    h5_close_id(&gr);
}

// The /has column of embedding `name`: its place in the root attribute
// modalities where the file has one, else its modality's index; -1 (any
// column) past the columns, as for "fused".
static int has_column(hid_t f, const char *file, const char *name, int cols) {
    int col = -1;
    char **strs = NULL;
    int ns = 0;
    AmError e = {{0}};
    if (H5Aexists(f, "modalities") > 0 && !h5_read_str_attr(f, file, "/", "modalities", &strs, &ns, &e)) {
        for (int i = 0; i < ns; i++)
            if (!strcmp(strs[i], name)) col = i;
        h5_free_strs(strs, ns);
    } else {
        col = modality_from_name(name);
    }
    return col < cols ? col : -1;
}

// The rows that have embedding `name` (has column col; any column for -1),
// compacted in place; a kept row with a non-finite value is an error.
static int keep_rows(EmbView *v, const uint8_t *has, int cols, int col, const char *file, const char *path,
                     AmError *err) {
    const size_t n = v->n_file, d = v->d;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (has) {
            const uint8_t *h = has + (size_t)cols * i;
            int any = 0;
            for (int c = 0; c < cols; c++) any |= h[c];
            if (col >= 0 ? !h[col] : !any) continue;
        }
        for (size_t j = 0; j < d; j++)
            if (!isfinite(v->x[i * d + j]))
                return am_error_set(err, "%s: %s row %zu (id %lld) has a non-finite value in column %zu", file, path, i,
                                    (long long)v->id[i], j);
        if (m != i) {
            memmove(v->x + m * d, v->x + i * d, d * sizeof *v->x);
            v->id[m] = v->id[i];
            v->label[m] = v->label[i];
        }
        m++;
    }
    v->n = m;
    return 0;
}

// /label, or -1 for every row when absent.
static int read_view_labels(hid_t f, const char *file, const char *path, EmbView *v, AmError *err) {
    const size_t n = v->n_file;
    v->label = am_malloc(n * sizeof *v->label, "labels");
    if (H5Lexists(f, "/label", H5P_DEFAULT) <= 0) {
        for (size_t i = 0; i < n; i++) v->label[i] = -1;
        return 0;
    }
    hsize_t d1[1];
    hid_t ds = open_view_ds(f, file, "/label", 1, d1, err);
    if (ds < 0) return 1;
    int rc = d1[0] != n ? am_error_set(err, "%s: /label has %llu rows but %s has %zu", file,
                                       (unsigned long long)d1[0], path, n)
                        : h5_read_whole(ds, H5T_NATIVE_INT32, v->label, file, "/label", err) != 0;
    h5_close_id(&ds);
    return rc;
}

// /has [n, cols] into *has (NULL when the file has none).
static int read_view_has(hid_t f, const char *file, size_t n, uint8_t **has, int *cols, AmError *err) {
    *has = NULL;
    *cols = 0;
    if (H5Lexists(f, "/has", H5P_DEFAULT) <= 0) return 0;
    hsize_t d1[2];
    hid_t ds = open_view_ds(f, file, "/has", 2, d1, err);
    if (ds < 0) return 1;
    int rc = 0;
    if (d1[0] != n || d1[1] < 1 || d1[1] > 64) {
        rc = am_error_set(err, "%s: /has has shape [%llu, %llu], expected [%zu, 1..64]", file, (unsigned long long)d1[0],
                          (unsigned long long)d1[1], n);
    } else {
        *cols = (int)d1[1];
        *has = am_malloc(n * (size_t)*cols, "has");
        rc = h5_read_whole(ds, H5T_NATIVE_UINT8, *has, file, "/has", err) != 0;
    }
    h5_close_id(&ds);
    return rc;
}

// The embedding matrix and the ids.
static int read_view_matrix(hid_t f, const char *file, const char *path, EmbView *v, AmError *err) {
    hsize_t dims[2];
    hid_t ds = open_view_ds(f, file, path, 2, dims, err);
    if (ds < 0) return 1;
    const size_t n = (size_t)dims[0], d = (size_t)dims[1];
    int rc = 0;
    if (n == 0 || d == 0) {
        rc = am_error_set(err, "%s: dataset %s is empty [%zu, %zu]", file, path, n, d);
    } else {
        v->n_file = n, v->d = d;
        v->x = am_malloc(n * d * sizeof *v->x, "embeddings");
        rc = h5_read_whole(ds, H5T_NATIVE_FLOAT, v->x, file, path, err) != 0;
    }
    h5_close_id(&ds);
    if (rc) return rc;
    hsize_t d1[1];
    if ((ds = open_view_ds(f, file, "/id", 1, d1, err)) < 0) return 1;
    if (d1[0] != n) {
        rc = am_error_set(err, "%s: /id has %llu rows but %s has %zu", file, (unsigned long long)d1[0], path, n);
    } else {
        v->id = am_malloc(n * sizeof *v->id, "ids");
        rc = h5_read_whole(ds, H5T_NATIVE_INT64, v->id, file, "/id", err) != 0;
    }
    h5_close_id(&ds);
    return rc;
}

int emb_read_view(const char *file, const char *name, EmbView *v, AmError *err) {
    memset(v, 0, sizeof *v);
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = 1, cols = 0;
    uint8_t *has = NULL;
    char path[300];
    snprintf(path, sizeof path, "/embeddings/%s", name);
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        FILE *probe = fopen(file, "rb");
        if (!probe) am_error_set(err, "%s: cannot open: %s", file, strerror(errno));
        else fclose(probe), h5_fail(err, file, "not a readable HDF5 file");
    } else if (H5Lexists(f, "/embeddings", H5P_DEFAULT) <= 0) {
        am_error_set(err, "%s: no group /embeddings (not written by astromm embed?)", file);
    } else if (H5Lexists(f, path, H5P_DEFAULT) <= 0) {
        char names[256];
        list_embeddings(f, names, sizeof names);
        am_error_set(err, "%s: no dataset %s (--embedding; the file has: %s)", file, path, names[0] ? names : "none");
    } else if (!read_view_matrix(f, file, path, v, err) && !read_view_labels(f, file, path, v, err) &&
               !read_view_has(f, file, v->n_file, &has, &cols, err) &&
               !(H5Aexists(f, "classes") > 0 &&
                 h5_read_str_attr(f, file, "/", "classes", &v->classes, &v->n_classes, err)) &&
               !keep_rows(v, has, cols, has_column(f, file, name, cols), file, path, err)) {
        rc = 0;
    }
    h5_close_id(&f);
    h5_quiet_off(&q);
    free(has);
    if (rc) emb_view_free(v);
    return rc;
}

const char *emb_view_class(const EmbView *v, int32_t label) {
    return label >= 0 && label < v->n_classes ? v->classes[label] : "";
}

void emb_view_free(EmbView *v) {
    free(v->x);
    free(v->id);
    free(v->label);
    h5_free_strs(v->classes, v->n_classes);
    memset(v, 0, sizeof *v);
}
