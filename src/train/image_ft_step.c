// Distributed fine-tuning step for images: see image_ft_step.h.
#include "train/image_ft_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/run_config.h"
#include "core/clock.h"
#include "core/error.h"
#include "nn/ops.h"

int image_ft_target(int t, int n_classes) {
    if (t == FINETUNE_TARGET_VOTES) return IMAGE_TARGET_VOTES;
    if (t == FINETUNE_TARGET_BINARY) return n_classes == 2 ? IMAGE_TARGET_BINARY : -1;
    if (t == FINETUNE_TARGET_AUTO && n_classes == 2) return IMAGE_TARGET_BINARY;
    return IMAGE_TARGET_CLASSES;
}

float image_ft_dropout(float p, int head_kind) { return p >= 0 ? p : head_kind == IMAGE_HEAD_PAPER ? 0.75f : 0.5f; }

// The block (0 = top) a parameter group belongs to: stage 4 and the head norm
// are block 0, stage 3 block 1, ... the stem block 4; the head -1.
static int group_block(int group) {
    if (group == IMAGE_GROUP_HEAD) return -1;
    if (group == 5) return 0;  // the head norm rides with the top stage
    return 4 - group;          // stages 1..4 -> blocks 3..0, the stem (0) -> 4
}

void image_ft_step_init(ImageFtStep *s, ImageClassifier *m, Comm *comm, int max_local, int target, int n_classes,
                        const VoteSchema *schema, int unfreeze, float decay) {
    CHECK(unfreeze >= 0 && unfreeze <= IMAGE_ENCODER_BLOCKS, "image fine-tuning: unfreeze %d outside 0..5", unfreeze);
    CHECK(target != IMAGE_TARGET_BINARY || n_classes == 2, "image fine-tuning: a binary target needs 2 classes (%d)",
          n_classes);
    CHECK(target != IMAGE_TARGET_VOTES || (schema && schema->answers == m->outputs),
          "image fine-tuning: a vote target needs the schema of the head's %d answers", m->outputs);
    memset(s, 0, sizeof *s);
    s->m = m;
    s->comm = comm;
    s->max_local = max_local;
    s->target = target;
    s->n_classes = n_classes;
    s->unfreeze = unfreeze;
    const int K = m->outputs;
    s->dlogits = ops_alloc((size_t)max_local * K * sizeof(float), "head logit gradients");
    s->host_logits = am_malloc((size_t)max_local * K * sizeof(float), "head logits");
    s->host_dlogits = am_malloc((size_t)max_local * K * sizeof(float), "head logit gradients");
    if (target == IMAGE_TARGET_VOTES) {
        vote_batch_init(&s->vb, schema, max_local);
        s->alpha = ops_alloc((size_t)max_local * K * sizeof(float), "head concentrations");
    }
    // one range per trained unit: the head at lr, block i at lr * decay^i
    const ParamStore *ps = &m->params;
    unsigned char *keep = am_calloc((size_t)ps->n + 1, 1, "trained tensors");
    for (int unit = -1; unit < unfreeze; unit++) {
        for (int t = 0; t < ps->n; t++) keep[t] = group_block(ps->info[t].group) == unit;
        size_t r[IMAGE_FT_MAX_RANGES][2];
        const int n = params_ranges(ps, keep, r, IMAGE_FT_MAX_RANGES);
        for (int k = 0; k < n; k++) {
            CHECK(s->n_ranges < IMAGE_FT_MAX_RANGES, "image fine-tuning: too many parameter ranges");
            s->ranges[s->n_ranges][0] = r[k][0];
            s->ranges[s->n_ranges][1] = r[k][1];
            s->lr_scale[s->n_ranges++] = unit < 0 ? 1.0f : powf(decay, (float)unit);
        }
    }
    if (unfreeze > 0) {
        for (int t = 0; t < ps->n; t++) keep[t] = group_block(ps->info[t].group) >= unfreeze;
        s->n_frozen = params_ranges(ps, keep, s->frozen, IMAGE_FT_MAX_RANGES);
    }
    free(keep);
}

void image_ft_step_free(ImageFtStep *s) {
    ops_free(s->dlogits);
    if (s->alpha) ops_free(s->alpha);
    vote_batch_free(&s->vb);
    free(s->host_logits);
    free(s->host_dlogits);
    memset(s, 0, sizeof *s);
}

// Loss sum, correct, valid rows of the local batch and (train) the logit
// gradients of the local loss sum, on the host.
static void local_loss(ImageFtStep *s, int n, const int32_t *labels, const uint8_t *valid, double st[3], int32_t *pred,
                       int grads) {
    const int K = s->m->outputs;
    for (int i = 0; i < n; i++) {
        const float *z = s->host_logits + (size_t)i * K;
        float *d = s->host_dlogits + (size_t)i * K;
        const int live = (!valid || valid[i]) && labels;
        const int y = live ? labels[i] : 0;
        if (live)
            CHECK(y >= 0 && y < s->n_classes, "image fine-tuning: label %d of row %d outside 0..%d", y, i, s->n_classes - 1);
        int arg;
        if (s->target == IMAGE_TARGET_BINARY) {
            const double x = z[0], p = 1.0 / (1.0 + exp(-x));
            arg = x > 0;
            if (live) st[0] += fmax(x, 0.0) - y * x + log1p(exp(-fabs(x)));  // softplus(x) - y x
            d[0] = live && grads ? (float)(p - y) : 0.0f;
        } else {
            double sum = 0;
            arg = 0;
            for (int c = 1; c < K; c++)
                if (z[c] > z[arg]) arg = c;
            const double mx = z[arg];
            for (int c = 0; c < K; c++) sum += exp((double)z[c] - mx);
            if (live) st[0] += log(sum) + mx - z[y];
            for (int c = 0; c < K; c++) d[c] = live && grads ? (float)(exp((double)z[c] - mx) / sum - (c == y)) : 0.0f;
        }
        if (pred) pred[i] = arg;
        if (!live) continue;
        st[1] += arg == y;
        st[2] += 1;
    }
}

