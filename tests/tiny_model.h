// The tiny AstroM3 used by model-level tests: every component present, each
// dimension small (runs in milliseconds).
#ifndef ASTROMM_TINY_MODEL_H
#define ASTROMM_TINY_MODEL_H

#include "models/model_config.h"

static inline ModelConfig tiny_model_config(void) {
    ModelConfig c;
    model_config_defaults(&c);
    c.seq_len = 12;
    c.d_model = 8;
    c.n_heads = 2;
    c.d_ff = 16;
    c.n_layers = 2;
    c.spec_len = 300;
    c.spec_channels[0] = c.spec_channels[1] = c.spec_channels[2] = c.spec_channels[3] = 3;
    c.meta_hidden = 8;
    c.proj_dim = 6;
    c.n_classes = 3;
    return c;
}

#endif
