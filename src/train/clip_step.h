// Forward + backward of one CLIP pre-training step on one process: encoders,
// projections, trimodal loss, and every parameter gradient (in m->params.grad,
// zeroed first). Only the modalities of loss->mod_mask run. The distributed version (gathered embeddings) builds on the
// same pieces in the trainer.
#ifndef ASTROMM_CLIP_STEP_H
#define ASTROMM_CLIP_STEP_H

#include "loss/clip.h"
#include "models/astrom3.h"

float clip_forward_backward(AstroM3 *m, ClipLoss *loss, const Batch *b, const StepCtx *ctx);

#endif
