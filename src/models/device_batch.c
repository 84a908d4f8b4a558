#include "models/device_batch.h"

#include <string.h>

#include "core/error.h"
#include "nn/ops.h"

void device_batch_alloc(DeviceBatch *d, const ModelConfig *c, int max_n) {
    memset(d, 0, sizeof *d);
    d->max_n = max_n;
    d->cfg = *c;
}

void device_batch_free(DeviceBatch *d) {
    for (int i = 0; i < DB_N; i++)
        if (d->buf[i]) ops_free(d->buf[i]);
    memset(d, 0, sizeof *d);
}

// Copies `bytes` of src into buffer i (grown as needed); NULL src gives NULL.
static void *put(DeviceBatch *d, int i, const void *src, size_t bytes) {
    if (!src) return NULL;
    if (bytes > d->cap[i]) {
        if (d->buf[i]) ops_free(d->buf[i]);
        d->buf[i] = ops_alloc(bytes, "device batch");
        d->cap[i] = bytes;
    }
    ops_to_device(d->buf[i], src, bytes);
    return d->buf[i];
}

Batch device_batch_upload(DeviceBatch *d, const Batch *host) {
    if (ops_device() == OPS_CPU) return *host;
    CHECK(host->n <= d->max_n, "batch of %d does not fit the device buffers (%d)", host->n, d->max_n);
    const ModelConfig *c = &d->cfg;
    const size_t n = (size_t)host->n, F = sizeof(float);
    Batch b = *host;
    b.photometry = put(d, DB_PHOTOMETRY, host->photometry, n * c->seq_len * c->photo_in * F);
    b.photometry_mask = put(d, DB_MASK, host->photometry_mask, n * c->seq_len * F);
    b.spectra = put(d, DB_SPECTRA, host->spectra, n * c->spec_in * c->spec_len * F);
    b.metadata = put(d, DB_METADATA, host->metadata, n * c->meta_in * F);
    b.labels = put(d, DB_LABELS, host->labels, n * sizeof(int32_t));
    b.images = put(d, DB_IMAGES, host->images, n * host->image_size * host->image_size * host->image_channels * F);
    b.votes = put(d, DB_VOTES, host->votes, n * host->answers * F);
    return b;
}
