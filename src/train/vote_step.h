// One data-parallel Zoobot step: every rank runs the ConvNeXt + Dirichlet head
// on its rows of the global batch; the loss is the Dirichlet-multinomial NLL
// (summed over questions) averaged over the global batch's rows that have
// votes; each rank's gradient carries 1 / (global rows), and the gradients are
// summed over ranks, so the step equals one process on the whole batch (up to
// float order). Padding rows (valid = 0) contribute nothing.
//
// Gradient buckets: one per parameter group of the model (the head, the head
// norm, each stage, the stem: contiguous in the flat gradient), each started
// (comm_iallreduce_sum) the moment the backward reports the group final, so the
// head's and the top stages' all-reduces run while the lower stages compute;
// the step waits for all of them before returning.
//
// Metrics: vote_batch.h.
#ifndef ASTROMM_VOTE_STEP_H
#define ASTROMM_VOTE_STEP_H

#include <stdint.h>

#include "data/batch.h"
#include "models/zoobot.h"
#include "mpi/comm.h"
#include "train/vote_batch.h"

typedef struct {
    ZoobotModel *m;
    Comm *comm;
    int max_local;
    VoteBatch vb;  // the batch's votes, loss and metrics
    size_t bucket[ZOOBOT_GROUP_HEAD + 1][2];  // float range [offset, length) of each group
    CommRequest *req[ZOOBOT_GROUP_HEAD + 1];
    double comm_seconds;                       // time inside the launches during the backward
} VoteStep;

void vote_step_init(VoteStep *s, ZoobotModel *m, const VoteSchema *schema, Comm *comm, int max_local);
void vote_step_free(VoteStep *s);
// db: the batch on the op device (images; its votes are not used), host_votes
// and valid: the loader's host rows.
VoteStepResult vote_step_forward_backward(VoteStep *s, const Batch *db, const float *host_votes, const uint8_t *valid,
                                          const StepCtx *ctx);
VoteStepResult vote_step_evaluate(VoteStep *s, const Batch *db, const float *host_votes, const uint8_t *valid,
                                  const StepCtx *ctx);

#endif
