// Distributed classification step (see cls_step.h).
#define _POSIX_C_SOURCE 200809L

#include "core/clock.h"
#include "train/cls_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "nn/ops.h"

// Which tensors the head's forward uses (the rest never get a gradient), by the
// model's parameter groups: the head; the encoders of its modalities; their
// projections too when the head is fused.
static int head_uses(const AstroM3 *m, const ParamInfo *p, int freeze) {
    if (p->group == ASTROM3_GROUP_CLASSIFIER) return 1;
    const int mod = astrom3_group_modality(p->group);
    if (freeze || mod < 0 || !(m->head_mask & MOD_BIT(mod))) return 0;
    return astrom3_group_part(p->group) == ASTROM3_PART_ENCODER || astrom3_head_fused(m->head_mask);
}

int cls_trainable_ranges(const AstroM3 *m, int freeze, size_t ranges[][2], int max_ranges) {
    CHECK(m->head_mask, "classification needs a model with a classifier head");
    const ParamStore *ps = &m->params;
    for (int t = 0; t < ps->n; t++)  // before anything is allocated: CHECK does not return
        CHECK(ps->info[t].group >= 0 && ps->info[t].group < ASTROM3_N_GROUPS,
              "cls_step: parameter %s has no group (models/params.h)", ps->info[t].name);
    unsigned char *keep = am_calloc((size_t)(ps->n ? ps->n : 1), 1, "trained tensors");
    for (int t = 0; t < ps->n; t++) keep[t] = (unsigned char)head_uses(m, &ps->info[t], freeze);
    const int n = params_ranges(ps, keep, ranges, max_ranges);
    free(keep);
    return n;
}

void cls_step_init(ClsStep *s, AstroM3 *m, Comm *comm, int max_local, int freeze) {
    CHECK(m->head_mask, "cls_step: the model has no classifier head");
    CHECK(max_local >= 1 && max_local <= m->max_batch, "cls_step: local batch %d outside 1..%d", max_local,
          m->max_batch);
    memset(s, 0, sizeof *s);
    s->m = m;
    s->comm = comm;
    s->max_local = max_local;
    s->n_classes = m->cfg.n_classes;
    const size_t nc = (size_t)max_local * (size_t)s->n_classes;
    s->probs = ops_alloc(nc * sizeof(float), "classifier probabilities");
    s->dlogits = ops_alloc(nc * sizeof(float), "classifier logit gradients");
    s->host_probs = am_malloc(nc * sizeof(float), "classifier probabilities (host)");
    s->host_dlogits = am_malloc(nc * sizeof(float), "classifier logit gradients (host)");
    s->n_ranges = cls_trainable_ranges(m, freeze, s->ranges, CLS_MAX_RANGES);
}

void cls_step_free(ClsStep *s) {
    ops_free(s->probs);
    ops_free(s->dlogits);
    free(s->host_probs);
    free(s->host_dlogits);
    free(s->live);
    free(s->weight);
    memset(s, 0, sizeof *s);
}

void cls_step_set_live(ClsStep *s, const uint8_t *live) {
    const int C = s->n_classes;
    int n_live = 0;
    for (int c = 0; c < C; c++) n_live += live[c] != 0;
    CHECK(n_live >= 1, "cls_step: no class has a training example");
    free(s->live);
    s->live = NULL;
    if (n_live == C) return;  // all live: the plain step
    s->live = am_malloc((size_t)C, "classifier live classes");
    for (int c = 0; c < C; c++) s->live[c] = live[c] != 0;
}

void cls_step_set_classes(ClsStep *s, const int64_t *train_counts, int balanced) {
    const int C = s->n_classes;
    uint8_t *live = am_malloc((size_t)C, "classifier live classes");
    int64_t total = 0;
    int n_live = 0;
    for (int c = 0; c < C; c++) {
        live[c] = train_counts[c] > 0;
        n_live += live[c];
        total += train_counts[c];
    }
    cls_step_set_live(s, live);
    free(live);
    free(s->weight);
    s->weight = NULL;
    if (!balanced) return;
    s->weight = am_malloc((size_t)C * sizeof *s->weight, "classifier class weights");
    for (int c = 0; c < C; c++)
        s->weight[c] = train_counts[c] > 0 ? (float)((double)total / ((double)n_live * (double)train_counts[c])) : 0.0f;
}

