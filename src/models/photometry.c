#include "models/photometry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

// Dropout streams (RNG_DROPOUT): one per dropout site so masks never repeat.
enum { STREAM_EMBED = 0x10000, STREAM_LAYER = 0x10100, STREAM_FINAL = 0x10f00 };

static int add(ParamStore *ps, const char *prefix, const char *name, int ndim, int64_t d0,
               int64_t d1, int64_t d2, float off, float bound) {
    char full[PARAM_NAME_MAX];
    params_name(full, "%s%s", prefix, name);
    int64_t shape[3] = {d0, d1, d2};
    return params_add(ps, full, ndim, shape, 1, off, bound);
}

void photometry_encoder_register(PhotometryEncoder *e, ParamStore *ps, const ModelConfig *cfg,
                                 const char *prefix) {
    *e = (PhotometryEncoder){0};
    e->cfg = *cfg;
    const int d = cfg->d_model, f = cfg->d_ff;
    const float bd = 1.0f / sqrtf((float)d), bf = 1.0f / sqrtf((float)f);
    e->token_w = add(ps, prefix, "enc_embedding.value_embedding.tokenConv.weight", 3, d,
                     cfg->photo_in, 3, 0.0f, 1.0f / sqrtf(3.0f * (float)cfg->photo_in));
    char full[PARAM_NAME_MAX];
    params_name(full, "%senc_embedding.position_embedding.pe", prefix);
    e->pe = params_add(ps, full, 3, (int64_t[]){1, cfg->pe_max_len, d}, 0, 0.0f, 0.0f);
    e->layer = am_calloc((size_t)cfg->n_layers, sizeof *e->layer, "informer layers");
    for (int l = 0; l < cfg->n_layers; l++) {
        InformerLayerParams *p = &e->layer[l];
        char pre[PARAM_NAME_MAX];
        params_name(pre, "%sencoder.attn_layers.%d.", prefix, l);
        p->q_w = add(ps, pre, "attention.query_projection.weight", 2, d, d, 0, 0, bd);
        p->q_b = add(ps, pre, "attention.query_projection.bias", 1, d, 0, 0, 0, bd);
        p->k_w = add(ps, pre, "attention.key_projection.weight", 2, d, d, 0, 0, bd);
        p->k_b = add(ps, pre, "attention.key_projection.bias", 1, d, 0, 0, 0, bd);
        p->v_w = add(ps, pre, "attention.value_projection.weight", 2, d, d, 0, 0, bd);
        p->v_b = add(ps, pre, "attention.value_projection.bias", 1, d, 0, 0, 0, bd);
        p->o_w = add(ps, pre, "attention.out_projection.weight", 2, d, d, 0, 0, bd);
        p->o_b = add(ps, pre, "attention.out_projection.bias", 1, d, 0, 0, 0, bd);
        p->conv1_w = add(ps, pre, "conv1.weight", 3, f, d, 1, 0, bd);
        p->conv1_b = add(ps, pre, "conv1.bias", 1, f, 0, 0, 0, bd);
        p->conv2_w = add(ps, pre, "conv2.weight", 3, d, f, 1, 0, bf);
        p->conv2_b = add(ps, pre, "conv2.bias", 1, d, 0, 0, 0, bf);
        p->norm1_w = add(ps, pre, "norm1.weight", 1, d, 0, 0, 1.0f, 0.0f);
        p->norm1_b = add(ps, pre, "norm1.bias", 1, d, 0, 0, 0.0f, 0.0f);
        p->norm2_w = add(ps, pre, "norm2.weight", 1, d, 0, 0, 1.0f, 0.0f);
        p->norm2_b = add(ps, pre, "norm2.bias", 1, d, 0, 0, 0.0f, 0.0f);
    }
    e->heads_first = model_attention_astrom3(cfg);
    params_set_property(ps, "attention_layout", e->heads_first ? "astrom3" : "standard");
    e->norm_w = add(ps, prefix, "encoder.norm.weight", 1, d, 0, 0, 1.0f, 0.0f);
    e->norm_b = add(ps, prefix, "encoder.norm.bias", 1, d, 0, 0, 0.0f, 0.0f);
}

