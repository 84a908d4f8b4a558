#include "models/convnext.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/ops.h"

#define CONVNEXT_LN_EPS 1e-6f

enum { STREAM_DROP_PATH = 0x50000 };

void convnext_config_nano(ConvNextConfig *c) {
    *c = (ConvNextConfig){1, 224, {2, 2, 8, 2}, {80, 160, 320, 640}, 0.0f, 1e-6f};
}

int convnext_blocks(const ConvNextConfig *c) {
    int n = 0;
    for (int s = 0; s < CONVNEXT_STAGES; s++) n += c->depths[s];
    return n;
}

int convnext_features(const ConvNextConfig *c) { return c->dims[CONVNEXT_STAGES - 1]; }

int convnext_config_validate(const ConvNextConfig *c, char *err, int err_len) {
    if (c->in_chans != 1 && c->in_chans != 3)
        return snprintf(err, (size_t)err_len, "image channels %d: must be 1 (greyscale) or 3 (colour)", c->in_chans), -1;
    if (c->image_size < 32 || c->image_size % 32)
        return snprintf(err, (size_t)err_len, "image size %d: must be a multiple of 32 (stem 4 x three 2x downsamplings)",
                        c->image_size), -1;
    for (int s = 0; s < CONVNEXT_STAGES; s++)
        if (c->depths[s] < 1 || c->dims[s] < 1)
            return snprintf(err, (size_t)err_len, "stage %d: depth %d and width %d must be >= 1", s, c->depths[s],
                            c->dims[s]), -1;
    if (convnext_blocks(c) > CONVNEXT_MAX_BLOCKS)
        return snprintf(err, (size_t)err_len, "%d blocks: at most %d", convnext_blocks(c), CONVNEXT_MAX_BLOCKS), -1;
    if (!(c->drop_path >= 0.0f && c->drop_path < 1.0f))
        return snprintf(err, (size_t)err_len, "drop path %g outside [0, 1)", (double)c->drop_path), -1;
    return 0;
}

// torchvision's init: conv and linear weights trunc_normal(std 0.02), here the
// uniform of the same std (bound 0.02 sqrt 3); biases 0; LayerNorm 1 / 0.
#define W_BOUND 0.034641016f

static int add(ParamStore *ps, const char *prefix, const char *name, int ndim, const int64_t *shape,
               float offset, float bound) {
    char full[PARAM_NAME_MAX];
    params_name(full, "%s%s", prefix, name);
    return params_add(ps, full, ndim, shape, 1, offset, bound);
}

static void add_norm(ParamStore *ps, const char *prefix, const char *name, int C, int *w, int *b) {
    char n[PARAM_NAME_MAX];
    params_name(n, "%s.weight", name);
    *w = add(ps, prefix, n, 1, (int64_t[]){C}, 1.0f, 0.0f);
    params_name(n, "%s.bias", name);
    *b = add(ps, prefix, n, 1, (int64_t[]){C}, 0.0f, 0.0f);
}

static void add_conv(ParamStore *ps, const char *prefix, const char *name, int co, int ci, int k, int *w,
                     int *b) {
    char n[PARAM_NAME_MAX];
    params_name(n, "%s.weight", name);
    *w = add(ps, prefix, n, 4, (int64_t[]){co, ci, k, k}, 0.0f, W_BOUND);
    params_name(n, "%s.bias", name);
    *b = add(ps, prefix, n, 1, (int64_t[]){co}, 0.0f, 0.0f);
}

