// One data-parallel fine-tuning step of a ConvNeXt with a new head
// (models/image_classifier.h) on labelled images, Zoobot's downstream recipe:
//  - target binary: one logit, sigmoid + binary cross-entropy (label 1 = the
//    positive class, e.g. "ring" of --label-column ring);
//  - target classes: K logits, softmax + cross-entropy;
//  - target votes: one logit per answer of the dataset's vote schema (a new
//    question set), concentrations alpha = 1 + 100 sigmoid(logit) and Zoobot's
//    Dirichlet-multinomial loss (vote_batch.h), as in vote pre-training but
//    with the fine-tuning head and what-trains rules below.
// The loss is the mean over the global batch's valid rows (votes: with votes);
// each rank computes its rows' loss and logit gradients (labels: on the host, K
// is small), scaled so that the mean over ranks of the gradients is the global
// batch's.
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
#include "train/vote_batch.h"

enum { IMAGE_TARGET_BINARY = 0, IMAGE_TARGET_CLASSES = 1, IMAGE_TARGET_VOTES = 2 };
enum { IMAGE_FT_MAX_RANGES = 8, IMAGE_ENCODER_BLOCKS = 5 };

typedef struct {
    ImageClassifier *m;
    Comm *comm;
    int max_local, target, n_classes, unfreeze;
    float *dlogits;                // [max_local, K] op device
    float *host_logits, *host_dlogits;
    VoteBatch vb;                  // IMAGE_TARGET_VOTES: the votes, loss and metrics
    float *alpha;                  // IMAGE_TARGET_VOTES: [max_local, K] concentrations (op device)
    size_t ranges[IMAGE_FT_MAX_RANGES][2];
    float lr_scale[IMAGE_FT_MAX_RANGES];
    int n_ranges;
    // The encoder blocks below the unfrozen ones: their backward runs (it is on
    // the way to nothing, but the encoder's backward is whole) and their local
    // gradients are zeroed, so no rank-dependent value reaches the norm.
    size_t frozen[IMAGE_FT_MAX_RANGES][2];
    int n_frozen;
} ImageFtStep;

typedef struct {
    float loss;
    int64_t correct, n;  // global (votes: majority answers, as votes.correct / votes.n)
    double comm_seconds;
    VoteStepResult votes;  // IMAGE_TARGET_VOTES: the vote metrics
} ImageFtResult;

// The target of finetune.target (FINETUNE_TARGET_*) for a dataset of n_classes:
// IMAGE_TARGET_*, or -1 for binary with other than 2 classes. Votes only when
// asked for ("auto" means the labels).
int image_ft_target(int finetune_target, int n_classes);
// The head's dropout: finetune.head_dropout, or the head's default when < 0.
float image_ft_dropout(float head_dropout, int head_kind);

// n_classes: the dataset's (binary needs 2); schema: the dataset's vote schema
// (target votes; the head's outputs are its answers), else NULL. unfreeze
// 0..5, decay in (0, 1].
void image_ft_step_init(ImageFtStep *s, ImageClassifier *m, Comm *comm, int max_local, int target, int n_classes,
                        const VoteSchema *schema, int unfreeze, float decay);
void image_ft_step_free(ImageFtStep *s);
// The local rows' targets, host: labels (binary, classes) or votes [n, answers]
// (votes); valid (may be NULL: all) marks the rows that count.
typedef struct {
    const int32_t *labels;
    const float *votes;
    const uint8_t *valid;
} ImageFtTargets;

ImageFtResult image_ft_step_forward_backward(ImageFtStep *s, const Batch *db, const ImageFtTargets *y,
                                             const StepCtx *ctx);
// pred (may be NULL; labels only): the predicted class of each local row.
ImageFtResult image_ft_step_evaluate(ImageFtStep *s, const Batch *db, const ImageFtTargets *y, const StepCtx *ctx,
                                     int32_t *pred);

#endif