void photometry_encoder_build(PhotometryEncoder *e, ParamStore *ps, AmArena *a, int max_batch) {
    const ModelConfig *c = &e->cfg;
    const size_t B = (size_t)max_batch, L = (size_t)c->seq_len, d = (size_t)c->d_model,
                 f = (size_t)c->d_ff, H = (size_t)c->n_heads;
    e->max_batch = max_batch;
    e->u = probsparse_u(c->factor, c->seq_len);
    const size_t u = (size_t)e->u, N = B * L;
    op_sinusoid_table(params_data(ps, e->pe), c->pe_max_len, c->d_model);

    e->xt = arena_floats(a, B * (size_t)c->photo_in * L);
    e->et = arena_floats(a, N * d);
    e->x0 = arena_floats(a, N * d);
    e->act = am_calloc((size_t)c->n_layers, sizeof *e->act, "informer activations");
    for (int l = 0; l < c->n_layers; l++) {
        InformerLayerActs *t = &e->act[l];
        float **nd[] = {&t->q, &t->k, &t->v, &t->ctx, &t->o, &t->r1, &t->x1, &t->y, &t->r2, &t->out};
        for (size_t i = 0; i < sizeof nd / sizeof *nd; i++) *nd[i] = arena_floats(a, N * d);
        t->h = arena_floats(a, N * f);
        t->gd = arena_floats(a, N * f);
        t->mean1 = arena_floats(a, N);
        t->rstd1 = arena_floats(a, N);
        t->mean2 = arena_floats(a, N);
        t->rstd2 = arena_floats(a, N);
        t->probs = arena_floats(a, B * H * u * L);
        t->top_idx = arena_ints(a, B * H * u);
        t->sample_idx = arena_ints(a, L * u);
        if (!e->heads_first) {  // the standard layout's out-projection table
            t->tab_rows = arena_ints(a, N);
            t->row_map = arena_ints(a, N);
        }
        t->o_in = arena_floats(a, N * d);
        t->keep_o = arena_bits(a, N * d);
        t->keep_gd = arena_bits(a, N * f);
        t->keep_y = arena_bits(a, N * d);
    }
    e->mean_f = arena_floats(a, N);
    e->rstd_f = arena_floats(a, N);
    e->out = arena_floats(a, N * d);
    e->keep_embed = arena_bits(a, N * d);
    e->keep_final = arena_bits(a, N * d);
    float **gd_[] = {&e->g_a, &e->g_b, &e->g_r2, &e->g_x1, &e->g_r1,
                     &e->g_ctx, &e->g_q, &e->g_k, &e->g_v, &e->g_et};
    for (size_t i = 0; i < sizeof gd_ / sizeof *gd_; i++) *gd_[i] = arena_floats(a, N * d);
    e->q_rows = arena_ints(a, N);
    if (e->heads_first) {  // the authors' heads-first view as a chunk permutation, built once
        const size_t LH = L * H, n = B * LH;
        int32_t *perm = am_malloc(n * sizeof *perm, "head permutation"), *inv = am_malloc(n * sizeof *inv, "head permutation");
        for (size_t b = 0; b < B; b++)
            for (size_t k = 0; k < LH; k++) {  // chunk k of the view: position k % L of head k / L
                const size_t l = k % L, h = k / L;
                perm[b * LH + k] = (int32_t)((b * L + l) * H + h);
                inv[(b * L + l) * H + h] = (int32_t)(b * LH + k);
            }
        e->heads_perm = arena_ints(a, n);
        e->heads_inv = arena_ints(a, n);
        ops_to_device(e->heads_perm, perm, n * sizeof *perm);
        ops_to_device(e->heads_inv, inv, n * sizeof *inv);
        free(perm);
        free(inv);
    }
    e->q_x = arena_floats(a, N * d);
    e->q_g = arena_floats(a, N * d);
    e->q_dx = arena_floats(a, N * d);
    e->o_tab = arena_floats(a, N * d);
    if (!e->heads_first) e->g_tab = arena_floats(a, N * d);
    e->g_gd = arena_floats(a, N * f);
}

void photometry_encoder_free(PhotometryEncoder *e) {
    free(e->layer);
    free(e->act);
}

// Dropout of a [B, per_sample] buffer, its mask keyed by global sample index.
static AmRng dropout_rng(const StepCtx *ctx, uint32_t stream) {
    return am_rng(ctx->seed, ctx->step, RNG_DROPOUT, stream);
}

