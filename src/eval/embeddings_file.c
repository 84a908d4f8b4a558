// The astromm embeddings file: parallel writer and serial reader (see embeddings_file.h).
#define _POSIX_C_SOURCE 200809L

#include "eval/embeddings_file.h"

#include "core/half.h"
#include "eval/embeddings_pca.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/format/dataset.h"
#include "data/format/dataset_h5.h"
#include "mpi/comm_mpi.h"
#include "io/output_path.h"

const char *emb_astrom3_slot_name(int slot) { return slot == EMB_FUSED ? "fused" : modality_name(slot); }

int emb_split_parse(const char *name) {
    if (!name) return -2;
    if (!strcmp(name, "train")) return DS_SPLIT_TRAIN;
    if (!strcmp(name, "val")) return DS_SPLIT_VAL;
    if (!strcmp(name, "test")) return DS_SPLIT_TEST;
    if (!strcmp(name, "all")) return -1;
    return -2;
}

const char *emb_split_name(int split) {
    switch (split) {
    case DS_SPLIT_TRAIN: return "train";
    case DS_SPLIT_VAL: return "val";
    case DS_SPLIT_TEST: return "test";
    default: return "all";
    }
}

// ------------------------------------------------------------------ per-object datasets

typedef struct {
    const char *name;
    hid_t ftype, mtype;
    int cols;    // 0: [N]; >0: [N, cols]; -1: [N, dim]
    size_t elem;
} Field;

enum { F_ID, F_LABEL, F_SPLIT, F_HAS, F_INDEX, F_EMB0, F_MAX = F_EMB0 + EMB_MAX_SLOTS };

// "embeddings/<slot>" per slot: the dataset paths of a file's embeddings.
typedef char SlotPath[EMB_SLOT_NAME_MAX + 16];

// The datasets of a file with n_slots embeddings and n_has /has columns;
// returns their count. paths[s] must outlive f.
static int fields(Field *f, const char (*names)[EMB_SLOT_NAME_MAX], int n_slots, int n_has, SlotPath *paths) {
    f[F_ID] = (Field){"id", H5T_STD_I64LE, H5T_NATIVE_INT64, 0, 8};
    f[F_LABEL] = (Field){"label", H5T_STD_I32LE, H5T_NATIVE_INT32, 0, 4};
    f[F_SPLIT] = (Field){"split", H5T_STD_U8LE, H5T_NATIVE_UINT8, 0, 1};
    f[F_HAS] = (Field){"has", H5T_STD_U8LE, H5T_NATIVE_UINT8, n_has, 1};
    f[F_INDEX] = (Field){"index", H5T_STD_I64LE, H5T_NATIVE_INT64, 0, 8};
    for (int m = 0; m < n_slots; m++) {
        snprintf(paths[m], sizeof paths[m], "embeddings/%s", names[m]);
        f[F_EMB0 + m] = (Field){paths[m], H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, -1, 4};
    }
    return F_EMB0 + n_slots;
}

