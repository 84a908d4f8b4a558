#include "nn/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/ops.h"

void params_name(char *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PARAM_NAME_MAX, fmt, ap);
    va_end(ap);
    CHECK(n >= 0 && n < PARAM_NAME_MAX, "parameter name too long (%d chars): %s...", n, out);
}

int params_add(ParamStore *ps, const char *name, int ndim, const int64_t *shape, int trainable,
               float init_offset, float init_bound) {
    CHECK(!ps->data, "params_add(%s) after params_allocate", name);
    CHECK(ndim >= 0 && ndim <= PARAM_MAX_DIMS, "parameter %s: %d dims (max %d)", name, ndim,
          PARAM_MAX_DIMS);
    CHECK(strlen(name) < PARAM_NAME_MAX, "parameter name too long: %s", name);
    CHECK(params_find(ps, name) < 0, "parameter %s registered twice", name);
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 64;
        ps->info = realloc(ps->info, (size_t)ps->cap * sizeof *ps->info);
        CHECK(ps->info, "out of memory registering parameters");
    }
    ParamInfo *p = &ps->info[ps->n];
    memset(p, 0, sizeof *p);
    strcpy(p->name, name);
    p->ndim = ndim;
    p->numel = 1;
    for (int d = 0; d < ndim; d++) {
        CHECK(shape[d] > 0, "parameter %s: dim %d is %lld", name, d, (long long)shape[d]);
        p->shape[d] = shape[d];
        p->numel *= (size_t)shape[d];
    }
    p->trainable = trainable;
    p->group = ps->group_set ? ps->next_group : PARAM_GROUP_UNSET;
    p->init_offset = init_offset;
    p->init_bound = init_bound;
    if (trainable) {
        p->init_index = ps->n_trainable++;
        p->offset = ps->n_train_floats;
        ps->n_train_floats += p->numel;
    } else {
        p->init_index = -1;
        p->offset = ps->n_buffer_floats;
        ps->n_buffer_floats += p->numel;
    }
    return ps->n++;
}

void params_set_group(ParamStore *ps, int g) {
    CHECK(g >= 0, "params_set_group: group %d must be >= 0", g);
    ps->next_group = g;
    ps->group_set = 1;
}

void params_allocate(ParamStore *ps) {
    CHECK(!ps->data, "params_allocate called twice");
    ps->data = ops_alloc(ps->n_train_floats * sizeof(float), "parameters");
    ps->grad = ops_alloc(ps->n_train_floats * sizeof(float), "gradients");
    ps->buffers = ops_alloc(ps->n_buffer_floats * sizeof(float), "buffers");
}

float *params_data(const ParamStore *ps, int idx) {
    const ParamInfo *p = &ps->info[idx];
    return (p->trainable ? ps->data : ps->buffers) + p->offset;
}

float *params_grad(const ParamStore *ps, int idx) {
    const ParamInfo *p = &ps->info[idx];
    return p->trainable ? ps->grad + p->offset : NULL;
}

int params_find(const ParamStore *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->info[i].name, name) == 0) return i;
    return -1;
}

void params_init(ParamStore *ps, uint64_t seed) {
    // Built on the host (the rule is defined there) and copied to the device.
    float *host = am_malloc(ps->n_train_floats * sizeof(float), "parameter initialisation");
    for (int i = 0; i < ps->n; i++) {
        const ParamInfo *p = &ps->info[i];
        if (!p->trainable) continue;
        float *x = host + p->offset;
        AmRng r = am_rng(seed, 0, RNG_INIT, (uint32_t)p->init_index);
        am_rng_fill_uniform(&r, 0, x, p->numel);
        const float off = p->init_offset, bound = p->init_bound;
        for (size_t j = 0; j < p->numel; j++) x[j] = off + (2.0f * x[j] - 1.0f) * bound;
    }
    ops_to_device(ps->data, host, ps->n_train_floats * sizeof(float));
    free(host);
}

int params_ranges(const ParamStore *ps, const unsigned char *keep, size_t ranges[][2], int max_ranges) {
    int n = 0;
    for (int t = 0; t < ps->n; t++) {
        const ParamInfo *p = &ps->info[t];
        if (!p->trainable || p->numel == 0 || !keep[t]) continue;
        if (n && ranges[n - 1][0] + ranges[n - 1][1] == p->offset) {
            ranges[n - 1][1] += p->numel;
            continue;
        }
        CHECK(n < max_ranges, "more than %d trained ranges", max_ranges);
        ranges[n][0] = p->offset;
        ranges[n][1] = p->numel;
        n++;
    }
    return n;
}

void params_zero_grad(ParamStore *ps) { ops_zero(ps->grad, ps->n_train_floats); }

void params_free(ParamStore *ps) {
    free(ps->info);
    ops_free(ps->data);
    ops_free(ps->grad);
    ops_free(ps->buffers);
    *ps = (ParamStore){0};
}

void params_set_property(ParamStore *ps, const char *key, const char *value) {
    CHECK(strlen(key) < sizeof ps->prop_key[0] && strlen(value) < sizeof ps->prop_val[0],
          "model property %s = %s: key or value too long", key, value);
    int i = 0;
    while (i < ps->n_props && strcmp(ps->prop_key[i], key)) i++;
    CHECK(i < PARAM_MAX_PROPS, "more than %d model properties", PARAM_MAX_PROPS);
    snprintf(ps->prop_key[i], sizeof ps->prop_key[i], "%s", key);
    snprintf(ps->prop_val[i], sizeof ps->prop_val[i], "%s", value);
    if (i == ps->n_props) ps->n_props++;
}
