// The files of astromm map (docs/map.md): CSV id,label,class,x,y and HDF5 /id,
// /label, /xy with the parameters as attributes; each written atomically.
#define _POSIX_C_SOURCE 200809L
#include "eval/map_file.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <string.h>

#include "data/format/dataset_h5.h"
#include "io/text_out.h"
#include "io/output_path.h"

int map_write_csv(const char *path, const EmbView *in, const float *xy, AmError *err) {
    TextOut t;
    if (text_out_open(&t, path, err)) return -1;
    fprintf(t.f, "id,label,class,x,y\n");
    for (size_t i = 0; i < in->n; i++) {
        fprintf(t.f, "%lld,%d,", (long long)in->id[i], in->label[i]);
        csv_field(t.f, emb_view_class(in, in->label[i]));
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

int map_write_h5(const char *path, const EmbView *in, const float *xy, const MapMeta *mm, AmError *err) {
    if (output_path_check(path, err)) return -1;
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
        s1[0] = mm->info->knn == UMAP_KNN_HNSW ? "hnsw" : "exact", bad |= h5_write_str_attr(f, "knn", s1, -1);
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

