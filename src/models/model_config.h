// Sizes and dropout rates of the AstroM3 model. Defaults are the published
// AstroM3 values; every size is configurable so tests can run tiny models.
#ifndef ASTROMM_MODEL_CONFIG_H
#define ASTROMM_MODEL_CONFIG_H

#include <stdint.h>

enum { ATTENTION_LAYOUT_ASTROM3 = 0, ATTENTION_LAYOUT_STANDARD = 1 };

typedef struct {
    // photometry (Informer)
    int seq_len, photo_in, d_model, n_heads, d_ff, n_layers, factor, pe_max_len;
    // spectra (GalSpecNet)
    int spec_len, spec_in, spec_channels[4], spec_pool;
    // metadata (MLP)
    int meta_in, meta_hidden;
    // shared space and heads
    int proj_dim, n_classes;
    float p_photo, p_spec, p_meta;  // dropout probabilities
    float p_embed;                  // photometry token-embedding dropout (Informer: 0.1)
    // How the Informer attention's heads are laid out before the out-projection
    // (ATTENTION_LAYOUT_*): "astrom3" = the AstroM3 authors' code (context
    // [B,H,L,D] viewed as [B,L,H*D] without transposing back), "standard" =
    // [B,L,H,D] -> [B,L,H*D].
    int attention_layout;
    // The model family (MODEL_FAMILY_*): AstroM3's three encoders, or Zoobot's
    // ConvNeXt on images (models/zoobot.h) with these settings:
    int family;
    int image_size, image_channels;         // square input side, 1 (grey) or 3
    int convnext_depths[4], convnext_dims[4];
    float drop_path, layer_scale, p_head;   // last block's drop path, initial layer scale, head dropout
} ModelConfig;

enum { MODEL_FAMILY_ASTROM3 = 0, MODEL_FAMILY_CONVNEXT = 1 };
// 1 when the photometry encoder uses the authors' heads-first view.
int model_attention_astrom3(const ModelConfig *c);

void model_config_defaults(ModelConfig *c);
// Checks internal consistency (positive sizes, d_model % n_heads, spectra
// length surviving the convolutions); returns 0 or fills err.
int model_config_validate(const ModelConfig *c, char *err, int err_len);
// Derived sizes.
int model_spectra_features(const ModelConfig *c);  // channels[3] * final length
int model_photometry_features(const ModelConfig *c);  // seq_len * d_model

// Everything a forward pass needs besides inputs and weights.
typedef struct {
    uint64_t seed;          // dropout and ProbSparse sampling seed
    uint64_t step;          // fresh masks and samples every optimizer step
    int64_t sample_offset;  // global index of this batch's first sample (masks per sample)
    int training;           // dropout on (1) or off (0)
} StepCtx;

#endif
