// ConvNeXt + fine-tuning head: see image_classifier.h.
#include "models/image_classifier.h"

#include <math.h>
#include <string.h>

#include "nn/ops.h"

enum { STREAM_HEAD_DROP = 0x52000 };

const char *image_head_name(int kind) { return kind == IMAGE_HEAD_PAPER ? "paper" : "linear"; }

// nn.Linear(in, out) registered as name.weight / name.bias with torch's default init bound.
static void add_linear(ParamStore *ps, const char *name, int in, int out, int *w, int *b) {
    char n[64];
    const float bound = 1.0f / sqrtf((float)in);
    snprintf(n, sizeof n, "%s.weight", name);
    *w = params_add(ps, n, 2, (int64_t[]){out, in}, 1, 0.0f, bound);
    snprintf(n, sizeof n, "%s.bias", name);
    *b = params_add(ps, n, 1, (int64_t[]){out}, 1, 0.0f, bound);
}

void image_classifier_create(ImageClassifier *m, const ConvNextConfig *cfg, int kind, int outputs, float p_drop,
                             int max_batch) {
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->outputs = outputs;
    m->p_drop = p_drop;
    convnext_register(&m->enc, &m->params, cfg, "", 0);
    const int F = convnext_features(cfg), H = IMAGE_PAPER_HIDDEN;
    params_set_group(&m->params, IMAGE_GROUP_HEAD);
    if (kind == IMAGE_HEAD_PAPER) {
        add_linear(&m->params, "head.0", F, H, &m->w[0], &m->b[0]);
        add_linear(&m->params, "head.3", H, H, &m->w[1], &m->b[1]);
        add_linear(&m->params, "head.6", H, outputs, &m->w[2], &m->b[2]);
    } else {
        add_linear(&m->params, "head.1", F, outputs, &m->w[0], &m->b[0]);
    }
    params_allocate(&m->params);
    convnext_build(&m->enc, &m->arena, max_batch);
    int widest = F > H ? F : H;  // every head buffer holds one layer's rows
    if (outputs > widest) widest = outputs;
    const size_t B = (size_t)max_batch, w = (size_t)widest;
    for (int i = 0; i < 6; i++) {
        m->x[i] = arena_floats(&m->arena, B * w);
        m->g[i] = arena_floats(&m->arena, B * w);
    }
    m->logits = arena_floats(&m->arena, B * (size_t)outputs);
}

void image_classifier_init(ImageClassifier *m, uint64_t seed) { params_init(&m->params, seed); }

void image_classifier_free(ImageClassifier *m) {
    arena_free(&m->arena);
    params_free(&m->params);
    memset(m, 0, sizeof *m);
}

static AmRng drop_rng(const StepCtx *c, int layer) {
    return am_rng(c->seed, c->step, RNG_DROPOUT, STREAM_HEAD_DROP + (uint32_t)layer);
}

// Dropout of layer `layer` (width w) from in into out, or a copy outside training.
static const float *dropout(const ImageClassifier *m, float *out, const float *in, int w, int layer) {
    if (!m->ctx.training || m->p_drop <= 0.0f) return in;
    AmRng r = drop_rng(&m->ctx, layer);
    op_dropout_forward(out, in, (size_t)m->batch * w, m->p_drop, &r, (uint64_t)m->ctx.sample_offset * (uint64_t)w, NULL);
    return out;
}

float *image_classifier_forward(ImageClassifier *m, const float *images, int B, const StepCtx *ctx) {
    const ParamStore *ps = &m->params;
    const int F = convnext_features(&m->enc.cfg), H = IMAGE_PAPER_HIDDEN, K = m->outputs;
    m->batch = B;
    m->ctx = *ctx;
    const float *feat = convnext_forward(&m->enc, ps, images, B, ctx);
    if (m->kind == IMAGE_HEAD_LINEAR) {
        const float *h = dropout(m, m->x[0], feat, F, 0);
        op_linear_forward(m->logits, h, params_data(ps, m->w[0]), params_data(ps, m->b[0]), B, F, K);
        return m->logits;
    }
    // x0 = relu(L0 feat), x1 = drop(x0), x2 = relu(L1 x1), x3 = drop(x2), logits = L2 x3
    op_linear_forward(m->x[0], feat, params_data(ps, m->w[0]), params_data(ps, m->b[0]), B, F, H);
    op_relu_forward(m->x[0], m->x[0], (size_t)B * H);
    const float *h1 = dropout(m, m->x[1], m->x[0], H, 1);
    op_linear_forward(m->x[2], h1, params_data(ps, m->w[1]), params_data(ps, m->b[1]), B, H, H);
    op_relu_forward(m->x[2], m->x[2], (size_t)B * H);
    const float *h3 = dropout(m, m->x[3], m->x[2], H, 2);
    op_linear_forward(m->logits, h3, params_data(ps, m->w[2]), params_data(ps, m->b[2]), B, H, K);
    return m->logits;
}

// g *= dropout mask of layer (in place), when the forward dropped.
static void undrop(const ImageClassifier *m, float *g, int w, int layer) {
    if (!m->ctx.training || m->p_drop <= 0.0f) return;
    AmRng r = drop_rng(&m->ctx, layer);
    op_dropout_mask_inplace(g, (size_t)m->batch * w, m->p_drop, &r, (uint64_t)m->ctx.sample_offset * (uint64_t)w, NULL);
}

void image_classifier_backward(ImageClassifier *m, const float *dlogits, int encoder) {
    const ParamStore *ps = &m->params;
    const int B = m->batch, F = convnext_features(&m->enc.cfg), H = IMAGE_PAPER_HIDDEN, K = m->outputs;
    const int dropped = m->ctx.training && m->p_drop > 0.0f;
    float *gfeat = m->g[5];
    ops_zero(gfeat, (size_t)B * F);
    if (m->kind == IMAGE_HEAD_LINEAR) {
        op_linear_backward(gfeat, params_grad(ps, m->w[0]), params_grad(ps, m->b[0]), dlogits,
                           dropped ? m->x[0] : m->enc.feat, params_data(ps, m->w[0]), B, F, K);
        undrop(m, gfeat, F, 0);
    } else {
        float *g3 = m->g[3], *g1 = m->g[1];
        ops_zero(g3, (size_t)B * H);
        op_linear_backward(g3, params_grad(ps, m->w[2]), params_grad(ps, m->b[2]), dlogits, dropped ? m->x[3] : m->x[2],
                           params_data(ps, m->w[2]), B, H, K);
        undrop(m, g3, H, 2);
        op_relu_mask_inplace(g3, m->x[2], (size_t)B * H);
        ops_zero(g1, (size_t)B * H);
        op_linear_backward(g1, params_grad(ps, m->w[1]), params_grad(ps, m->b[1]), g3, dropped ? m->x[1] : m->x[0],
                           params_data(ps, m->w[1]), B, H, H);
        undrop(m, g1, H, 1);
        op_relu_mask_inplace(g1, m->x[0], (size_t)B * H);
        op_linear_backward(gfeat, params_grad(ps, m->w[0]), params_grad(ps, m->b[0]), g1, m->enc.feat,
                           params_data(ps, m->w[0]), B, F, H);
    }
    if (encoder) convnext_backward(&m->enc, ps, gfeat, NULL, NULL);
}
