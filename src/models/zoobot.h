// Zoobot's model: a ConvNeXt encoder whose representation (the pooled,
// normalised features) feeds dropout -> Linear(answers) -> 1 + 100 sigmoid,
// the Dirichlet concentrations of every answer of the question schema
// (loss/dirichlet.h). The head is torchvision's classifier.2, so a whole
// torchvision ConvNeXt with `answers` outputs shares the state-dict names.
#ifndef ASTROMM_ZOOBOT_H
#define ASTROMM_ZOOBOT_H

#include "models/convnext.h"

enum { ZOOBOT_GROUP_STEM = 0, ZOOBOT_GROUP_HEAD = 6 };  // stages are groups 1..4, the head norm 5

typedef struct {
    ConvNext enc;
    int answers;
    float p_head;  // dropout before the head (Zoobot: 0.2)
    int head_w, head_b;
    float *dropped, *logits, *alpha, *g_logits, *g_feat;  // [B, F] / [B, answers]
    int batch;
    StepCtx ctx;
    ParamStore params;  // zoobot_create: the model's own tensors
    AmArena arena;      // and activations
} ZoobotModel;

// The model's ConvNeXt settings from the run's model section.
void zoobot_convnext_config(const ModelConfig *mc, ConvNextConfig *out);
// register + allocate + build for batches of up to max_batch; zoobot_init
// draws the parameters (Philox, stream = tensor index).
void zoobot_create(ZoobotModel *m, const ConvNextConfig *cfg, int answers, float p_head, int max_batch);
void zoobot_init(ZoobotModel *m, uint64_t seed);
void zoobot_free(ZoobotModel *m);

void zoobot_register(ZoobotModel *m, ParamStore *ps, const ConvNextConfig *cfg, int answers, float p_head);
void zoobot_build(ZoobotModel *m, AmArena *arena, int max_batch);
// images [B, H, W, C] -> concentrations alpha [B, answers] (owned by m);
// the representation is m->enc.feat.
float *zoobot_forward(ZoobotModel *m, const ParamStore *ps, const float *images, int B, const StepCtx *ctx);
// dalpha: gradient of the loss with respect to alpha.
void zoobot_backward(ZoobotModel *m, const ParamStore *ps, const float *dalpha);
// The same, telling done (convnext.h) when each parameter group's gradients
// are final: the head's first, then the encoder's from the top down.
void zoobot_backward_hooked(ZoobotModel *m, const ParamStore *ps, const float *dalpha, GroupDoneFn done, void *arg);

#endif