// A slot name: 1..EMB_SLOT_NAME_MAX-1 characters of [a-z0-9_].
static int slot_name_ok(const char *s) {
    const size_t l = strlen(s);
    if (l < 1 || l >= EMB_SLOT_NAME_MAX) return 0;
    for (size_t i = 0; i < l; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
    return 1;
}

static hsize_t field_cols(const Field *f, int dim) { return f->cols < 0 ? (hsize_t)dim : (hsize_t)f->cols; }

// ------------------------------------------------------------------ writer

struct EmbWriter {
    Comm *comm;
    MPI_Comm mpi;
    int rank;
    char *path, *tmp;
    hid_t file, dxpl;
    hid_t dset[F_MAX];
    int n_fields, n_slots, n_has;
    char names[EMB_MAX_SLOTS][EMB_SLOT_NAME_MAX];
    SlotPath paths[EMB_MAX_SLOTS];
    Field f[F_MAX];
    int64_t n;
    int dim;
    int failed;
    hid_t f16;  // the float16 file type (EMB_STORAGE_FLOAT16), else -1
    EmbPca *pca;  // the PCA copy (info->pca > 0), else NULL
    H5Quiet quiet;
};

static int write_attrs(EmbWriter *w, const EmbFileInfo *info) {
    const char *fmt = EMB_FORMAT;
    const int32_t version = EMB_VERSION, dim = info->dim;
    const int32_t normalized = info->normalized != 0 && info->storage != EMB_STORAGE_FLOAT16;
    const char *storage = info->storage == EMB_STORAGE_FLOAT16 ? "float16" : "float32";
    const int64_t n = info->n;
    const char *ck = info->checkpoint ? info->checkpoint : "", *ds = info->dataset ? info->dataset : "";
    const char *mods[EMB_MAX_SLOTS];
    for (int m = 0; m < w->n_slots; m++) mods[m] = w->names[m];
    if (h5_write_str_attr(w->file, "format", &fmt, -1)) return -1;
    if (h5_write_num_attr(w->file, "version", H5T_STD_I32LE, H5T_NATIVE_INT32, &version)) return -1;
    if (h5_write_num_attr(w->file, "n_objects", H5T_STD_I64LE, H5T_NATIVE_INT64, &n)) return -1;
    if (h5_write_num_attr(w->file, "dim", H5T_STD_I32LE, H5T_NATIVE_INT32, &dim)) return -1;
    if (h5_write_str_attr(w->file, "classes", info->classes, info->n_classes)) return -1;
    if (h5_write_str_attr(w->file, "modalities", mods, w->n_slots)) return -1;
    if (h5_write_num_attr(w->file, "normalized", H5T_STD_I32LE, H5T_NATIVE_INT32, &normalized)) return -1;
    if (h5_write_str_attr(w->file, "checkpoint", &ck, -1)) return -1;
    if (h5_write_str_attr(w->file, "dataset", &ds, -1)) return -1;
    if (h5_write_str_attr(w->file, "storage", &storage, -1)) return -1;
    return 0;
}

static void writer_free(EmbWriter *w) {
    for (int i = 0; i < F_MAX; i++) h5_close_id(&w->dset[i]);
    h5_close_id(&w->f16);
    emb_pca_free(w->pca);
    h5_close_id(&w->dxpl);
    h5_close_id(&w->file);
    if (w->mpi != MPI_COMM_NULL) MPI_Comm_free(&w->mpi);
    h5_quiet_off(&w->quiet);
    free(w->path);
    free(w->tmp);
    free(w);
}

int emb_writer_open(const char *path, Comm *comm, const EmbFileInfo *info, EmbWriter **out, AmError *err) {
    *out = NULL;
    if (output_path_check(path, err)) return 1;
    if (info->n < 1 || info->dim < 1 || info->n_classes < 0)
        return am_error_set(err, "%s: nothing to write (%lld objects, dimension %d)", path, (long long)info->n,
                            info->dim);
    if (info->pca < 0 || info->pca > info->dim)
        return am_error_set(err, "%s: a PCA copy of %d components of %d-d embeddings (embed.pca: 0 .. the dimension)",
                            path, info->pca, info->dim);
    if (info->storage != EMB_STORAGE_FLOAT32 && info->storage != EMB_STORAGE_FLOAT16)
        return am_error_set(err, "%s: unknown storage type %d (float32 or float16)", path, info->storage);
    if (info->n_slots < 1 || info->n_slots > EMB_MAX_SLOTS || info->n_has < 1 || info->n_has > info->n_slots)
        return am_error_set(err, "%s: %d embeddings with %d presence columns (1..%d, at most one column each)", path,
                            info->n_slots, info->n_has, EMB_MAX_SLOTS);
    for (int m = 0; m < info->n_slots; m++) {
        if (!slot_name_ok(info->slot_names[m]))
            return am_error_set(err, "%s: embedding name '%s' is not 1..%d characters of a-z, 0-9, _", path,
                                info->slot_names[m], EMB_SLOT_NAME_MAX - 1);
        for (int j = 0; j < m; j++)
            if (!strcmp(info->slot_names[j], info->slot_names[m]))
                return am_error_set(err, "%s: embedding name '%s' given twice", path, info->slot_names[m]);
    }
    EmbWriter *w = am_calloc(1, sizeof *w, "embeddings writer");
    w->comm = comm;
    w->rank = comm_rank(comm);
    w->n = info->n;
    w->dim = info->dim;
    w->n_slots = info->n_slots;
    w->n_has = info->n_has;
    for (int m = 0; m < w->n_slots; m++) snprintf(w->names[m], sizeof w->names[m], "%s", info->slot_names[m]);
    w->n_fields = fields(w->f, (const char (*)[EMB_SLOT_NAME_MAX])w->names, w->n_slots, w->n_has, w->paths);
    w->file = w->dxpl = w->f16 = -1;
    if (info->pca > 0) w->pca = emb_pca_new(info->pca, info->n, info->dim, info->n_slots, info->n_has);
    if (info->storage == EMB_STORAGE_FLOAT16) {
        w->f16 = h5_float16_type();
        for (int m = 0; m < w->n_slots; m++) w->f[F_EMB0 + m].ftype = w->f[F_EMB0 + m].mtype = w->f16;
    }
    for (int i = 0; i < F_MAX; i++) w->dset[i] = -1;
    h5_quiet_on(&w->quiet);
    w->mpi = comm_mpi_dup(comm);
    const size_t pl = strlen(path);
    w->path = am_strdup(path, "path");
    w->tmp = am_malloc(pl + 40, "path");
    long pid = (long)getpid();
    comm_broadcast(comm, &pid, sizeof pid, 0);
    snprintf(w->tmp, pl + 40, "%s.tmp.%ld", path, pid);

    int fail = w->mpi == MPI_COMM_NULL;
    hid_t fapl = -1;
    if (!fail) {
        fapl = H5Pcreate(H5P_FILE_ACCESS);
        fail = fapl < 0 || H5Pset_fapl_mpio(fapl, w->mpi, MPI_INFO_NULL) < 0 ||
               H5Pset_all_coll_metadata_ops(fapl, 1) < 0 || H5Pset_coll_metadata_write(fapl, 1) < 0;
    }
    if (!fail) {
        w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        fail = w->file < 0;
        if (fail) h5_fail(err, w->tmp, "cannot create file (is the directory writable?)");
    } else {
        h5_fail(err, w->tmp, "cannot set up the MPI-IO file driver");
    }
    h5_close_id(&fapl);
    if (comm_any_failed(comm, fail)) {
        if (!fail) am_error_set(err, "%s: cannot create the file on another rank", w->tmp);
        h5_close_id(&w->file);
        if (w->rank == 0) remove(w->tmp);
        writer_free(w);
        return 1;
    }
    fail = write_attrs(w, info) != 0;
    if (fail) h5_fail(err, w->tmp, "cannot write root attributes");
    hid_t g = -1;
    if (!fail) {
        g = H5Gcreate2(w->file, "embeddings", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        fail = g < 0;
        if (fail) h5_fail(err, w->tmp, "cannot create group /embeddings");
    }
    h5_close_id(&g);
    const Field *f = w->f;
    for (int i = 0; i < w->n_fields && !fail; i++) {
        hsize_t d[2] = {(hsize_t)w->n, field_cols(&f[i], w->dim)};
        hid_t s = H5Screate_simple(f[i].cols ? 2 : 1, d, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (s >= 0 && dcpl >= 0) H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
        w->dset[i] = s < 0 || dcpl < 0 ? -1 : H5Dcreate2(w->file, f[i].name, f[i].ftype, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        h5_close_id(&dcpl);
        h5_close_id(&s);
        if (w->dset[i] < 0) {
            char what[96];
            snprintf(what, sizeof what, "cannot create dataset /%s", f[i].name);
            h5_fail(err, w->tmp, what);
            fail = 1;
        }
    }
    if (!fail) {
        w->dxpl = H5Pcreate(H5P_DATASET_XFER);
        fail = w->dxpl < 0 || H5Pset_dxpl_mpio(w->dxpl, H5FD_MPIO_COLLECTIVE) < 0;
        if (fail) h5_fail(err, w->tmp, "cannot set collective transfers");
    }
    if (comm_any_failed(comm, fail)) {
        if (!fail) am_error_set(err, "%s: set-up failed on another rank", w->tmp);
        w->failed = 1;
        emb_writer_close(w, 0, NULL);
        return 1;
    }
    *out = w;
    return 0;
}

int emb_writer_write(EmbWriter *w, int64_t row0, int64_t nrows, const int64_t *id, const int32_t *label,
                     const uint8_t *split, const uint8_t *has, const int64_t *index, const float *const *emb,
                     AmError *err) {
    const Field *f = w->f;
    const void *src[F_MAX] = {id, label, split, has, index};
    for (int m = 0; m < w->n_slots; m++) src[F_EMB0 + m] = emb[m];
    if (nrows < 0 || row0 < 0 || row0 + nrows > w->n) {
        w->failed = 1;
        am_error_set(err, "%s: rows %lld..%lld outside the file's %lld rows", w->tmp, (long long)row0,
                     (long long)(row0 + nrows), (long long)w->n);
        nrows = 0;  // still take part in the collective writes
    }
    int fail = 0;
    static const char dummy[8];
    for (int i = 0; i < w->n_fields; i++) {
        const hsize_t cols = field_cols(&f[i], w->dim);
        const int rank = f[i].cols ? 2 : 1;
        hsize_t start[2] = {(hsize_t)row0, 0}, count[2] = {(hsize_t)nrows, cols};
        hid_t fs = H5Dget_space(w->dset[i]), ms = -1;
        int bad = fs < 0;
        if (!bad && nrows > 0) {
            bad = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0;
            ms = H5Screate_simple(rank, count, NULL);
        } else if (!bad) {
            bad = H5Sselect_none(fs) < 0;
            hsize_t one[2] = {1, 1};
            ms = H5Screate_simple(1, one, NULL);
            if (ms >= 0) H5Sselect_none(ms);
        }
        bad = bad || ms < 0;
        const void *buf = nrows > 0 ? src[i] : (const void *)dummy;
        uint16_t *half = NULL;  // float16 storage: converted here (core/half.h), HDF5 moves the bits
        if (i >= F_EMB0 && w->f16 >= 0 && nrows > 0) {
            half = am_malloc((size_t)nrows * w->dim * sizeof *half, "float16 rows");
            half_from_floats(src[i], (size_t)nrows * w->dim, half);
            buf = half;
        }
        if (!bad) bad = H5Dwrite(w->dset[i], f[i].mtype, ms, fs, w->dxpl, buf) < 0;
        free(half);
        if (bad && !fail) {
            char what[96];
            snprintf(what, sizeof what, "cannot write /%s", f[i].name);
            h5_fail(err, w->tmp, what);
            fail = 1;
        }
        h5_close_id(&ms);
        h5_close_id(&fs);
    }
    if (fail) w->failed = 1;
    if (!fail && w->pca) emb_pca_collect(w->pca, row0, nrows, has, emb);
    return fail || w->failed;
}

int emb_writer_close(EmbWriter *w, int ok, AmError *err) {
    if (!w) return 1;
    int fail = !ok || w->failed;
    if (w->pca && !comm_any_failed(w->comm, fail)) {  // every row written everywhere: the PCA copy
        const char *names[EMB_MAX_SLOTS];
        for (int m = 0; m < w->n_slots; m++) names[m] = w->names[m];
        fail = emb_pca_write(w->pca, w->file, w->dset + F_EMB0, w->dset[F_HAS], names, w->dxpl, w->comm, w->tmp, err);
    }
    for (int i = 0; i < F_MAX; i++) h5_close_id(&w->dset[i]);
    h5_close_id(&w->dxpl);
    if (w->file >= 0 && H5Fclose(w->file) < 0) {
        if (!fail) h5_fail(err, w->tmp, "cannot close file");
        fail = 1;
    }
    w->file = -1;
    const int all_failed = comm_any_failed(w->comm, fail);
    int rc = all_failed;
    if (w->rank == 0) {
        if (all_failed) {
            remove(w->tmp);
        } else if (rename(w->tmp, w->path) != 0) {
            am_error_set(err, "cannot rename %s to %s: %s", w->tmp, w->path, strerror(errno));
            remove(w->tmp);
            rc = 1;
        }
    }
    double r = rc;
    comm_broadcast(w->comm, &r, sizeof r, 0);
    if (r != 0.0 && !fail && w->rank != 0) am_error_set(err, "%s: writing failed on another rank", w->path);
    writer_free(w);
    return r != 0.0;
}

// ------------------------------------------------------------------ reader

void emb_free(EmbSet *s) {
    if (!s) return;
    free(s->id);
    free(s->label);
    free(s->split);
    free(s->has);
    free(s->index);
    for (int m = 0; m < EMB_MAX_SLOTS; m++) free(s->emb[m]);
    h5_free_strs(s->classes, s->n_classes);
    memset(s, 0, sizeof *s);
}

static int read_field(hid_t file, const char *path, const Field *f, int64_t n, int dim, void **out, AmError *err) {
    htri_t ex = f->cols < 0 ? H5Lexists(file, "embeddings", H5P_DEFAULT) : 1;
    if (ex > 0) ex = H5Lexists(file, f->name, H5P_DEFAULT);
    if (ex <= 0) return am_error_set(err, "%s: missing dataset /%s (not an astromm embeddings file?)", path, f->name);
    int rank = 0, numeric = 0;
    hsize_t dims[4] = {0, 0, 0, 0};
    hid_t d = h5_open_dataset(file, path, f->name, &rank, dims, &numeric, err);
    if (d < 0) return 1;
    int rc = 1;
    const int want_rank = f->cols ? 2 : 1;
    const hsize_t cols = field_cols(f, dim);
    if (rank != want_rank || dims[0] != (hsize_t)n || (want_rank == 2 && dims[1] != cols)) {
        am_error_set(err, "%s: /%s has shape [%llu%s%llu], expected [%lld%s%llu]", path, f->name,
                     (unsigned long long)dims[0], rank == 2 ? ", " : "", rank == 2 ? (unsigned long long)dims[1] : 0ULL,
                     (long long)n, want_rank == 2 ? ", " : "", want_rank == 2 ? (unsigned long long)cols : 0ULL);
        goto done;
    }
    *out = am_malloc((size_t)n * (size_t)(want_rank == 2 ? cols : 1) * f->elem + 1, "embeddings file");
    char name[96];
    snprintf(name, sizeof name, "/%s", f->name);
    if (h5_read_whole(d, f->mtype, *out, path, name, err)) goto done;
    rc = 0;
done:
    h5_close_id(&d);
    return rc;
}

int emb_read(const char *path, EmbSet *out, AmError *err) { return emb_read_some(path, NULL, -1, out, err); }

// The root attribute `modalities` into s->slot (names checked).
static int read_slot_names(hid_t file, const char *path, EmbSet *s, AmError *err) {
    char **strs = NULL;
    int ns = 0;
    if (h5_read_str_attr(file, path, "/", "modalities", &strs, &ns, err)) return 1;
    int rc = 1;
    if (ns < 1 || ns > EMB_MAX_SLOTS) {
        am_error_set(err, "%s: attribute modalities lists %d embeddings (this build reads 1..%d)", path, ns,
                     EMB_MAX_SLOTS);
        goto done;
    }
    for (int m = 0; m < ns; m++) {
        if (!slot_name_ok(strs[m])) {
            am_error_set(err, "%s: attribute modalities[%d] = '%s' is not a name of a-z, 0-9, _", path, m, strs[m]);
            goto done;
        }
        snprintf(s->slot[m], sizeof s->slot[m], "%s", strs[m]);
    }
    s->n_slots = ns;
    rc = 0;
done:
    h5_free_strs(strs, ns);
    return rc;
}

// Columns of /has (1..n_slots).
static int read_has_cols(hid_t file, const char *path, EmbSet *s, AmError *err) {
    if (H5Lexists(file, "has", H5P_DEFAULT) <= 0)
        return am_error_set(err, "%s: missing dataset /has (not an astromm embeddings file?)", path);
    int rank = 0, numeric = 0;
    hsize_t dims[4] = {0, 0, 0, 0};
    hid_t d = h5_open_dataset(file, path, "has", &rank, dims, &numeric, err);
    if (d < 0) return 1;
    h5_close_id(&d);
    if (rank != 2 || dims[1] < 1 || dims[1] > (hsize_t)s->n_slots)
        return am_error_set(err, "%s: /has must be [N, 1..%d] (one column per embedding in modalities)", path,
                            s->n_slots);
    s->n_has = (int)dims[1];
    return 0;
}

// Root string attribute into buf ("" when absent or not one string).
static void read_optional_str(hid_t file, const char *path, const char *name, char *buf, size_t cap) {
    char **strs = NULL;
    int ns = 0;
    AmError e = {{0}};
    buf[0] = '\0';
    if (!h5_read_str_attr(file, path, "/", name, &strs, &ns, &e) && ns == 1) snprintf(buf, cap, "%s", strs[0]);
    h5_free_strs(strs, ns);
}

int emb_read_some(const char *path, const char *const *names, int n_names, EmbSet *out, AmError *err) {
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);
    if (access(path, R_OK) != 0) return am_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = 1;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char **strs = NULL;
    int ns = 0;
    if (file < 0) {
        am_error_set(err, "%s: not an HDF5 file (expected an embeddings file from astromm embed)", path);
        goto done;
    }
    if (h5_read_str_attr(file, path, "/", "format", &strs, &ns, err)) goto done;
    if (ns != 1 || strcmp(strs[0], EMB_FORMAT) != 0) {
        am_error_set(err, "%s: format attribute is '%s', expected '%s' (not an embeddings file from astromm embed)",
                     path, ns >= 1 ? strs[0] : "", EMB_FORMAT);
        goto done;
    }
    int64_t version = 0, n = 0, dim = 0, normalized = 1;
    if (h5_read_int_attr(file, path, "version", &version, err)) goto done;
    if (version != EMB_VERSION) {
        am_error_set(err, "%s: embeddings format version %lld is not supported (this build reads %d)", path,
                     (long long)version, EMB_VERSION);
        goto done;
    }
    if (h5_read_int_attr(file, path, "n_objects", &n, err) || h5_read_int_attr(file, path, "dim", &dim, err))
        goto done;
    if (n < 1 || dim < 1 || dim > (1 << 20)) {
        am_error_set(err, "%s: invalid n_objects %lld or dim %lld", path, (long long)n, (long long)dim);
        goto done;
    }
    // files written before the attribute existed hold AstroM3's unit-norm rows
    if (H5Aexists(file, "normalized") > 0 && h5_read_int_attr(file, path, "normalized", &normalized, err)) goto done;
    out->n = n;
    out->dim = (int)dim;
    out->normalized = normalized != 0;
    if (h5_read_str_attr(file, path, "/", "classes", &out->classes, &out->n_classes, err)) goto done;
    if (read_slot_names(file, path, out, err) || read_has_cols(file, path, out, err)) goto done;
    read_optional_str(file, path, "checkpoint", out->checkpoint, sizeof out->checkpoint);
    read_optional_str(file, path, "dataset", out->dataset, sizeof out->dataset);
    int want[EMB_MAX_SLOTS] = {0};
    for (int i = 0; i < (names ? n_names : 0); i++) {
        const int m = emb_slot_index(out, names[i]);
        if (m < 0) {
            char list[EMB_MAX_SLOTS * EMB_SLOT_NAME_MAX];
            emb_slot_list(out, list, sizeof list);
            am_error_set(err, "%s: no embedding '%s' in the file (it has: %s)", path, names[i], list);
            goto done;
        }
        want[m] = 1;
    }
    if (!names)
        for (int m = 0; m < out->n_slots; m++) want[m] = 1;
    Field f[F_MAX];
    SlotPath paths[EMB_MAX_SLOTS];
    const int nf = fields(f, (const char (*)[EMB_SLOT_NAME_MAX])out->slot, out->n_slots, out->n_has, paths);
    void **dst[F_MAX] = {(void **)&out->id, (void **)&out->label, (void **)&out->split, (void **)&out->has,
                         (void **)&out->index};
    for (int m = 0; m < out->n_slots; m++) dst[F_EMB0 + m] = (void **)&out->emb[m];
    for (int i = 0; i < nf; i++) {
        if (i >= F_EMB0 && !want[i - F_EMB0]) continue;
        if (read_field(file, path, &f[i], n, out->dim, dst[i], err)) goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        if (out->split[i] > DS_SPLIT_TEST) {
            am_error_set(err, "%s: /split[%lld] = %d is not 0, 1 or 2", path, (long long)i, out->split[i]);
            goto done;
        }
        if (out->label[i] < -1 || out->label[i] >= out->n_classes) {
            am_error_set(err, "%s: /label[%lld] = %d outside -1..%d (classes)", path, (long long)i, out->label[i],
                         out->n_classes - 1);
            goto done;
        }
    }
    rc = 0;
done:
    h5_free_strs(strs, ns);
    if (file >= 0) H5Fclose(file);
    h5_quiet_off(&q);
    if (rc) emb_free(out);
    if (rc) snprintf(out->path, sizeof out->path, "%s", path);
    return rc;
}

int emb_slot_index(const EmbSet *s, const char *name) {
    for (int m = 0; name && m < s->n_slots; m++)
        if (!strcmp(s->slot[m], name)) return m;
    return -1;
}

int emb_default_slot(const EmbSet *s) {
    const int f = emb_slot_index(s, "fused");
    return f >= 0 ? f : s->n_slots == 1 ? 0 : -1;
}

int emb_default_name(const char *path, char *out, size_t cap, AmError *err) {
    // Only the attribute `modalities` is needed; any trouble reading it is
    // reported by the full reader, whose messages say what the file is.
    EmbSet s;
    memset(&s, 0, sizeof s);
    int ok = 0;
    if (access(path, R_OK) == 0) {
        H5Quiet q;
        h5_quiet_on(&q);
        hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        AmError e = {{0}};
        ok = file >= 0 && !read_slot_names(file, path, &s, &e);
        if (file >= 0) H5Fclose(file);
        h5_quiet_off(&q);
    }
    if (!ok) {
        if (emb_read_some(path, &path, 0, &s, err)) return 1;
        emb_free(&s);
    }
    const int d = emb_default_slot(&s);
    if (d < 0) {
        char list[EMB_MAX_SLOTS * EMB_SLOT_NAME_MAX];
        emb_slot_list(&s, list, sizeof list);
        return am_error_set(err, "%s has several embeddings (%s): choose one with --modality", path, list);
    }
    snprintf(out, cap, "%s", s.slot[d]);
    return 0;
}

int emb_read_one(const char *path, const char *name, EmbSet *out, int *slot, AmError *err) {
    char dflt[EMB_SLOT_NAME_MAX];
    if (!name) {
        memset(out, 0, sizeof *out);
        if (emb_default_name(path, dflt, sizeof dflt, err)) return 1;
        name = dflt;
    }
    if (emb_read_some(path, &name, 1, out, err)) return 1;
    *slot = emb_slot_index(out, name);
    return 0;
}

void emb_slot_list(const EmbSet *s, char *buf, size_t cap) {
    size_t l = 0;
    buf[0] = '\0';
    for (int m = 0; m < s->n_slots && l < cap; m++) l += (size_t)snprintf(buf + l, cap - l, "%s%s", m ? ", " : "", s->slot[m]);
}

int64_t emb_find_id(const EmbSet *s, int64_t id) {
    for (int64_t i = 0; i < s->n; i++)
        if (s->id[i] == id) return i;
    return -1;
}

typedef struct {
    int64_t id, row;
} IdRow;

static int idrow_cmp(const void *pa, const void *pb) {
    const IdRow *a = pa, *b = pb;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

void emb_find_ids(const EmbSet *s, const int64_t *ids, int64_t n, int64_t *rows) {
    IdRow *t = am_malloc((size_t)s->n * sizeof *t, "id index");
    for (int64_t i = 0; i < s->n; i++) t[i] = (IdRow){s->id[i], i};
    qsort(t, (size_t)s->n, sizeof *t, idrow_cmp);
    for (int64_t q = 0; q < n; q++) {
        int64_t lo = 0, hi = s->n;  // first entry with id >= ids[q]
        while (lo < hi) {
            const int64_t mid = lo + (hi - lo) / 2;
            if (t[mid].id < ids[q]) lo = mid + 1;
            else hi = mid;
        }
        rows[q] = lo < s->n && t[lo].id == ids[q] ? t[lo].row : -1;
    }
    free(t);
}

int emb_row_has(const EmbSet *s, int64_t row, int slot) {
    const uint8_t *h = s->has + (size_t)s->n_has * (size_t)row;
    if (slot < s->n_has) return h[slot] != 0;
    for (int c = 0; c < s->n_has; c++)
        if (h[c]) return 1;
    return 0;
}

const char *emb_class_name(const EmbSet *s, int32_t label) {
    return label >= 0 && label < s->n_classes ? s->classes[label] : "";
}