void convnext_register(ConvNext *e, ParamStore *ps, const ConvNextConfig *cfg, const char *prefix,
                       int first_group) {
    memset(e, 0, sizeof *e);
    e->cfg = *cfg;
    e->first_group = first_group;
    params_set_group(ps, first_group);
    add_conv(ps, prefix, "features.0.0", cfg->dims[0], cfg->in_chans, 4, &e->stem_w, &e->stem_b);
    add_norm(ps, prefix, "features.0.1", cfg->dims[0], &e->stem_ln_w, &e->stem_ln_b);
    const int nb = convnext_blocks(cfg);
    int k = 0;
    char n[PARAM_NAME_MAX];
    for (int s = 0; s < CONVNEXT_STAGES; s++) {
        const int C = cfg->dims[s];
        params_set_group(ps, first_group + 1 + s);
        if (s > 0) {  // torchvision appends the downsampling to the previous stage: features.{2s}
            params_name(n, "features.%d.0", 2 * s);
            add_norm(ps, prefix, n, cfg->dims[s - 1], &e->down_ln_w[s], &e->down_ln_b[s]);
            params_name(n, "features.%d.1", 2 * s);
            add_conv(ps, prefix, n, C, cfg->dims[s - 1], 2, &e->down_w[s], &e->down_b[s]);
        }
        for (int j = 0; j < cfg->depths[s]; j++, k++) {
            ConvNextBlock *b = &e->blocks[k];
            char base[PARAM_NAME_MAX];
            params_name(base, "features.%d.%d", 2 * s + 1, j);
            // state-dict order: the block's own layer_scale, then its Sequential
            params_name(n, "%s.layer_scale", base);
            b->gamma = add(ps, prefix, n, 3, (int64_t[]){C, 1, 1}, cfg->layer_scale, 0.0f);
            params_name(n, "%s.block.0", base);
            char w[PARAM_NAME_MAX];
            params_name(w, "%s.weight", n);
            b->dw_w = add(ps, prefix, w, 4, (int64_t[]){C, 1, 7, 7}, 0.0f, W_BOUND);
            params_name(w, "%s.bias", n);
            b->dw_b = add(ps, prefix, w, 1, (int64_t[]){C}, 0.0f, 0.0f);
            params_name(n, "%s.block.2", base);
            add_norm(ps, prefix, n, C, &b->ln_w, &b->ln_b);
            params_name(n, "%s.block.3.weight", base);
            b->fc1_w = add(ps, prefix, n, 2, (int64_t[]){4 * C, C}, 0.0f, W_BOUND);
            params_name(n, "%s.block.3.bias", base);
            b->fc1_b = add(ps, prefix, n, 1, (int64_t[]){4 * C}, 0.0f, 0.0f);
            params_name(n, "%s.block.5.weight", base);
            b->fc2_w = add(ps, prefix, n, 2, (int64_t[]){C, 4 * C}, 0.0f, W_BOUND);
            params_name(n, "%s.block.5.bias", base);
            b->fc2_b = add(ps, prefix, n, 1, (int64_t[]){C}, 0.0f, 0.0f);
            b->p_drop = nb > 1 ? cfg->drop_path * (float)k / (float)(nb - 1) : 0.0f;
        }
    }
    params_set_group(ps, first_group + 1 + CONVNEXT_STAGES);
    add_norm(ps, prefix, "classifier.0", convnext_features(cfg), &e->head_ln_w, &e->head_ln_b);
}

void convnext_build(ConvNext *e, AmArena *a, int max_batch) {
    const ConvNextConfig *c = &e->cfg;
    e->max_batch = max_batch;
    size_t big = 0;  // largest [N, C] of any stage
    for (int s = 0; s < CONVNEXT_STAGES; s++) {
        e->size[s] = c->image_size / (4 << s);
        const size_t N = (size_t)max_batch * e->size[s] * e->size[s], C = (size_t)c->dims[s];
        if (N * C > big) big = N * C;
        e->grad[s] = arena_floats(a, N * C);
        if (s > 0) {
            const size_t Np = (size_t)max_batch * e->size[s - 1] * e->size[s - 1];
            e->down_ln[s] = arena_floats(a, Np * (size_t)c->dims[s - 1]);
            e->down_mean[s] = arena_floats(a, Np);
            e->down_rstd[s] = arena_floats(a, Np);
            e->down_out[s] = arena_floats(a, N * C);
        }
    }
    int k = 0;
    for (int s = 0; s < CONVNEXT_STAGES; s++) {
        const size_t N = (size_t)max_batch * e->size[s] * e->size[s], C = (size_t)c->dims[s];
        for (int j = 0; j < c->depths[s]; j++, k++) {
            ConvNextBlock *b = &e->blocks[k];
            b->dw = arena_floats(a, N * C);
            b->ln = arena_floats(a, N * C);
            b->mean = arena_floats(a, N);
            b->rstd = arena_floats(a, N);
            b->h = arena_floats(a, 4 * N * C);
            b->g = arena_floats(a, 4 * N * C);
            b->f = arena_floats(a, N * C);
            b->out = arena_floats(a, N * C);
        }
    }
    const size_t N0 = (size_t)max_batch * e->size[0] * e->size[0];
    e->stem_out = arena_floats(a, N0 * (size_t)c->dims[0]);
    e->stem_ln = arena_floats(a, N0 * (size_t)c->dims[0]);
    e->stem_mean = arena_floats(a, N0);
    e->stem_rstd = arena_floats(a, N0);
    const size_t F = (size_t)max_batch * (size_t)convnext_features(c);
    e->pooled = arena_floats(a, F);
    e->feat = arena_floats(a, F);
    e->feat_mean = arena_floats(a, (size_t)max_batch);
    e->feat_rstd = arena_floats(a, (size_t)max_batch);
    e->g_pooled = arena_floats(a, F);
    e->t1 = arena_floats(a, big);
    e->t2 = arena_floats(a, big);
    e->t4 = arena_floats(a, 4 * big);
}