static void drop_fwd(float *x, uint8_t *keep, size_t per_sample, int B, float p,
                     const StepCtx *ctx, uint32_t stream) {
    if (!ctx->training || p == 0.0f) return;
    AmRng r = dropout_rng(ctx, stream);
    op_dropout_forward(x, x, per_sample * (size_t)B, p, &r, (uint64_t)ctx->sample_offset * per_sample,
                       keep);
}

// Dropout backward in place on a gradient buffer, from the forward's keep bits.
static void drop_grad(float *g, const uint8_t *keep, size_t per_sample, int B, float p,
                      const StepCtx *ctx, uint32_t stream) {
    if (!ctx->training || p == 0.0f) return;
    AmRng r = dropout_rng(ctx, stream);
    op_dropout_mask_inplace(g, per_sample * (size_t)B, p, &r, (uint64_t)ctx->sample_offset * per_sample,
                            keep);
}

// g_in += dQ Wq and the query projection's parameter gradients, computed on the
// selected rows only (at most H*u of every L rows, op_probsparse_row_tables; the
// padding entries repeat a row whose dQ is zero, adding exact zeros), then dQ is
// re-zeroed there so the buffer stays zero between steps (the attention backward
// only writes those rows).
static void query_projection_backward(PhotometryEncoder *e, const ParamStore *ps,
                                      const InformerLayerParams *w, const InformerLayerActs *t,
                                      const float *xin, float *g_in, int B) {
    const ModelConfig *c = &e->cfg;
    const int d = c->d_model;
    const int n = B * probsparse_query_stride(c->seq_len, c->n_heads, e->u);
    op_probsparse_row_tables(NULL, NULL, e->q_rows, t->top_idx, B, c->seq_len, c->n_heads, e->u);
    op_gather_rows(e->q_g, e->g_q, e->q_rows, n, d);
    op_gather_rows(e->q_x, xin, e->q_rows, n, d);
    ops_zero(e->q_dx, (size_t)n * d);
    op_linear_backward(e->q_dx, params_grad(ps, w->q_w), params_grad(ps, w->q_b), e->q_g, e->q_x,
                       params_data(ps, w->q_w), n, d, d);
    op_scatter_add_rows(g_in, e->q_dx, e->q_rows, n, d);
    op_zero_rows(e->g_q, e->q_rows, n, d);
}