// The vote target: concentrations of the logits, the Dirichlet loss and
// metrics of the local rows (all-reduced), and (train) the logit gradients
// scaled so that the mean over the W ranks is the global mean's.
static ImageFtResult run_votes(ImageFtStep *s, const float *logits, int n, const float *host_votes,
                               const uint8_t *valid, int train) {
    const int K = s->m->outputs, W = comm_size(s->comm);
    CHECK(host_votes, "image fine-tuning: a vote target needs the batch's votes");
    const float *votes = vote_batch_votes(&s->vb, host_votes, valid, n);
    op_dirichlet_concentration_forward(s->alpha, logits, (size_t)n * K);
    double st[VOTE_STATS_MAX] = {0};
    const int n_st = vote_batch_stats_len(&s->vb);
    vote_batch_stats(&s->vb, s->alpha, votes, n, st);
    const double t0 = am_now_s();
    comm_allreduce_sum_host(s->comm, st, (size_t)n_st);
    const double comm_s = am_now_s() - t0;
    const double rows = st[n_st - 1];
    if (train && rows > 0) {
        const float *dalpha = vote_batch_backward(&s->vb, s->alpha, votes, n, (float)(W / rows));
        ops_zero(s->dlogits, (size_t)n * K);
        op_dirichlet_concentration_backward(s->dlogits, dalpha, logits, (size_t)n * K);
    }
    const VoteStepResult v = vote_batch_result(&s->vb, st, comm_s);
    return (ImageFtResult){.loss = v.loss, .correct = v.correct, .n = v.n, .comm_seconds = comm_s, .votes = v};
}

static ImageFtResult run(ImageFtStep *s, const Batch *db, const ImageFtTargets *y, const StepCtx *ctx, int train,
                         int32_t *pred) {
    ImageClassifier *m = s->m;
    const int n = db->n, K = m->outputs, W = comm_size(s->comm);
    CHECK(n >= 1 && n <= s->max_local, "image fine-tuning: local batch %d outside 1..%d", n, s->max_local);
    StepCtx c = *ctx;
    c.training = train;
    c.sample_offset = ctx->sample_offset + (int64_t)comm_rank(s->comm) * n;
    if (train) params_zero_grad(&m->params);
    const float *logits = image_classifier_forward(m, db->images, n, &c);
    ImageFtResult r;
    if (s->target == IMAGE_TARGET_VOTES) {
        r = run_votes(s, logits, n, y->votes, y->valid, train);
        if (!train || r.votes.rows == 0) return r;
    } else {
        ops_to_host(s->host_logits, logits, (size_t)n * K * sizeof(float));
        double st[3] = {0, 0, 0};
        local_loss(s, n, y->labels, y->valid, st, pred, train);
        const double t0 = am_now_s();
        comm_allreduce_sum_host(s->comm, st, 3);
        r = (ImageFtResult){.loss = st[2] > 0 ? (float)(st[0] / st[2]) : 0.0f, .correct = (int64_t)st[1],
                            .n = (int64_t)st[2], .comm_seconds = am_now_s() - t0};
        if (!train || st[2] == 0) return r;
        // d(global mean)/dlogits = local grads / N_global; the gradient average
        // over W ranks divides by W, so each rank scales by W / N_global.
        const float scale = (float)(W / st[2]);
        for (size_t i = 0; i < (size_t)n * K; i++) s->host_dlogits[i] *= scale;
        ops_to_device(s->dlogits, s->host_dlogits, (size_t)n * K * sizeof(float));
    }
    image_classifier_backward(m, s->dlogits, s->unfreeze > 0);
    for (int k = 0; k < s->n_frozen; k++) ops_zero(m->params.grad + s->frozen[k][0], s->frozen[k][1]);
    const double t0 = am_now_s();
    for (int k = 0; k < s->n_ranges; k++) comm_allreduce_mean(s->comm, m->params.grad + s->ranges[k][0], s->ranges[k][1]);
    r.comm_seconds += am_now_s() - t0;
    return r;
}

ImageFtResult image_ft_step_forward_backward(ImageFtStep *s, const Batch *db, const ImageFtTargets *y,
                                             const StepCtx *ctx) {
    CHECK(y->labels || y->votes, "image fine-tuning: training needs labels or votes");
    return run(s, db, y, ctx, 1, NULL);
}

ImageFtResult image_ft_step_evaluate(ImageFtStep *s, const Batch *db, const ImageFtTargets *y, const StepCtx *ctx,
                                     int32_t *pred) {
    return run(s, db, y, ctx, 0, pred);
}
