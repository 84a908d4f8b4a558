// Metadata encoder: MLP 34 -> 512 -> ReLU -> dropout -> 512 -> ReLU -> dropout.
// x [B, meta_in] -> out [B, meta_hidden].
#ifndef ASTROMM_METADATA_H
#define ASTROMM_METADATA_H

#include "nn/arena.h"
#include "models/model_config.h"
#include "nn/params.h"

typedef struct {
    ModelConfig cfg;
    int max_batch, batch;
    int w[2], b[2];
    float *h[2];          // linear -> ReLU -> dropout, in place [B, hidden]
    float *g_h, *g_r, *g_l, *g_x1;
    const float *in;
    StepCtx ctx;
} MetadataEncoder;

void metadata_encoder_register(MetadataEncoder *e, ParamStore *ps, const ModelConfig *cfg,
                               const char *prefix);
void metadata_encoder_build(MetadataEncoder *e, AmArena *arena, int max_batch);
float *metadata_encoder_forward(MetadataEncoder *e, const ParamStore *ps, const float *x, int B,
                                const StepCtx *ctx);
void metadata_encoder_backward(MetadataEncoder *e, const ParamStore *ps, const float *dout);

#endif
