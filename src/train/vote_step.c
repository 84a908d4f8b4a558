#include "train/vote_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "nn/ops.h"

void vote_step_init(VoteStep *s, ZoobotModel *m, const VoteSchema *schema, Comm *comm, int max_local) {
    memset(s, 0, sizeof *s);
    CHECK(schema->answers == m->answers, "vote step: the schema has %d answers, the head %d", schema->answers, m->answers);
    s->m = m;
    s->comm = comm;
    s->max_local = max_local;
    dirichlet_loss_init(&s->loss, schema, max_local);
    const size_t n = (size_t)max_local * (size_t)schema->answers;
    s->dalpha = ops_alloc(n * sizeof(float), "vote step");
    s->host_alpha = am_malloc(n * sizeof(float), "vote step");
    s->valid_votes = am_malloc(n * sizeof(float), "vote step");
    if (ops_device() != OPS_CPU) s->dev_votes = ops_alloc(n * sizeof(float), "vote step");
    const ParamStore *ps = &m->params;
    unsigned char *keep = am_malloc((size_t)ps->n, "vote step");
    for (int g = 0; g <= ZOOBOT_GROUP_HEAD; g++) {
        for (int i = 0; i < ps->n; i++) keep[i] = ps->info[i].group == g;
        size_t r[2][2];
        CHECK(params_ranges(ps, keep, r, 2) == 1, "vote step: parameter group %d is not one contiguous range", g);
        s->bucket[g][0] = r[0][0];
        s->bucket[g][1] = r[0][1];
    }
    free(keep);
}

// The backward's hook: group g's gradients are final; start their all-reduce
// and give the ones in flight a chance to progress (MPI advances them inside calls).
static void group_done(void *arg, int g) {
    VoteStep *s = arg;
    const double t0 = am_now_s();
    s->req[g] = comm_iallreduce_sum(s->comm, s->m->params.grad + s->bucket[g][0], s->bucket[g][1]);
    for (int k = 0; k <= ZOOBOT_GROUP_HEAD; k++)
        if (s->req[k] && k != g) comm_test(s->req[k]);
    s->comm_seconds += am_now_s() - t0;
}

void vote_step_free(VoteStep *s) {
    if (!s->m) return;
    dirichlet_loss_free(&s->loss);
    ops_free(s->dalpha);
    if (s->dev_votes) ops_free(s->dev_votes);
    free(s->host_alpha);
    free(s->valid_votes);
    memset(s, 0, sizeof *s);
}

// The batch's votes with padding rows zeroed (they then add exactly nothing),
// on the op device; returns the local rows that have votes.
static const float *votes_of(VoteStep *s, const float *host_votes, const uint8_t *valid, int B, int *rows) {
    const int A = s->loss.schema.answers;
    *rows = 0;
    for (int b = 0; b < B; b++) {
        float *dst = s->valid_votes + (size_t)b * A;
        float total = 0.0f;
        for (int a = 0; a < A; a++) total += dst[a] = valid[b] ? host_votes[(size_t)b * A + a] : 0.0f;
        *rows += total > 0.0f;
    }
    if (!s->dev_votes) return s->valid_votes;
    ops_to_device(s->dev_votes, s->valid_votes, (size_t)B * A * sizeof(float));
    return s->dev_votes;
}

// Fraction errors and majority answers of the local rows (host), added into st.
static void batch_metrics(VoteStep *s, const float *alpha_dev, int B, double *st) {
    const VoteSchema *sc = &s->loss.schema;
    const int A = sc->answers, Q = sc->n_questions;
    ops_to_host(s->host_alpha, alpha_dev, (size_t)B * A * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *al = s->host_alpha + (size_t)b * A, *k = s->valid_votes + (size_t)b * A;
        for (int q = 0; q < Q; q++) {
            double N, e;
            int right;
            if (!vote_question_errors(sc, q, al, k, &N, &e, &right)) continue;
            st[2 + q] += e;
            st[2 + Q + q] += sc->last[q] - sc->first[q] + 1;
            if (N >= vote_majority_min(sc)) st[0] += right, st[1] += 1.0;
        }
    }
}

static VoteStepResult run(VoteStep *s, const Batch *db, const float *host_votes, const uint8_t *valid,
                          const StepCtx *ctx, int train) {
    ZoobotModel *m = s->m;
    const int B = db->n, A = s->loss.schema.answers, Q = s->loss.schema.n_questions;
    CHECK(B <= s->max_local && db->answers == A, "vote step: batch of %d rows and %d answers (max %d, schema %d)", B,
          db->answers, s->max_local, A);
    int rows;
    const float *votes = votes_of(s, host_votes, valid, B, &rows);
    StepCtx c = *ctx;
    c.training = train;
    // The rank's rows start at its block of the global batch (dropout and drop
    // path are drawn per global sample, as in one process).
    c.sample_offset = ctx->sample_offset + (int64_t)comm_rank(s->comm) * B;
    if (train) params_zero_grad(&m->params);
    const float *alpha = zoobot_forward(m, &m->params, db->images, B, &c);
    // st: majority right, majority counted, |error| sums [Q], answer counts [Q], loss sum, rows
    double st[2 + 2 * VOTE_MAX_QUESTIONS + 2] = {0};
    const int n_st = 2 + 2 * Q + 2;
    st[n_st - 2] = dirichlet_loss_forward(&s->loss, alpha, votes, B);
    st[n_st - 1] = rows;
    batch_metrics(s, alpha, B, st);
    double t0 = am_now_s();
    comm_allreduce_sum_host(s->comm, st, (size_t)n_st);
    double comm_s = am_now_s() - t0;
    const double global_rows = st[n_st - 1];
    if (train && global_rows > 0) {
        ops_zero(s->dalpha, (size_t)B * A);
        dirichlet_loss_backward(&s->loss, s->dalpha, alpha, votes, B, (float)(1.0 / global_rows));
        // Each rank's gradient already carries 1 / (global rows): the sum over
        // ranks is the gradient of the global mean, bucket by bucket.
        s->comm_seconds = 0.0;
        zoobot_backward_hooked(m, &m->params, s->dalpha, group_done, s);
        t0 = am_now_s();
        for (int g = 0; g <= ZOOBOT_GROUP_HEAD; g++) {
            CHECK(s->req[g], "vote step: the backward never reported parameter group %d final", g);
            comm_wait(s->req[g]);
            s->req[g] = NULL;
        }
        comm_s += am_now_s() - t0 + s->comm_seconds;
    }
    VoteStepResult r = {.loss = global_rows > 0 ? (float)(st[n_st - 2] / global_rows) : 0.0f,
                        .correct = (int64_t)st[0], .n = (int64_t)st[1], .rows = (int64_t)global_rows,
                        .comm_seconds = comm_s};
    for (int q = 0; q < Q; q++) r.mae_sum[q] = st[2 + q], r.mae_n[q] = st[2 + Q + q];
    return r;
}

VoteStepResult vote_step_forward_backward(VoteStep *s, const Batch *db, const float *host_votes, const uint8_t *valid,
                                          const StepCtx *ctx) {
    return run(s, db, host_votes, valid, ctx, 1);
}

VoteStepResult vote_step_evaluate(VoteStep *s, const Batch *db, const float *host_votes, const uint8_t *valid,
                                  const StepCtx *ctx) {
    return run(s, db, host_votes, valid, ctx, 0);
}
