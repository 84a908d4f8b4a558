// The astromm image dataset (layout: image_dataset.h).
#define _POSIX_C_SOURCE 200809L

#include "data/format/image_dataset.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/format/dataset.h"
#include "data/format/dataset_h5.h"
#include "io/output_path.h"

// ------------------------------------------------------------------ shared

int64_t imgds_id_of_name(const char *name) {
    char *end = NULL;
    long long v = strtoll(name, &end, 10);
    if (name[0] && end && !*end) return (int64_t)v;
    uint64_t h = 1469598103934665603ull;  // FNV-1a 64
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return (int64_t)(h & 0x7fffffffffffffffull);  // non-negative, like catalogue ids
}

static int write_int_array_attr(hid_t loc, const char *name, const int32_t *v, int n) {
    hsize_t d = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &d, NULL), a = -1;
    int rc = -1;
    if (s >= 0) a = H5Acreate2(loc, name, H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0 && H5Awrite(a, H5T_NATIVE_INT32, v) >= 0) rc = 0;
    h5_close_id(&a);
    h5_close_id(&s);
    return rc;
}

// ------------------------------------------------------------------ writer

struct ImgWriter {
    char path[4096], tmp[4200];
    ImgDatasetSpec spec;
    VoteSchema schema;
    char **classes;
    hid_t file, images;
    int64_t n, cap;
    char **names;
    int64_t *ids;
    int32_t *labels;
    uint8_t *splits, *subsets;
    float *votes, *truth;
    int failed;
};

static void writer_free(ImgWriter *w) {
    if (!w) return;
    h5_close_id(&w->images);
    h5_close_id(&w->file);
    h5_free_strs(w->names, (int)w->n);
    h5_free_strs(w->classes, w->spec.n_classes);
    free(w->ids), free(w->labels), free(w->splits), free(w->subsets), free(w->votes), free(w->truth);
    free(w);
}

void imgds_writer_abort(ImgWriter *w) {
    if (!w) return;
    h5_close_id(&w->images);
    h5_close_id(&w->file);
    remove(w->tmp);
    writer_free(w);
}

int imgds_writer_open(const char *path, const ImgDatasetSpec *spec, ImgWriter **out, AmError *err) {
    if (output_path_check(path, err)) return 1;
    *out = NULL;
    if (spec->image_size < 8 || spec->image_size > 4096 || (spec->channels != 1 && spec->channels != 3) ||
        spec->compress < 0 || spec->compress > 9 || spec->n_classes < 0)
        return am_error_set(err, "%s: bad image dataset spec (size %d, channels %d, compress %d)", path,
                            spec->image_size, spec->channels, spec->compress);
    ImgWriter *w = am_calloc(1, sizeof *w, "image dataset writer");
    w->file = w->images = -1;
    w->spec = *spec;
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp.%d", path, (int)getpid());
    if (spec->schema) w->schema = *spec->schema;
    w->spec.schema = spec->schema ? &w->schema : NULL;
    w->classes = am_calloc((size_t)(spec->n_classes ? spec->n_classes : 1), sizeof *w->classes, "class names");
    for (int i = 0; i < spec->n_classes; i++) w->classes[i] = am_strdup(spec->classes[i], "class name");
    w->spec.classes = (const char *const *)w->classes;
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = 0;
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) rc = h5_fail(err, w->tmp, "cannot create the dataset file");
    if (!rc) {
        const hsize_t S = (hsize_t)spec->image_size, C = (hsize_t)spec->channels;
        hsize_t dims[4] = {0, S, S, C}, maxd[4] = {H5S_UNLIMITED, S, S, C}, chunk[4] = {1, S, S, C};
        hid_t sp = H5Screate_simple(4, dims, maxd), pl = H5Pcreate(H5P_DATASET_CREATE);
        if (sp >= 0 && pl >= 0 && H5Pset_chunk(pl, 4, chunk) >= 0 && (spec->compress == 0 || H5Pset_deflate(pl, (unsigned)spec->compress) >= 0))
            w->images = H5Dcreate2(w->file, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
        if (w->images < 0) rc = h5_fail(err, w->tmp, "cannot create /images");
        h5_close_id(&sp);
        h5_close_id(&pl);
    }
    h5_quiet_off(&q);
    if (rc) {
        imgds_writer_abort(w);
        return 1;
    }
    *out = w;
    return 0;
}

