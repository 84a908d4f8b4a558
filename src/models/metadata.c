#include "models/metadata.h"

#include <math.h>
#include <stdio.h>

#include "nn/ops.h"

enum { STREAM_METADATA = 0x30000 };

void metadata_encoder_register(MetadataEncoder *e, ParamStore *ps, const ModelConfig *cfg,
                               const char *prefix) {
    *e = (MetadataEncoder){0};
    e->cfg = *cfg;
    const int in[2] = {cfg->meta_in, cfg->meta_hidden};
    for (int i = 0; i < 2; i++) {
        char name[PARAM_NAME_MAX];
        const float bound = 1.0f / sqrtf((float)in[i]);
        params_name(name, "%smodel.%d.weight", prefix, 3 * i);
        e->w[i] = params_add(ps, name, 2, (int64_t[]){cfg->meta_hidden, in[i]}, 1, 0, bound);
        params_name(name, "%smodel.%d.bias", prefix, 3 * i);
        e->b[i] = params_add(ps, name, 1, (int64_t[]){cfg->meta_hidden}, 1, 0, bound);
    }
}

void metadata_encoder_build(MetadataEncoder *e, AmArena *arena, int max_batch) {
    const size_t n = (size_t)max_batch * (size_t)e->cfg.meta_hidden;
    e->max_batch = max_batch;
    e->h[0] = arena_floats(arena, n);
    e->h[1] = arena_floats(arena, n);
    e->g_h = arena_floats(arena, n);
    e->g_r = arena_floats(arena, n);
    e->g_l = arena_floats(arena, n);
    e->g_x1 = arena_floats(arena, n);
}

float *metadata_encoder_forward(MetadataEncoder *e, const ParamStore *ps, const float *x, int B,
                                const StepCtx *ctx) {
    CHECK(B >= 1 && B <= e->max_batch, "metadata batch %d outside 1..%d", B, e->max_batch);
    const int hid = e->cfg.meta_hidden, in[2] = {e->cfg.meta_in, hid};
    const size_t n = (size_t)B * (size_t)hid;
    const float p = e->cfg.p_meta;
    e->batch = B;
    e->ctx = *ctx;
    e->in = x;
    const float *src = x;
    for (int i = 0; i < 2; i++) {
        op_linear_forward(e->h[i], src, params_data(ps, e->w[i]), params_data(ps, e->b[i]), B,
                          in[i], hid);
        op_relu_forward(e->h[i], e->h[i], n);
        if (ctx->training && p > 0.0f) {
            AmRng r = am_rng(ctx->seed, ctx->step, RNG_DROPOUT, STREAM_METADATA + (uint32_t)i);
            op_dropout_forward(e->h[i], e->h[i], n, p, &r, (uint64_t)ctx->sample_offset * (uint64_t)hid, NULL);
        }
        src = e->h[i];
    }
    return e->h[1];
}

void metadata_encoder_backward(MetadataEncoder *e, const ParamStore *ps, const float *dout) {
    const int B = e->batch, hid = e->cfg.meta_hidden, in[2] = {e->cfg.meta_in, hid};
    const size_t n = (size_t)B * (size_t)hid;
    const float p = e->cfg.p_meta;
    const StepCtx *ctx = &e->ctx;
    const float *g = dout;  // gradient of h[i] (after dropout)
    for (int i = 1; i >= 0; i--) {
        ops_zero(e->g_r, n);
        if (ctx->training && p > 0.0f) {
            AmRng r = am_rng(ctx->seed, ctx->step, RNG_DROPOUT, STREAM_METADATA + (uint32_t)i);
            op_dropout_backward(e->g_r, g, n, p, &r, (uint64_t)ctx->sample_offset * (uint64_t)hid, NULL);
        } else {
            op_axpy(e->g_r, 1.0f, g, n);
        }
        ops_zero(e->g_l, n);
        // Dropped elements are 0 in h[i]; their gradient is already 0 from dropout.
        op_relu_backward(e->g_l, e->g_r, e->h[i], n);
        float *gin = i ? e->g_x1 : NULL;  // the input needs no gradient
        if (gin) ops_zero(gin, n);
        op_linear_backward(gin, params_grad(ps, e->w[i]), params_grad(ps, e->b[i]), e->g_l,
                           i ? e->h[0] : e->in, params_data(ps, e->w[i]), B, in[i], hid);
        g = gin;
    }
}