float *photometry_encoder_forward(PhotometryEncoder *e, const ParamStore *ps, const float *x,
                                  const float *mask, int B, const StepCtx *ctx) {
    const ModelConfig *c = &e->cfg;
    CHECK(B >= 1 && B <= e->max_batch, "photometry batch %d outside 1..%d", B, e->max_batch);
    const int L = c->seq_len, d = c->d_model, H = c->n_heads, f = c->d_ff, N = B * L;
    const size_t per = (size_t)L * (size_t)d;
    const float p = c->p_photo;
    e->ctx = *ctx;
    e->batch = B;
    e->in_mask = mask;
#define P(i) params_data(ps, (i))
    // Token embedding: circular conv over time, channels-first like torch.
    op_transpose_forward(e->xt, x, B, L, c->photo_in);
    op_conv1d_forward(e->et, e->xt, P(e->token_w), NULL, B, c->photo_in, L, d, 3, 1, PAD_CIRCULAR);
    op_transpose_forward(e->x0, e->et, B, d, L);
    op_add_position(e->x0, P(e->pe), B, L, d);
    drop_fwd(e->x0, e->keep_embed, per, B, c->p_embed, ctx, STREAM_EMBED);

    const float *xin = e->x0;
    for (int l = 0; l < c->n_layers; l++) {
        const InformerLayerParams *w = &e->layer[l];
        InformerLayerActs *t = &e->act[l];
        const uint32_t s = STREAM_LAYER + 4u * (uint32_t)l;
        op_linear_forward(t->q, xin, P(w->q_w), P(w->q_b), N, d, d);
        op_linear_forward(t->k, xin, P(w->k_w), P(w->k_b), N, d, d);
        op_linear_forward(t->v, xin, P(w->v_w), P(w->v_b), N, d, d);
        if (e->injected_sample_idx) {
            const int32_t *src = e->injected_sample_idx + (size_t)l * (size_t)L * (size_t)e->u;
            ops_to_device(t->sample_idx, src, (size_t)L * (size_t)e->u * sizeof(int32_t));
        } else {
            AmRng r = am_rng(ctx->seed, ctx->step, RNG_PROBSPARSE, (uint32_t)l);
            probsparse_sample_keys(t->sample_idx, L, L, e->u, &r);
        }
        op_probsparse_attention_forward(t->ctx, t->probs, t->top_idx, t->q, t->k, t->v,
                                        t->sample_idx, e->u, e->u, B, L, H, d / H);
        if (e->heads_first) {
            // The authors' layout: the heads-first context viewed as [B, L, H*D] (a chunk
            // permutation of ours), then the out-projection on every row (the view mixes
            // positions, so rows no longer share contexts).
            op_gather_rows(t->o_in, t->ctx, e->heads_perm, N * H, d / H);
            op_linear_forward(t->o, t->o_in, P(w->o_w), P(w->o_b), N, d, d);
        } else {
            // Out-projection on the distinct context rows only (each selected row and one
            // stand-in per sample, in a fixed per-sample layout: no host round trip),
            // then expanded to all rows.
            op_probsparse_row_tables(t->tab_rows, t->row_map, NULL, t->top_idx, B, L, H, e->u);
            t->n_tab = B * probsparse_table_stride(L, H, e->u);
            op_gather_rows(t->o_in, t->ctx, t->tab_rows, t->n_tab, d);
            op_linear_forward(e->o_tab, t->o_in, P(w->o_w), P(w->o_b), t->n_tab, d, d);
            op_gather_rows(t->o, e->o_tab, t->row_map, N, d);
        }
        drop_fwd(t->o, t->keep_o, per, B, p, ctx, s);
        op_add(t->r1, xin, t->o, (size_t)N * d);
        op_layernorm_forward(t->x1, t->mean1, t->rstd1, t->r1, P(w->norm1_w), P(w->norm1_b), N, d, 1e-5f);
        op_linear_forward(t->h, t->x1, P(w->conv1_w), P(w->conv1_b), N, d, f);
        op_gelu_forward(t->gd, t->h, (size_t)N * f);
        drop_fwd(t->gd, t->keep_gd, (size_t)L * f, B, p, ctx, s + 1);
        op_linear_forward(t->y, t->gd, P(w->conv2_w), P(w->conv2_b), N, f, d);
        drop_fwd(t->y, t->keep_y, per, B, p, ctx, s + 2);
        op_add(t->r2, t->x1, t->y, (size_t)N * d);
        op_layernorm_forward(t->out, t->mean2, t->rstd2, t->r2, P(w->norm2_w), P(w->norm2_b), N, d, 1e-5f);
        xin = t->out;
    }
    op_layernorm_forward(e->out, e->mean_f, e->rstd_f, xin, P(e->norm_w), P(e->norm_b), N, d, 1e-5f);
    drop_fwd(e->out, e->keep_final, per, B, p, ctx, STREAM_FINAL);
    op_mask_rows_forward(e->out, e->out, mask, B, L, d);
#undef P
    return e->out;
}

