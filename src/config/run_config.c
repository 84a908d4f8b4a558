#define _POSIX_C_SOURCE 200809L
#include "config/run_config.h"

#include <errno.h>
#include <float.h>
#include <stdint.h>
#include <stddef.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_literal.h"
#include "core/modality.h"

void run_config_defaults(RunConfig *c) {
    memset(c, 0, sizeof *c);
    model_config_defaults(&c->model);
    c->seed = 42;
    // The GPU when one is usable (the CUDA path passed its GPU tests on an H200,
    // benchmarks/results/gpu.md), else the CPU.
    c->device = RUN_DEVICE_AUTO;
    c->precision = RUN_PRECISION_FP32;
    c->threads = 0;
    snprintf(c->run_dir, sizeof c->run_dir, "runs/astrom3");
    c->hang_timeout = 45.0f;
    c->progress = RUN_PROGRESS_AUTO;
    c->prefetch = 1;
    c->drop_last = 1;
    c->batch_size = 64;
    c->epochs = 100;
    c->max_steps = 0;
    c->optimizer = TRAIN_OPTIMIZER_ADAM;
    c->lr = 3.92e-3f;
    c->beta1 = 0.926f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->weight_decay = 4.67e-3f;
    c->clip_norm = 45.0f;
    c->schedule = TRAIN_SCHEDULE_PLATEAU;
    c->warmup_epochs = 10;
    c->warmup_start_factor = 1e-5f;
    c->plateau_factor = 0.1125f;
    c->plateau_threshold = 1e-4f;
    c->plateau_patience = 3;
    c->min_lr = 0.0f;
    c->early_stop_patience = 6;
    c->loss_scope = TRAIN_LOSS_GLOBAL;
    c->bucket_mb = 25.0f;
    c->head = MOD_MASK_ALL;
    c->freeze = 0;
    c->subset = FINETUNE_SUBSET_FULL;
    c->class_weights = FINETUNE_WEIGHTS_NONE;
    c->image_head = FINETUNE_IMAGE_HEAD_LINEAR;
    c->head_dropout = -1.0f;
    c->unfreeze_blocks = 0;
    c->lr_decay = 0.75f;
    c->labels_per_class = 0;
    c->image_target = FINETUNE_TARGET_AUTO;
    c->search_index = 0;  // ANN_EXACT
    c->hnsw_m = 32;
    c->hnsw_ef_construction = 40;
    c->hnsw_ef_search = 64;
    c->ivf_nlist = 0;
    c->ivf_nprobe = 16;
    c->pq_m = 0;
    c->pq_nbits = 8;
    c->search_pca_sample = 20000;
    c->map_knn_pca = 64;
    c->modalities = MOD_MASK_ALL;
    c->checkpoint_every = 0;
    c->keep_last = 3;
    snprintf(c->source, sizeof c->source, "(defaults)");
}

// K_STR: free text (paths); K_ENUM: one of the '|'-separated words in `choices`,
// stored as its index (an int; the enums of config.h name them); K_MODS: a set
// of modalities named as in core/modality.h, one of `choices`, stored as its
// mask (an int); K_BOOL: true/false (or 0/1), stored as int.
typedef enum { K_INT, K_FLOAT, K_U64, K_INT4, K_STR, K_ENUM, K_MODS, K_BOOL } KeyType;
typedef struct {
    const char *path;
    KeyType type;
    size_t offset, size;
    double lo, hi;        // inclusive range of numbers (K_INT, K_FLOAT, K_U64, each K_INT4 entry)
    const char *choices;  // K_ENUM
} Key;

// Left out of run_config_text (the checkpoint's config hash): keys added after
// checkpoints existed that cannot change a number, so older runs still resume.
static const char *const not_hashed[] = {"run.progress", "search.index", "search.hnsw_m", "search.hnsw_ef_construction",
                                        "search.hnsw_ef_search", "search.ivf_nlist", "search.ivf_nprobe", "search.pq_m",
                                        "search.pq_nbits", "search.pca_sample", "search.index_dir", "search.rebuild",
                                        "map.knn", "map.knn_pca", "embed.storage",
                                        "embed.pca"};
