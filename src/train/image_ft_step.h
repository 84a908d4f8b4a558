// One data-parallel fine-tuning step of a ConvNeXt with a new head
// (models/image_classifier.h) on labelled images, Zoobot's downstream recipe:
//  - target binary: one logit, sigmoid + binary cross-entropy (label 1 = the
//    positive class, e.g. "ring" of --label-column ring);
//  - target classes: K logits, softmax + cross-entropy.
// The loss is the mean over the global batch's valid rows; each rank computes
// its rows' loss and logit gradients on the host (K is small), scaled so that
// the mean over ranks of the gradients is the global batch's.
//
// What trains: the head, and the top `unfreeze` of the encoder's 5 blocks
// (stem + 4 stages, Zoobot's count; the head norm goes with the top stage),
// block i from the top at lr * decay^i (Zoobot: 0.75). unfreeze = 0 keeps the
// encoder frozen and skips its backward (a linear probe when the head is linear).
#ifndef ASTROMM_IMAGE_FT_STEP_H
#define ASTROMM_IMAGE_FT_STEP_H

#include <stdint.h>

#include "data/batch.h"
#include "models/image_classifier.h"
#include "mpi/comm.h"

enum { IMAGE_TARGET_BINARY = 0, IMAGE_TARGET_CLASSES = 1 };
enum { IMAGE_FT_MAX_RANGES = 8, IMAGE_ENCODER_BLOCKS = 5 };

typedef struct {
    ImageClassifier *m;
    Comm *comm;
    int max_local, target, n_classes, unfreeze;
    float *dlogits;                // [max_local, K] op device
    float *host_logits, *host_dlogits;
    size_t ranges[IMAGE_FT_MAX_RANGES][2];
    float lr_scale[IMAGE_FT_MAX_RANGES];
    int n_ranges;
} ImageFtStep;

typedef struct {
    float loss;
    int64_t correct, n;  // global
    double comm_seconds;
} ImageFtResult;

// The target of finetune.target (FINETUNE_TARGET_*) for a dataset of n_classes:
// IMAGE_TARGET_*, or -1 for binary with other than 2 classes.
int image_ft_target(int finetune_target, int n_classes);
// The head's dropout: finetune.head_dropout, or the head's default when < 0.
float image_ft_dropout(float head_dropout, int head_kind);

// n_classes: the dataset's (binary needs 2). unfreeze 0..5, decay in (0, 1].
void image_ft_step_init(ImageFtStep *s, ImageClassifier *m, Comm *comm, int max_local, int target, int n_classes,
                        int unfreeze, float decay);
void image_ft_step_free(ImageFtStep *s);
ImageFtResult image_ft_step_forward_backward(ImageFtStep *s, const Batch *db, const int32_t *labels,
                                             const uint8_t *valid, const StepCtx *ctx);
// pred (may be NULL): the predicted class of each local row.
ImageFtResult image_ft_step_evaluate(ImageFtStep *s, const Batch *db, const int32_t *labels, const uint8_t *valid,
                                     const StepCtx *ctx, int32_t *pred);

#endif
