#include "models/astrom3.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/ops.h"

static const char *const scale_names[3] = {"logit_scale_ps", "logit_scale_sm", "logit_scale_mp"};
static const char *const proj_names[MOD_COUNT] = {"photometry_proj", "spectra_proj", "metadata_proj"};

void astrom3_create(AstroM3 *m, const ModelConfig *cfg, int max_batch) {
    astrom3_create_with_head(m, cfg, max_batch, 0);
}

void astrom3_create_with_head(AstroM3 *m, const ModelConfig *cfg, int max_batch, int head_mask) {
    char err[256];
    CHECK(!model_config_validate(cfg, err, sizeof err), "invalid model config: %s", err);
    CHECK(max_batch >= 1, "batch size must be >= 1 (got %d)", max_batch);
    CHECK(head_mask >= 0 && head_mask <= MOD_MASK_ALL, "classifier head: invalid modality set 0x%x", head_mask);
    *m = (AstroM3){0};
    m->cfg = *cfg;
    m->head_mask = head_mask;
    m->max_batch = max_batch;
    ParamStore *ps = &m->params;
    params_set_group(ps, ASTROM3_GROUP_LOGIT_SCALES);
    for (int i = 0; i < 3; i++)
        m->logit_scale[i] = params_add(ps, scale_names[i], 0, NULL, 1, logf(100.0f), 0.0f);
    params_set_group(ps, astrom3_group(MOD_PHOTOMETRY, ASTROM3_PART_ENCODER));
    photometry_encoder_register(&m->photo, ps, cfg, "photometry_encoder.");
    params_set_group(ps, astrom3_group(MOD_SPECTRA, ASTROM3_PART_ENCODER));
    spectra_encoder_register(&m->spec, ps, cfg, "spectra_encoder.");
    params_set_group(ps, astrom3_group(MOD_METADATA, ASTROM3_PART_ENCODER));
    metadata_encoder_register(&m->meta, ps, cfg, "metadata_encoder.");
    m->enc_dim[MOD_PHOTOMETRY] = model_photometry_features(cfg);
    m->enc_dim[MOD_SPECTRA] = spectra_encoder_features(&m->spec);
    m->enc_dim[MOD_METADATA] = cfg->meta_hidden;
    for (int i = 0; i < MOD_COUNT; i++) {
        char name[PARAM_NAME_MAX];
        const float bound = 1.0f / sqrtf((float)m->enc_dim[i]);
        params_set_group(ps, astrom3_group(i, ASTROM3_PART_PROJ));
        params_name(name, "%s.weight", proj_names[i]);
        m->proj_w[i] = params_add(ps, name, 2, (int64_t[]){cfg->proj_dim, m->enc_dim[i]}, 1, 0, bound);
        params_name(name, "%s.bias", proj_names[i]);
        m->proj_b[i] = params_add(ps, name, 1, (int64_t[]){cfg->proj_dim}, 1, 0, bound);
    }
    if (head_mask) {
        m->head_in = astrom3_head_fused(head_mask) ? cfg->proj_dim : m->enc_dim[modality_mask_single(head_mask)];
        const float bound = 1.0f / sqrtf((float)m->head_in);
        params_set_group(ps, ASTROM3_GROUP_CLASSIFIER);
        m->head_w = params_add(ps, "classifier.weight", 2, (int64_t[]){cfg->n_classes, m->head_in}, 1, 0, bound);
        m->head_b = params_add(ps, "classifier.bias", 1, (int64_t[]){cfg->n_classes}, 1, 0, bound);
    }
    params_allocate(ps);

    AmArena *a = &m->arena;
    photometry_encoder_build(&m->photo, ps, a, max_batch);
    spectra_encoder_build(&m->spec, a, max_batch);
    metadata_encoder_build(&m->meta, a, max_batch);
    const size_t B = (size_t)max_batch, D = (size_t)cfg->proj_dim;
    for (int i = 0; i < MOD_COUNT; i++) {
        m->proj[i] = arena_floats(a, B * D);
        m->emb[i] = arena_floats(a, B * D);
        m->norm[i] = arena_floats(a, B);
        m->g_emb[i] = arena_floats(a, B * D);
        m->g_proj[i] = arena_floats(a, B * D);
        m->g_enc[i] = arena_floats(a, B * (size_t)m->enc_dim[i]);
    }
    if (head_mask) {
        m->logits = arena_floats(a, B * (size_t)cfg->n_classes);
        if (astrom3_head_fused(head_mask)) {
            m->head_x = arena_floats(a, B * D);
            m->g_head_x = arena_floats(a, B * D);
        }
    }
}