// The image model's keys (added with model.family): hashed only for that
// family, so AstroM3 runs keep the hash their checkpoints recorded.
static const char *const image_model_keys[] = {"model.family", "model.image_size", "model.image_channels",
                                               "model.convnext_depths", "model.convnext_dims", "model.drop_path",
                                               "model.layer_scale", "model.dropout_head", "finetune.image_head",
                                               "finetune.head_dropout", "finetune.unfreeze_blocks", "finetune.lr_decay",
                                               "finetune.labels_per_class", "finetune.target", "data.cv_folds",
                                               "data.cv_fold", "data.cv_seed"};

static int key_hashed(const Key *k, const RunConfig *c) {
    for (size_t i = 0; i < sizeof not_hashed / sizeof *not_hashed; i++)
        if (!strcmp(k->path, not_hashed[i])) return 0;
    for (size_t i = 0; i < sizeof image_model_keys / sizeof *image_model_keys; i++)
        if (!strcmp(k->path, image_model_keys[i])) return c->model.family == MODEL_FAMILY_CONVNEXT;
    return 1;
}

#define F(f) offsetof(RunConfig, f), sizeof(((RunConfig *)0)->f)
#define BIG 2147483647.0
static const Key keys[] = {
    {"model.seq_len", K_INT, F(model.seq_len), 1, 1 << 20, NULL},
    {"model.photo_in", K_INT, F(model.photo_in), 1, 1 << 16, NULL},
    {"model.d_model", K_INT, F(model.d_model), 1, 1 << 16, NULL},
    {"model.n_heads", K_INT, F(model.n_heads), 1, 1 << 10, NULL},
    {"model.d_ff", K_INT, F(model.d_ff), 1, 1 << 20, NULL},
    {"model.n_layers", K_INT, F(model.n_layers), 1, 1 << 10, NULL},
    {"model.factor", K_INT, F(model.factor), 1, 1 << 10, NULL},
    {"model.pe_max_len", K_INT, F(model.pe_max_len), 1, 1 << 24, NULL},
    {"model.spec_len", K_INT, F(model.spec_len), 1, 1 << 24, NULL},
    {"model.spec_in", K_INT, F(model.spec_in), 1, 1 << 10, NULL},
    {"model.spec_channels", K_INT4, F(model.spec_channels), 1, 1 << 16, NULL},
    {"model.spec_pool", K_INT, F(model.spec_pool), 1, 1 << 10, NULL},
    {"model.meta_in", K_INT, F(model.meta_in), 1, 1 << 16, NULL},
    {"model.meta_hidden", K_INT, F(model.meta_hidden), 1, 1 << 20, NULL},
    {"model.proj_dim", K_INT, F(model.proj_dim), 1, 1 << 20, NULL},
    {"model.n_classes", K_INT, F(model.n_classes), 1, 1 << 20, NULL},
    {"model.dropout_photometry", K_FLOAT, F(model.p_photo), 0, 0.999, NULL},
    {"model.dropout_spectra", K_FLOAT, F(model.p_spec), 0, 0.999, NULL},
    {"model.dropout_metadata", K_FLOAT, F(model.p_meta), 0, 0.999, NULL},
    {"model.dropout_embedding", K_FLOAT, F(model.p_embed), 0, 0.999, NULL},
    {"model.attention_layout", K_ENUM, F(model.attention_layout), 0, 0, "astrom3|standard"},  // ATTENTION_LAYOUT_*
    {"model.family", K_ENUM, F(model.family), 0, 0, "astrom3|convnext"},  // MODEL_FAMILY_*
    {"model.image_size", K_INT, F(model.image_size), 32, 4096, NULL},
    {"model.image_channels", K_INT, F(model.image_channels), 1, 3, NULL},
    {"model.convnext_depths", K_INT4, F(model.convnext_depths), 1, 64, NULL},
    {"model.convnext_dims", K_INT4, F(model.convnext_dims), 1, 1 << 14, NULL},
    {"model.drop_path", K_FLOAT, F(model.drop_path), 0, 0.999, NULL},
    {"model.layer_scale", K_FLOAT, F(model.layer_scale), -1e6, 1e6, NULL},
    {"model.dropout_head", K_FLOAT, F(model.p_head), 0, 0.999, NULL},
    {"run.seed", K_U64, F(seed), 0, 18446744073709551615.0, NULL},  // 2^64-1 (exact: the literal is parsed)
    {"run.device", K_ENUM, F(device), 0, 0, "auto|cpu|cuda"},
    {"run.precision", K_ENUM, F(precision), 0, 0, "fp32|tf32|bf16"},
    {"run.threads", K_INT, F(threads), 0, 4096, NULL},
    {"run.dir", K_STR, F(run_dir), 0, 0, NULL},
    {"run.hang_timeout", K_FLOAT, F(hang_timeout), 5, 86400, NULL},
    {"run.progress", K_ENUM, F(progress), 0, 0, "auto|tty|lines|off"},
    {"data.path", K_STR, F(data_path), 0, 0, NULL},
    {"data.prefetch", K_BOOL, F(prefetch), 0, 1, NULL},
    {"data.drop_last", K_BOOL, F(drop_last), 0, 1, NULL},
    {"data.cv_folds", K_INT, F(cv_folds), 0, 100, NULL},
    {"data.cv_fold", K_INT, F(cv_fold), 0, 99, NULL},
    {"data.cv_seed", K_U64, F(cv_seed), 0, 18446744073709551615.0, NULL},
    {"train.batch_size", K_INT, F(batch_size), 1, 1 << 24, NULL},
    {"train.epochs", K_INT, F(epochs), 1, 1e7, NULL},
    {"train.max_steps", K_INT, F(max_steps), 0, BIG, NULL},
    {"train.optimizer", K_ENUM, F(optimizer), 0, 0, "adam|adamw"},
    {"train.lr", K_FLOAT, F(lr), 1e-12, 10, NULL},
    {"train.beta1", K_FLOAT, F(beta1), 0, 0.999999, NULL},
    {"train.beta2", K_FLOAT, F(beta2), 0, 0.999999, NULL},
    {"train.eps", K_FLOAT, F(eps), 1e-30, 1, NULL},
    {"train.weight_decay", K_FLOAT, F(weight_decay), 0, 10, NULL},
    {"train.clip_norm", K_FLOAT, F(clip_norm), 1e-12, 1e30, NULL},
    {"train.schedule", K_ENUM, F(schedule), 0, 0, "plateau|cosine"},
    {"train.warmup_epochs", K_INT, F(warmup_epochs), 0, 1e7, NULL},
    {"train.warmup_start_factor", K_FLOAT, F(warmup_start_factor), 1e-12, 1, NULL},
    {"train.plateau_factor", K_FLOAT, F(plateau_factor), 1e-6, 0.999999, NULL},
    {"train.plateau_patience", K_INT, F(plateau_patience), 0, 1e7, NULL},
    {"train.plateau_threshold", K_FLOAT, F(plateau_threshold), 0, 1, NULL},
    {"train.min_lr", K_FLOAT, F(min_lr), 0, 10, NULL},
    {"train.early_stop_patience", K_INT, F(early_stop_patience), 0, 1e7, NULL},
    {"train.loss_scope", K_ENUM, F(loss_scope), 0, 0, "global|local"},
    {"train.bucket_mb", K_FLOAT, F(bucket_mb), 0.001, 1 << 16, NULL},
    {"train.modalities", K_MODS, F(modalities), 0, 0, "all|photometry+metadata|photometry+spectra|spectra+metadata"},
    {"finetune.head", K_MODS, F(head), 0, 0, "photometry|spectra|metadata|all|photometry+metadata"},
    {"finetune.init", K_STR, F(init), 0, 0, NULL},
    {"finetune.freeze", K_BOOL, F(freeze), 0, 1, NULL},
    {"finetune.subset", K_ENUM, F(subset), 0, 0, "full|sub50|sub25|sub10"},
    {"finetune.class_weights", K_ENUM, F(class_weights), 0, 0, "none|balanced"},
    {"finetune.image_head", K_ENUM, F(image_head), 0, 0, "linear|paper"},  // FINETUNE_IMAGE_HEAD_*
    {"finetune.head_dropout", K_FLOAT, F(head_dropout), -1, 0.999, NULL},
    {"finetune.unfreeze_blocks", K_INT, F(unfreeze_blocks), 0, 5, NULL},
    {"finetune.lr_decay", K_FLOAT, F(lr_decay), 1e-6, 1, NULL},
    {"finetune.labels_per_class", K_INT, F(labels_per_class), 0, BIG, NULL},
    {"finetune.target", K_ENUM, F(image_target), 0, 0, "auto|binary|classes|votes"},  // FINETUNE_TARGET_*
    {"search.index", K_ENUM, F(search_index), 0, 0, "exact|flat|hnsw|ivfpq"},  // ANN_*
    {"search.hnsw_m", K_INT, F(hnsw_m), 2, 512, NULL},
    {"search.hnsw_ef_construction", K_INT, F(hnsw_ef_construction), 1, 1 << 16, NULL},
    {"search.hnsw_ef_search", K_INT, F(hnsw_ef_search), 1, 1 << 16, NULL},
    {"search.ivf_nlist", K_INT, F(ivf_nlist), 0, 1 << 24, NULL},
    {"search.ivf_nprobe", K_INT, F(ivf_nprobe), 1, 1 << 24, NULL},
    {"search.pq_m", K_INT, F(pq_m), 0, 4096, NULL},
    {"search.pq_nbits", K_INT, F(pq_nbits), 4, 16, NULL},
    {"search.pca_sample", K_INT, F(search_pca_sample), 16, BIG, NULL},
    {"search.index_dir", K_STR, F(index_dir), 0, 0, NULL},
    {"search.rebuild", K_BOOL, F(search_rebuild), 0, 1, NULL},
    {"search.refine", K_INT, F(search_refine), 0, 4096, NULL},
    {"search.pca_refit", K_BOOL, F(search_pca_refit), 0, 1, NULL},
    {"embed.pca", K_INT, F(embed_pca), 0, 4096, NULL},
    {"embed.storage", K_ENUM, F(embed_storage), 0, 0, "float32|float16"},  // EMB_STORAGE_*
    {"map.knn", K_ENUM, F(map_knn), 0, 0, "auto|exact|hnsw"},  // UMAP_KNN_*
    {"map.knn_pca", K_INT, F(map_knn_pca), 0, 1 << 20, NULL},
    {"checkpoint.every", K_INT, F(checkpoint_every), 0, BIG, NULL},
    {"checkpoint.keep_last", K_INT, F(keep_last), 1, 1 << 20, NULL},
};
#undef F
#define N_KEYS (sizeof keys / sizeof *keys)

