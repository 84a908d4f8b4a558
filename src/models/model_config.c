#include "models/model_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void model_config_defaults(ModelConfig *c) {
    *c = (ModelConfig){
        .seq_len = 200, .photo_in = 9, .d_model = 128, .n_heads = 4, .d_ff = 512,
        .n_layers = 8, .factor = 1, .pe_max_len = 5000,
        .spec_len = 2575, .spec_in = 3, .spec_channels = {64, 64, 32, 32}, .spec_pool = 4,
        .meta_in = 34, .meta_hidden = 512,
        .proj_dim = 512, .n_classes = 10,
        .p_photo = 0.245f, .p_spec = 0.339f, .p_meta = 0.160f, .p_embed = 0.1f,
        .attention_layout = ATTENTION_LAYOUT_ASTROM3,
        .family = MODEL_FAMILY_ASTROM3,
        .image_size = 224, .image_channels = 1,  // Zoobot: greyscale ConvNeXt-nano at 224 px
        .convnext_depths = {2, 2, 8, 2}, .convnext_dims = {80, 160, 320, 640},
        .drop_path = 0.0f, .layer_scale = 1e-6f, .p_head = 0.2f,
    };
}

int model_attention_astrom3(const ModelConfig *c) { return c->attention_layout != ATTENTION_LAYOUT_STANDARD; }

static int spectra_final_len(const ModelConfig *c) {
    int len = c->spec_len;
    for (int i = 0; i < 4; i++) {
        len -= 2;  // kernel 3, no padding
        if (len <= 0) return 0;
        if (i < 3) len /= c->spec_pool;
    }
    return len;
}

int model_spectra_features(const ModelConfig *c) {
    return c->spec_channels[3] * spectra_final_len(c);
}

int model_photometry_features(const ModelConfig *c) { return c->seq_len * c->d_model; }

int model_config_validate(const ModelConfig *c, char *err, int err_len) {
#define BAD(...) return snprintf(err, (size_t)err_len, __VA_ARGS__), 1
    if (c->family == MODEL_FAMILY_CONVNEXT) {
        if (c->image_size < 32 || c->image_size % 32)
            BAD("model.image_size must be a multiple of 32 (stem 4 x three 2x downsamplings; got %d)", c->image_size);
        if (c->image_channels != 1 && c->image_channels != 3)
            BAD("model.image_channels must be 1 (greyscale) or 3 (colour; got %d)", c->image_channels);
        int blocks = 0;
        for (int i = 0; i < 4; i++) {
            if (c->convnext_depths[i] < 1 || c->convnext_dims[i] < 1)
                BAD("model.convnext_depths[%d] and model.convnext_dims[%d] must be >= 1", i, i);
            blocks += c->convnext_depths[i];
        }
        if (blocks > 64) BAD("model.convnext_depths: %d blocks, at most 64", blocks);
        if (!(c->drop_path >= 0.0f && c->drop_path < 1.0f)) BAD("model.drop_path must be in [0, 1) (got %g)", (double)c->drop_path);
        if (!(c->p_head >= 0.0f && c->p_head < 1.0f)) BAD("model.dropout_head must be in [0, 1) (got %g)", (double)c->p_head);
        if (!isfinite(c->layer_scale)) BAD("model.layer_scale must be finite");
        return 0;
    }
    if (c->seq_len < 2) BAD("model.seq_len must be >= 2 (got %d)", c->seq_len);
    if (c->photo_in < 1) BAD("model.photo_in must be >= 1 (got %d)", c->photo_in);
    if (c->d_model < 2 || c->d_model % 2) BAD("model.d_model must be even and >= 2 (got %d)", c->d_model);
    if (c->n_heads < 1 || c->d_model % c->n_heads)
        BAD("model.n_heads (%d) must divide model.d_model (%d)", c->n_heads, c->d_model);
    if (c->d_ff < 1) BAD("model.d_ff must be >= 1 (got %d)", c->d_ff);
    if (c->n_layers < 1) BAD("model.n_layers must be >= 1 (got %d)", c->n_layers);
    if (c->factor < 1) BAD("model.factor must be >= 1 (got %d)", c->factor);
    if (c->pe_max_len < c->seq_len)
        BAD("model.pe_max_len (%d) must be >= model.seq_len (%d)", c->pe_max_len, c->seq_len);
    if (c->spec_in < 1) BAD("model.spec_in must be >= 1 (got %d)", c->spec_in);
    for (int i = 0; i < 4; i++)
        if (c->spec_channels[i] < 1) BAD("model.spec_channels[%d] must be >= 1", i);
    if (c->spec_pool < 1) BAD("model.spec_pool must be >= 1 (got %d)", c->spec_pool);
    if (spectra_final_len(c) < 1)
        BAD("model.spec_len %d is too short for three conv+pool(%d) stages and a last conv",
            c->spec_len, c->spec_pool);
    if (c->meta_in < 1 || c->meta_hidden < 1) BAD("model.meta_in and model.meta_hidden must be >= 1");
    if (c->proj_dim < 1) BAD("model.proj_dim must be >= 1 (got %d)", c->proj_dim);
    if (c->n_classes < 2) BAD("model.n_classes must be >= 2 (got %d)", c->n_classes);
    const float p[4] = {c->p_photo, c->p_spec, c->p_meta, c->p_embed};
    for (int i = 0; i < 4; i++)
        if (!(p[i] >= 0.0f && p[i] < 1.0f))
            BAD("model dropout probabilities must be in [0, 1) (got %g)", (double)p[i]);
    return 0;
#undef BAD
}