void astrom3_free(AstroM3 *m) {
    photometry_encoder_free(&m->photo);
    arena_free(&m->arena);
    params_free(&m->params);
    *m = (AstroM3){0};
}

void astrom3_init(AstroM3 *m, uint64_t seed) { params_init(&m->params, seed); }

void astrom3_embed_forward(AstroM3 *m, const Batch *b, const StepCtx *ctx) {
    astrom3_embed_forward_masked(m, b, ctx, MOD_MASK_ALL);
}

void astrom3_embed_forward_masked(AstroM3 *m, const Batch *b, const StepCtx *ctx, int mask) {
    const ParamStore *ps = &m->params;
    const int B = b->n, D = m->cfg.proj_dim;
    m->batch = B;
    if (mask & MOD_BIT(MOD_PHOTOMETRY))
        m->enc_out[MOD_PHOTOMETRY] =
            photometry_encoder_forward(&m->photo, ps, b->photometry, b->photometry_mask, B, ctx);
    if (mask & MOD_BIT(MOD_SPECTRA)) m->enc_out[MOD_SPECTRA] = spectra_encoder_forward(&m->spec, ps, b->spectra, B, ctx);
    if (mask & MOD_BIT(MOD_METADATA))
        m->enc_out[MOD_METADATA] = metadata_encoder_forward(&m->meta, ps, b->metadata, B, ctx);
    for (int i = 0; i < MOD_COUNT; i++) {
        if (!(mask & MOD_BIT(i))) continue;
        op_linear_forward(m->proj[i], m->enc_out[i], params_data(ps, m->proj_w[i]),
                          params_data(ps, m->proj_b[i]), B, m->enc_dim[i], D);
        op_l2norm_forward(m->emb[i], m->norm[i], m->proj[i], B, D);
    }
}

void astrom3_zero_emb_grad(AstroM3 *m) {
    for (int i = 0; i < MOD_COUNT; i++) ops_zero(m->g_emb[i], (size_t)m->max_batch * m->cfg.proj_dim);
}

void astrom3_embed_backward(AstroM3 *m) { astrom3_embed_backward_hooked(m, NULL, NULL); }

// Modality by modality (projection, then its encoder): every group's gradients
// are final when its hook runs. The groups touch disjoint gradients, so the
// order changes no result.
void astrom3_embed_backward_hooked(AstroM3 *m, AstroM3GradReady ready, void *user) {
    astrom3_embed_backward_masked(m, MOD_MASK_ALL, ready, user);
}

void astrom3_embed_backward_masked(AstroM3 *m, int mask, AstroM3GradReady ready, void *user) {
    const ParamStore *ps = &m->params;
    const int B = m->batch, D = m->cfg.proj_dim;
    for (int i = 0; i < MOD_COUNT; i++) {
        if (!(mask & MOD_BIT(i))) continue;
        ops_zero(m->g_proj[i], (size_t)B * D);
        op_l2norm_backward(m->g_proj[i], m->g_emb[i], m->emb[i], m->norm[i], B, D);
        ops_zero(m->g_enc[i], (size_t)B * (size_t)m->enc_dim[i]);
        op_linear_backward(m->g_enc[i], params_grad(ps, m->proj_w[i]), params_grad(ps, m->proj_b[i]),
                           m->g_proj[i], m->enc_out[i], params_data(ps, m->proj_w[i]), B,
                           m->enc_dim[i], D);
        if (ready) ready(user, i, ASTROM3_PART_PROJ);
        if (i == MOD_PHOTOMETRY)
            photometry_encoder_backward(&m->photo, ps, m->g_enc[i]);
        else if (i == MOD_SPECTRA)
            spectra_encoder_backward(&m->spec, ps, m->g_enc[i]);
        else
            metadata_encoder_backward(&m->meta, ps, m->g_enc[i]);
        if (ready) ready(user, i, ASTROM3_PART_ENCODER);
    }
}

// The three scalars sit on the op device: read and updated through small copies.
void astrom3_log_scales(const AstroM3 *m, float out[3]) {
    for (int i = 0; i < 3; i++) ops_to_host(&out[i], params_data(&m->params, m->logit_scale[i]), sizeof(float));
}

void astrom3_add_log_scale_grad(AstroM3 *m, const float g[3]) {
    for (int i = 0; i < 3; i++) {
        float *dst = params_grad(&m->params, m->logit_scale[i]), v;
        ops_to_host(&v, dst, sizeof v);
        v += g[i];
        ops_to_device(dst, &v, sizeof v);
    }
}
