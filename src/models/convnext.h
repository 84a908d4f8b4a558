// ConvNeXt image encoder (Liu et al. 2022), Zoobot's recommended family:
// a patchify stem (conv 4x4 stride 4 + LayerNorm), four stages of blocks
//   x + drop_path(layer_scale * fc2(GELU(fc1(LayerNorm(dwconv7x7(x))))))
// with a LayerNorm + conv 2x2 stride 2 between stages, then global average
// pooling and a LayerNorm: the representation [B, dims[3]].
//
// Activations are channels-last ([B, H, W, C]); the parameters carry
// torchvision's ConvNeXt names and shapes (features.*, classifier.0), so its
// state dicts load unchanged; models/convnext_timm.c maps timm's names.
// LayerNorm eps 1e-6 as both. Drop path grows linearly over the blocks,
// p_k = drop_path * k / (n_blocks - 1) (torchvision's schedule).
#ifndef ASTROMM_CONVNEXT_H
#define ASTROMM_CONVNEXT_H

#include "models/model_config.h"
#include "nn/arena.h"
#include "nn/params.h"

#define CONVNEXT_STAGES 4
#define CONVNEXT_MAX_BLOCKS 64

typedef struct {
    int in_chans;    // 1 (greyscale) or 3 (colour)
    int image_size;  // square input, a multiple of 32
    int depths[CONVNEXT_STAGES];
    int dims[CONVNEXT_STAGES];
    float drop_path;    // the last block's drop-path probability
    float layer_scale;  // initial value of every layer scale (1e-6)
} ConvNextConfig;

// Published ConvNeXt-nano (depths 2-2-8-2, widths 80-160-320-640), 1 channel, 224 px.
void convnext_config_nano(ConvNextConfig *c);
int convnext_config_validate(const ConvNextConfig *c, char *err, int err_len);
int convnext_features(const ConvNextConfig *c);  // dims[3]
int convnext_blocks(const ConvNextConfig *c);    // sum of depths

typedef struct {
    int dw_w, dw_b, ln_w, ln_b, fc1_w, fc1_b, fc2_w, fc2_b, gamma;
    float p_drop;
    // saved activations [N, C] (h, g: [N, 4C]); out is the block's output
    float *dw, *ln, *mean, *rstd, *h, *g, *f, *out;
} ConvNextBlock;

typedef struct {
    ConvNextConfig cfg;
    int max_batch, batch;
    int stem_w, stem_b, stem_ln_w, stem_ln_b;
    int down_ln_w[CONVNEXT_STAGES], down_ln_b[CONVNEXT_STAGES], down_w[CONVNEXT_STAGES],
        down_b[CONVNEXT_STAGES];
    int head_ln_w, head_ln_b;
    ConvNextBlock blocks[CONVNEXT_MAX_BLOCKS];
    int size[CONVNEXT_STAGES];  // feature-map side of each stage
    // stem / downsample activations
    float *stem_out, *stem_ln, *stem_mean, *stem_rstd;
    float *down_ln[CONVNEXT_STAGES], *down_mean[CONVNEXT_STAGES], *down_rstd[CONVNEXT_STAGES],
        *down_out[CONVNEXT_STAGES];
    float *pooled, *feat, *feat_mean, *feat_rstd;  // [B, C3]
    // backward work
    float *grad[CONVNEXT_STAGES];  // gradient of the stage's running activation
    float *t1, *t2, *t4, *g_pooled;
    const float *in;
    StepCtx ctx;
    int first_group;
} ConvNext;

// Registers the encoder's tensors under `prefix` in torchvision order; group
// stem = first_group, stage s = first_group + 1 + s, head norm = first_group + 5.
void convnext_register(ConvNext *e, ParamStore *ps, const ConvNextConfig *cfg, const char *prefix,
                       int first_group);
void convnext_build(ConvNext *e, AmArena *arena, int max_batch);
// x [B, H, W, in_chans] -> the representation [B, dims[3]] (owned by e).
float *convnext_forward(ConvNext *e, const ParamStore *ps, const float *x, int B, const StepCtx *ctx);
// Called during the backward as soon as every gradient of a parameter group is
// final (a data-parallel step starts that group's all-reduce there).
typedef void (*GroupDoneFn)(void *arg, int group);

// dfeat: gradient of the representation; accumulates every parameter gradient.
// done (may be NULL) hears the head norm's group, then stage 3's ... stage 0's,
// then the stem's.
void convnext_backward(ConvNext *e, const ParamStore *ps, const float *dfeat, GroupDoneFn done, void *arg);

#endif