static void grow(ImgWriter *w) {
    if (w->n < w->cap) return;
    const int64_t cap = w->cap ? 2 * w->cap : 256;
    const int A = w->spec.schema ? w->schema.answers : 0;
    w->names = am_realloc(w->names, (size_t)cap * sizeof *w->names, "image names");
    w->ids = am_realloc(w->ids, (size_t)cap * sizeof *w->ids, "image ids");
    w->labels = am_realloc(w->labels, (size_t)cap * sizeof *w->labels, "image labels");
    w->splits = am_realloc(w->splits, (size_t)cap, "image splits");
    w->subsets = am_realloc(w->subsets, (size_t)cap, "image subsets");
    if (A) w->votes = am_realloc(w->votes, (size_t)cap * A * sizeof *w->votes, "image votes");
    if (A && w->spec.store_truth) w->truth = am_realloc(w->truth, (size_t)cap * A * sizeof *w->truth, "image truth");
    w->cap = cap;
}

int imgds_writer_add(ImgWriter *w, const char *name, int64_t id, const uint8_t *pixels, int32_t label, uint8_t split,
                     uint8_t subset, const float *votes, AmError *err) {
    return imgds_writer_add_truth(w, name, id, pixels, label, split, subset, votes, NULL, err);
}

int imgds_writer_add_truth(ImgWriter *w, const char *name, int64_t id, const uint8_t *pixels, int32_t label,
                           uint8_t split, uint8_t subset, const float *votes, const float *truth, AmError *err) {
    if (w->spec.store_truth && (!truth || !w->spec.schema))
        return am_error_set(err, "%s: object '%s': the dataset stores true probabilities but none were given", w->path, name);
    if (w->failed) return am_error_set(err, "%s: writer already failed", w->path);
    if (!name[0] || strlen(name) >= IMGDS_NAME_MAX)
        return am_error_set(err, "%s: object name '%s' empty or longer than %d bytes", w->path, name, IMGDS_NAME_MAX - 1);
    if (label < -1 || label >= (w->spec.n_classes ? w->spec.n_classes : 1) || (label >= 0 && !w->spec.n_classes))
        return am_error_set(err, "%s: object '%s': label %d outside -1..%d", w->path, name, label, w->spec.n_classes - 1);
    if (split > DS_SPLIT_TEST) return am_error_set(err, "%s: object '%s': bad split %d", w->path, name, split);
    const int A = w->spec.schema ? w->schema.answers : 0;
    for (int a = 0; a < A; a++)
        if (!votes || !(votes[a] >= 0.0f && votes[a] < 1e9f))
            return am_error_set(err, "%s: object '%s': vote count of '%s' is %g (need a finite count >= 0)", w->path,
                                name, w->schema.column[a], votes ? (double)votes[a] : 0.0 / 0.0);
    const hsize_t S = (hsize_t)w->spec.image_size, C = (hsize_t)w->spec.channels;
    hsize_t dims[4] = {(hsize_t)w->n + 1, S, S, C}, start[4] = {(hsize_t)w->n, 0, 0, 0}, count[4] = {1, S, S, C};
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = 0;
    hid_t fs = -1, ms = -1;
    if (H5Dset_extent(w->images, dims) < 0 || (fs = H5Dget_space(w->images)) < 0 ||
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        (ms = H5Screate_simple(4, count, NULL)) < 0 || H5Dwrite(w->images, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, pixels) < 0)
        rc = h5_fail(err, w->tmp, "cannot write an image (disk full?)");
    h5_close_id(&fs);
    h5_close_id(&ms);
    h5_quiet_off(&q);
    if (rc) {
        w->failed = 1;
        return 1;
    }
    grow(w);
    w->names[w->n] = am_strdup(name, "image name");
    w->ids[w->n] = id;
    w->labels[w->n] = label;
    w->splits[w->n] = split;
    w->subsets[w->n] = subset;
    if (A) memcpy(w->votes + (size_t)w->n * A, votes, (size_t)A * sizeof *votes);
    if (A && w->spec.store_truth) memcpy(w->truth + (size_t)w->n * A, truth, (size_t)A * sizeof *truth);
    w->n++;
    return 0;
}

