#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void run_config_defaults(RunConfig *c) {
    memset(c, 0, sizeof *c);
    model_config_defaults(&c->model);
    c->seed = 42;
    // "cpu" until the CUDA path has passed its GPU tests (issue 3); then "auto".
    snprintf(c->device, sizeof c->device, "cpu");
    c->threads = 0;
    c->batch_size = 64;
    c->steps = 10;
    c->lr = 3.92e-3f;
    c->beta1 = 0.926f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->weight_decay = 4.67e-3f;
    c->clip_norm = 45.0f;
    snprintf(c->source, sizeof c->source, "(defaults)");
}

typedef enum { K_INT, K_FLOAT, K_U64, K_INT4, K_DEVICE } KeyType;
typedef struct {
    const char *path;
    KeyType type;
    size_t offset;
} Key;

#define KEY(p, t, f) {p, t, offsetof(RunConfig, f)}
static const Key keys[] = {
    KEY("model.seq_len", K_INT, model.seq_len),
    KEY("model.photo_in", K_INT, model.photo_in),
    KEY("model.d_model", K_INT, model.d_model),
    KEY("model.n_heads", K_INT, model.n_heads),
    KEY("model.d_ff", K_INT, model.d_ff),
    KEY("model.n_layers", K_INT, model.n_layers),
    KEY("model.factor", K_INT, model.factor),
    KEY("model.pe_max_len", K_INT, model.pe_max_len),
    KEY("model.spec_len", K_INT, model.spec_len),
    KEY("model.spec_in", K_INT, model.spec_in),
    KEY("model.spec_channels", K_INT4, model.spec_channels),
    KEY("model.spec_pool", K_INT, model.spec_pool),
    KEY("model.meta_in", K_INT, model.meta_in),
    KEY("model.meta_hidden", K_INT, model.meta_hidden),
    KEY("model.proj_dim", K_INT, model.proj_dim),
    KEY("model.n_classes", K_INT, model.n_classes),
    KEY("model.dropout_photometry", K_FLOAT, model.p_photo),
    KEY("model.dropout_spectra", K_FLOAT, model.p_spec),
    KEY("model.dropout_metadata", K_FLOAT, model.p_meta),
    KEY("model.dropout_embedding", K_FLOAT, model.p_embed),
    KEY("run.seed", K_U64, seed),
    KEY("run.device", K_DEVICE, device),
    KEY("run.threads", K_INT, threads),
    KEY("run.batch_size", K_INT, batch_size),
    KEY("run.steps", K_INT, steps),
    KEY("optim.lr", K_FLOAT, lr),
    KEY("optim.beta1", K_FLOAT, beta1),
    KEY("optim.beta2", K_FLOAT, beta2),
    KEY("optim.eps", K_FLOAT, eps),
    KEY("optim.weight_decay", K_FLOAT, weight_decay),
    KEY("optim.clip_norm", K_FLOAT, clip_norm),
};
#define N_KEYS (sizeof keys / sizeof *keys)

static const Key *find_key(const char *path) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].path, path) == 0) return &keys[i];
    return NULL;
}

static int read_number(const config_setting_t *s, int want_int, double *out) {
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: *out = config_setting_get_int(s); return 0;
    case CONFIG_TYPE_INT64: *out = (double)config_setting_get_int64(s); return 0;
    case CONFIG_TYPE_FLOAT:
        if (want_int) return 1;
        *out = config_setting_get_float(s);
        return 0;
    default: return 1;
    }
}

// Store one setting into the struct; err names the key and where it came from.
static int apply(RunConfig *c, const Key *k, const config_setting_t *s_, const char *where,
                 char *err, int err_len) {
    char *base = (char *)c + k->offset;
    double v;
    if (k->type == K_DEVICE) {
        const char *name = config_setting_type(s_) == CONFIG_TYPE_STRING ? config_setting_get_string(s_) : NULL;
        if (!name || (strcmp(name, "auto") && strcmp(name, "cpu") && strcmp(name, "cuda")))
            return snprintf(err, (size_t)err_len, "%s: %s must be \"auto\", \"cpu\" or \"cuda\"", where,
                            k->path), 1;
        snprintf(base, 16, "%s", name);
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
            if (read_number(config_setting_get_elem(s_, (unsigned)i), 1, &v))
                return snprintf(err, (size_t)err_len, "%s: %s[%d] must be an integer", where, k->path, i), 1;
            ((int *)base)[i] = (int)v;
        }
        return 0;
    }
    if (read_number(s_, k->type != K_FLOAT, &v))
        return snprintf(err, (size_t)err_len, "%s: %s must be %s", where, k->path,
                        k->type == K_FLOAT ? "a number" : "an integer"), 1;
    if (k->type == K_INT) {
        if (v < -2147483648.0 || v > 2147483647.0)
            return snprintf(err, (size_t)err_len, "%s: %s out of range", where, k->path), 1;
        *(int *)base = (int)v;
    } else if (k->type == K_U64) {
        if (v < 0) return snprintf(err, (size_t)err_len, "%s: %s must be >= 0", where, k->path), 1;
        *(uint64_t *)base = (uint64_t)v;
    } else {
        *(float *)base = (float)v;
    }
    return 0;
}

