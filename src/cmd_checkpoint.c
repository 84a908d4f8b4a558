// astromm init / inspect: create and examine AstroM3 checkpoints (safetensors,
// tensor names and shapes of the PyTorch reference state dict).
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "io/safetensors.h"
#include "models/astrom3.h"
#include "nn/ops.h"

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

int cmd_inspect(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "inspect")) return 2;
    if (a.help || a.n_rest != 1) {
        printf("usage: astromm inspect FILE.safetensors [--config FILE] [--set k=v]\n\n"
               "Lists the file's tensors and checks that it loads into the model the\n"
               "config describes (names, shapes, dtypes all exact).\n");
        return a.help ? 0 : 2;
    }
    const char *path = a.rest[0];
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
    st_close(f);
    printf("%zu elements in total\n", total);
    AstroM3 m;
    astrom3_create(&m, &cfg.model, 1);
    int rc = params_load(&m.params, path, &err);
    if (rc) fprintf(stderr, "astromm inspect: does not match the model: %s\n", err.msg);
    else printf("OK: loads into the AstroM3 model of %s\n", cfg.source);
    astrom3_free(&m);
    return rc ? 1 : 0;
}
