// Checkpoint files of a parameter store (safetensors). See params_file.c.
#ifndef ASTROMM_PARAMS_FILE_H
#define ASTROMM_PARAMS_FILE_H

#include "core/error.h"
#include "nn/params.h"

// Checkpoints in safetensors, names and shapes exactly those of the state dict.
// meta_kv: n_meta (key, value) string pairs stored in __metadata__, followed by the
// model properties and "data_crc32" (CRC-32 of the tensor bytes in file order, 8 hex
// digits; ckpt_model_content_check in train/train_state.h verifies it).
int params_save(const ParamStore *ps, const char *path, const char *const *meta_kv, int n_meta,
                AmError *err);
// Strict: every tensor of the store must be present with the same shape and
// dtype F32, and the file may hold no other tensor.
int params_load(ParamStore *ps, const char *path, AmError *err);
// The same, except that tensors whose names start with fresh_prefix may be absent
// from the file and then keep their current values (a CLIP checkpoint into a
// model with a new "classifier." head).
int params_load_except(ParamStore *ps, const char *path, const char *fresh_prefix, AmError *err);

typedef struct {
    const char *fresh_prefix;  // tensors whose names start with it may be absent (NULL: none)
    // The name a model tensor has in the file (NULL: its own name), for
    // checkpoints of another library's layout (models/convnext_timm.c).
    void (*file_name)(const char *name, char *out, size_t len);
    // Compare shapes without their size-1 dimensions (a Linear stored as a
    // 1x1 convolution [o, i, 1, 1], a scale [C] stored as [C, 1, 1]).
    int squeeze_shapes;
    // File tensors that are not in the store are ignored (an encoder's store
    // loading from a whole-model checkpoint); the store's must all be there.
    int allow_extra;
} ParamsLoadOptions;
int params_load_with(ParamStore *ps, const char *path, const ParamsLoadOptions *o, AmError *err);

#endif