static const Key *find_key(const char *path) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].path, path) == 0) return &keys[i];
    return NULL;
}

// The number literals of the text being applied, consumed in libconfig's walk
// order (config_literal.h: libconfig itself wraps integers beyond 32 bits).
typedef struct {
    ConfigLiterals lits;
    size_t next;
} NumberCursor;

// A numeric setting's exact value: libconfig's type says integer or float, the
// literal gives an integer's exact value. 0 = ok; 1 = not a number of the wanted
// kind (the caller words the message); 2 = err set.
static int read_number(const config_setting_t *s, int want_int, NumberCursor *cur, long double *out,
                       const char *where, const char *key, char *err, int err_len) {
    const int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64 && t != CONFIG_TYPE_FLOAT) return 1;
    if (cur->next >= cur->lits.n)
        return snprintf(err, (size_t)err_len, "%s: %s: cannot find the number in the text (an astromm bug: "
                        "please report it with the file)", where, key), 2;
    const ConfigLiteral *lit = &cur->lits.items[cur->next++];
    if (t == CONFIG_TYPE_FLOAT) {
        if (want_int) return 1;
        *out = config_setting_get_float(s);
        return 0;
    }
    int negative = 0;
    uint64_t mag = 0;
    const int r = config_literal_integer(lit->text, &negative, &mag);
    if (r == CONFIG_LITERAL_TOO_BIG)
        return snprintf(err, (size_t)err_len, "%s: %s = %s is out of range (beyond 64 bits)", where, key, lit->text), 2;
    const long double v = negative ? -(long double)mag : (long double)mag;
    // Where libconfig holds the value exactly it must agree with the literal; if
    // not, the walk and the scan are out of step, and no value may be trusted.
    if (r != CONFIG_LITERAL_OK || (mag <= INT32_MAX && (long double)config_setting_get_int64(s) != v))
        return snprintf(err, (size_t)err_len, "%s: %s: the number '%s' does not match libconfig's reading "
                        "(an astromm bug: please report it with the file)", where, key, lit->text), 2;
    *out = v;
    return 0;
}

