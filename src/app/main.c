// astromm: multimodal foundation models for astronomy, from a laptop core to a
// supercomputer allocation. One binary, one subcommand per task.
#include <stdio.h>
#include <string.h>

#include "app/cli.h"
#include "nn/device.h"
#include "nn/ops.h"

#ifndef ASTROMM_VERSION
#define ASTROMM_VERSION "0.1.0"
#endif

typedef struct {
    const char *name;
    cmd_fn fn;
    const char *summary;
} Command;

static const Command commands[] = {
    {"smoke", cmd_smoke, "forward/backward/optimizer steps of the trimodal model on generated tensors"},
    {"init", cmd_init, "write a freshly initialised AstroM3 checkpoint (safetensors)"},
    {"inspect", cmd_inspect, "list a checkpoint's tensors and check them against the model config"},
    {"synth", cmd_synth, "write a synthetic AstroM3-like dataset (light curves, spectra, metadata)"},
    {"train", cmd_train, "distributed CLIP pre-training on a dataset (mpirun -np N astromm train CONFIG)"},
    {"finetune", cmd_finetune, "fine-tune a classifier (few labels; AstroM3 from CLIP, or a new head on a ConvNeXt)"},
    {"eval", cmd_eval, "accuracy, balanced accuracy, per-class report and confusion matrix of a fine-tuned classifier"},
    {"embed", cmd_embed, "embeddings of a dataset split into one HDF5 file (AstroM3 modalities, or image features)"},
    {"search", cmd_search, "top-k neighbours in an embeddings file: cosine or Euclidean, optional PCA, image montages"},
    {"anomalies", cmd_anomalies, "a researcher's anomalies: Gaussian-process active learning of 0-5 interest scores"},
    {"outliers", cmd_outliers, "misclassification / anomaly candidates: distance to the class centroid per modality"},
    {"ingest", cmd_ingest, "build a dataset from a manifest of real light curves, spectra and a catalogue"},
    {"map", cmd_map, "2-D map (PCA or UMAP-style layout) of embeddings; CSV/HDF5 for plotting"},
};

static void usage(FILE *f) {
    fprintf(f,
            "astromm %s - multimodal foundation models for astronomy (AstroM3)\n\n"
            "usage: astromm <command> [options]\n\ncommands:\n",
            ASTROMM_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "devices", "list the CPU and the GPUs this build can use");
    fprintf(f,
            "\ncommon options: --config FILE  --set section.key=value  --threads N  --help\n"
            "run 'astromm <command> --help' for the command's options; config keys: docs/configuration.md\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("astromm %s\n", ASTROMM_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "devices")) {
        ops_init(0);
        device_report(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "astromm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
