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
    char precision[16];  // GEMM arithmetic on CUDA: "fp32" | "tf32" | "bf16"
    int threads;
    char run_dir[1024];     // where train writes config copy, metrics, checkpoints, log
    float hang_timeout;     // seconds without progress before the job is aborted
    char progress[8];       // progress line: "auto" | "tty" ('\r' in place) | "lines" | "off"
    // data
    char data_path[1024];   // dataset file or shard directory (train)
    int prefetch, drop_last;
    // train
    int batch_size;         // global batch (all ranks together)
    int epochs;
    int max_steps;          // 0 = no limit (smoke: its step count, default 10)
    char optimizer[16];     // "adam" (L2, the reference) | "adamw"
    float lr, beta1, beta2, eps, weight_decay, clip_norm;
    char schedule[16];      // "plateau" (reference) | "cosine"
    int warmup_epochs;
    float warmup_start_factor, plateau_factor, plateau_threshold, min_lr;
    int plateau_patience, early_stop_patience;
    char loss_scope[16];    // "global" | "local"
    float bucket_mb;
    char modalities[24];    // CLIP: "all" | "photometry+metadata" | "photometry+spectra" | "spectra+metadata"
    // finetune (astromm finetune)
    char head[24];          // "photometry" | "spectra" | "metadata" | "all" | "photometry+metadata"
    char init[1024];        // CLIP checkpoint to start from ("" = from scratch)
    int freeze;             // train the classifier only (linear probe)
    char subset[16];        // "full" | "sub50" | "sub25" | "sub10"
    char class_weights[16]; // "none" | "balanced" (loss weights n / (C n_c) over the training objects)
    // checkpoint
    int checkpoint_every;   // optimizer steps between checkpoints (0: epoch ends only)
    int keep_last;
    char source[512];  // the file it came from, or "(defaults)"
} RunConfig;

void run_config_defaults(RunConfig *c);
// path may be NULL (defaults only). sets: n strings "section.key=value".
// Returns 0, or 1 with a message in err naming the file/key.
int run_config_load(RunConfig *c, const char *path, const char *const *sets, int n_sets,
                    char *err, int err_len);
// Writes the resolved configuration in libconfig syntax (for run directories).
int run_config_write(const RunConfig *c, const char *path, char *err, int err_len);
// The same text into a malloc'ed string, for hashing (keys marked not_hashed in
// config.c left out); NULL on allocation failure.
char *run_config_text(const RunConfig *c);

#endif