#define P(i) params_data(ps, (i))
#define G(i) params_grad(ps, (i))

static AmRng drop_rng(const StepCtx *ctx, int k) {
    return am_rng(ctx->seed, ctx->step, RNG_DROPOUT, STREAM_DROP_PATH + (uint32_t)k);
}

static int drop_on(const ConvNext *e, const ConvNextBlock *b) { return e->ctx.training && b->p_drop > 0.0f; }

static void block_forward(ConvNext *e, const ParamStore *ps, ConvNextBlock *b, int k, const float *x, int B,
                          int side, int C) {
    const int N = B * side * side;
    const size_t n = (size_t)N * C;
    op_dwconv2d_forward(b->dw, x, P(b->dw_w), P(b->dw_b), B, side, side, C, 7);
    op_layernorm_forward(b->ln, b->mean, b->rstd, b->dw, P(b->ln_w), P(b->ln_b), N, C, CONVNEXT_LN_EPS);
    op_linear_forward(b->h, b->ln, P(b->fc1_w), P(b->fc1_b), N, C, 4 * C);
    op_gelu_forward(b->g, b->h, 4 * n);
    op_linear_forward(b->f, b->g, P(b->fc2_w), P(b->fc2_b), N, 4 * C, C);
    op_channel_scale_forward(b->out, b->f, P(b->gamma), N, C);
    if (drop_on(e, b)) {
        AmRng r = drop_rng(&e->ctx, k);
        op_drop_path_forward(b->out, b->out, B, (size_t)side * side * C, b->p_drop, &r,
                             (uint64_t)e->ctx.sample_offset);
    }
    op_axpy(b->out, 1.0f, x, n);
}

// g: the gradient of the block's output on entry, of its input on return.
static void block_backward(ConvNext *e, const ParamStore *ps, ConvNextBlock *b, int k, const float *x,
                           float *g, int B, int side, int C) {
    const int N = B * side * side;
    const size_t n = (size_t)N * C;
    float *t1 = e->t1, *t2 = e->t2, *t4 = e->t4;
    if (drop_on(e, b)) {
        AmRng r = drop_rng(&e->ctx, k);
        ops_zero(t1, n);
        op_drop_path_backward(t1, g, B, (size_t)side * side * C, b->p_drop, &r, (uint64_t)e->ctx.sample_offset);
    } else {
        op_copy(t1, g, n);
    }
    ops_zero(t2, n);
    op_channel_scale_backward(t2, G(b->gamma), t1, b->f, P(b->gamma), N, C);
    ops_zero(t4, 4 * n);
    op_linear_backward(t4, G(b->fc2_w), G(b->fc2_b), t2, b->g, P(b->fc2_w), N, 4 * C, C);
    op_gelu_backward_inplace(t4, b->h, 4 * n);
    ops_zero(t1, n);
    op_linear_backward(t1, G(b->fc1_w), G(b->fc1_b), t4, b->ln, P(b->fc1_w), N, C, 4 * C);
    ops_zero(t2, n);
    op_layernorm_backward(t2, G(b->ln_w), G(b->ln_b), t1, b->dw, b->mean, b->rstd, P(b->ln_w), N, C);
    op_dwconv2d_backward(g, G(b->dw_w), G(b->dw_b), t2, x, P(b->dw_w), B, side, side, C, 7);
}

// The input of stage s's first block: the stem's LayerNorm or the downsampling conv.
static const float *stage_input(const ConvNext *e, int s) { return s == 0 ? e->stem_ln : e->down_out[s]; }

