// timm's ConvNeXt checkpoints (the layout of Zoobot's published encoders,
// timm.create_model('convnext_nano', ...), conv_mlp=True) into the
// torchvision-named model. The map is timm's own (timm/models/convnext.py,
// checkpoint_filter_fn and the module tree):
//   features.0.0 / .1                      -> stem.0 / stem.1
//   features.{2s}.0 / .1        (s = 1..3) -> stages.{s}.downsample.0 / .1
//   features.{2s+1}.{j}.layer_scale [C,1,1]-> stages.{s}.blocks.{j}.gamma [C]
//   ... .block.0 / .2                      -> ... .conv_dw / .norm
//   ... .block.3 / .5 [o, i]               -> ... .mlp.fc1 / .mlp.fc2 [o, i, 1, 1]
//   classifier.0 / classifier.2            -> head.norm / head.fc
// head.fc may be absent (timm's num_classes=0 encoders): the head then keeps
// its fresh initialisation.
#ifndef ASTROMM_CONVNEXT_TIMM_H
#define ASTROMM_CONVNEXT_TIMM_H

#include <stddef.h>

#include "core/error.h"
#include "nn/params.h"

// timm's name of a torchvision ConvNeXt tensor name (unchanged when unknown).
void convnext_timm_name(const char *tv_name, char *out, size_t len);
// Loads a timm-layout safetensors state dict into a Zoobot model's store.
int convnext_load_timm(ParamStore *ps, const char *path, AmError *err);

#endif