int imgds_writer_set_subsets(ImgWriter *w, const uint8_t *bits, int64_t n, AmError *err) {
    if (n != w->n) return am_error_set(err, "%s: %lld subset entries for %lld objects", w->path, (long long)n, (long long)w->n);
    if (n) memcpy(w->subsets, bits, (size_t)n);
    return 0;
}

static int put(hid_t file, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims, const void *buf) {
    hid_t s = H5Screate_simple(rank, dims, NULL), d = -1;
    int rc = -1;
    if (s >= 0) d = H5Dcreate2(file, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0 && (dims[0] == 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)) rc = 0;
    h5_close_id(&d);
    h5_close_id(&s);
    return rc;
}

int imgds_writer_close(ImgWriter *w, int64_t n_skipped, AmError *err) {
    if (!w) return 0;
    if (w->failed) {
        imgds_writer_abort(w);
        return am_error_set(err, "%s: not written (an earlier write failed)", w->path);
    }
    if (w->n == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s", w->path);
        imgds_writer_abort(w);
        return am_error_set(err, "%s: no images to write", path);
    }
    H5Quiet q;
    h5_quiet_on(&q);
    const hsize_t n = (hsize_t)w->n;
    const int A = w->spec.schema ? w->schema.answers : 0;
    const char *fmt = IMGDS_FORMAT;
    int64_t version = IMGDS_VERSION, S = w->spec.image_size, C = w->spec.channels;
    hid_t str = h5_vlen_str_type();
    int rc = str < 0 || h5_write_str_attr(w->file, "format", &fmt, -1) ||
             h5_write_num_attr(w->file, "version", H5T_STD_I64LE, H5T_NATIVE_INT64, &version) ||
             h5_write_num_attr(w->file, "image_size", H5T_STD_I64LE, H5T_NATIVE_INT64, &S) ||
             h5_write_num_attr(w->file, "channels", H5T_STD_I64LE, H5T_NATIVE_INT64, &C) ||
             h5_write_num_attr(w->file, "n_skipped", H5T_STD_I64LE, H5T_NATIVE_INT64, &n_skipped) ||
             h5_write_str_attr(w->file, "classes", (const char *const *)w->classes, w->spec.n_classes) ||
             put(w->file, "name", str, str, 1, &n, w->names) ||
             put(w->file, "id", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n, w->ids) ||
             put(w->file, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &n, w->labels) ||
             put(w->file, "split", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, &n, w->splits) ||
             put(w->file, "subset", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, &n, w->subsets);
    if (!rc && A) {
        const VoteSchema *s = &w->schema;
        const char *qn[VOTE_MAX_QUESTIONS], *cols[VOTE_MAX_ANSWERS];
        int32_t counts[VOTE_MAX_QUESTIONS];
        for (int i = 0; i < s->n_questions; i++) qn[i] = s->question[i], counts[i] = s->last[i] - s->first[i] + 1;
        for (int a = 0; a < A; a++) cols[a] = s->column[a];
        const hsize_t vd[2] = {n, (hsize_t)A};
        rc = h5_write_str_attr(w->file, "vote_questions", qn, s->n_questions) ||
             write_int_array_attr(w->file, "vote_answers", counts, s->n_questions) ||
             h5_write_str_attr(w->file, "vote_columns", cols, A) ||
             put(w->file, "votes", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, vd, w->votes) ||
             (w->spec.store_truth && put(w->file, "truth", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, vd, w->truth));
    }
    h5_close_id(&str);
    if (rc) h5_fail(err, w->tmp, "cannot write the dataset's arrays and attributes (disk full?)");
    h5_close_id(&w->images);
    if (!rc && H5Fclose(w->file) < 0) rc = h5_fail(err, w->tmp, "closing the file failed (disk full?)");
    w->file = -1;
    h5_quiet_off(&q);
    if (!rc && rename(w->tmp, w->path)) rc = am_error_set(err, "%s: cannot rename the finished file into place", w->path);
    if (rc) remove(w->tmp);
    writer_free(w);
    return rc ? 1 : 0;
}

// ------------------------------------------------------------------ reader

