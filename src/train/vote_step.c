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
    vote_batch_init(&s->vb, schema, max_local);
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
    vote_batch_free(&s->vb);
    memset(s, 0, sizeof *s);
}

static VoteStepResult run(VoteStep *s, const Batch *db, const float *host_votes, const uint8_t *valid,
                          const StepCtx *ctx, int train) {
    ZoobotModel *m = s->m;
    const int B = db->n, A = s->vb.loss.schema.answers;
    CHECK(B <= s->max_local && db->answers == A, "vote step: batch of %d rows and %d answers (max %d, schema %d)", B,
          db->answers, s->max_local, A);
    const float *votes = vote_batch_votes(&s->vb, host_votes, valid, B);
    StepCtx c = *ctx;
    c.training = train;
    // The rank's rows start at its block of the global batch (dropout and drop
    // path are drawn per global sample, as in one process).
    c.sample_offset = ctx->sample_offset + (int64_t)comm_rank(s->comm) * B;
    if (train) params_zero_grad(&m->params);
    const float *alpha = zoobot_forward(m, &m->params, db->images, B, &c);
    double st[VOTE_STATS_MAX] = {0};
    const int n_st = vote_batch_stats_len(&s->vb);
    vote_batch_stats(&s->vb, alpha, votes, B, st);
    double t0 = am_now_s();
    comm_allreduce_sum_host(s->comm, st, (size_t)n_st);
    double comm_s = am_now_s() - t0;
    const double global_rows = st[n_st - 1];
    if (train && global_rows > 0) {
        // Each rank's gradient already carries 1 / (global rows): the sum over
        // ranks is the gradient of the global mean, bucket by bucket.
        const float *dalpha = vote_batch_backward(&s->vb, alpha, votes, B, (float)(1.0 / global_rows));
        s->comm_seconds = 0.0;
        zoobot_backward_hooked(m, &m->params, dalpha, group_done, s);
        t0 = am_now_s();
        for (int g = 0; g <= ZOOBOT_GROUP_HEAD; g++) {
            CHECK(s->req[g], "vote step: the backward never reported parameter group %d final", g);
            comm_wait(s->req[g]);
            s->req[g] = NULL;
        }
        comm_s += am_now_s() - t0 + s->comm_seconds;
    }
    return vote_batch_result(&s->vb, st, comm_s);
}

VoteStepResult vote_step_forward_backward(VoteStep *s, const Batch *db, const float *host_votes, const uint8_t *valid,
                                          const StepCtx *ctx) {
    return run(s, db, host_votes, valid, ctx, 1);
}

VoteStepResult vote_step_evaluate(VoteStep *s, const Batch *db, const float *host_votes, const uint8_t *valid,
                                  const StepCtx *ctx) {
    return run(s, db, host_votes, valid, ctx, 0);
}
