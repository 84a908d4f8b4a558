// astromm embed: per-modality embeddings of a dataset split (src/eval/embed.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/cli.h"
#include "data/loader/loader.h"
#include "eval/embed.h"
#include "eval/embeddings_file.h"
#include "mpi/comm.h"

static void help(void) {
    printf("usage: [mpirun -np N] astromm embed --run RUN_DIR --out FILE.h5 [options]\n"
           "       [mpirun -np N] astromm embed --config CFG --checkpoint FILE.safetensors --out FILE.h5 [options]\n\n"
           "The embeddings of every object of a dataset split, written by all ranks into one\n"
           "HDF5 file (docs/embeddings-format.md) with ids, labels, splits and presence. The\n"
           "dataset is the config's data.path. AstroM3 models: L2-normalised photometry,\n"
           "spectra, metadata and fused (the normalised mean of the present ones). Image\n"
           "models (model.family = \"convnext\"): one embedding, image = the pooled features\n"
           "Zoobot's head reads (any checkpoint holding the encoder: a vote or fine-tuned model).\n\n"
           "  --run DIR          a training run: config DIR/config.cfg, checkpoint DIR/best/model.safetensors\n"
           "  --config CFG       model sizes and data.path (the training configuration)\n"
           "  --checkpoint FILE  weights (safetensors from astromm train / init)\n"
           "  --out FILE         the embeddings file (written atomically)\n"
           "  --split S          all (default), train, val or test\n"
           "  --batch N          objects per rank per forward pass (default 32)\n"
           "  --set k=v, --threads N   as for train\n\n"
           "exit codes: 0 done, 1 runtime error, 2 bad arguments or configuration.\n");
}

int cmd_embed(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "embed")) return 2;
    if (a.help) return help(), 0;
    static const char *const allowed[] = {"--run", "--checkpoint", "--out", "--split", "--batch", NULL};
    if (cli_reject_unknown(&a, "embed", allowed)) return 2;
    for (int i = 0; i < a.n_rest; i += 2)
        if (i + 1 >= a.n_rest) return fprintf(stderr, "astromm embed: %s needs a value\n", a.rest[i]), 2;
    const char *run = cli_option(&a, "--run"), *ckpt = cli_option(&a, "--checkpoint");
    const char *out = cli_option(&a, "--out"), *split_s = cli_option(&a, "--split");
    const char *batch_s = cli_option(&a, "--batch");
    static char cfg_path[2048], ckpt_path[2048];
    if (run) {
        if (a.config_path || ckpt)
            return fprintf(stderr, "astromm embed: give either --run or --config with --checkpoint, not both\n"), 2;
        snprintf(cfg_path, sizeof cfg_path, "%s/config.cfg", run);
        snprintf(ckpt_path, sizeof ckpt_path, "%s/best/model.safetensors", run);
        if (access(cfg_path, R_OK) != 0)
            return fprintf(stderr, "astromm embed: --run %s: no %s (not a run directory of astromm train?)\n", run,
                           cfg_path), 2;
        a.config_path = cfg_path;
        ckpt = ckpt_path;
    }
    if (!a.config_path || !ckpt)
        return fprintf(stderr, "astromm embed: give --run RUN_DIR, or --config CFG and --checkpoint FILE "
                       "(try: astromm embed --help)\n"), 2;
    if (!out) return fprintf(stderr, "astromm embed: --out FILE is required\n"), 2;
    if (access(ckpt, R_OK) != 0)
        return fprintf(stderr, "astromm embed: checkpoint %s: cannot read it%s\n", ckpt,
                       run ? " (the run has no best checkpoint yet?)" : ""), 2;
    EmbedOptions opt = {.checkpoint = ckpt, .out = out, .split = LOADER_ANY_SPLIT, .batch = 32};
    if (split_s) {
        const int s = emb_split_parse(split_s);
        if (s == -2) return fprintf(stderr, "astromm embed: --split '%s': expected all, train, val or test\n", split_s), 2;
        opt.split = s < 0 ? LOADER_ANY_SPLIT : s;
    }
    if (batch_s) {
        char *end;
        long v = strtol(batch_s, &end, 10);
        if (*end || v < 1 || v > 1 << 20)
            return fprintf(stderr, "astromm embed: --batch '%s': expected a positive integer\n", batch_s), 2;
        opt.batch = (int)v;
    }
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, "embed")) return 2;
    Comm *comm = comm_init(&argc, &argv);
    cli_select_device(&cfg, comm);
    const int rc = embed_run(&cfg, comm, &opt);
    comm_finalize(comm);
    return rc;
}
