// Generated trimodal batches for smoke runs and benchmarks (no files needed).
// Each sample has a hidden 8-d latent; every modality is a fixed random linear
// view of it plus noise, so the contrastive task is learnable and the smoke
// loss can fall.
#ifndef ASTROMM_SYNTH_BATCH_H
#define ASTROMM_SYNTH_BATCH_H

#include <stdint.h>

#include "models/astrom3.h"
#include "models/model_config.h"

typedef struct {
    float *photometry, *photometry_mask, *spectra, *metadata;
    int32_t *labels;
    int max_n;
} SynthBatch;

void synth_batch_alloc(SynthBatch *s, const ModelConfig *c, int max_n);
void synth_batch_free(SynthBatch *s);
// Samples first .. first+n-1 of the generated set with the given seed.
Batch synth_batch_fill(SynthBatch *s, const ModelConfig *c, uint64_t seed, int64_t first, int n);

#endif
