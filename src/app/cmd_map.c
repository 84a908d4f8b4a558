// astromm map: 2-D coordinates (PCA or a UMAP-style layout) for the embeddings
// that astromm embed wrote; CSV (id,label,class,x,y) and/or HDF5 out. See docs/map.md.
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/modality.h"
#include "app/cli.h"
#include "data/format/dataset_h5.h"
#include "eval/pca.h"
#include "eval/umap.h"
#include "io/text_out.h"
#include "nn/ops.h"

typedef struct {
    size_t n, d;       // rows kept, embedding width
    float *x;          // [n,d]
    int64_t *id;       // [n]
    int32_t *label;    // [n] (-1 when the file has no /label)
    char **classes;    // from the root attribute (may be NULL)
    int n_classes;
    size_t n_file;     // rows in the file
} MapInput;

static void map_input_free(MapInput *in) {
    free(in->x);
    free(in->id);
    free(in->label);
    h5_free_strs(in->classes, in->n_classes);
    memset(in, 0, sizeof *in);
}

// Opens dataset `path` in f, checks rank and leading dimension; dims out.
static hid_t open_ds(hid_t f, const char *file, const char *path, int rank, hsize_t *dims, AmError *err) {
    htri_t ex = H5Lexists(f, path, H5P_DEFAULT);
    if (ex <= 0) return am_error_set(err, "%s: no dataset %s", file, path), -1;
    hid_t ds = H5Dopen2(f, path, H5P_DEFAULT);
    if (ds < 0) return h5_fail(err, file, "cannot open a dataset"), -1;
    hid_t sp = H5Dget_space(ds);
    const int r = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (r != rank) {
        am_error_set(err, "%s: dataset %s has rank %d, expected %d", file, path, r, rank);
        h5_close_id(&sp);
        h5_close_id(&ds);
        return -1;
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    h5_close_id(&sp);
    hid_t t = H5Dget_type(ds);
    const H5T_class_t cls = H5Tget_class(t);
    h5_close_id(&t);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        am_error_set(err, "%s: dataset %s is not numeric", file, path);
        h5_close_id(&ds);
        return -1;
    }
    return ds;
}

static int read_all(hid_t ds, hid_t mtype, void *buf, const char *file, const char *path, AmError *err) {
    if (H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        char what[300];
        snprintf(what, sizeof what, "cannot read %.280s", path);
        return h5_fail(err, file, what);
    }
    return 0;
}

// The has[] column of an embedding's modality; -1 for fused (rows with any modality).
static int has_column(const char *name) { return modality_from_name(name); }

