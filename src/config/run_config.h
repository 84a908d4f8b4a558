// Run configuration: one libconfig file plus `--set key=value` overrides,
// resolved into plain structs the rest of the code reads. Unknown keys and
// wrongly typed values are errors that name the key and the file.
#ifndef ASTROMM_CONFIG_H
#define ASTROMM_CONFIG_H

#include <stdint.h>

#include "models/model_config.h"

// A key with a fixed set of values is stored as the index of its value in the
// key's list of choices (config.c): these name the indices. The order is the
// order of the choices there, so it is also what run_config_write prints.
enum { RUN_DEVICE_AUTO = 0, RUN_DEVICE_CPU = 1, RUN_DEVICE_CUDA = 2 };            // run.device
enum { RUN_PRECISION_FP32 = 0, RUN_PRECISION_TF32 = 1, RUN_PRECISION_BF16 = 2 };  // run.precision
enum { RUN_PROGRESS_AUTO = 0, RUN_PROGRESS_TTY = 1, RUN_PROGRESS_LINES = 2, RUN_PROGRESS_OFF = 3 };
enum { TRAIN_OPTIMIZER_ADAM = 0, TRAIN_OPTIMIZER_ADAMW = 1 };                     // train.optimizer
enum { TRAIN_SCHEDULE_PLATEAU = 0, TRAIN_SCHEDULE_COSINE = 1 };                   // train.schedule
enum { TRAIN_LOSS_GLOBAL = 0, TRAIN_LOSS_LOCAL = 1 };                             // train.loss_scope
enum { FINETUNE_SUBSET_FULL = 0, FINETUNE_SUBSET_SUB50 = 1, FINETUNE_SUBSET_SUB25 = 2, FINETUNE_SUBSET_SUB10 = 3 };
enum { FINETUNE_WEIGHTS_NONE = 0, FINETUNE_WEIGHTS_BALANCED = 1 };
enum { FINETUNE_IMAGE_HEAD_LINEAR = 0, FINETUNE_IMAGE_HEAD_PAPER = 1 };             // finetune.image_head
enum { FINETUNE_TARGET_AUTO = 0, FINETUNE_TARGET_BINARY = 1, FINETUNE_TARGET_CLASSES = 2, FINETUNE_TARGET_VOTES = 3 };  // finetune.target

typedef struct {
    ModelConfig model;
    // run
    uint64_t seed;
    int device;             // RUN_DEVICE_*: "auto" | "cpu" | "cuda"
    int precision;          // RUN_PRECISION_*: GEMM arithmetic on CUDA, "fp32" | "tf32" | "bf16"
    int threads;
    char run_dir[1024];     // where train writes config copy, metrics, checkpoints, log
    float hang_timeout;     // seconds without progress before the job is aborted
    int progress;           // RUN_PROGRESS_*: "auto" | "tty" ('\r' in place) | "lines" | "off"
    // data
    char data_path[1024];   // dataset file or shard directory (train)
    int prefetch, drop_last;
    // image datasets: k-fold cross-validation splits instead of the stored ones
    int cv_folds, cv_fold;  // K (0: the stored splits); test = fold cv_fold, val = the next fold
    uint64_t cv_seed;
    // train
    int batch_size;         // global batch (all ranks together)
    int epochs;
    int max_steps;          // 0 = no limit (smoke: its step count, default 10)
    int optimizer;          // TRAIN_OPTIMIZER_*: "adam" (L2, the reference) | "adamw"
    float lr, beta1, beta2, eps, weight_decay, clip_norm;
    int schedule;           // TRAIN_SCHEDULE_*: "plateau" (reference) | "cosine"
    int warmup_epochs;
    float warmup_start_factor, plateau_factor, plateau_threshold, min_lr;
    int plateau_patience, early_stop_patience;
    int loss_scope;         // TRAIN_LOSS_*: "global" | "local"
    float bucket_mb;
    int modalities;         // CLIP, a modality mask (core/modality.h): "all" | "photometry+metadata" | ...
    // finetune (astromm finetune)
    int head;               // a modality mask: "photometry" | "spectra" | "metadata" | "all" | "photometry+metadata"
    char init[1024];        // CLIP checkpoint to start from ("" = from scratch)
    int freeze;             // train the classifier only (linear probe)
    int subset;             // FINETUNE_SUBSET_*: "full" | "sub50" | "sub25" | "sub10"
    int class_weights;      // FINETUNE_WEIGHTS_*: "none" | "balanced" (loss weights n / (C n_c) over the training objects)
    // finetune of an image model (model.family = "convnext"): models/image_classifier.h, train/image_ft_step.h
    int image_head;         // FINETUNE_IMAGE_HEAD_*: "linear" (Zoobot's default) | "paper" (Dense 64 x 2)
    float head_dropout;     // dropout of the head (< 0: the head's default, linear 0.5, paper 0.75)
    int unfreeze_blocks;    // encoder blocks trained from the top (0 = frozen encoder; ConvNeXt has 5)
    float lr_decay;         // block i from the top at lr * lr_decay^i (Zoobot: 0.75)
    int labels_per_class;   // training labels per class (0 = all)
    int image_target;       // FINETUNE_TARGET_*: "auto" (binary for 2 classes) | "binary" | "classes" | "votes"
    // search (astromm search) and map: eval/search.h, eval/ann_index.h
    int search_index;       // ANN_* (eval/ann_index.h): "exact" (brute force, the reference) | "flat" | "hnsw" | "ivfpq"
    int hnsw_m, hnsw_ef_construction, hnsw_ef_search;
    int ivf_nlist, ivf_nprobe;  // nlist 0: 4 sqrt(n) per shard
    int pq_m, pq_nbits;         // pq_m 0: the largest divisor of the dimension <= dim / 8
    int search_pca_sample;  // targets the PCA is fitted on (all when fewer; else a fixed stride sample)
    char index_dir[1024];   // where indexes are kept ("" = "<embeddings file>.index/")
    int search_rebuild;     // build the index even where a saved one exists
    int search_refine;      // approximate search: R k candidates re-ranked exactly (0: off)
    int search_pca_refit;   // --pca: fit even where the file stores its PCA copy
    int embed_pca;          // astromm embed: also the /pca copy with this many components (0: none)
    int embed_storage;      // EMB_STORAGE_* (eval/embeddings_file.h): astromm embed's "float32" | "float16"
    int map_knn_pca;        // map.knn = hnsw: the graph searched in this many principal components (0: all)
    int map_knn;            // UMAP_KNN_* (eval/umap.h): "auto" | "exact" | "hnsw" (its parameters: search.hnsw_*)
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
// The text of an enumerated or modality-set value of a key ("train.schedule",
// TRAIN_SCHEDULE_COSINE -> "cosine"), for messages; "?" for anything else.
const char *run_config_value_name(const char *key, int value);

#endif
