// astromm train: distributed CLIP pre-training (src/train/trainer.h).
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mpi/comm.h"
#include "train/trainer.h"

static void help(void) {
    printf("usage: [mpirun -np N] astromm train CONFIG [--set key=value]... [--threads N] [--resume]\n"
           "       astromm train --config CONFIG ...\n\n"
           "CLIP pre-training of AstroM3 on a dataset (data.path) across MPI ranks, with a\n"
           "global contrastive matrix: the result does not depend on the rank count. Writes\n"
           "run.dir: config.cfg, metrics.jsonl, train.log, checkpoints/, best. A run directory\n"
           "holding a valid checkpoint is resumed (bit-identical with the same rank count);\n"
           "--resume makes that mandatory. Keys: docs/configuration.md.\n\n"
           "exit codes: 0 done, 1 error, 2 bad configuration, 3 preempted (SIGTERM/SIGUSR1:\n"
           "checkpoint written, requeue), 4 non-finite loss or gradients.\n");
}

int cmd_train(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "train")) return 2;
    if (a.help) return help(), 0;
    TrainOptions opt = {0};
    const char *positional = NULL;
    for (int i = 0; i < a.n_rest; i++) {
        const char *s = a.rest[i];
        if (!strcmp(s, "--resume")) {
            opt.require_resume = 1;
        } else if (s[0] == '-' || positional || a.config_path) {
            fprintf(stderr, "astromm train: unexpected argument '%s' (try: astromm train --help)\n", s);
            return 2;
        } else {
            positional = s;
        }
    }
    if (positional) a.config_path = positional;
    if (!a.config_path) {
        fprintf(stderr, "astromm train: give a configuration file, e.g. astromm train configs/quickstart.cfg\n");
        return 2;
    }
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, "train")) return 2;
    Comm *comm = comm_init(&argc, &argv);
    cli_select_device(&cfg);
    const int rc = trainer_run(&cfg, comm, &opt);
    comm_finalize(comm);
    return rc;
}
