// Checkpoint files of a parameter store (safetensors): the model registers its
// tensors (nn/params.h) and never touches files; the trainer and the commands
// save and load through here.
#include "io/params_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/safetensors.h"
#include "nn/ops.h"

int params_save(const ParamStore *ps, const char *path, const char *const *meta_kv, int n_meta,
                AmError *err) {
    // Host copies of the (possibly device-resident) weights and buffers.
    float *data = am_malloc((ps->n_train_floats + 1) * sizeof(float), "checkpoint staging");
    float *bufs = am_malloc((ps->n_buffer_floats + 1) * sizeof(float), "checkpoint staging");
    ops_to_host(data, ps->data, ps->n_train_floats * sizeof(float));
    ops_to_host(bufs, ps->buffers, ps->n_buffer_floats * sizeof(float));
    StWriteTensor *t = am_calloc((size_t)ps->n, sizeof *t, "checkpoint tensor list");
    for (int i = 0; i < ps->n; i++) {
        const ParamInfo *p = &ps->info[i];
        t[i].name = p->name;
        t[i].dtype = ST_F32;
        t[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
        t[i].data = (p->trainable ? data : bufs) + p->offset;
    }
    // data_crc32: CRC-32 of the tensor bytes in file order (st_write lays them out
    // contiguously in this order), checked by train/train_state.h's
    // ckpt_model_content_check (resume, astromm inspect --verify).
    uLong crc = crc32_z(0L, Z_NULL, 0);
    for (int i = 0; i < ps->n; i++) crc = crc32_z(crc, (const Bytef *)t[i].data, ps->info[i].numel * sizeof(float));
    char crc_s[16];
    snprintf(crc_s, sizeof crc_s, "%08x", (unsigned)crc);
    // The caller's metadata, the model properties, then the checksum.
    const int n_all = n_meta + ps->n_props + 1;
    const char **meta = am_calloc((size_t)(2 * n_all + 1), sizeof *meta, "checkpoint metadata");
    for (int i = 0; i < 2 * n_meta; i++) meta[i] = meta_kv[i];
    for (int i = 0; i < ps->n_props; i++) {
        meta[2 * (n_meta + i)] = ps->prop_key[i];
        meta[2 * (n_meta + i) + 1] = ps->prop_val[i];
    }
    meta[2 * (n_all - 1)] = "data_crc32";
    meta[2 * (n_all - 1) + 1] = crc_s;
    int rc = st_write(path, t, ps->n, meta, n_all, err);
    free(meta);
    free(t);
    free(data);
    free(bufs);
    return rc;
}

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < len) snprintf(buf + k, len - k, ")");
}

static int is_fresh(const char *name, const char *fresh_prefix) {
    return fresh_prefix && *fresh_prefix && strncmp(name, fresh_prefix, strlen(fresh_prefix)) == 0;
}

int params_load(ParamStore *ps, const char *path, AmError *err) { return params_load_except(ps, path, NULL, err); }

int params_load_except(ParamStore *ps, const char *path, const char *fresh_prefix, AmError *err) {
    ParamsLoadOptions o = {.fresh_prefix = fresh_prefix};
    return params_load_with(ps, path, &o, err);
}

// The name tensor i has in the file.
static const char *file_name_of(const ParamStore *ps, int i, const ParamsLoadOptions *o, char *buf, size_t len) {
    if (!o->file_name) return ps->info[i].name;
    o->file_name(ps->info[i].name, buf, len);
    return buf;
}

// Shapes equal, or (squeeze) equal once their size-1 dimensions are dropped.
static int same_shape(const StTensor *t, const ParamInfo *p, int squeeze) {
    int64_t a[ST_MAX_DIMS], b[PARAM_MAX_DIMS];
    int na = 0, nb = 0;
    for (int d = 0; d < t->ndim; d++)
        if (!squeeze || t->shape[d] != 1) a[na++] = t->shape[d];
    for (int d = 0; d < p->ndim; d++)
        if (!squeeze || p->shape[d] != 1) b[nb++] = p->shape[d];
    if (na != nb) return 0;
    for (int d = 0; d < na; d++)
        if (a[d] != b[d]) return 0;
    return 1;
}

int params_load_with(ParamStore *ps, const char *path, const ParamsLoadOptions *o, AmError *err) {
    StFile *f = NULL;
    if (st_open(&f, path, err)) return 1;
    int rc = 0;
    char buf[PARAM_NAME_MAX];
    for (int i = 0; i < ps->n_props && !rc && !o->file_name; i++) {
        const char *v = st_meta(f, ps->prop_key[i]);
        if (v && strcmp(v, ps->prop_val[i]))
            rc = am_error_set(err, "%s: the checkpoint was made with %s = \"%s\" but the model config says \"%s\" "
                                   "(set model.%s = \"%s\" to use it)", path, ps->prop_key[i], v, ps->prop_val[i],
                              ps->prop_key[i], v);
        else if (!v)
            fprintf(stderr, "astromm: warning: %s does not record %s; loading it as \"%s\" (astromm checkpoints "
                            "from before 2026-12-04 used \"standard\")\n", path, ps->prop_key[i], ps->prop_val[i]);
    }
    // Every file tensor must be one of ours (catches renamed or foreign checkpoints).
    for (int i = 0; i < st_count(f) && !rc && !o->allow_extra; i++) {
        const StTensor *t = st_tensor(f, i);
        int found = 0;
        for (int j = 0; j < ps->n && !found; j++) found = !strcmp(file_name_of(ps, j, o, buf, sizeof buf), t->name);
        if (!found)
            rc = am_error_set(err, "%s: unexpected tensor '%s' (not part of this model; "
                                   "was the checkpoint made with another model config?)",
                              path, t->name);
    }
    for (int i = 0; i < ps->n && !rc; i++) {
        const ParamInfo *p = &ps->info[i];
        const char *fname = file_name_of(ps, i, o, buf, sizeof buf);
        const StTensor *t = st_find(f, fname);
        if (!t && is_fresh(p->name, o->fresh_prefix)) continue;  // keeps its fresh initialisation
        if (!t) {
            rc = am_error_set(err, "%s: missing tensor '%s'", path, fname);
            break;
        }
        if (t->dtype != ST_F32) {
            rc = am_error_set(err, "%s: tensor '%s' has dtype %s, expected F32", path, fname,
                              st_dtype_name(t->dtype));
            break;
        }
        if (!same_shape(t, p, o->squeeze_shapes)) {
            char want[96], got[96];
            shape_str(want, sizeof want, p->ndim, p->shape);
            shape_str(got, sizeof got, t->ndim, t->shape);
            rc = am_error_set(err, "%s: tensor '%s' has shape %s, the model expects %s", path,
                              fname, got, want);
            break;
        }
    }
    // Copy only once everything matched, so a refused file leaves the model untouched.
    for (int i = 0; i < ps->n && !rc; i++) {
        const StTensor *t = st_find(f, file_name_of(ps, i, o, buf, sizeof buf));
        if (t) ops_to_device(params_data(ps, i), st_data(f, t), ps->info[i].numel * sizeof(float));
    }
    st_close(f);
    return rc;
}
