// Parameter store: every tensor of a model with its state-dict name and shape.
// Trainable tensors live in one flat buffer (and their gradients in another of
// the same layout) so the optimizer, gradient all-reduce and global-norm
// clipping see flat memory; fixed buffers (the `pe` table) sit after them.
// Registration order is the state-dict order used for checkpoints.
#ifndef ASTROMM_PARAMS_H
#define ASTROMM_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define PARAM_NAME_MAX 128
#define PARAM_MAX_DIMS 4

typedef struct {
    char name[PARAM_NAME_MAX];
    int ndim;
    int64_t shape[PARAM_MAX_DIMS];
    size_t numel;
    size_t offset;      // into data (trainable) or buffers (fixed)
    int trainable;
    int init_index;     // position among trainable tensors (Philox stream), -1 for buffers
    int group;          // the model's group of the tensor (params_set_group), PARAM_GROUP_UNSET if none
    float init_offset;  // value = init_offset + (2u - 1) * init_bound
    float init_bound;
} ParamInfo;

#define PARAM_MAX_PROPS 4

typedef struct {
    ParamInfo *info;
    int n, cap;
    int n_trainable;
    size_t n_train_floats;   // trainable elements
    size_t n_buffer_floats;  // fixed-buffer elements
    float *data;             // [n_train_floats]
    float *grad;             // [n_train_floats]
    float *buffers;          // [n_buffer_floats]
    // Model properties that change the numbers but no tensor shape (e.g. the
    // attention layout): written into every checkpoint's metadata and checked
    // when one is loaded (params_set_property).
    char prop_key[PARAM_MAX_PROPS][32], prop_val[PARAM_MAX_PROPS][32];
    int n_props;
    int next_group;  // recorded by params_add (params_set_group); PARAM_GROUP_UNSET at first
    int group_set;
} ParamStore;

#define PARAM_GROUP_UNSET (-1)

// Formats a tensor name into out (PARAM_NAME_MAX bytes); dies if it would not fit.
void params_name(char *out, const char *fmt, ...) AM_PRINTF(2, 3);
// Register a tensor; returns its index. Shapes are given as up to 4 dims.
int params_add(ParamStore *ps, const char *name, int ndim, const int64_t *shape, int trainable,
               float init_offset, float init_bound);
// The tensors registered from now on belong to the model's group g (>= 0): a
// model says here which tensors form one unit of its backward (a data-parallel
// trainer all-reduces a group's gradients once the model reports it final; a
// fine-tuner trains the groups a head uses), so no one infers the structure
// from names. Tensors registered before any call have PARAM_GROUP_UNSET.
void params_set_group(ParamStore *ps, int g);
// Allocate data/grad/buffers once every tensor is registered.
void params_allocate(ParamStore *ps);
float *params_data(const ParamStore *ps, int idx);
float *params_grad(const ParamStore *ps, int idx);  // NULL for fixed buffers
int params_find(const ParamStore *ps, const char *name);  // -1 when absent
// Fill every trainable tensor from the Philox init rule (stream = init_index).
void params_init(ParamStore *ps, uint64_t seed);
void params_zero_grad(ParamStore *ps);
// Float ranges [offset, length) of the trainable tensors t with keep[t] != 0
// (in registration order, merged where adjacent; at most max_ranges). Returns
// how many.
int params_ranges(const ParamStore *ps, const unsigned char *keep, size_t ranges[][2], int max_ranges);
void params_free(ParamStore *ps);
// Declares a model property (key, value: < 32 bytes) that params_save writes as
// checkpoint metadata and params_load checks: a checkpoint that records another
// value is refused (naming both); one that records none is loaded with a warning.
void params_set_property(ParamStore *ps, const char *key, const char *value);

#endif