// The index of v among the '|'-separated words of choices; -1 when absent.
static int enum_index(const char *choices, const char *v) {
    const size_t n = strlen(v);
    int i = 0;
    for (const char *p = choices; *p; i++) {
        const char *bar = strchr(p, '|');
        const size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return i;
        p += len + (bar ? 1 : 0);
    }
    return -1;
}

// Word `index` of choices into out (size out_len); "?" when there is none.
static const char *enum_word(const char *choices, int index, char *out, size_t out_len) {
    int i = 0;
    for (const char *p = choices; *p; i++) {
        const char *bar = strchr(p, '|');
        const size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (i == index && len < out_len) {
            memcpy(out, p, len);
            out[len] = 0;
            return out;
        }
        p += len + (bar ? 1 : 0);
    }
    return "?";
}

// The text of a K_ENUM or K_MODS value (static for K_MODS; in buf for K_ENUM).
static const char *key_value_text(const Key *k, int v, char *buf, size_t len) {
    return k->type == K_MODS ? modality_mask_name(v) : enum_word(k->choices, v, buf, len);
}

static int out_of_range(const Key *k, long double v, const char *where, char *err, int err_len) {
    if (k->type == K_FLOAT) {
        // Compare what is stored, a float, with the bounds as floats: the double
        // 1e30 is within clip_norm's bound but rounds to the float 1.00000002e30,
        // which run_config_write writes and the double test then refused on
        // reload (found by tests/fuzz/fuzz_config). No bound is near FLT_MAX.
        if (v >= -(long double)FLT_MAX && v <= (long double)FLT_MAX && (float)v >= (float)k->lo &&
            (float)v <= (float)k->hi)
            return 0;
    } else if (v >= (long double)k->lo && v <= (long double)k->hi) {
        return 0;
    }
    if (k->type == K_FLOAT)
        snprintf(err, (size_t)err_len, "%s: %s = %g is out of range [%g, %g]", where, k->path, (double)v, k->lo, k->hi);
    else
        snprintf(err, (size_t)err_len, "%s: %s = %.0Lf is out of range [%.0f, %.0f]", where, k->path, v, k->lo, k->hi);
    return 1;
}