static int load_input(const char *file, const char *name, MapInput *in, AmError *err) {
    memset(in, 0, sizeof *in);
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = -1;
    hid_t f = -1, ds = -1;
    float *x = NULL;
    int64_t *id = NULL;
    int32_t *lab = NULL;
    uint8_t *has = NULL;
    f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        FILE *probe = fopen(file, "rb");
        if (!probe) am_error_set(err, "%s: cannot open: %s", file, strerror(errno));
        else fclose(probe), h5_fail(err, file, "not a readable HDF5 file");
        goto done;
    }
    char path[300];
    snprintf(path, sizeof path, "/embeddings/%s", name);
    if (H5Lexists(f, "/embeddings", H5P_DEFAULT) <= 0) {
        am_error_set(err, "%s: no group /embeddings (not written by astromm embed?)", file);
        goto done;
    }
    if (H5Lexists(f, path, H5P_DEFAULT) <= 0) {
        char names[256] = "";
        hid_t gr = H5Gopen2(f, "/embeddings", H5P_DEFAULT);
        H5G_info_t gi;
        if (gr >= 0 && H5Gget_info(gr, &gi) >= 0)
            for (hsize_t i = 0; i < gi.nlinks; i++) {
                char nm[64];
                if (H5Lget_name_by_idx(gr, ".", H5_INDEX_NAME, H5_ITER_INC, i, nm, sizeof nm, H5P_DEFAULT) < 0) break;
                size_t l = strlen(names);
                snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", nm);
            }
        h5_close_id(&gr);
        am_error_set(err, "%s: no dataset %s (--embedding; the file has: %s)", file, path, names[0] ? names : "none");
        goto done;
    }
    hsize_t dims[2];
    if ((ds = open_ds(f, file, path, 2, dims, err)) < 0) goto done;
    const size_t n = (size_t)dims[0], d = (size_t)dims[1];
    if (n == 0 || d == 0) {
        am_error_set(err, "%s: dataset %s is empty [%zu, %zu]", file, path, n, d);
        goto done;
    }
    x = am_malloc(n * d * sizeof *x, "embeddings");
    if (read_all(ds, H5T_NATIVE_FLOAT, x, file, path, err)) goto done;
    h5_close_id(&ds);
    hsize_t d1[2];
    if ((ds = open_ds(f, file, "/id", 1, d1, err)) < 0) goto done;
    if (d1[0] != n) {
        am_error_set(err, "%s: /id has %llu rows but %s has %zu", file, (unsigned long long)d1[0], path, n);
        goto done;
    }
    id = am_malloc(n * sizeof *id, "ids");
    if (read_all(ds, H5T_NATIVE_INT64, id, file, "/id", err)) goto done;
    h5_close_id(&ds);
    lab = am_malloc(n * sizeof *lab, "labels");
    if (H5Lexists(f, "/label", H5P_DEFAULT) > 0) {
        if ((ds = open_ds(f, file, "/label", 1, d1, err)) < 0) goto done;
        if (d1[0] != n) {
            am_error_set(err, "%s: /label has %llu rows but %s has %zu", file, (unsigned long long)d1[0], path, n);
            goto done;
        }
        if (read_all(ds, H5T_NATIVE_INT32, lab, file, "/label", err)) goto done;
        h5_close_id(&ds);
    } else {
        for (size_t i = 0; i < n; i++) lab[i] = -1;
    }
    if (H5Lexists(f, "/has", H5P_DEFAULT) > 0) {
        if ((ds = open_ds(f, file, "/has", 2, d1, err)) < 0) goto done;
        if (d1[0] != n || d1[1] != 3) {
            am_error_set(err, "%s: /has has shape [%llu, %llu], expected [%zu, 3]", file, (unsigned long long)d1[0],
                         (unsigned long long)d1[1], n);
            goto done;
        }
        has = am_malloc(n * 3, "has");
        if (read_all(ds, H5T_NATIVE_UINT8, has, file, "/has", err)) goto done;
        h5_close_id(&ds);
    }
    if (H5Aexists(f, "classes") > 0 &&
        h5_read_str_attr(f, file, "/", "classes", &in->classes, &in->n_classes, err))
        goto done;
    // keep the rows that have the modality; refuse non-finite kept rows
    const int col = has_column(name);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (has) {
            const uint8_t *h = has + 3 * i;
            if (col >= 0 ? !h[col] : !(h[0] || h[1] || h[2])) continue;
        }
        for (size_t j = 0; j < d; j++)
            if (!isfinite(x[i * d + j])) {
                am_error_set(err, "%s: %s row %zu (id %lld) has a non-finite value in column %zu", file, path, i,
                             (long long)id[i], j);
                goto done;
            }
        if (m != i) {
            memmove(x + m * d, x + i * d, d * sizeof *x);
            id[m] = id[i];
            lab[m] = lab[i];
        }
        m++;
    }
    in->n = m, in->d = d, in->n_file = n;
    in->x = x, in->id = id, in->label = lab;
    x = NULL, id = NULL, lab = NULL;
    rc = 0;
done:
    h5_close_id(&ds);
    h5_close_id(&f);
    h5_quiet_off(&q);
    free(x);
    free(id);
    free(lab);
    free(has);
    if (rc) map_input_free(in);
    return rc;
}

static const char *class_name(const MapInput *in, int32_t l) {
    return l >= 0 && l < in->n_classes ? in->classes[l] : "";
}

static int write_csv(const char *path, const MapInput *in, const float *xy, AmError *err) {
    TextOut t;
    if (text_out_open(&t, path, err)) return -1;
    fprintf(t.f, "id,label,class,x,y\n");
    for (size_t i = 0; i < in->n; i++) {
        fprintf(t.f, "%lld,%d,", (long long)in->id[i], in->label[i]);
        csv_field(t.f, class_name(in, in->label[i]));
        fprintf(t.f, ",%.9g,%.9g\n", (double)xy[2 * i], (double)xy[2 * i + 1]);
    }
    return text_out_commit(&t, err);
}

