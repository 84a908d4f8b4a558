// Light-curve features of many curves, chunk by chunk over threads and ranks; see feature_queue.h.
#define _POSIX_C_SOURCE 200809L
#include "data/ingest/feature_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/comm.h"

// Curve i of a chunk is computed by rank i % W (all ranks queue the same curves:
// they read the same inputs), on all its threads; then every rank gets every
// result (a sum where only the owner is non-zero, exact) and the owner's
// message for a failed curve. Results do not depend on W.
void feat_queue_flush(FeatQueue *q) {
    if (!q->n) return;
    const int R = q->comm ? comm_rank(q->comm) : 0, W = q->comm ? comm_size(q->comm) : 1;
#pragma omp parallel
    {
        LsWork *w = ls_work_new();
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < q->n; i++) {
            if (i % W != R) continue;
            Features *f = q->out[i];
            LightCurve mag = {0};
            AmError e;
            if (!w) f->failed = 1, snprintf(f->why, sizeof f->why, "features: out of memory");
            else if (lcf_magnitudes(&q->raw[i], &mag, &e) || lcf_compute(&mag, q->ls, w, f->v, &e))
                f->failed = 1, snprintf(f->why, sizeof f->why, "%s", e.msg);
            lc_free(&mag);
        }
        ls_work_free(w);
    }
    for (int i = 0; i < q->n; i++) lc_free(&q->raw[i]);
    if (W > 1) {
        const size_t per = LCF_N + 1;
        double *buf = am_calloc((size_t)q->n * per, sizeof *buf, "ingest feature exchange");
        for (int i = R; i < q->n; i += W) {
            memcpy(buf + (size_t)i * per, q->out[i]->v, LCF_N * sizeof(double));
            buf[(size_t)i * per + LCF_N] = q->out[i]->failed;
        }
        comm_allreduce_sum_host(q->comm, buf, (size_t)q->n * per);
        for (int i = 0; i < q->n; i++) {
            Features *f = q->out[i];
            memcpy(f->v, buf + (size_t)i * per, LCF_N * sizeof(double));
            f->failed = buf[(size_t)i * per + LCF_N] != 0;
            if (f->failed) comm_broadcast(q->comm, f->why, sizeof f->why, i % W);
        }
        free(buf);
    }
    q->computed += q->n;
    q->n = 0;
}

void feat_queue_push(FeatQueue *q, const LightCurve *lc, Features *out) {
    LightCurve *c = &q->raw[q->n];
    size_t sz = (size_t)(lc->n > 0 ? lc->n : 1) * sizeof(double);
    c->t = am_malloc(sz, "ingest feature curve");
    c->flux = am_malloc(sz, "ingest feature curve");
    c->err = am_malloc(sz, "ingest feature curve");
    memcpy(c->t, lc->t, (size_t)lc->n * sizeof(double));
    memcpy(c->flux, lc->flux, (size_t)lc->n * sizeof(double));
    memcpy(c->err, lc->err, (size_t)lc->n * sizeof(double));
    c->n = lc->n;
    q->out[q->n++] = out;
    if (q->n == FEAT_CHUNK) feat_queue_flush(q);
}

void feat_queue_discard(FeatQueue *q) {
    for (int i = 0; i < q->n; i++) lc_free(&q->raw[i]);
    q->n = 0;
}
