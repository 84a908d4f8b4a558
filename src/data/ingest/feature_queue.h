// Light-curve features (lc_features.h) of a stream of curves: curves are
// copied into a chunk and, FEAT_CHUNK at a time, computed on every OpenMP
// thread and shared out over MPI ranks. Memory stays bounded however many curves
// a survey file streams. Every rank must push the same curves in the same order
// (they read the same inputs); after a flush every rank holds every result.
#ifndef ASTROMM_DATA_FEATURE_QUEUE_H
#define ASTROMM_DATA_FEATURE_QUEUE_H

#include <stdint.h>

#include "data/ingest/lc_features.h"
#include "data/preprocess/lightcurve.h"
#include "data/ingest/periodogram.h"

struct Comm;

// The features of one curve, or why there are none.
typedef struct {
    double v[LCF_N];
    int failed;
    char why[520];
} Features;

#define FEAT_CHUNK 512
typedef struct {
    LightCurve raw[FEAT_CHUNK];
    Features *out[FEAT_CHUNK];
    int n;
    const LsOptions *ls;   // period search (set before the first push)
    int64_t computed;      // curves computed so far
    struct Comm *comm;     // NULL: this process computes every curve
} FeatQueue;

// Copies lc; *out is filled by the flush that computes it (at the latest the
// explicit one). Flushes when the chunk is full. Collective when comm is set.
void feat_queue_push(FeatQueue *q, const LightCurve *lc, Features *out);
// Computes every queued curve. Collective when comm is set.
void feat_queue_flush(FeatQueue *q);
// Drops the queued curves without computing them (after a fatal error).
void feat_queue_discard(FeatQueue *q);

#endif