// Store one setting into the struct; err names the key and where it came from
// ("file:line" or "--set key").
static int apply(RunConfig *c, const Key *k, const config_setting_t *s_, NumberCursor *cur, const char *where,
                 char *err, int err_len) {
    char *base = (char *)c + k->offset;
    long double v;
    int r;
    if (k->type == K_STR || k->type == K_ENUM || k->type == K_MODS) {
        const char *text = config_setting_type(s_) == CONFIG_TYPE_STRING ? config_setting_get_string(s_) : NULL;
        if (!text) return snprintf(err, (size_t)err_len, "%s: %s must be a string (in double quotes)", where, k->path), 1;
        if (k->type != K_STR) {
            const int index = enum_index(k->choices, text);
            if (index < 0)
                return snprintf(err, (size_t)err_len, "%s: %s must be one of %s (got \"%s\")", where, k->path,
                                k->choices, text), 1;
            *(int *)base = k->type == K_MODS ? modality_mask_from_name(text) : index;
            return 0;
        }
        if (strlen(text) >= k->size)
            return snprintf(err, (size_t)err_len, "%s: %s is longer than %zu characters", where, k->path, k->size - 1), 1;
        snprintf(base, k->size, "%s", text);
        return 0;
    }
    if (k->type == K_BOOL) {
        if (config_setting_type(s_) == CONFIG_TYPE_BOOL) {
            *(int *)base = config_setting_get_bool(s_);
            return 0;
        }
        if ((r = read_number(s_, 1, cur, &v, where, k->path, err, err_len)) == 2) return 1;
        if (r || (v != 0 && v != 1))
            return snprintf(err, (size_t)err_len, "%s: %s must be true or false", where, k->path), 1;
        *(int *)base = (int)v;
        return 0;
    }
    if (k->type == K_INT4) {
        if (config_setting_type(s_) != CONFIG_TYPE_ARRAY && config_setting_type(s_) != CONFIG_TYPE_LIST)
            return snprintf(err, (size_t)err_len, "%s: %s must be a list of 4 integers, e.g. [64, 64, 32, 32]",
                            where, k->path), 1;
        if (config_setting_length(s_) != 4)
            return snprintf(err, (size_t)err_len, "%s: %s must have 4 entries (has %d)", where,
                            k->path, config_setting_length(s_)), 1;
        for (int i = 0; i < 4; i++) {
            if ((r = read_number(config_setting_get_elem(s_, (unsigned)i), 1, cur, &v, where, k->path, err, err_len)) == 2)
                return 1;
            if (r)
                return snprintf(err, (size_t)err_len, "%s: %s[%d] must be an integer", where, k->path, i), 1;
            if (out_of_range(k, v, where, err, err_len)) return 1;
            ((int *)base)[i] = (int)v;
        }
        return 0;
    }
    if ((r = read_number(s_, k->type != K_FLOAT, cur, &v, where, k->path, err, err_len)) == 2) return 1;
    if (r)
        return snprintf(err, (size_t)err_len, "%s: %s must be %s", where, k->path,
                        k->type == K_FLOAT ? "a number" : "an integer"), 1;
    if (out_of_range(k, v, where, err, err_len)) return 1;
    if (k->type == K_INT)
        *(int *)base = (int)v;
    else if (k->type == K_U64)
        *(uint64_t *)base = (uint64_t)v;  // exact: long double holds 64-bit integers
    else
        *(float *)base = (float)v;
    return 0;
}

