// Classifier heads of AstroM3 for fine-tuning with labels.
#include <stdio.h>
#include <string.h>

#include "models/astrom3.h"
#include "nn/ops.h"

const char *astrom3_head_name(int head) {
    switch (head) {
    case HEAD_PHOTOMETRY: return "photometry";
    case HEAD_SPECTRA: return "spectra";
    case HEAD_METADATA: return "metadata";
    case HEAD_ALL: return "all";
    case HEAD_PHOTOMETRY_METADATA: return "photometry+metadata";
    default: return "none";
    }
}

int astrom3_head_from_name(const char *name) {
    if (!name) return HEAD_NONE;
    for (int h = 0; h <= HEAD_LAST; h++)
        if (!strcmp(name, astrom3_head_name(h))) return h;
    return HEAD_NONE;
}

int astrom3_head_mask(int head) {
    switch (head) {
    case HEAD_ALL: return 7;
    case HEAD_PHOTOMETRY_METADATA: return 1 << MOD_PHOTOMETRY | 1 << MOD_METADATA;
    case HEAD_NONE: return 0;
    default: return 1 << head;
    }
}

int astrom3_modalities_from_name(const char *name) {
    static const char *const names[4] = {"all", "photometry+metadata", "photometry+spectra", "spectra+metadata"};
    static const int masks[4] = {7, 1 << MOD_PHOTOMETRY | 1 << MOD_METADATA, 1 << MOD_PHOTOMETRY | 1 << MOD_SPECTRA,
                                 1 << MOD_SPECTRA | 1 << MOD_METADATA};
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, names[i])) return masks[i];
    return 0;
}

int astrom3_head_fused(int head) { return head == HEAD_ALL || head == HEAD_PHOTOMETRY_METADATA; }

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
    CHECK(m->head != HEAD_NONE, "classify: the model was built without a classifier head");
    const ParamStore *ps = &m->params;
    const int B = b->n, D = m->cfg.proj_dim;
    m->batch = B;
    const float *x;
    if (astrom3_head_fused(m->head)) {
        // Mean of the head's normalised projections (modality order).
        const int mask = astrom3_head_mask(m->head);
        astrom3_embed_forward_masked(m, b, ctx, mask);
        const size_t n = (size_t)B * (size_t)D;
        int k = 0, first = -1;
        for (int i = 0; i < 3; i++) {
            if (!(mask & 1 << i)) continue;
            if (k == 1) op_add(m->head_x, m->emb[first], m->emb[i], n);
            else if (k > 1) op_axpy(m->head_x, 1.0f, m->emb[i], n);
            if (first < 0) first = i;
            k++;
        }
        op_scale(m->head_x, 1.0f / (float)k, n);
        x = m->head_x;
    } else {
        x = m->enc_out[m->head] = encoder_forward(m, m->head, b, ctx);
    }
    op_linear_forward(m->logits, x, params_data(ps, m->head_w), params_data(ps, m->head_b), B,
                      m->head_in, m->cfg.n_classes);
    return m->logits;
}

void astrom3_classify_backward(AstroM3 *m, const float *dlogits) {
    const ParamStore *ps = &m->params;
    const int B = m->batch, C = m->cfg.n_classes;
    if (astrom3_head_fused(m->head)) {
        const int mask = astrom3_head_mask(m->head);
        const int k = (mask & 1) + (mask >> 1 & 1) + (mask >> 2 & 1);
        const size_t n = (size_t)B * (size_t)m->cfg.proj_dim;
        ops_zero(m->g_head_x, n);
        op_linear_backward(m->g_head_x, params_grad(ps, m->head_w), params_grad(ps, m->head_b),
                           dlogits, m->head_x, params_data(ps, m->head_w), B, m->head_in, C);
        astrom3_zero_emb_grad(m);
        for (int i = 0; i < 3; i++)
            if (mask & 1 << i) op_axpy(m->g_emb[i], 1.0f / (float)k, m->g_head_x, n);
        astrom3_embed_backward_masked(m, mask, NULL, NULL);
        return;
    }
    const int mod = m->head;
    float *g = m->g_enc[mod];
    ops_zero(g, (size_t)B * (size_t)m->enc_dim[mod]);
    op_linear_backward(g, params_grad(ps, m->head_w), params_grad(ps, m->head_b), dlogits,
                       m->enc_out[mod], params_data(ps, m->head_w), B, m->head_in, C);
    encoder_backward(m, mod, g);
}
