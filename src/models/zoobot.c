#include "models/zoobot.h"

#include <math.h>
#include <string.h>

#include "nn/ops.h"

enum { STREAM_HEAD_DROPOUT = 0x51000 };

void zoobot_register(ZoobotModel *m, ParamStore *ps, const ConvNextConfig *cfg, int answers, float p_head) {
    memset(m, 0, sizeof *m);
    convnext_register(&m->enc, ps, cfg, "", ZOOBOT_GROUP_STEM);
    m->answers = answers;
    m->p_head = p_head;
    const int F = convnext_features(cfg);
    const float bound = 1.0f / sqrtf((float)F);  // nn.Linear's default
    params_set_group(ps, ZOOBOT_GROUP_HEAD);
    m->head_w = params_add(ps, "classifier.2.weight", 2, (int64_t[]){answers, F}, 1, 0.0f, bound);
    m->head_b = params_add(ps, "classifier.2.bias", 1, (int64_t[]){answers}, 1, 0.0f, bound);
}

void zoobot_build(ZoobotModel *m, AmArena *a, int max_batch) {
    convnext_build(&m->enc, a, max_batch);
    const size_t F = (size_t)max_batch * (size_t)convnext_features(&m->enc.cfg);
    const size_t A = (size_t)max_batch * (size_t)m->answers;
    m->dropped = arena_floats(a, F);
    m->g_feat = arena_floats(a, F);
    m->logits = arena_floats(a, A);
    m->alpha = arena_floats(a, A);
    m->g_logits = arena_floats(a, A);
}

void zoobot_convnext_config(const ModelConfig *mc, ConvNextConfig *c) {
    convnext_config_nano(c);
    c->in_chans = mc->image_channels;
    c->image_size = mc->image_size;
    memcpy(c->depths, mc->convnext_depths, sizeof c->depths);
    memcpy(c->dims, mc->convnext_dims, sizeof c->dims);
    c->drop_path = mc->drop_path;
    c->layer_scale = mc->layer_scale;
}

void zoobot_create(ZoobotModel *m, const ConvNextConfig *cfg, int answers, float p_head, int max_batch) {
    zoobot_register(m, &m->params, cfg, answers, p_head);  // zeroes *m (params and arena) first
    params_allocate(&m->params);
    zoobot_build(m, &m->arena, max_batch);
}

void zoobot_init(ZoobotModel *m, uint64_t seed) { params_init(&m->params, seed); }

void zoobot_free(ZoobotModel *m) {
    arena_free(&m->arena);
    params_free(&m->params);
    memset(m, 0, sizeof *m);
}

static AmRng head_rng(const StepCtx *ctx) { return am_rng(ctx->seed, ctx->step, RNG_DROPOUT, STREAM_HEAD_DROPOUT); }

float *zoobot_forward(ZoobotModel *m, const ParamStore *ps, const float *images, int B, const StepCtx *ctx) {
    const int F = convnext_features(&m->enc.cfg);
    const size_t nf = (size_t)B * F;
    m->batch = B;
    m->ctx = *ctx;
    const float *feat = convnext_forward(&m->enc, ps, images, B, ctx);
    const float *h = feat;
    if (ctx->training && m->p_head > 0.0f) {
        AmRng r = head_rng(ctx);
        op_dropout_forward(m->dropped, feat, nf, m->p_head, &r, (uint64_t)ctx->sample_offset * (uint64_t)F, NULL);
        h = m->dropped;
    }
    op_linear_forward(m->logits, h, params_data(ps, m->head_w), params_data(ps, m->head_b), B, F, m->answers);
    op_dirichlet_concentration_forward(m->alpha, m->logits, (size_t)B * m->answers);
    return m->alpha;
}

void zoobot_backward(ZoobotModel *m, const ParamStore *ps, const float *dalpha) {
    zoobot_backward_hooked(m, ps, dalpha, NULL, NULL);
}

void zoobot_backward_hooked(ZoobotModel *m, const ParamStore *ps, const float *dalpha, GroupDoneFn done, void *arg) {
    const int B = m->batch, F = convnext_features(&m->enc.cfg);
    const size_t nf = (size_t)B * F, na = (size_t)B * m->answers;
    const int dropped = m->ctx.training && m->p_head > 0.0f;
    ops_zero(m->g_logits, na);
    op_dirichlet_concentration_backward(m->g_logits, dalpha, m->logits, na);
    ops_zero(m->g_feat, nf);
    op_linear_backward(m->g_feat, params_grad(ps, m->head_w), params_grad(ps, m->head_b), m->g_logits,
                       dropped ? m->dropped : m->enc.feat, params_data(ps, m->head_w), B, F, m->answers);
    if (done) done(arg, ZOOBOT_GROUP_HEAD);
    if (dropped) {
        AmRng r = head_rng(&m->ctx);
        op_dropout_mask_inplace(m->g_feat, nf, m->p_head, &r, (uint64_t)m->ctx.sample_offset * (uint64_t)F, NULL);
    }
    convnext_backward(&m->enc, ps, m->g_feat, done, arg);
}
