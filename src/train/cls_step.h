// One data-parallel classification step (fine-tuning): every rank classifies
// its rows of the global batch with the model's head (astrom3_classify_*),
// the loss is the cross-entropy mean (optionally class-weighted, see
// cls_step_set_classes) over the valid rows of the *global* batch,
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
    uint8_t *live;       // [C] classes the head may predict (NULL: all)
    float *weight;       // [C] loss weight per class (NULL: all 1)
} ClsStep;

typedef struct {
    float loss;          // mean CE over the global valid rows
    int64_t correct, n;  // global correct predictions / valid rows
    double comm_seconds;
} ClsStepResult;

// Classes with train_counts[c] == 0 are never predicted: their probability is
// set to 0 and the others renormalised (a softmax over the classes with
// examples; their logits get no gradient). balanced: loss weight
// w_c = n / (C_live n_c), the loss the weighted mean sum w_y CE / sum w_y over
// the global valid rows (PyTorch CrossEntropyLoss(weight=w) with the dead
// classes' logits at -inf). Weights 1 and every class live reproduce the plain
// step bit for bit.
void cls_step_set_classes(ClsStep *s, const int64_t *train_counts, int balanced);
// Only the live flags (evaluation of a checkpoint: its metadata's class_live).
void cls_step_set_live(ClsStep *s, const uint8_t *live);

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
