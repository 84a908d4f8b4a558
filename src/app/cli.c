#include "app/cli.h"

#include "mpi/comm.h"
#include "nn/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse(CliArgs *a, int argc, char **argv, const char *cmd) {
    memset(a, 0, sizeof *a);
    static char threads_set[64];
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        int has_next = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            a->help = 1;
        } else if (!strcmp(s, "--config")) {
            if (!has_next) return fprintf(stderr, "astromm %s: --config needs a file\n", cmd), 2;
            a->config_path = argv[++i];
        } else if (!strcmp(s, "--set")) {
            if (!has_next) return fprintf(stderr, "astromm %s: --set needs key=value\n", cmd), 2;
            if (a->n_sets == CLI_MAX_SETS) return fprintf(stderr, "astromm %s: too many --set\n", cmd), 2;
            a->sets[a->n_sets++] = argv[++i];
        } else if (!strcmp(s, "--threads")) {
            if (!has_next) return fprintf(stderr, "astromm %s: --threads needs a number\n", cmd), 2;
            snprintf(threads_set, sizeof threads_set, "run.threads=%s", argv[++i]);
            if (a->n_sets == CLI_MAX_SETS) return fprintf(stderr, "astromm %s: too many --set\n", cmd), 2;
            a->sets[a->n_sets++] = threads_set;
        } else {
            if (a->n_rest == 64) return fprintf(stderr, "astromm %s: too many arguments\n", cmd), 2;
            a->rest[a->n_rest++] = s;
        }
    }
    return 0;
}

int cli_load_config(const CliArgs *a, RunConfig *c, const char *cmd) {
    char err[768];
    if (run_config_load(c, a->config_path, a->sets, a->n_sets, err, sizeof err)) {
        fprintf(stderr, "astromm %s: config error: %s\n", cmd, err);
        return 2;
    }
    return 0;
}

const char *cli_option(const CliArgs *a, const char *name) {
    for (int i = 0; i + 1 < a->n_rest; i++)
        if (!strcmp(a->rest[i], name)) return a->rest[i + 1];
    return NULL;
}

int cli_reject_unknown(const CliArgs *a, const char *cmd, const char *const *allowed) {
    for (int i = 0; i < a->n_rest; i++) {
        const char *s = a->rest[i];
        int ok = 0;
        for (const char *const *k = allowed; *k; k++)
            if (!strcmp(s, *k)) ok = 1;
        if (ok) {
            i++;  // skip its value
            continue;
        }
        fprintf(stderr, "astromm %s: unknown argument '%s' (try: astromm %s --help)\n", cmd, s, cmd);
        return 2;
    }
    return 0;
}

void cli_select_device(const RunConfig *c, Comm *comm) {
    ops_init(c->threads);
    const int want_cuda = c->device == RUN_DEVICE_CUDA || (c->device == RUN_DEVICE_AUTO && ops_cuda_available());
    const int n_gpus = want_cuda ? ops_cuda_device_count() : 0;
    ops_set_device(want_cuda ? OPS_CUDA : OPS_CPU, comm && n_gpus > 0 ? comm_local_rank(comm) % n_gpus : 0);
    if (want_cuda && comm) {
        // Ranks share a GPU when two ranks of a node hold the same device UUID
        // (CUDA_VISIBLE_DEVICES may differ per rank, as in slurm/train_gpu_node.sbatch,
        // so device indices and counts cannot tell). The decision is agreed over
        // all ranks: NCCL is all or nothing.
        unsigned char uuid[16] = {0};
        ops_cuda_device_uuid(uuid);
        const int mine = comm_node_key_shared(comm, uuid, sizeof uuid);
        const double shared = comm_allreduce_sum_double(comm, mine ? 1.0 : 0.0);
        if (shared == 0.0) {
            comm_enable_gpu(comm);
        } else if (comm_rank(comm) == 0) {
            fprintf(stderr, "astromm: note: ranks share GPUs (%d rank(s) on this node, %d visible GPU(s) here): "
                            "collectives are staged through host memory over MPI (NCCL needs one GPU per rank; "
                            "slower)\n", comm_local_size(comm), n_gpus);
        }
    }
    const OpsPrecision p = c->precision == RUN_PRECISION_BF16   ? OPS_BF16
                           : c->precision == RUN_PRECISION_TF32 ? OPS_TF32
                                                                : OPS_FP32;
    if (p != OPS_FP32 && !want_cuda) {
        fprintf(stderr, "astromm: error: %s: run.precision = \"%s\" needs the CUDA device (run.device = \"%s\" "
                        "resolved to the CPU, which computes in fp32)\n", c->source, run_config_value_name("run.precision", c->precision),
                run_config_value_name("run.device", c->device));
        exit(2);
    }
    if (p != OPS_FP32) ops_set_precision(p);  // fp32: leaves ASTROMM_TF32=1 (environment) in effect
}
