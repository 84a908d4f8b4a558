// astromm train (CLIP pre-training) and astromm finetune (classification),
// both through src/train/trainer.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "mpi/comm.h"
#include "train/trainer.h"

static void help_train(void) {
    printf("usage: [mpirun -np N] astromm train CONFIG [--set key=value]... [--threads N] [--resume]\n"
           "       astromm train --config CONFIG ...\n\n"
           "CLIP pre-training of AstroM3 on a dataset (data.path) across MPI ranks, with a\n"
           "global contrastive matrix: the result does not depend on the rank count. Writes\n"
           "run.dir: config.cfg, metrics.jsonl, train.log, checkpoints/, best. A run directory\n"
           "holding a valid checkpoint is resumed (bit-identical with the same rank count);\n"
           "--resume makes that mandatory. Keys: docs/configuration.md; guide: docs/training.md.\n\n"
           "exit codes: 0 done, 1 error, 2 bad configuration, 3 preempted (SIGTERM/SIGUSR1:\n"
           "checkpoint written, requeue), 4 non-finite loss or gradients.\n");
}

static void help_finetune(void) {
    printf("usage: [mpirun -np N] astromm finetune CONFIG [--head photometry|spectra|metadata|all|photometry+metadata]\n"
           "           [--init CHECKPOINT] [--subset full|sub50|sub25|sub10] [--freeze] [--labels-per-class N]\n"
           "           [--set key=value]... [--threads N] [--resume]\n\n"
           "Fine-tunes an AstroM3 classifier on the labelled objects of data.path: from scratch,\n"
           "or with the encoders initialised from a CLIP checkpoint (--init, e.g.\n"
           "runs/astrom3_clip/best/model.safetensors); all weights trained, or only the\n"
           "classifier (--freeze: linear probe); on the full training split or a limited-label\n"
           "subset. Distributed, checkpointed and resumable like astromm train; the best\n"
           "checkpoint (run.dir/best) is the one with the highest validation accuracy.\n"
           "An image model (model.family = \"convnext\") gets a new head on its ConvNeXt encoder\n"
           "(finetune.image_head linear | paper; finetune.unfreeze_blocks from the top, each block\n"
           "down at lr * finetune.lr_decay^i; --init any checkpoint holding the encoder, e.g. a\n"
           "vote model) and trains on the labels: binary (sigmoid + BCE) for 2 classes, else\n"
           "softmax + CE. --labels-per-class N keeps N training labels of each class.\n"
           "The flags are shorthands for finetune.head/init/subset/freeze/labels_per_class\n"
           "(docs/configuration.md).\n\n"
           "exit codes: as astromm train.\n");
}

static int run(int argc, char **argv, int classify) {
    const char *cmd = classify ? "finetune" : "train";
    CliArgs a;
    if (cli_parse(&a, argc, argv, cmd)) return 2;
    if (a.help) return classify ? help_finetune() : help_train(), 0;
    TrainOptions opt = {.classify = classify};
    const char *positional = NULL;
    static char sets[8][1100];
    int n_sets = 0;
    for (int i = 0; i < a.n_rest; i++) {
        const char *s = a.rest[i], *v = i + 1 < a.n_rest ? a.rest[i + 1] : NULL;
        if (!strcmp(s, "--resume")) {
            opt.require_resume = 1;
        } else if (classify && v && !strcmp(s, "--labels-per-class")) {
            char *end;
            const long x = strtol(v, &end, 10);
            if (*end || end == v || x < 1 || x > 2147483647L)
                return fprintf(stderr, "astromm %s: --labels-per-class '%s': expected a positive integer\n", cmd, v), 2;
            snprintf(sets[n_sets++], sizeof sets[0], "finetune.labels_per_class=%ld", x);
            i++;
        } else if (classify && !strcmp(s, "--freeze")) {
            snprintf(sets[n_sets++], sizeof sets[0], "finetune.freeze=true");
        } else if (classify && v && (!strcmp(s, "--head") || !strcmp(s, "--init") || !strcmp(s, "--subset"))) {
            if (strchr(v, '"')) {
                fprintf(stderr, "astromm %s: %s value must not contain '\"'\n", cmd, s);
                return 2;
            }
            snprintf(sets[n_sets++], sizeof sets[0], "finetune.%s=\"%s\"", s + 2, v);
            i++;
        } else if (s[0] == '-' || positional || a.config_path) {
            fprintf(stderr, "astromm %s: unexpected argument '%s' (try: astromm %s --help)\n", cmd, s, cmd);
            return 2;
        } else {
            positional = s;
        }
    }
    if (positional) a.config_path = positional;
    if (!a.config_path) {
        fprintf(stderr, "astromm %s: give a configuration file, e.g. astromm %s configs/quickstart.cfg\n", cmd,
                cmd);
        return 2;
    }
    // Shorthand flags first, so explicit --set still wins.
    if (a.n_sets + n_sets > CLI_MAX_SETS) return fprintf(stderr, "astromm %s: too many --set\n", cmd), 2;
    memmove(a.sets + n_sets, a.sets, (size_t)a.n_sets * sizeof a.sets[0]);
    for (int i = 0; i < n_sets; i++) a.sets[i] = sets[i];
    a.n_sets += n_sets;
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, cmd)) return 2;
    Comm *comm = comm_init(&argc, &argv);
    cli_select_device(&cfg, comm);
    const int rc = trainer_run(&cfg, comm, &opt);
    comm_finalize(comm);
    return rc;
}

int cmd_train(int argc, char **argv) { return run(argc, argv, 0); }
int cmd_finetune(int argc, char **argv) { return run(argc, argv, 1); }