// Walk every leaf of a parsed file so unknown keys are reported, not ignored.
static int apply_tree(RunConfig *c, const config_setting_t *s, const char *prefix, NumberCursor *cur,
                      const char *where, char *err, int err_len) {
    const int n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        const config_setting_t *child = config_setting_get_elem(s, (unsigned)i);
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", config_setting_name(child));
        if (config_setting_type(child) == CONFIG_TYPE_GROUP) {
            if (apply_tree(c, child, path, cur, where, err, err_len)) return 1;
            continue;
        }
        const Key *k = find_key(path);
        if (!k)
            return snprintf(err, (size_t)err_len, "%s:%d: unknown key '%s' (see docs/configuration.md)",
                            where, config_setting_source_line(child), path), 1;
        char at[600];
        snprintf(at, sizeof at, "%s:%d", where, config_setting_source_line(child));
        if (apply(c, k, child, cur, at, err, err_len)) return 1;
    }
    return 0;
}

// The whole file as a NUL-terminated string (malloc'ed), NULL with errno set.
static char *read_whole_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int bad = 0;
    for (;;) {
        if (cap - len < 4096) {
            const size_t grown = cap ? 2 * cap : 8192;
            char *p = realloc(buf, grown);
            if (!p) {
                bad = 1;
                errno = ENOMEM;
                break;
            }
            buf = p;
            cap = grown;
        }
        const size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    bad = bad || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        if (!errno) errno = EIO;
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

int run_config_load(RunConfig *c, const char *path, const char *const *sets, int n_sets,
                    char *err, int err_len) {
    run_config_defaults(c);
    if (path) {
        config_t cf;
        config_init(&cf);
        if (!config_read_file(&cf, path)) {
            if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
                snprintf(err, (size_t)err_len, "%s: cannot read config file (%s)", path, strerror(errno));
            else
                snprintf(err, (size_t)err_len, "%s:%d: %s", path, config_error_line(&cf),
                         config_error_text(&cf));
            config_destroy(&cf);
            return 1;
        }
        // The same bytes libconfig just parsed, for the exact number literals.
        NumberCursor cur = {{0}, 0};
        char *text = read_whole_file(path);
        char serr[256] = "";
        int rc = !text ? (snprintf(err, (size_t)err_len, "%s: cannot read config file (%s)", path, strerror(errno)), 1)
                       : config_literals_scan(text, &cur.lits, serr, sizeof serr);
        if (rc && serr[0]) snprintf(err, (size_t)err_len, "%s:%s", path, serr);
        if (!rc) rc = apply_tree(c, config_root_setting(&cf), "", &cur, path, err, err_len);
        free(text);
        config_literals_free(&cur.lits);
        config_destroy(&cf);
        if (rc) return 1;
        snprintf(c->source, sizeof c->source, "%s", path);
    }
    for (int i = 0; i < n_sets; i++) {
        const char *eq = strchr(sets[i], '=');
        if (!eq || eq == sets[i])
            return snprintf(err, (size_t)err_len, "--set '%s': expected key=value, e.g. model.d_model=64", sets[i]), 1;
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - sets[i]), sets[i]);
        const Key *k = find_key(key);
        if (!k) return snprintf(err, (size_t)err_len, "--set: unknown key '%s' (see docs/configuration.md)", key), 1;
        // Parse the value with libconfig itself so the syntax matches files.
        char text[512];
        snprintf(text, sizeof text, "v = %s;", eq + 1);
        config_t cf;
        config_init(&cf);
        if (!config_read_string(&cf, text)) {
            snprintf(err, (size_t)err_len, "--set %s: cannot parse value '%s'", key, eq + 1);
            config_destroy(&cf);
            return 1;
        }
        char where[160];
        snprintf(where, sizeof where, "--set %s", key);
        NumberCursor cur = {{0}, 0};
        char serr[256] = "";
        int rc = config_literals_scan(text, &cur.lits, serr, sizeof serr);
        if (rc) snprintf(err, (size_t)err_len, "%s: %s", where, serr);
        if (!rc) rc = apply(c, k, config_lookup(&cf, "v"), &cur, where, err, err_len);
        config_literals_free(&cur.lits);
        config_destroy(&cf);
        if (rc) return 1;
    }
    char merr[256];
    if (model_config_validate(&c->model, merr, sizeof merr))
        return snprintf(err, (size_t)err_len, "%s: %s", c->source, merr), 1;
    if (c->min_lr > c->lr)
        return snprintf(err, (size_t)err_len, "%s: train.min_lr (%g) must not exceed train.lr (%g)", c->source,
                        (double)c->min_lr, (double)c->lr), 1;
    if (c->schedule == TRAIN_SCHEDULE_COSINE && c->warmup_epochs >= c->epochs)
        return snprintf(err, (size_t)err_len, "%s: the cosine schedule needs train.epochs (%d) > train.warmup_epochs (%d)",
                        c->source, c->epochs, c->warmup_epochs), 1;
    return 0;
}