static int write_ds(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims, const void *v) {
    hid_t s = H5Screate_simple(rank, dims, NULL), ds = -1;
    int rc = -1;
    if (s < 0) goto done;
    ds = H5Dcreate2(f, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (ds < 0) goto done;
    if (dims[0] > 0 && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) goto done;
    rc = 0;
done:
    h5_close_id(&ds);
    h5_close_id(&s);
    return rc;
}

typedef struct {
    const char *in_path, *embedding, *method;
    UmapParams up;
    const UmapInfo *info;
} MapMeta;

static int write_h5(const char *path, const MapInput *in, const float *xy, const MapMeta *mm, AmError *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    H5Quiet q;
    h5_quiet_on(&q);
    int rc = -1;
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        h5_fail(err, path, "cannot create");
        goto done;
    }
    const hsize_t d1[1] = {in->n}, d2[2] = {in->n, 2};
    const char *s1[1];
    if (write_ds(f, "/id", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, in->id) ||
        write_ds(f, "/label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, in->label) ||
        write_ds(f, "/xy", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, xy)) {
        h5_fail(err, path, "cannot write datasets");
        goto done;
    }
    int bad = 0;
    s1[0] = mm->method, bad |= h5_write_str_attr(f, "method", s1, -1);
    s1[0] = mm->embedding, bad |= h5_write_str_attr(f, "embedding", s1, -1);
    s1[0] = mm->in_path, bad |= h5_write_str_attr(f, "source", s1, -1);
    if (in->n_classes > 0) bad |= h5_write_str_attr(f, "classes", (const char *const *)in->classes, in->n_classes);
    const int64_t seed = (int64_t)mm->up.seed;
    bad |= h5_write_num_attr(f, "seed", H5T_STD_I64LE, H5T_NATIVE_INT64, &seed);
    if (mm->info) {
        const int32_t nb = mm->info->n_neighbors, epochs = mm->up.epochs;
        bad |= h5_write_num_attr(f, "neighbors", H5T_STD_I32LE, H5T_NATIVE_INT32, &nb);
        bad |= h5_write_num_attr(f, "epochs", H5T_STD_I32LE, H5T_NATIVE_INT32, &epochs);
        bad |= h5_write_num_attr(f, "min_dist", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &mm->up.min_dist);
        bad |= h5_write_num_attr(f, "a", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &mm->info->a);
        bad |= h5_write_num_attr(f, "b", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &mm->info->b);
    }
    if (bad) {
        h5_fail(err, path, "cannot write attributes");
        goto done;
    }
    rc = 0;
done:
    if (f >= 0 && H5Fclose(f) < 0 && rc == 0) rc = h5_fail(err, path, "cannot close");
    h5_quiet_off(&q);
    if (rc == 0 && rename(tmp, path)) rc = am_error_set(err, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc) remove(tmp);
    return rc;
}

static int parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi)
        return fprintf(stderr, "astromm %s: %s must be an integer in [%ld, %ld] (got '%s')\n", cmd, opt, lo, hi,
                       s ? s : ""),
               2;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || *end || !(v >= lo && v <= hi))
        return fprintf(stderr, "astromm %s: %s must be a number in [%g, %g] (got '%s')\n", cmd, opt, lo, hi, s ? s : ""), 2;
    *out = (float)v;
    return 0;
}

