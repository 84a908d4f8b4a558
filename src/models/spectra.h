// Spectra encoder: GalSpecNet, a 1-D CNN.
// x [B, spec_in, spec_len] -> out [B, F], F = channels[3] * final length (1184 for AstroM3).
#ifndef ASTROMM_SPECTRA_H
#define ASTROMM_SPECTRA_H

#include "nn/arena.h"
#include "models/model_config.h"
#include "nn/params.h"

typedef struct {
    ModelConfig cfg;
    int max_batch, batch;
    int conv_w[4], conv_b[4];
    int c_in[4], c_out[4], len_in[4], len_out[4];  // per conv; pooled length = len_out/pool
    float *a[4];          // conv outputs after ReLU [B, c_out, len_out]
    float *pooled[3];     // after max-pool [B, c_out, len_out/pool]
    int32_t *argmax[3];
    float *out;           // [B, F] after dropout
    float *g_a[4], *g_pooled[3], *g_out;
    const float *in;
    StepCtx ctx;
} SpectraEncoder;

void spectra_encoder_register(SpectraEncoder *e, ParamStore *ps, const ModelConfig *cfg,
                              const char *prefix);
void spectra_encoder_build(SpectraEncoder *e, AmArena *arena, int max_batch);
float *spectra_encoder_forward(SpectraEncoder *e, const ParamStore *ps, const float *x, int B,
                               const StepCtx *ctx);
void spectra_encoder_backward(SpectraEncoder *e, const ParamStore *ps, const float *dout);
int spectra_encoder_features(const SpectraEncoder *e);

#endif
