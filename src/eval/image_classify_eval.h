// astromm eval of a fine-tuned image classifier (astromm finetune of a ConvNeXt,
// checkpoint task "image_classify"): every labelled image of a split, plain
// resized (no augmentation), through the model; rank 0 gathers one row per
// image into the same ClassifyEval (confusion matrix, predictions, loss) that
// the star classifier's evaluation writes (classify_eval_write).
#ifndef ASTROMM_IMAGE_CLASSIFY_EVAL_H
#define ASTROMM_IMAGE_CLASSIFY_EVAL_H

#include "eval/classify_eval.h"

// 1 when the checkpoint is a fine-tuned image classifier (task image_classify).
int image_classify_checkpoint(const char *path);
// Collective. 0, 1 on a failure, 2 on a configuration or checkpoint that does
// not fit; messages printed (rank 0, or the rank that saw it).
int image_classify_eval_run(const RunConfig *cfg, Comm *comm, const char *checkpoint, int split, const char *who,
                            ClassifyEval *out);

#endif