struct ImgDataset {
    char path[4096];
    hid_t file, images;
    int64_t n, n_skipped;
    int S, C;
    char **classes;
    int n_classes;
    VoteSchema schema;
    int has_votes;
    char **names;
    int64_t *ids;
    int32_t *labels;
    uint8_t *splits, *subsets;
    float *votes, *truth;
};

void imgds_close(ImgDataset *ds) {
    if (!ds) return;
    h5_close_id(&ds->images);
    h5_close_id(&ds->file);
    h5_free_strs(ds->classes, ds->n_classes);
    if (ds->names) {
        hid_t str = h5_vlen_str_type();
        hsize_t n = (hsize_t)ds->n;
        hid_t s = H5Screate_simple(1, &n, NULL);
        H5Dvlen_reclaim(str, s, H5P_DEFAULT, ds->names);
        h5_close_id(&s);
        h5_close_id(&str);
        free(ds->names);
    }
    free(ds->ids), free(ds->labels), free(ds->splits), free(ds->subsets), free(ds->votes), free(ds->truth);
    free(ds);
}

// Reads a whole 1-D (or [n, cols]) array that must have n rows (and cols columns).
static int read_array(ImgDataset *ds, const char *name, hid_t mtype, void *buf, int cols, AmError *err) {
    int rank, numeric;
    hsize_t dims[4];
    hid_t d = h5_open_dataset(ds->file, ds->path, name, &rank, dims, &numeric, err);
    if (d < 0) return 1;
    int rc = 0;
    if (rank != (cols ? 2 : 1) || (int64_t)dims[0] != ds->n || (cols && (int)dims[1] != cols))
        rc = am_error_set(err, "%s: /%s has the wrong shape (expected %lld rows%s)", ds->path, name, (long long)ds->n,
                          cols ? " and one column per vote answer" : "");
    if (!rc) rc = h5_read_whole(d, mtype, buf, ds->path, name, err);
    h5_close_id(&d);
    return rc;
}

static int read_schema(ImgDataset *ds, AmError *err) {
    char **qn = NULL, **cols = NULL;
    int nq = 0, nc = 0, rc = 0;
    if (h5_read_str_attr(ds->file, ds->path, "/", "vote_questions", &qn, &nq, err) ||
        h5_read_str_attr(ds->file, ds->path, "/", "vote_columns", &cols, &nc, err))
        rc = 1;
    int32_t counts[VOTE_MAX_QUESTIONS];
    if (!rc && (nq < 1 || nq > VOTE_MAX_QUESTIONS || nc > VOTE_MAX_ANSWERS))
        rc = am_error_set(err, "%s: %d vote questions / %d columns outside the supported 1..%d / %d", ds->path, nq, nc,
                          VOTE_MAX_QUESTIONS, VOTE_MAX_ANSWERS);
    if (!rc) {
        hid_t a = H5Aopen(ds->file, "vote_answers", H5P_DEFAULT), s = a >= 0 ? H5Aget_space(a) : -1;
        if (a < 0 || s < 0 || H5Sget_simple_extent_npoints(s) != nq || H5Aread(a, H5T_NATIVE_INT32, counts) < 0)
            rc = am_error_set(err, "%s: attribute vote_answers missing or not one count per question", ds->path);
        h5_close_id(&s);
        h5_close_id(&a);
    }
    int total = 0;
    for (int q = 0; !rc && q < nq; q++) {
        if (counts[q] < 1 || total + counts[q] > nc) {
            rc = am_error_set(err, "%s: vote question '%s' has %d answers (columns left: %d)", ds->path, qn[q],
                              counts[q], nc - total);
            break;
        }
        const int q0 = ds->schema.n_questions;
        ds->schema.first[q0] = total;
        ds->schema.last[q0] = total + counts[q] - 1;
        snprintf(ds->schema.question[q0], VOTE_NAME_MAX, "%s", qn[q]);
        for (int k = 0; k < counts[q]; k++) snprintf(ds->schema.column[total + k], 2 * VOTE_NAME_MAX, "%s", cols[total + k]);
        ds->schema.n_questions++;
        total += counts[q];
    }
    if (!rc && total != nc) rc = am_error_set(err, "%s: vote_answers sum to %d but there are %d vote columns", ds->path, total, nc);
    ds->schema.answers = total;
    h5_free_strs(qn, nq);
    h5_free_strs(cols, nc);
    return rc;
}

