// A batch's tensors on the op device. On the CPU device the host batch is used
// as it is; on CUDA it is copied into device buffers, allocated at the first
// upload of each tensor and grown when a larger one comes (never in steady state).
#ifndef ASTROMM_DEVICE_BATCH_H
#define ASTROMM_DEVICE_BATCH_H

#include <stddef.h>

#include "data/batch.h"
#include "models/model_config.h"

enum { DB_PHOTOMETRY, DB_MASK, DB_SPECTRA, DB_METADATA, DB_LABELS, DB_IMAGES, DB_VOTES, DB_N };

typedef struct {
    void *buf[DB_N];
    size_t cap[DB_N];  // bytes
    int max_n;
    ModelConfig cfg;   // star tensors' shapes
} DeviceBatch;

void device_batch_alloc(DeviceBatch *d, const ModelConfig *c, int max_n);
void device_batch_free(DeviceBatch *d);
// The batch to hand to the model: host->device copy on CUDA, `host` itself on CPU.
Batch device_batch_upload(DeviceBatch *d, const Batch *host);

#endif
