#include "models/spectra.h"

#include <math.h>
#include <stdio.h>

#include "nn/ops.h"

enum { STREAM_SPECTRA_OUT = 0x20000 };

void spectra_encoder_register(SpectraEncoder *e, ParamStore *ps, const ModelConfig *cfg,
                              const char *prefix) {
    *e = (SpectraEncoder){0};
    e->cfg = *cfg;
    int c = cfg->spec_in, len = cfg->spec_len;
    for (int i = 0; i < 4; i++) {
        e->c_in[i] = c;
        e->c_out[i] = cfg->spec_channels[i];
        e->len_in[i] = len;
        e->len_out[i] = conv1d_out_len(len, 3, 0);
        len = i < 3 ? e->len_out[i] / cfg->spec_pool : e->len_out[i];
        c = e->c_out[i];
        // torch.nn.Sequential indices: conv, relu, pool per stage -> 0, 3, 6, 9
        char name[PARAM_NAME_MAX];
        const float bound = 1.0f / sqrtf(3.0f * (float)e->c_in[i]);
        params_name(name, "%slayers.%d.weight", prefix, 3 * i);
        e->conv_w[i] = params_add(ps, name, 3, (int64_t[]){e->c_out[i], e->c_in[i], 3}, 1, 0, bound);
        params_name(name, "%slayers.%d.bias", prefix, 3 * i);
        e->conv_b[i] = params_add(ps, name, 1, (int64_t[]){e->c_out[i]}, 1, 0, bound);
    }
}

int spectra_encoder_features(const SpectraEncoder *e) { return e->c_out[3] * e->len_out[3]; }

void spectra_encoder_build(SpectraEncoder *e, AmArena *arena, int max_batch) {
    const size_t B = (size_t)max_batch;
    const int pool = e->cfg.spec_pool;
    e->max_batch = max_batch;
    for (int i = 0; i < 4; i++) {
        const size_t n = B * (size_t)e->c_out[i] * (size_t)e->len_out[i];
        e->a[i] = arena_floats(arena, n);
        e->g_a[i] = arena_floats(arena, n);
        if (i < 3) {
            const size_t np = B * (size_t)e->c_out[i] * (size_t)(e->len_out[i] / pool);
            e->pooled[i] = arena_floats(arena, np);
            e->g_pooled[i] = arena_floats(arena, np);
            e->argmax[i] = arena_ints(arena, np);
        }
    }
    e->out = arena_floats(arena, B * (size_t)spectra_encoder_features(e));
    e->g_out = arena_floats(arena, B * (size_t)spectra_encoder_features(e));
}

float *spectra_encoder_forward(SpectraEncoder *e, const ParamStore *ps, const float *x, int B,
                               const StepCtx *ctx) {
    CHECK(B >= 1 && B <= e->max_batch, "spectra batch %d outside 1..%d", B, e->max_batch);
    const int pool = e->cfg.spec_pool;
    e->batch = B;
    e->ctx = *ctx;
    e->in = x;
    const float *in = x;
    for (int i = 0; i < 4; i++) {
        const size_t n = (size_t)B * (size_t)e->c_out[i] * (size_t)e->len_out[i];
        op_conv1d_forward(e->a[i], in, params_data(ps, e->conv_w[i]), params_data(ps, e->conv_b[i]),
                          B, e->c_in[i], e->len_in[i], e->c_out[i], 3, 0, PAD_ZEROS);
        op_relu_forward(e->a[i], e->a[i], n);
        if (i < 3) {
            op_maxpool1d_forward(e->pooled[i], e->argmax[i], e->a[i], B * e->c_out[i],
                                 e->len_out[i], pool);
            in = e->pooled[i];
        }
    }
    // Flatten is free: [B, C, len] is already [B, C*len] channel-major as torch.flatten.
    const size_t F = (size_t)spectra_encoder_features(e), n = (size_t)B * F;
    const float p = e->cfg.p_spec;
    if (ctx->training && p > 0.0f) {
        AmRng r = am_rng(ctx->seed, ctx->step, RNG_DROPOUT, STREAM_SPECTRA_OUT);
        op_dropout_forward(e->out, e->a[3], n, p, &r, (uint64_t)ctx->sample_offset * F, NULL);
    } else {
        op_copy(e->out, e->a[3], n);
    }
    return e->out;
}

void spectra_encoder_backward(SpectraEncoder *e, const ParamStore *ps, const float *dout) {
    const int B = e->batch, pool = e->cfg.spec_pool;
    const size_t F = (size_t)spectra_encoder_features(e), n = (size_t)B * F;
    const float p = e->cfg.p_spec;
    const StepCtx *ctx = &e->ctx;
    // g_out: gradient at the last ReLU output.
    ops_zero(e->g_out, n);
    if (ctx->training && p > 0.0f) {
        AmRng r = am_rng(ctx->seed, ctx->step, RNG_DROPOUT, STREAM_SPECTRA_OUT);
        op_dropout_backward(e->g_out, dout, n, p, &r, (uint64_t)ctx->sample_offset * F, NULL);
    } else {
        op_axpy(e->g_out, 1.0f, dout, n);
    }
    const float *g = e->g_out;  // gradient of the current stage's output
    for (int i = 3; i >= 0; i--) {
        const size_t na = (size_t)B * (size_t)e->c_out[i] * (size_t)e->len_out[i];
        float *ga = e->g_a[i];  // becomes the gradient of the conv output (pre-ReLU)
        ops_zero(ga, na);
        if (i == 3) {
            op_relu_backward(ga, g, e->a[3], na);
        } else {
            op_maxpool1d_backward(ga, g, e->argmax[i], B * e->c_out[i], e->len_out[i], pool);
            // ReLU backward in place: pooling routed gradient only to window maxima.
            op_relu_mask_inplace(ga, e->a[i], na);
        }
        float *gin = i > 0 ? e->g_pooled[i - 1] : NULL;  // the input itself needs no gradient
        if (gin) ops_zero(gin, (size_t)B * (size_t)e->c_in[i] * (size_t)e->len_in[i]);
        op_conv1d_backward(gin, params_grad(ps, e->conv_w[i]), params_grad(ps, e->conv_b[i]), ga,
                           i > 0 ? e->pooled[i - 1] : e->in, params_data(ps, e->conv_w[i]), B,
                           e->c_in[i], e->len_in[i], e->c_out[i], 3, 0, PAD_ZEROS);
        g = gin;
    }
}
