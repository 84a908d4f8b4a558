// Inference: the embeddings of a dataset split, written to one embeddings file
// (docs/embeddings-format.md) by all ranks together with parallel HDF5. An
// AstroM3 model gives per-modality L2-normalised embeddings and their fused
// mean; a ConvNeXt image model one embedding, "image" (its representation:
// the pooled, layer-normalised features, not unit norm).
//
// Rows: the selected objects (split, or every object for LOADER_ANY_SPLIT) in
// dataset order, read by the parallel loader with a fixed order, centred
// light-curve crops and padding of the last batch (padding rows are skipped).
// The forward runs with training = 0 and a fixed StepCtx step, so an object's
// embedding depends only on the object and the weights, not on the batch or
// the rank count. For AstroM3, a missing modality's embedding is stored as zeros (/has says
// which); fused = L2-normalised mean of the present modalities' embeddings.
#ifndef ASTROMM_EMBED_H
#define ASTROMM_EMBED_H

#include "config/run_config.h"
#include "mpi/comm.h"

typedef struct {
    const char *checkpoint;  // safetensors of the model cfg->model describes
    const char *out;         // embeddings file to write
    int split;               // DS_SPLIT_* or LOADER_ANY_SPLIT
    int batch;               // objects per rank per forward (>= 1)
    int quiet;
} EmbedOptions;

// Collective. Returns 0, 1 on a runtime error, 2 on a bad configuration /
// argument; messages (rank 0, or the failing rank) go to stderr.
int embed_run(const RunConfig *cfg, Comm *comm, const EmbedOptions *opt);

#endif