static int open_impl(ImgDataset *ds, AmError *err) {
    ds->file = H5Fopen(ds->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (ds->file < 0) return h5_fail(err, ds->path, "cannot open as HDF5");
    char **fmt = NULL;
    int nf = 0;
    if (h5_read_str_attr(ds->file, ds->path, "/", "format", &fmt, &nf, err)) return 1;
    const int ok = nf == 1 && !strcmp(fmt[0], IMGDS_FORMAT);
    h5_free_strs(fmt, nf);
    if (!ok) return am_error_set(err, "%s: not an astromm image dataset (format attribute is not \"%s\")", ds->path, IMGDS_FORMAT);
    int64_t version, S, C;
    if (h5_read_int_attr(ds->file, ds->path, "version", &version, err) ||
        h5_read_int_attr(ds->file, ds->path, "image_size", &S, err) ||
        h5_read_int_attr(ds->file, ds->path, "channels", &C, err) ||
        h5_read_int_attr(ds->file, ds->path, "n_skipped", &ds->n_skipped, err))
        return 1;
    if (version != IMGDS_VERSION)
        return am_error_set(err, "%s: image dataset version %lld, this astromm reads version %d", ds->path, (long long)version,
                            IMGDS_VERSION);
    if (S < 8 || S > 4096 || (C != 1 && C != 3))
        return am_error_set(err, "%s: bad image_size %lld or channels %lld", ds->path, (long long)S, (long long)C);
    ds->S = (int)S, ds->C = (int)C;
    if (h5_read_str_attr(ds->file, ds->path, "/", "classes", &ds->classes, &ds->n_classes, err)) return 1;
    int rank, numeric;
    hsize_t dims[4];
    ds->images = h5_open_dataset(ds->file, ds->path, "images", &rank, dims, &numeric, err);
    if (ds->images < 0) return 1;
    if (rank != 4 || dims[1] != (hsize_t)S || dims[2] != (hsize_t)S || dims[3] != (hsize_t)C || dims[0] < 1)
        return am_error_set(err, "%s: /images is not [N, %lld, %lld, %lld]", ds->path, (long long)S, (long long)S, (long long)C);
    ds->n = (int64_t)dims[0];
    const size_t n = (size_t)ds->n;
    ds->names = am_calloc(n, sizeof *ds->names, "image names");
    ds->ids = am_calloc(n, sizeof *ds->ids, "image ids");
    ds->labels = am_calloc(n, sizeof *ds->labels, "image labels");
    ds->splits = am_calloc(n, 1, "image splits");
    ds->subsets = am_calloc(n, 1, "image subsets");
    hid_t str = h5_vlen_str_type();
    int rc = read_array(ds, "name", str, ds->names, 0, err) || read_array(ds, "id", H5T_NATIVE_INT64, ds->ids, 0, err) ||
             read_array(ds, "label", H5T_NATIVE_INT32, ds->labels, 0, err) ||
             read_array(ds, "split", H5T_NATIVE_UINT8, ds->splits, 0, err) ||
             read_array(ds, "subset", H5T_NATIVE_UINT8, ds->subsets, 0, err);
    h5_close_id(&str);
    if (rc) return 1;
    for (size_t i = 0; i < n; i++) {
        if (!ds->names[i]) return am_error_set(err, "%s: /name row %zu is empty", ds->path, i);
        if (ds->labels[i] < -1 || ds->labels[i] >= ds->n_classes)
            return am_error_set(err, "%s: object %zu ('%s') has label %d outside -1..%d", ds->path, i, ds->names[i],
                                ds->labels[i], ds->n_classes - 1);
        if (ds->splits[i] > DS_SPLIT_TEST)
            return am_error_set(err, "%s: object %zu ('%s') has split %d", ds->path, i, ds->names[i], ds->splits[i]);
    }
    htri_t has = H5Lexists(ds->file, "votes", H5P_DEFAULT);
    if (has > 0) {
        if (read_schema(ds, err)) return 1;
        ds->has_votes = 1;
        ds->votes = am_calloc(n * (size_t)ds->schema.answers, sizeof *ds->votes, "image votes");
        if (read_array(ds, "votes", H5T_NATIVE_FLOAT, ds->votes, ds->schema.answers, err)) return 1;
        for (size_t i = 0; i < n * (size_t)ds->schema.answers; i++)
            if (!(ds->votes[i] >= 0.0f && ds->votes[i] < 1e9f))
                return am_error_set(err, "%s: object %zu ('%s'), column '%s': vote count %g (need finite, >= 0)", ds->path,
                                    i / ds->schema.answers, ds->names[i / ds->schema.answers],
                                    ds->schema.column[i % ds->schema.answers], (double)ds->votes[i]);
        if (H5Lexists(ds->file, "truth", H5P_DEFAULT) > 0) {
            ds->truth = am_calloc(n * (size_t)ds->schema.answers, sizeof *ds->truth, "image truth");
            if (read_array(ds, "truth", H5T_NATIVE_FLOAT, ds->truth, ds->schema.answers, err)) return 1;
        }
    }
    return 0;
}

int imgds_open(const char *path, ImgDataset **out, AmError *err) {
    ImgDataset *ds = am_calloc(1, sizeof *ds, "image dataset");
    ds->file = ds->images = -1;
    snprintf(ds->path, sizeof ds->path, "%s", path);
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = open_impl(ds, err);
    h5_quiet_off(&q);
    if (rc) {
        imgds_close(ds);
        *out = NULL;
        return 1;
    }
    *out = ds;
    return 0;
}

int imgds_read_image(ImgDataset *ds, int64_t i, uint8_t *dst, AmError *err) {
    if (i < 0 || i >= ds->n) return am_error_set(err, "%s: image %lld outside 0..%lld", ds->path, (long long)i, (long long)ds->n - 1);
    const hsize_t S = (hsize_t)ds->S, C = (hsize_t)ds->C;
    hsize_t start[4] = {(hsize_t)i, 0, 0, 0}, count[4] = {1, S, S, C};
    H5Quiet q;
    h5_quiet_on(&q);
    hid_t fs = H5Dget_space(ds->images), ms = H5Screate_simple(4, count, NULL);
    int rc = 0;
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dread(ds->images, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, dst) < 0) {
        char what[96];
        snprintf(what, sizeof what, "cannot read image %lld", (long long)i);
        rc = h5_fail(err, ds->path, what);
    }
    h5_close_id(&fs);
    h5_close_id(&ms);
    h5_quiet_off(&q);
    return rc ? 1 : 0;
}

