// A ConvNeXt encoder with a fine-tuning head (Zoobot's downstream use):
//  - IMAGE_HEAD_LINEAR, Zoobot's current default: Dropout(p) -> Linear(F, K);
//    torch names head.1.weight / head.1.bias (nn.Sequential(Dropout, Linear));
//  - IMAGE_HEAD_PAPER, the Zoobot paper's (Walmsley et al. 2022) head:
//    Linear(F, 64) -> ReLU -> Dropout(p) -> Linear(64, 64) -> ReLU -> Dropout(p)
//    -> Linear(64, K); names head.0, head.3, head.6.
// The output is K logits; the task's loss reads them (sigmoid + BCE, softmax +
// CE, or 1 + 100 sigmoid Dirichlet concentrations for a vote schema). The
// encoder's tensors keep the torchvision / Zoobot names (convnext.h), so a
// Zoobot vote checkpoint initialises the encoder (its classifier.2 head is
// left out) and the head starts fresh (nn.Linear's uniform init, Philox).
// Parameter groups: the encoder's 0..5 (stem, stages, head norm), the head 6.
#ifndef ASTROMM_IMAGE_CLASSIFIER_H
#define ASTROMM_IMAGE_CLASSIFIER_H

#include "models/convnext.h"

enum { IMAGE_HEAD_LINEAR = 0, IMAGE_HEAD_PAPER = 1 };
enum { IMAGE_GROUP_HEAD = 6, IMAGE_PAPER_HIDDEN = 64 };

typedef struct {
    ConvNext enc;
    int kind, outputs;
    float p_drop;
    int w[3], b[3];       // head tensors (linear: [0] only)
    int batch;
    StepCtx ctx;
    float *x[6];          // head activations: dropout/linear inputs and outputs per layer
    float *g[6];          // their gradients
    float *logits;        // [B, outputs]
    ParamStore params;
    AmArena arena;
} ImageClassifier;

void image_classifier_create(ImageClassifier *m, const ConvNextConfig *cfg, int kind, int outputs, float p_drop,
                             int max_batch);
void image_classifier_init(ImageClassifier *m, uint64_t seed);
void image_classifier_free(ImageClassifier *m);
// images [B, H, W, C] -> logits [B, outputs] (owned by m).
float *image_classifier_forward(ImageClassifier *m, const float *images, int B, const StepCtx *ctx);
// dlogits [B, outputs]: accumulates the head's gradients and, when encoder is
// set, the encoder's (a frozen encoder skips its backward entirely).
void image_classifier_backward(ImageClassifier *m, const float *dlogits, int encoder);
const char *image_head_name(int kind);  // "linear" | "paper"

#endif
