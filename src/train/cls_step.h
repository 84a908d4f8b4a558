// One data-parallel classification step (fine-tuning): every rank classifies
// its rows of the global batch with the model's head (astrom3_classify_*),
// the loss is the cross-entropy mean over the valid rows of the *global* batch,
// and the gradients of the trained tensors are averaged over ranks (so the
// result equals one process on the whole batch). Padding rows (valid = 0)
// contribute nothing.
//
// Trained tensors: the float ranges cls_trainable_ranges returns — the
// classifier alone (frozen encoder, "linear probe"), or the classifier plus the
// encoders/projections its head uses (the other tensors get no gradient and
// are neither all-reduced nor updated).
#ifndef ASTROMM_CLS_STEP_H
#define ASTROMM_CLS_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "models/astrom3.h"
#include "mpi/comm.h"

#define CLS_MAX_RANGES 16

typedef struct {
    AstroM3 *m;
    Comm *comm;
    int max_local, n_classes;
    float *probs;        // [max_local, C] on the op device
    float *host_probs;   // [max_local, C]
    float *host_dlogits; // [max_local, C]
    float *dlogits;      // [max_local, C] on the op device
    size_t ranges[CLS_MAX_RANGES][2];
    int n_ranges;
} ClsStep;

typedef struct {
    float loss;          // mean CE over the global valid rows
    int64_t correct, n;  // global correct predictions / valid rows
    double comm_seconds;
} ClsStepResult;

// Float ranges [offset, length) of the trainable tensors (merged where adjacent).
int cls_trainable_ranges(const AstroM3 *m, int freeze_encoder, size_t ranges[][2], int max_ranges);

// m must have a head (astrom3_create_with_head) and max_batch >= max_local.
void cls_step_init(ClsStep *s, AstroM3 *m, Comm *comm, int max_local, int freeze_encoder);
void cls_step_free(ClsStep *s);
// Forward + backward; averaged gradients of the trained ranges in m->params.grad
// (zeroed first). b is the batch on the op device; labels (host, [b->n]) must be
// in 0 .. n_classes-1 for valid rows; valid (host) may be NULL (all rows).
// ctx->sample_offset is the global index of the global batch's first sample.
// Collective.
ClsStepResult cls_step_forward_backward(ClsStep *s, const Batch *b, const int32_t *labels, const uint8_t *valid,
                                        const StepCtx *ctx);
// Forward only (dropout off). labels may be NULL (no loss/accuracy). pred
// (host, [b->n], may be NULL) receives the predicted class per row, prob (host,
// [b->n, C], may be NULL) the softmax. Collective.
ClsStepResult cls_step_evaluate(ClsStep *s, const Batch *b, const int32_t *labels, const uint8_t *valid,
                                const StepCtx *ctx, int32_t *pred, float *prob);

#endif
