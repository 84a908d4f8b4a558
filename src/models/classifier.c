// Classifier heads of AstroM3 for fine-tuning with labels.
#include <stdio.h>
#include <string.h>

#include "models/astrom3.h"
#include "nn/ops.h"

int astrom3_head_fused(int head_mask) { return modality_mask_count(head_mask) > 1; }

static const float *encoder_forward(AstroM3 *m, int mod, const Batch *b, const StepCtx *ctx) {
    const ParamStore *ps = &m->params;
    switch (mod) {
    case MOD_PHOTOMETRY:
        return photometry_encoder_forward(&m->photo, ps, b->photometry, b->photometry_mask, b->n, ctx);
    case MOD_SPECTRA: return spectra_encoder_forward(&m->spec, ps, b->spectra, b->n, ctx);
    default: return metadata_encoder_forward(&m->meta, ps, b->metadata, b->n, ctx);
    }
}

static void encoder_backward(AstroM3 *m, int mod, const float *dout) {
    const ParamStore *ps = &m->params;
    switch (mod) {
    case MOD_PHOTOMETRY: photometry_encoder_backward(&m->photo, ps, dout); break;
    case MOD_SPECTRA: spectra_encoder_backward(&m->spec, ps, dout); break;
    default: metadata_encoder_backward(&m->meta, ps, dout); break;
    }
}

float *astrom3_classify_forward(AstroM3 *m, const Batch *b, const StepCtx *ctx) {
    CHECK(m->head_mask != 0, "classify: the model was built without a classifier head");
    const ParamStore *ps = &m->params;
    const int B = b->n, D = m->cfg.proj_dim;
    m->batch = B;
    const float *x;
    if (astrom3_head_fused(m->head_mask)) {
        // Mean of the head's normalised projections (modality order).
        const int mask = m->head_mask;
        astrom3_embed_forward_masked(m, b, ctx, mask);
        const size_t n = (size_t)B * (size_t)D;
        int k = 0, first = -1;
        for (int i = 0; i < MOD_COUNT; i++) {
            if (!(mask & MOD_BIT(i))) continue;
            if (k == 1) op_add(m->head_x, m->emb[first], m->emb[i], n);
            else if (k > 1) op_axpy(m->head_x, 1.0f, m->emb[i], n);
            if (first < 0) first = i;
            k++;
        }
        op_scale(m->head_x, 1.0f / (float)k, n);
        x = m->head_x;
    } else {
        const int mod = modality_mask_single(m->head_mask);
        x = m->enc_out[mod] = encoder_forward(m, mod, b, ctx);
    }
    op_linear_forward(m->logits, x, params_data(ps, m->head_w), params_data(ps, m->head_b), B,
                      m->head_in, m->cfg.n_classes);
    return m->logits;
}

void astrom3_classify_backward(AstroM3 *m, const float *dlogits) {
    const ParamStore *ps = &m->params;
    const int B = m->batch, C = m->cfg.n_classes;
    if (astrom3_head_fused(m->head_mask)) {
        const int mask = m->head_mask;
        const int k = modality_mask_count(mask);
        const size_t n = (size_t)B * (size_t)m->cfg.proj_dim;
        ops_zero(m->g_head_x, n);
        op_linear_backward(m->g_head_x, params_grad(ps, m->head_w), params_grad(ps, m->head_b),
                           dlogits, m->head_x, params_data(ps, m->head_w), B, m->head_in, C);
        astrom3_zero_emb_grad(m);
        for (int i = 0; i < MOD_COUNT; i++)
            if (mask & MOD_BIT(i)) op_axpy(m->g_emb[i], 1.0f / (float)k, m->g_head_x, n);
        astrom3_embed_backward_masked(m, mask, NULL, NULL);
        return;
    }
    const int mod = modality_mask_single(m->head_mask);
    float *g = m->g_enc[mod];
    ops_zero(g, (size_t)B * (size_t)m->enc_dim[mod]);
    op_linear_backward(g, params_grad(ps, m->head_w), params_grad(ps, m->head_b), dlogits,
                       m->enc_out[mod], params_data(ps, m->head_w), B, m->head_in, C);
    encoder_backward(m, mod, g);
}
