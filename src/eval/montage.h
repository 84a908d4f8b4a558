// Image montages: objects of an image dataset (data/format/image_dataset.h)
// laid out as a grid and written as one PNG (libpng, io/image_codec.h). People
// would rather look at galaxies than read ids: `astromm search --montage` puts
// each query and its neighbours in a row, `astromm anomalies` the top
// candidates.
#ifndef ASTROMM_MONTAGE_H
#define ASTROMM_MONTAGE_H

#include <stdint.h>

#include "core/error.h"

// rows[n_rows * per_row]: dataset rows (global index, as /index of an
// embeddings file), -1 for an empty tile. Tiles keep the stored size and
// channels; a 4-pixel white gap separates them, and a wider one follows the
// first column when first_apart (the query). Written atomically.
int montage_write(const char *dataset, const int64_t *rows, int n_rows, int per_row, int first_apart, const char *out,
                  AmError *err);

#endif
