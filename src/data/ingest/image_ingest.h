// astromm ingest --images: an image catalogue (CSV) into an image dataset
// (data/format/image_dataset.h). The catalogue has a file column (JPEG or PNG,
// relative to the catalogue's directory) and one kind of target:
//   --votes SCHEMA     vote-count columns "<question>_<answer>" of the schema
//                      (gz_decals); an empty cell is 0 votes
//   --class-column C   a class per row (names, or integers 0..K-1)
//   --label-column C   a binary 0/1 label (classes "not-C", "C")
// or none (unlabelled images, e.g. for embeddings). Images are decoded with
// libjpeg-turbo / libpng on all OpenMP threads, centre-cropped to a square and
// resampled to the stored size. A bad row or image (missing or truncated file,
// not an image, too small, bad label or count) is reported as
// "<catalogue>:<line>: <name>: skipped: <reason>" and left out; the dataset is
// still written, and the skipped count is printed and stored (n_skipped).
#ifndef ASTROMM_IMAGE_INGEST_H
#define ASTROMM_IMAGE_INGEST_H

#include <stdint.h>

#include "core/error.h"

typedef struct {
    const char *catalog, *out;
    const char *file_column;   // default "file"
    const char *name_column;   // default: the first column
    const char *class_column;  // NULL: none
    const char *label_column;  // NULL: none
    const char *votes;         // NULL or "gz_decals"
    const char *classes;       // explicit comma-separated class names (optional)
    const char *split_column;  // NULL: by id hash with seed (train/val/test 80/10/10)
    int image_size;            // stored side (default 128)
    int channels;              // 1 or 3 (default 3)
    int compress;              // deflate 0..9 (default 0)
    uint64_t seed;             // splits and subsets (default 42)
} ImageIngestOptions;

typedef struct {
    int64_t rows, written, skipped;
    int n_classes;
} ImageIngestSummary;

void image_ingest_defaults(ImageIngestOptions *o);
int image_ingest_run(const ImageIngestOptions *o, ImageIngestSummary *s, AmError *err);

#endif