int64_t imgds_count(const ImgDataset *ds) { return ds->n; }
int imgds_image_size(const ImgDataset *ds) { return ds->S; }
int imgds_channels(const ImgDataset *ds) { return ds->C; }
int64_t imgds_skipped(const ImgDataset *ds) { return ds->n_skipped; }
void imgds_classes(const ImgDataset *ds, const char *const **names, int *n) {
    *names = (const char *const *)ds->classes;
    *n = ds->n_classes;
}
const VoteSchema *imgds_schema(const ImgDataset *ds) { return ds->has_votes ? &ds->schema : NULL; }
const int32_t *imgds_labels(const ImgDataset *ds) { return ds->labels; }
const uint8_t *imgds_splits(const ImgDataset *ds) { return ds->splits; }
const uint8_t *imgds_subsets(const ImgDataset *ds) { return ds->subsets; }
const int64_t *imgds_ids(const ImgDataset *ds) { return ds->ids; }
const char *imgds_name(const ImgDataset *ds, int64_t i) { return ds->names[i]; }
const float *imgds_votes(const ImgDataset *ds, int64_t i) {
    return ds->has_votes ? ds->votes + (size_t)i * ds->schema.answers : NULL;
}
const float *imgds_truth(const ImgDataset *ds, int64_t i) {
    return ds->truth ? ds->truth + (size_t)i * ds->schema.answers : NULL;
}
const char *imgds_path(const ImgDataset *ds) { return ds->path; }

int imgds_probe(const char *path) {
    H5Quiet q;
    h5_quiet_on(&q);
    int yes = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
        char **fmt = NULL;
        int n = 0;
        AmError e;
        if (!h5_read_str_attr(f, path, "/", "format", &fmt, &n, &e)) yes = n == 1 && !strcmp(fmt[0], IMGDS_FORMAT);
        h5_free_strs(fmt, n);
        H5Fclose(f);
    }
    h5_quiet_off(&q);
    return yes;
}