int cmd_map(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "map")) return 2;
    if (a.help) {
        printf("usage: astromm map --in EMB.h5 [--embedding fused|photometry|spectra|metadata]\n"
               "                  [--method umap|pca] [--neighbors 15] [--min-dist 0.1] [--epochs 200]\n"
               "                  [--init pca|random] [--seed 42] [--threads N] --out MAP.csv [--out-h5 MAP.h5]\n\n"
               "2-D coordinates for the embeddings astromm embed wrote: PCA, or a UMAP-style layout\n"
               "(cosine kNN graph, fuzzy union, SGD with negative sampling), deterministic from --seed\n"
               "for any thread count. Rows whose /has lacks the modality are skipped.\n"
               "CSV columns: id,label,class,x,y. HDF5: /id, /label, /xy [N,2] and the parameters.\n");
        return 0;
    }
    static const char *const allowed[] = {"--in",   "--embedding", "--method", "--neighbors", "--min-dist", "--epochs",
                                          "--seed", "--out",       "--out-h5", "--init",      NULL};
    if (cli_reject_unknown(&a, "map", allowed)) return 2;
    for (int i = 0; i < a.n_rest; i += 2)
        if (i + 1 >= a.n_rest) return fprintf(stderr, "astromm map: %s needs a value\n", a.rest[i]), 2;
    const char *in_path = cli_option(&a, "--in");
    const char *out = cli_option(&a, "--out"), *out_h5 = cli_option(&a, "--out-h5");
    const char *emb = cli_option(&a, "--embedding"), *method = cli_option(&a, "--method");
    const char *init = cli_option(&a, "--init");
    if (!in_path) return fprintf(stderr, "astromm map: --in EMB.h5 is required\n"), 2;
    if (!out && !out_h5) return fprintf(stderr, "astromm map: --out MAP.csv (and/or --out-h5 MAP.h5) is required\n"), 2;
    if (!emb) emb = "fused";
    if (!method) method = "umap";
    if (strcmp(method, "umap") && strcmp(method, "pca"))
        return fprintf(stderr, "astromm map: --method must be umap or pca (got '%s')\n", method), 2;
    if (strlen(emb) > 60 || strchr(emb, '/'))
        return fprintf(stderr, "astromm map: --embedding '%s' is not a dataset name\n", emb), 2;
    UmapParams up;
    umap_params_default(&up);
    const char *v;
    if ((v = cli_option(&a, "--neighbors")) && parse_int("map", "--neighbors", v, 2, 1000, &up.n_neighbors)) return 2;
    if ((v = cli_option(&a, "--epochs")) && parse_int("map", "--epochs", v, 1, 100000, &up.epochs)) return 2;
    if ((v = cli_option(&a, "--min-dist")) && parse_float("map", "--min-dist", v, 0.0, 0.999, &up.min_dist)) return 2;
    if ((v = cli_option(&a, "--seed"))) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-')
            return fprintf(stderr, "astromm map: --seed must be a non-negative integer (got '%s')\n", v), 2;
        up.seed = s;
    }
    if (init) {
        if (!strcmp(init, "pca")) up.init = UMAP_INIT_PCA;
        else if (!strcmp(init, "random")) up.init = UMAP_INIT_RANDOM;
        else return fprintf(stderr, "astromm map: --init must be pca or random (got '%s')\n", init), 2;
    }
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, "map")) return 2;
    ops_init(cfg.threads);

    AmError err = {{0}};
    MapInput in;
    const double t0 = am_now_s();
    if (load_input(in_path, emb, &in, &err)) return fprintf(stderr, "astromm map: %s\n", err.msg), 1;
    if (in.n < 2) {
        fprintf(stderr, "astromm map: %s: only %zu of %zu rows have the %s embedding; need at least 2\n", in_path, in.n,
                in.n_file, emb);
        map_input_free(&in);
        return 1;
    }
    printf("map: %s /embeddings/%s: %zu of %zu rows, %zu dims, method %s\n", in_path, emb, in.n, in.n_file, in.d,
           method);
    if (!strcmp(method, "umap") && (size_t)up.n_neighbors > in.n)
        printf("map: warning: --neighbors %d > %zu rows; using %zu\n", up.n_neighbors, in.n, in.n);
    float *xy = am_malloc(2 * in.n * sizeof *xy, "map coordinates");
    UmapInfo info = {0};
    int rc = 0;
    if (!strcmp(method, "pca")) {
        double var[2];
        pca_fit_transform(in.x, in.n, in.d, 2, xy, var);
        printf("map: PCA explained variance %.6g, %.6g\n", var[0], var[1]);
    } else if (umap_embed(in.x, in.n, in.d, &up, xy, &info, &err)) {
        fprintf(stderr, "astromm map: %s\n", err.msg);
        rc = 1;
    } else {
        printf("map: UMAP %d neighbours, %zu edges, a=%.4f b=%.4f, %d epochs, seed %llu\n", info.n_neighbors,
               info.n_edges, (double)info.a, (double)info.b, up.epochs, (unsigned long long)up.seed);
    }
    const MapMeta mm = {in_path, emb, method, up, !strcmp(method, "umap") ? &info : NULL};
    if (!rc && out && write_csv(out, &in, xy, &err)) fprintf(stderr, "astromm map: %s\n", err.msg), rc = 1;
    if (!rc && out_h5 && write_h5(out_h5, &in, xy, &mm, &err)) fprintf(stderr, "astromm map: %s\n", err.msg), rc = 1;
    if (!rc)
        printf("map: wrote %s%s%s (%zu points) in %.2f s\n", out ? out : "", out && out_h5 ? " and " : "",
               out_h5 ? out_h5 : "", in.n, am_now_s() - t0);
    free(xy);
    map_input_free(&in);
    return rc;
}
