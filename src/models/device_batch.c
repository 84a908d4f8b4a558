#include "models/device_batch.h"

#include "core/error.h"
#include "nn/ops.h"

void device_batch_alloc(DeviceBatch *d, const ModelConfig *c, int max_n) {
    *d = (DeviceBatch){.max_n = max_n, .cfg = *c};
    if (ops_device() == OPS_CPU) return;
    const size_t n = (size_t)max_n;
    d->photometry = ops_alloc(n * c->seq_len * c->photo_in * sizeof(float), "batch photometry");
    d->photometry_mask = ops_alloc(n * c->seq_len * sizeof(float), "batch mask");
    d->spectra = ops_alloc(n * c->spec_in * c->spec_len * sizeof(float), "batch spectra");
    d->metadata = ops_alloc(n * c->meta_in * sizeof(float), "batch metadata");
    d->labels = ops_alloc(n * sizeof(int32_t), "batch labels");
}

void device_batch_free(DeviceBatch *d) {
    if (d->photometry) {
        ops_free(d->photometry);
        ops_free(d->photometry_mask);
        ops_free(d->spectra);
        ops_free(d->metadata);
        ops_free(d->labels);
    }
    *d = (DeviceBatch){0};
}

Batch device_batch_upload(DeviceBatch *d, const Batch *host) {
    if (ops_device() == OPS_CPU) return *host;
    CHECK(d->photometry && host->n <= d->max_n, "batch of %d does not fit the device buffers (%d)",
          host->n, d->max_n);
    const ModelConfig *c = &d->cfg;
    const size_t n = (size_t)host->n;
    ops_to_device(d->photometry, host->photometry, n * c->seq_len * c->photo_in * sizeof(float));
    ops_to_device(d->photometry_mask, host->photometry_mask, n * c->seq_len * sizeof(float));
    ops_to_device(d->spectra, host->spectra, n * c->spec_in * c->spec_len * sizeof(float));
    ops_to_device(d->metadata, host->metadata, n * c->meta_in * sizeof(float));
    if (host->labels) ops_to_device(d->labels, host->labels, n * sizeof(int32_t));
    return (Batch){d->photometry, d->photometry_mask, d->spectra, d->metadata,
                   host->labels ? d->labels : NULL, host->n};
}
