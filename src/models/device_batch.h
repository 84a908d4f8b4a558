// A batch's tensors on the op device. On the CPU device the host batch is used
// as it is; on CUDA it is copied into buffers allocated once.
#ifndef ASTROMM_DEVICE_BATCH_H
#define ASTROMM_DEVICE_BATCH_H

#include "models/astrom3.h"

typedef struct {
    float *photometry, *photometry_mask, *spectra, *metadata;
    int32_t *labels;
    int max_n;
    ModelConfig cfg;
} DeviceBatch;

void device_batch_alloc(DeviceBatch *d, const ModelConfig *c, int max_n);
void device_batch_free(DeviceBatch *d);
// The batch to hand to the model: host->device copy on CUDA, `host` itself on CPU.
Batch device_batch_upload(DeviceBatch *d, const Batch *host);

#endif