// Walk every leaf of a parsed file so unknown keys are reported, not ignored.
static int apply_tree(RunConfig *c, const config_setting_t *s, const char *prefix,
                      const char *where, char *err, int err_len) {
    const int n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        const config_setting_t *child = config_setting_get_elem(s, (unsigned)i);
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", config_setting_name(child));
        if (config_setting_type(child) == CONFIG_TYPE_GROUP) {
            if (apply_tree(c, child, path, where, err, err_len)) return 1;
            continue;
        }
        const Key *k = find_key(path);
        if (!k)
            return snprintf(err, (size_t)err_len, "%s:%d: unknown key '%s' (see docs/config.md)",
                            where, config_setting_source_line(child), path), 1;
        if (apply(c, k, child, where, err, err_len)) return 1;
    }
    return 0;
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
        int rc = apply_tree(c, config_root_setting(&cf), "", path, err, err_len);
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
        if (!k) return snprintf(err, (size_t)err_len, "--set: unknown key '%s' (see docs/config.md)", key), 1;
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
        int rc = apply(c, k, config_lookup(&cf, "v"), where, err, err_len);
        config_destroy(&cf);
        if (rc) return 1;
    }
    char merr[256];
    if (model_config_validate(&c->model, merr, sizeof merr))
        return snprintf(err, (size_t)err_len, "%s: %s", c->source, merr), 1;
    if (c->batch_size < 1) return snprintf(err, (size_t)err_len, "%s: run.batch_size must be >= 1", c->source), 1;
    if (c->steps < 0) return snprintf(err, (size_t)err_len, "%s: run.steps must be >= 0", c->source), 1;
    if (!(c->lr > 0)) return snprintf(err, (size_t)err_len, "%s: optim.lr must be > 0", c->source), 1;
    if (!(c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1))
        return snprintf(err, (size_t)err_len, "%s: optim.beta1/beta2 must be in [0, 1)", c->source), 1;
    if (!(c->clip_norm > 0)) return snprintf(err, (size_t)err_len, "%s: optim.clip_norm must be > 0", c->source), 1;
    return 0;
}

int run_config_write(const RunConfig *c, const char *path, char *err, int err_len) {
    FILE *f = fopen(path, "w");
    if (!f) return snprintf(err, (size_t)err_len, "%s: cannot write (%s)", path, strerror(errno)), 1;
    const char *section = "";
    for (size_t i = 0; i < N_KEYS; i++) {
        const Key *k = &keys[i];
        const char *dot = strchr(k->path, '.');
        if (strncmp(section, k->path, (size_t)(dot - k->path) + 1) != 0) {
            if (*section) fprintf(f, "};\n");
            fprintf(f, "%.*s = {\n", (int)(dot - k->path), k->path);
            section = k->path;
        }
        const char *base = (const char *)c + k->offset;
        switch (k->type) {
        case K_INT: fprintf(f, "  %s = %d;\n", dot + 1, *(const int *)base); break;
        case K_U64: fprintf(f, "  %s = %lluL;\n", dot + 1, (unsigned long long)*(const uint64_t *)base); break;
        case K_FLOAT: fprintf(f, "  %s = %.9g;\n", dot + 1, (double)*(const float *)base); break;
        case K_DEVICE: fprintf(f, "  %s = \"%s\";\n", dot + 1, base); break;
        case K_INT4: {
            const int *v = (const int *)base;
            fprintf(f, "  %s = [%d, %d, %d, %d];\n", dot + 1, v[0], v[1], v[2], v[3]);
            break;
        }
        }
    }
    fprintf(f, "};\n");
    if (fclose(f)) return snprintf(err, (size_t)err_len, "%s: write failed (%s)", path, strerror(errno)), 1;
    return 0;
}