// Softmax of this rank's rows on the host (renormalised over the live classes);
// local weighted CE sum, correct count, valid rows, weight sum.
static void local_stats(ClsStep *s, const Batch *b, const int32_t *labels, const uint8_t *valid, const StepCtx *ctx,
                        double st[4], int32_t *pred) {
    const int n = b->n, C = s->n_classes;
    CHECK(n >= 1 && n <= s->max_local, "cls_step: local batch %d outside 1..%d", n, s->max_local);
    const float *logits = astrom3_classify_forward(s->m, b, ctx);
    op_softmax_forward(s->probs, logits, n, C);
    ops_to_host(s->host_probs, s->probs, (size_t)n * C * sizeof(float));
    st[0] = st[1] = st[2] = st[3] = 0;
    for (int i = 0; i < n; i++) {
        float *p = s->host_probs + (size_t)i * C;
        if (s->live) {
            double z = 0;
            for (int c = 0; c < C; c++) z += s->live[c] ? p[c] : 0.0;
            for (int c = 0; c < C; c++) p[c] = s->live[c] ? (float)(p[c] / z) : 0.0f;
        }
        int arg = 0;
        for (int c = 1; c < C; c++)
            if (p[c] > p[arg]) arg = c;
        if (pred) pred[i] = arg;
        if (valid && !valid[i]) continue;
        if (!labels) continue;
        const int y = labels[i];
        CHECK(y >= 0 && y < C, "cls_step: label %d of row %d outside 0..%d (unlabelled object in a labelled batch?)",
              y, i, C - 1);
        const double w = s->weight ? s->weight[y] : 1.0;
        st[0] += w * -log(fmax((double)p[y], 1e-30));
        st[1] += arg == y;
        st[2] += 1;
        st[3] += w;
    }
}

ClsStepResult cls_step_forward_backward(ClsStep *s, const Batch *b, const int32_t *labels, const uint8_t *valid,
                                        const StepCtx *ctx) {
    CHECK(labels, "cls_step: training needs labels");
    AstroM3 *m = s->m;
    const int n = b->n, C = s->n_classes, W = comm_size(s->comm);
    params_zero_grad(&m->params);
    double st[4];
    StepCtx lctx = *ctx;
    lctx.sample_offset = ctx->sample_offset + (int64_t)comm_rank(s->comm) * n;
    local_stats(s, b, labels, valid, &lctx, st, NULL);
    double t0 = am_now_s();
    comm_allreduce_sum_host(s->comm, st, 4);
    double comm_s = am_now_s() - t0;
    CHECK(st[2] > 0, "cls_step: a global batch without a single valid row");
    // d(weighted mean CE)/dlogits = w_y (p - onehot) / sum w over the global
    // valid rows (w = 1, sum w = N_global unweighted); the gradient average over
    // W ranks divides by W, so each rank scales by W / sum w. A dead class's
    // logit has no gradient (its renormalised probability is 0 and never a label
    // with weight: a row labelled with a dead class gets weight 0 when balanced).
    const float scale = (float)((double)W / (st[3] > 0 ? st[3] : 1.0));
    for (int i = 0; i < n; i++) {
        float *d = s->host_dlogits + (size_t)i * C;
        const float *p = s->host_probs + (size_t)i * C;
        const int row_live = !valid || valid[i];
        const float ws = row_live && s->weight ? scale * s->weight[labels[i]] : scale;
        for (int c = 0; c < C; c++) {
            const int dead = s->live && !s->live[c];
            d[c] = row_live && !dead ? ws * (p[c] - (c == labels[i] ? 1.0f : 0.0f)) : 0.0f;
        }
    }
    ops_to_device(s->dlogits, s->host_dlogits, (size_t)n * C * sizeof(float));
    astrom3_classify_backward(m, s->dlogits);
    t0 = am_now_s();
    for (int r = 0; r < s->n_ranges; r++)
        comm_allreduce_mean(s->comm, m->params.grad + s->ranges[r][0], s->ranges[r][1]);
    comm_s += am_now_s() - t0;
    return (ClsStepResult){.loss = (float)(st[0] / (st[3] > 0 ? st[3] : 1.0)), .correct = (int64_t)st[1],
                           .n = (int64_t)st[2], .comm_seconds = comm_s};
}

ClsStepResult cls_step_evaluate(ClsStep *s, const Batch *b, const int32_t *labels, const uint8_t *valid,
                                const StepCtx *ctx, int32_t *pred, float *prob) {
    double st[4];
    StepCtx lctx = *ctx;
    lctx.sample_offset = ctx->sample_offset + (int64_t)comm_rank(s->comm) * b->n;
    lctx.training = 0;
    local_stats(s, b, labels, valid, &lctx, st, pred);
    if (prob) memcpy(prob, s->host_probs, (size_t)b->n * s->n_classes * sizeof(float));
    const double t0 = am_now_s();
    comm_allreduce_sum_host(s->comm, st, 4);
    return (ClsStepResult){.loss = st[3] > 0 ? (float)(st[0] / st[3]) : 0.0f, .correct = (int64_t)st[1],
                           .n = (int64_t)st[2], .comm_seconds = am_now_s() - t0};
}