static void write_config(const RunConfig *c, FILE *f, int for_hash) {
    const char *section = "";
    for (size_t i = 0; i < N_KEYS; i++) {
        const Key *k = &keys[i];
        if (for_hash && !key_hashed(k, c)) continue;
        const char *dot = strchr(k->path, '.');
        if (strncmp(section, k->path, (size_t)(dot - k->path) + 1) != 0) {
            if (*section) fprintf(f, "};\n");
            fprintf(f, "%.*s = {\n", (int)(dot - k->path), k->path);
            section = k->path;
        }
        const char *base = (const char *)c + k->offset;
        switch (k->type) {
        case K_INT: fprintf(f, "  %s = %d;\n", dot + 1, *(const int *)base); break;
        case K_BOOL: fprintf(f, "  %s = %s;\n", dot + 1, *(const int *)base ? "true" : "false"); break;
        case K_U64: fprintf(f, "  %s = %lluL;\n", dot + 1, (unsigned long long)*(const uint64_t *)base); break;
        case K_FLOAT: fprintf(f, "  %s = %.9g;\n", dot + 1, (double)*(const float *)base); break;
        case K_ENUM:
        case K_MODS: {
            char word[64];
            fprintf(f, "  %s = \"%s\";\n", dot + 1, key_value_text(k, *(const int *)base, word, sizeof word));
            break;
        }
        case K_STR: {
            fprintf(f, "  %s = \"", dot + 1);
            for (const char *p = base; *p; p++) fprintf(f, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
            fprintf(f, "\";\n");
            break;
        }
        case K_INT4: {
            const int *v = (const int *)base;
            fprintf(f, "  %s = [%d, %d, %d, %d];\n", dot + 1, v[0], v[1], v[2], v[3]);
            break;
        }
        }
    }
    fprintf(f, "};\n");
}

int run_config_write(const RunConfig *c, const char *path, char *err, int err_len) {
    FILE *f = fopen(path, "w");
    if (!f) return snprintf(err, (size_t)err_len, "%s: cannot write (%s)", path, strerror(errno)), 1;
    write_config(c, f, 0);
    if (fclose(f)) return snprintf(err, (size_t)err_len, "%s: write failed (%s)", path, strerror(errno)), 1;
    return 0;
}

char *run_config_text(const RunConfig *c) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    write_config(c, f, 1);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}

const char *run_config_value_name(const char *key, int value) {
    static char words[N_KEYS][32];  // one slot per key: the texts stay valid
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].path, key) && (keys[i].type == K_ENUM || keys[i].type == K_MODS))
            return key_value_text(&keys[i], value, words[i], sizeof words[i]);
    return "?";
}
