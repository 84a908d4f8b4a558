#include "train/clip_step.h"

float clip_forward_backward(AstroM3 *m, ClipLoss *loss, const Batch *b, const StepCtx *ctx) {
    params_zero_grad(&m->params);
    astrom3_embed_forward_masked(m, b, ctx, loss->mod_mask);
    float log_scale[3], dlog_scale[3] = {0, 0, 0};
    astrom3_log_scales(m, log_scale);
    const float value = clip_loss_forward(loss, m->emb[MOD_PHOTOMETRY], m->emb[MOD_SPECTRA],
                                          m->emb[MOD_METADATA], b->n, 0, b->n, log_scale);
    astrom3_zero_emb_grad(m);
    clip_loss_backward(loss, m->g_emb[MOD_PHOTOMETRY], m->g_emb[MOD_SPECTRA],
                       m->g_emb[MOD_METADATA], dlog_scale);
    astrom3_add_log_scale_grad(m, dlog_scale);
    astrom3_embed_backward_masked(m, loss->mod_mask, NULL, NULL);
    return value;
}