void photometry_encoder_backward(PhotometryEncoder *e, const ParamStore *ps, const float *dout) {
    const ModelConfig *c = &e->cfg;
    const int B = e->batch, L = c->seq_len, d = c->d_model, H = c->n_heads, f = c->d_ff;
    const int N = B * L;
    const size_t nd = (size_t)N * d, nf = (size_t)N * f, per = (size_t)L * d;
    const float p = c->p_photo;
    const StepCtx *ctx = &e->ctx;
#define P(i) params_data(ps, (i))
#define G(i) params_grad(ps, (i))
    // Output: mask, dropout, final norm. g_a collects the gradient of the last layer output.
    ops_zero(e->g_r2, nd);
    op_mask_rows_backward(e->g_r2, dout, e->in_mask, B, L, d);
    drop_grad(e->g_r2, e->keep_final, per, B, p, ctx, STREAM_FINAL);
    const float *last = e->act[c->n_layers - 1].out;
    ops_zero(e->g_a, nd);
    op_layernorm_backward(e->g_a, G(e->norm_w), G(e->norm_b), e->g_r2, last, e->mean_f,
                          e->rstd_f, P(e->norm_w), N, d);

    // Gradient buffers that a residual also needs are copied before the dropout
    // mask is applied to them in place; the rest start from zero (ops accumulate).
    float *g_out = e->g_a, *g_in = e->g_b;
    for (int l = c->n_layers - 1; l >= 0; l--) {
        const InformerLayerParams *w = &e->layer[l];
        const InformerLayerActs *t = &e->act[l];
        const float *xin = l ? e->act[l - 1].out : e->x0;
        const uint32_t s = STREAM_LAYER + 4u * (uint32_t)l;
        // (g_q is kept zero by query_projection_backward.)
        float *zero_nd[] = {e->g_r2, e->g_r1, e->g_ctx, e->g_k, e->g_v};
        for (size_t i = 0; i < sizeof zero_nd / sizeof *zero_nd; i++) ops_zero(zero_nd[i], nd);
        ops_zero(e->g_gd, nf);

        op_layernorm_backward(e->g_r2, G(w->norm2_w), G(w->norm2_b), g_out, t->r2, t->mean2,
                              t->rstd2, P(w->norm2_w), N, d);
        op_copy(e->g_x1, e->g_r2, nd);  // residual r2 = x1 + y
        drop_grad(e->g_r2, t->keep_y, per, B, p, ctx, s + 2);  // now dL/dy before dropout
        op_linear_backward(e->g_gd, G(w->conv2_w), G(w->conv2_b), e->g_r2, t->gd, P(w->conv2_w),
                           N, f, d);
        drop_grad(e->g_gd, t->keep_gd, (size_t)L * f, B, p, ctx, s + 1);
        op_gelu_backward_inplace(e->g_gd, t->h, nf);  // now dL/dh
        op_linear_backward(e->g_x1, G(w->conv1_w), G(w->conv1_b), e->g_gd, t->x1, P(w->conv1_w),
                           N, d, f);
        op_layernorm_backward(e->g_r1, G(w->norm1_w), G(w->norm1_b), e->g_x1, t->r1, t->mean1,
                              t->rstd1, P(w->norm1_w), N, d);
        op_copy(g_in, e->g_r1, nd);  // residual r1 = xin + o
        drop_grad(e->g_r1, t->keep_o, per, B, p, ctx, s);  // now dL/do before dropout
        // Out-projection on the table: a table row's gradient is the sum over the rows
        // sharing it. dctx is also taken per table row and scattered back with the
        // unselected rows' sum on their representative row (the others left 0):
        // the attention backward only uses unselected rows through that sum (the
        // mean-of-V path), so this is exact and needs n_tab rows instead of B*L.
        if (e->heads_first) {  // every row, then the chunks permuted back (g_ctx is overwritten)
            ops_zero(e->o_tab, nd);  // reused: d(viewed context)
            op_linear_backward(e->o_tab, G(w->o_w), G(w->o_b), e->g_r1, t->o_in, P(w->o_w), N, d, d);
            op_gather_rows(e->g_ctx, e->o_tab, e->heads_inv, N * H, d / H);
        } else {
            ops_zero(e->g_tab, (size_t)t->n_tab * d);
            op_scatter_add_rows(e->g_tab, e->g_r1, t->row_map, N, d);
            ops_zero(e->o_tab, (size_t)t->n_tab * d);  // reused: dctx per table row
            op_linear_backward(e->o_tab, G(w->o_w), G(w->o_b), e->g_tab, t->o_in, P(w->o_w), t->n_tab, d, d);
            op_scatter_add_rows(e->g_ctx, e->o_tab, t->tab_rows, t->n_tab, d);
        }
        op_probsparse_attention_backward(e->g_q, e->g_k, e->g_v, e->g_ctx, t->q, t->k, t->v,
                                         t->probs, t->top_idx, e->u, B, L, H, d / H);
        query_projection_backward(e, ps, w, t, xin, g_in, B);
        op_linear_backward(g_in, G(w->k_w), G(w->k_b), e->g_k, xin, P(w->k_w), N, d, d);
        op_linear_backward(g_in, G(w->v_w), G(w->v_b), e->g_v, xin, P(w->v_w), N, d, d);
        float *tmp = g_out;
        g_out = g_in;
        g_in = tmp;
    }
    // Embedding: dropout, (fixed pe), transpose, token conv (input needs no gradient).
    drop_grad(g_out, e->keep_embed, per, B, c->p_embed, ctx, STREAM_EMBED);
    ops_zero(e->g_et, nd);
    op_transpose_backward(e->g_et, g_out, B, d, L);
    op_conv1d_backward(NULL, G(e->token_w), NULL, e->g_et, e->xt, P(e->token_w), B,
                       c->photo_in, L, d, 3, 1, PAD_CIRCULAR);
#undef P
#undef G
}
