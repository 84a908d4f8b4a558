// Shared command-line handling for the astromm subcommands.
#ifndef ASTROMM_CLI_H
#define ASTROMM_CLI_H

#include "config/run_config.h"

#define CLI_MAX_SETS 64

typedef struct {
    const char *config_path;
    const char *sets[CLI_MAX_SETS];
    int n_sets;
    int help;
    // leftovers the command interprets itself (its own --flags and positionals)
    const char *rest[64];
    int n_rest;
} CliArgs;

// Parses --config FILE, --set k=v (repeatable), --threads N (as run.threads),
// --help; everything else goes to rest. Returns 0, or prints why and returns 2.
int cli_parse(CliArgs *a, int argc, char **argv, const char *cmd);
// Loads the config (file + sets); prints the error and returns 2 on failure.
int cli_load_config(const CliArgs *a, RunConfig *c, const char *cmd);
// Value of "--name V" in rest (NULL when absent; removes nothing).
const char *cli_option(const CliArgs *a, const char *name);
// Fails (returns 2, message naming cmd) when rest holds a flag not in allowed (NULL-terminated).
int cli_reject_unknown(const CliArgs *a, const char *cmd, const char *const *allowed);

// Initialises the ops runtime for the config's run.threads and run.device
// ("auto" takes the GPU when one is usable). Dies with a hint for "cuda" without one.
// With a communicator (NULL for single-process commands), rank r takes GPU
// (local rank) mod (visible GPUs); when every rank on the node has a GPU of its
// own, collectives on GPU memory go to NCCL (comm_enable_gpu), otherwise (ranks
// sharing a GPU) they are staged through host memory to MPI, which rank 0 says.
typedef struct Comm Comm;
void cli_select_device(const RunConfig *c, Comm *comm);

typedef int (*cmd_fn)(int argc, char **argv);
int cmd_smoke(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_ingest_images(int argc, char **argv);  // ingest --images (cmd_ingest_images.c)
int cmd_train(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_outliers(int argc, char **argv);
int cmd_anomalies(int argc, char **argv);

#endif
