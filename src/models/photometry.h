// Photometry encoder: the Informer encoder of AstroM3.
// x [B, L, photo_in], mask [B, L]  ->  out [B, L * d_model] (masked, no pooling).
#ifndef ASTROMM_PHOTOMETRY_H
#define ASTROMM_PHOTOMETRY_H

#include "nn/arena.h"
#include "models/model_config.h"
#include "nn/params.h"

typedef struct {
    int q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;      // attention projections
    int conv1_w, conv1_b, conv2_w, conv2_b;          // 1x1 convs of the feed-forward
    int norm1_w, norm1_b, norm2_w, norm2_b;
} InformerLayerParams;

typedef struct {
    float *q, *k, *v, *ctx, *o, *r1, *x1, *mean1, *rstd1;
    float *h, *gd, *y, *r2, *out, *mean2, *rstd2;
    float *probs;       // [B, H, u, L] rows of the selected queries
    int32_t *top_idx;   // [B, H, u]
    int32_t *sample_idx;  // [L, u]
    uint8_t *keep_o, *keep_gd, *keep_y;  // dropout masks as bits
    // Out-projection table (op_probsparse_row_tables): its distinct input rows
    // (one stand-in row per sample plus every selected row, a fixed number of
    // entries per sample) and, for each row, its table entry.
    int32_t *tab_rows, *row_map;
    int n_tab;  // B * probsparse_table_stride(L, H, u)
    float *o_in;  // [n_tab, d] gathered context rows
} InformerLayerActs;

typedef struct {
    ModelConfig cfg;
    int max_batch, u;
    int token_w, pe, norm_w, norm_b;  // parameter indices
    InformerLayerParams *layer;
    // activations (sized for max_batch)
    float *xt, *et, *x0;
    InformerLayerActs *act;
    float *mean_f, *rstd_f, *out;
    uint8_t *keep_embed, *keep_final;
    const float *in_mask;  // the forward's mask, kept for backward
    StepCtx ctx;
    int batch;
    // gradient work buffers
    float *g_a, *g_b, *g_r2, *g_x1, *g_gd, *g_r1, *g_ctx, *g_q, *g_k, *g_v;
    float *g_et;
    // Sparse query backward: rows whose query was selected in some head, built
    // on the device from top_idx (op_probsparse_row_tables).
    int32_t *q_rows;
    // model.attention_layout = "astrom3": the context [B,H,L,D] viewed as
    // [B,L,H*D] is the standard [B,L,H,D] context with its D-sized chunks
    // permuted: chunk b*L*H + f of the view is chunk (b*L + f%L)*H + f/L of the
    // standard layout (heads_perm), and back (heads_inv). Fixed per model.
    int heads_first;
    int32_t *heads_perm, *heads_inv;  // [max_batch * L * H]
    float *q_x, *q_g, *q_dx;  // [rows, d] gathered input, dQ, and dX
    float *o_tab, *g_tab;     // out-projection table outputs and their gradient
    // Test hook: when set, [n_layers, L, u] key samples (host memory) used instead of the RNG.
    const int32_t *injected_sample_idx;
} PhotometryEncoder;

// Registers the encoder's tensors under prefix ("photometry_encoder.").
void photometry_encoder_register(PhotometryEncoder *e, ParamStore *ps, const ModelConfig *cfg,
                                 const char *prefix);
// After params_allocate: fills the pe buffer and allocates activations.
void photometry_encoder_build(PhotometryEncoder *e, ParamStore *ps, AmArena *arena, int max_batch);
// Returns the output [B, L*d_model] (owned by the encoder). mask must stay
// valid until the matching backward (it is read again there).
float *photometry_encoder_forward(PhotometryEncoder *e, const ParamStore *ps, const float *x,
                                  const float *mask, int B, const StepCtx *ctx);
// Frees what build allocated outside the arena.
void photometry_encoder_free(PhotometryEncoder *e);
// dout [B, L*d_model]; accumulates parameter gradients into ps->grad.
void photometry_encoder_backward(PhotometryEncoder *e, const ParamStore *ps, const float *dout);

#endif
