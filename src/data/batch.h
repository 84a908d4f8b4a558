// One batch of model inputs, as the loader fills it and the encoders read it:
// every modality's tensor for n objects, row-major (host memory from the
// loader; models/device_batch.h copies it to the device).
#ifndef ASTROMM_BATCH_H
#define ASTROMM_BATCH_H

#include <stdint.h>

typedef struct {
    const float *photometry;       // [n, seq_len, photo_in]
    const float *photometry_mask;  // [n, seq_len]
    const float *spectra;          // [n, spec_in, spec_len]
    const float *metadata;         // [n, meta_in]
    const int32_t *labels;         // [n] class indices (fine-tuning), may be NULL
    // The image modality (galaxy datasets; NULL for star datasets):
    const float *images;           // [n, image_size, image_size, image_channels], values in [0, 1]
    const float *votes;            // [n, answers] vote counts per answer (a class label: one vote)
    int image_size, image_channels, answers;
    int n;
} Batch;

#endif
