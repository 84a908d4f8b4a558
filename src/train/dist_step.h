// One data-parallel CLIP pre-training step (forward + backward) over MPI ranks.
//
// Every rank holds a local batch of b samples (the same b on every rank); rank
// r owns the global samples r*b .. r*b+b-1 of a global batch of n_global = W*b.
//
// Scope DIST_LOSS_GLOBAL ("local loss with gathered features", loss/clip.h):
//   1. encode the local batch (StepCtx.sample_offset + r*b as the sample offset,
//      so dropout masks are those of the single-process step on the global batch);
//   2. all-gather each modality's normalised embeddings into [n_global, dim];
//   3. CLIP loss of the own rows against all n_global columns; backward into
//      full [n_global, dim] gradients; reduce-scatter (sum) them to their owners;
//   4. encoder/projection backward from the own rows; every parameter gradient
//      (logit scales included) is averaged over ranks.
//   The result equals clip_forward_backward on the whole global batch (loss,
//   pair losses, CLIP-accuracy count, every gradient) up to float order.
// Scope DIST_LOSS_LOCAL (the AstroM3 reference under DDP): each rank's CLIP
//   matrices span only its local batch (no embedding all-gather); parameter
//   gradients are still averaged; the loss is the mean of the rank losses.
//
// Gradient all-reduce: the flat gradient buffer (ParamStore: every trainable
// tensor contiguous, in registration order) is cut into buckets of at most
// bucket_bytes (contiguous float ranges; a bucket may span tensors and a large
// tensor may span buckets). A bucket's non-blocking all-reduce (comm_iallreduce_
// mean) starts as soon as every tensor it overlaps is final: the logit scales
// and classifier tensors before the backward, "<mod>_proj.*" and
// "<mod>_encoder.*" at the matching astrom3_embed_backward_hooked callback.
// Buckets start in ascending order among those ready at each callback (the
// same order on every rank); the step waits for all of them before returning.
//
// Device: with the CUDA op device, call comm_enable_gpu first (the collectives
// then take the model's device buffers; comm_seconds measures host time spent
// in the calls, i.e. enqueueing). On CPU, Open MPI advances the bucket
// reductions only inside MPI calls; the step polls them (comm_test) at every
// callback.
#ifndef ASTROMM_DIST_STEP_H
#define ASTROMM_DIST_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "loss/clip.h"
#include "models/astrom3.h"
#include "mpi/comm.h"

typedef enum { DIST_LOSS_GLOBAL = 0, DIST_LOSS_LOCAL = 1 } DistLossScope;

#define DIST_BUCKET_BYTES_DEFAULT ((size_t)25 << 20)  // 25 MiB, as PyTorch DDP

typedef struct {
    DistLossScope scope;
    size_t bucket_bytes;  // 0: DIST_BUCKET_BYTES_DEFAULT; at least one float per bucket
    int modalities;       // bits 1 << MOD_* whose pairs form the loss (>= 2 of them); 0: all three
} DistStepOptions;

typedef struct {
    float loss;            // global loss (mean over ranks of the rank losses)
    float loss_pair[3];    // ps, sm, mp, the same mean
    int64_t correct;       // CLIP-accuracy numerator summed over ranks
    int n_global;          // samples over all ranks (W*b)
    double comm_seconds;   // wall time inside communication calls (exposed, not overlapped)
    int n_buckets;         // gradient buckets
    int buckets_early;     // buckets started before the last backward callback
} DistStepResult;

typedef struct DistBucket DistBucket;

typedef struct {
    AstroM3 *m;
    Comm *comm;
    DistLossScope scope;
    int rank, size, max_local, dim;
    int mod_mask;         // modalities of the loss (DistStepOptions.modalities)
    ClipLoss loss;
    float *gathered[MOD_COUNT];   // [size*max_local, dim] embeddings (global scope)
    float *g_gathered[MOD_COUNT]; // their gradients
    DistBucket *buckets;
    int n_buckets;
    uint8_t *group_of;    // per tensor: readiness group (see dist_step.c)
    // per-step state of the bucket launches
    int groups_done, launched, early;
    double comm_s;
} DistStep;

// Binds the trainer to model m (created with max_batch >= max_local) and comm;
// allocates the gathered buffers and the loss for local batches up to max_local.
void dist_step_init(DistStep *d, AstroM3 *m, Comm *comm, int max_local, const DistStepOptions *opt);
void dist_step_free(DistStep *d);
// Float ranges [offset, length) of the tensors the loss trains (merged where
// adjacent): everything with all three modalities; else the encoders and
// projections of the loss's modalities and the logit scales of its pairs (the
// rest would only be decayed by the optimiser).
int dist_step_trainable_ranges(const DistStep *d, size_t ranges[][2], int max_ranges);
// Forward + backward of the local batch (b->n samples, equal on every rank, at
// most max_local). ctx->sample_offset is the global index of the first sample
// of the *global* batch (rank r's samples start at sample_offset + r*b->n).
// Leaves the averaged gradients in m->params.grad (zeroed first). Collective.
DistStepResult dist_step_forward_backward(DistStep *d, const Batch *b, const StepCtx *ctx);
// Forward only (dropout off whatever ctx->training says): the same loss,
// pair losses and CLIP-accuracy count, no gradients. Collective.
DistStepResult dist_step_evaluate(DistStep *d, const Batch *b, const StepCtx *ctx);

#endif