float *convnext_forward(ConvNext *e, const ParamStore *ps, const float *x, int B, const StepCtx *ctx) {
    CHECK(B >= 1 && B <= e->max_batch, "convnext batch %d outside 1..%d", B, e->max_batch);
    const ConvNextConfig *c = &e->cfg;
    e->batch = B;
    e->ctx = *ctx;
    e->in = x;
    const int S = c->image_size, N0 = B * e->size[0] * e->size[0];
    op_patch_conv2d_forward(e->stem_out, x, P(e->stem_w), P(e->stem_b), B, S, S, c->in_chans, c->dims[0], 4);
    op_layernorm_forward(e->stem_ln, e->stem_mean, e->stem_rstd, e->stem_out, P(e->stem_ln_w), P(e->stem_ln_b),
                         N0, c->dims[0], CONVNEXT_LN_EPS);
    const float *cur = e->stem_ln;
    int k = 0;
    for (int s = 0; s < CONVNEXT_STAGES; s++) {
        const int side = e->size[s], C = c->dims[s];
        if (s > 0) {
            const int ps_side = e->size[s - 1], Np = B * ps_side * ps_side;
            op_layernorm_forward(e->down_ln[s], e->down_mean[s], e->down_rstd[s], cur, P(e->down_ln_w[s]),
                                 P(e->down_ln_b[s]), Np, c->dims[s - 1], CONVNEXT_LN_EPS);
            op_patch_conv2d_forward(e->down_out[s], e->down_ln[s], P(e->down_w[s]), P(e->down_b[s]), B, ps_side,
                                    ps_side, c->dims[s - 1], C, 2);
            cur = e->down_out[s];
        }
        for (int j = 0; j < c->depths[s]; j++, k++) {
            block_forward(e, ps, &e->blocks[k], k, cur, B, side, C);
            cur = e->blocks[k].out;
        }
    }
    const int s3 = e->size[CONVNEXT_STAGES - 1], F = convnext_features(c);
    op_mean_pool_forward(e->pooled, cur, B, s3 * s3, F);
    op_layernorm_forward(e->feat, e->feat_mean, e->feat_rstd, e->pooled, P(e->head_ln_w), P(e->head_ln_b), B, F,
                         CONVNEXT_LN_EPS);
    return e->feat;
}

void convnext_backward(ConvNext *e, const ParamStore *ps, const float *dfeat, GroupDoneFn done, void *arg) {
    const ConvNextConfig *c = &e->cfg;
    const int B = e->batch, F = convnext_features(c), last = CONVNEXT_STAGES - 1;
    ops_zero(e->g_pooled, (size_t)B * F);
    op_layernorm_backward(e->g_pooled, G(e->head_ln_w), G(e->head_ln_b), dfeat, e->pooled, e->feat_mean,
                          e->feat_rstd, P(e->head_ln_w), B, F);
    if (done) done(arg, e->first_group + 1 + CONVNEXT_STAGES);
    const int s3 = e->size[last];
    ops_zero(e->grad[last], (size_t)B * s3 * s3 * F);
    op_mean_pool_backward(e->grad[last], e->g_pooled, B, s3 * s3, F);
    int k = convnext_blocks(c);
    for (int s = last; s >= 0; s--) {
        const int side = e->size[s], C = c->dims[s];
        float *g = e->grad[s];
        for (int j = c->depths[s] - 1; j >= 0; j--) {
            k--;
            const float *x = j > 0 ? e->blocks[k - 1].out : stage_input(e, s);
            block_backward(e, ps, &e->blocks[k], k, x, g, B, side, C);
        }
        const int Cp = s > 0 ? c->dims[s - 1] : c->in_chans;
        if (s > 0) {
            const int ps_side = e->size[s - 1], Np = B * ps_side * ps_side;
            ops_zero(e->t1, (size_t)Np * Cp);
            op_patch_conv2d_backward(e->t1, G(e->down_w[s]), G(e->down_b[s]), g, e->down_ln[s], P(e->down_w[s]),
                                     B, ps_side, ps_side, Cp, C, 2);
            const float *prev = e->blocks[k - 1].out;  // the previous stage's output
            ops_zero(e->grad[s - 1], (size_t)Np * Cp);
            op_layernorm_backward(e->grad[s - 1], G(e->down_ln_w[s]), G(e->down_ln_b[s]), e->t1, prev,
                                  e->down_mean[s], e->down_rstd[s], P(e->down_ln_w[s]), Np, Cp);
            if (done) done(arg, e->first_group + 1 + s);
        } else {
            if (done) done(arg, e->first_group + 1);
            const int N0 = B * side * side, S = c->image_size;
            ops_zero(e->t1, (size_t)N0 * C);
            op_layernorm_backward(e->t1, G(e->stem_ln_w), G(e->stem_ln_b), g, e->stem_out, e->stem_mean,
                                  e->stem_rstd, P(e->stem_ln_w), N0, C);
            op_patch_conv2d_backward(NULL, G(e->stem_w), G(e->stem_b), e->t1, e->in, P(e->stem_w), B, S, S,
                                     c->in_chans, C, 4);
            if (done) done(arg, e->first_group);
        }
    }
}
