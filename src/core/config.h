// Run configuration: one libconfig file plus `--set key=value` overrides,
// resolved into plain structs the rest of the code reads. Unknown keys and
// wrongly typed values are errors that name the key and the file.
#ifndef ASTROMM_CONFIG_H
#define ASTROMM_CONFIG_H

#include <stdint.h>

#include "models/model_config.h"

typedef struct {
    ModelConfig model;
    // run
    uint64_t seed;
    char device[16];  // "auto" | "cpu" | "cuda"
    int threads;
    int batch_size;
    int steps;
    // optimizer (AstroM3 CLIP pre-training recipe)
    float lr, beta1, beta2, eps, weight_decay, clip_norm;
    char source[512];  // the file it came from, or "(defaults)"
} RunConfig;

void run_config_defaults(RunConfig *c);
// path may be NULL (defaults only). sets: n strings "section.key=value".
// Returns 0, or 1 with a message in err naming the file/key.
int run_config_load(RunConfig *c, const char *path, const char *const *sets, int n_sets,
                    char *err, int err_len);
// Writes the resolved configuration in libconfig syntax (for run directories).
int run_config_write(const RunConfig *c, const char *path, char *err, int err_len);

#endif
