// astromm init / inspect: create and examine AstroM3 checkpoints (safetensors,
// tensor names and shapes of the PyTorch reference state dict).
#define _XOPEN_SOURCE 700  // realpath
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/cli.h"
#include "io/params_file.h"
#include "io/safetensors.h"
#include "models/astrom3.h"
#include "nn/ops.h"
#include "train/train_state.h"

int cmd_init(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "init")) return 2;
    if (a.help) {
        printf("usage: astromm init --out FILE.safetensors [--config FILE] [--set k=v]\n\n"
               "Writes freshly initialised AstroM3 weights (seed run.seed) with the\n"
               "reference state-dict names, loadable from Python.\n");
        return 0;
    }
    static const char *const allowed[] = {"--out", NULL};
    if (cli_reject_unknown(&a, "init", allowed)) return 2;
    const char *out = cli_option(&a, "--out");
    if (!out) return fprintf(stderr, "astromm init: --out FILE is required\n"), 2;
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, "init")) return 2;
    AstroM3 m;
    astrom3_create(&m, &cfg.model, 1);
    astrom3_init(&m, cfg.seed);
    AmError err;
    const char *meta[] = {"format", "astromm-astrom3", "source", "astromm init"};
    int rc = params_save(&m.params, out, meta, 2, &err);
    if (rc) fprintf(stderr, "astromm init: %s\n", err.msg);
    else printf("wrote %s: %d tensors, %zu trainable parameters\n", out, m.params.n, m.params.n_train_floats);
    astrom3_free(&m);
    return rc ? 1 : 0;
}

// --verify of a file inside a checkpoint directory (<root>/step_N/model.safetensors,
// also through the run.dir/best link): the pair check of train_state.h with the
// state.bin beside it. Returns 0 (checked or not applicable), 1 on failure.
static int verify_pair(const char *path, size_t n_params) {
    char real[PATH_MAX], sp[PATH_MAX + 32];
    if (!realpath(path, real)) return 0;
    char *slash = strrchr(real, '/');
    if (!slash || strcmp(slash + 1, CKPT_MODEL_FILE) != 0) return 0;
    *slash = '\0';  // real = <root>/step_N
    snprintf(sp, sizeof sp, "%s/%s", real, CKPT_STATE_FILE);
    struct stat sb;
    if (stat(sp, &sb) != 0) return 0;
    char *dslash = strrchr(real, '/');
    if (!dslash || strncmp(dslash + 1, "step_", 5) != 0) return 0;
    char *end = NULL;
    const long long step = strtoll(dslash + 6, &end, 10);
    if (!end || *end || end == dslash + 6) return 0;
    *dslash = '\0';  // real = <root>
    AmError err = {{0}};
    TrainState st = {0};
    if (ckpt_verify(real, step, n_params, &st, NULL, NULL, &err)) {
        fprintf(stderr, "astromm inspect: FAILED: checkpoint step %lld is not valid: %s\n", step, err.msg);
        return 1;
    }
    printf("verified with %s: step %lld, config_hash %016llx, %s\n", sp, step, (unsigned long long)st.config_hash,
           st.version >= 2 ? "the model's size and CRC-32 match those it records"
                           : "format version 1 (it records no model checksum)");
    return 0;
}

int cmd_inspect(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "inspect")) return 2;
    const char *path = NULL;
    int verify = 0, extra = 0;
    for (int i = 0; i < a.n_rest; i++) {
        if (!strcmp(a.rest[i], "--verify"))
            verify = 1;
        else if (!strncmp(a.rest[i], "--", 2))
            return fprintf(stderr, "astromm inspect: unknown argument '%s' (try: astromm inspect --help)\n", a.rest[i]), 2;
        else if (path)
            extra = 1;
        else
            path = a.rest[i];
    }
    if (a.help || !path || extra) {
        printf("usage: astromm inspect FILE.safetensors [--verify] [--config FILE] [--set k=v]\n\n"
               "Lists the file's tensors and checks that it loads into the model the\n"
               "config describes (names, shapes, dtypes all exact).\n"
               "--verify also checks the content: the data checksum the file records\n"
               "(data_crc32) and that every value is finite (a NaN or Inf is reported\n"
               "with its tensor and element index); for a checkpoint directory's\n"
               "model.safetensors, that it and the state.bin beside it belong together\n"
               "(step, config hash, model size and CRC-32). Exit 1 on any problem.\n");
        return a.help ? 0 : 2;
    }
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, "inspect")) return 2;
    AmError err;
    StFile *f;
    if (st_open(&f, path, &err)) return fprintf(stderr, "astromm inspect: %s\n", err.msg), 1;
    size_t total = 0;
    for (int i = 0; i < st_count(f); i++) {
        const StTensor *t = st_tensor(f, i);
        printf("%-72s %-4s (", t->name, st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
        printf(")\n");
        total += (size_t)st_numel(t);
    }
    printf("%zu elements in total\n", total);
    int bad = 0;
    if (verify) {
        int has_crc = 0;
        if (ckpt_model_content_check(f, &has_crc, &err)) {
            fprintf(stderr, "astromm inspect: FAILED: %s\n", err.msg);
            bad = 1;
        } else {
            printf("verified: %s, all %zu values finite\n",
                   has_crc ? "data checksum (data_crc32) matches" : "no data checksum recorded (older file)", total);
        }
    }
    st_close(f);
    AstroM3 m;
    astrom3_create(&m, &cfg.model, 1);
    int rc = params_load(&m.params, path, &err);
    if (rc) fprintf(stderr, "astromm inspect: does not match the model: %s\n", err.msg);
    else printf("OK: loads into the AstroM3 model of %s\n", cfg.source);
    if (verify && !rc) bad |= verify_pair(path, m.params.n_train_floats);
    astrom3_free(&m);
    return rc || bad ? 1 : 0;
}
