// The astromm image dataset: one HDF5 file of galaxy images (the image
// modality) with their labels and, optionally, volunteer vote counts.
// Layout (docs/data-format.md, "Image datasets"):
//   attributes  format = "astromm-images", version = 1, image_size S, channels C,
//               classes (string list, may be empty), n_skipped (bad images left out),
//               vote_questions (string list) + vote_answers (int per question)
//               + vote_columns (string list) when votes are stored
//   /images     uint8 [N, S, S, C], one image per chunk, optionally deflated
//   /name       string [N]  the catalogue's object name
//   /id         int64 [N]   numeric name, or a 64-bit hash of it (splits are by id)
//   /label      int32 [N]   class (-1 unlabelled)
//   /split      uint8 [N]   DS_SPLIT_*
//   /subset     uint8 [N]   DS_SUB* bits
//   /votes      float32 [N, A] vote counts per answer column (optional)
//   /truth      float32 [N, A] true answer probabilities (synthetic galaxies only)
// The writer works on "<path>.tmp.<pid>" and renames it into place on close;
// on any failure the temporary file is removed, so path never holds half a
// dataset. Images are streamed to disk as they are added; the small arrays
// are buffered and written at close.
#ifndef ASTROMM_IMAGE_DATASET_H
#define ASTROMM_IMAGE_DATASET_H

#include <stdint.h>

#include "core/error.h"
#include "core/vote_schema.h"

#define IMGDS_FORMAT "astromm-images"
#define IMGDS_VERSION 1
#define IMGDS_NAME_MAX 128

typedef struct {
    int image_size;  // stored side S (square)
    int channels;    // 1 or 3
    int compress;    // deflate level 0 (off) .. 9
    const char *const *classes;  // may be NULL with n_classes 0
    int n_classes;
    const VoteSchema *schema;  // NULL: no votes
    int store_truth;           // also /truth [N, A]: true answer probabilities (synthetic data)
} ImgDatasetSpec;

typedef struct ImgWriter ImgWriter;

int imgds_writer_open(const char *path, const ImgDatasetSpec *spec, ImgWriter **out, AmError *err);
// Appends one object: pixels [S, S, C]; votes [answers] or NULL (zeros = not asked).
int imgds_writer_add(ImgWriter *w, const char *name, int64_t id, const uint8_t *pixels, int32_t label, uint8_t split,
                     uint8_t subset, const float *votes, AmError *err);
// The same with the true answer probabilities (spec.store_truth).
int imgds_writer_add_truth(ImgWriter *w, const char *name, int64_t id, const uint8_t *pixels, int32_t label,
                           uint8_t split, uint8_t subset, const float *votes, const float *truth, AmError *err);
// Replaces the subset bits of the n objects added so far (limited-label
// subsets are known only once every object is in).
int imgds_writer_set_subsets(ImgWriter *w, const uint8_t *bits, int64_t n, AmError *err);
// Writes the small arrays and attributes and renames into place (or, on any
// error now or before, removes the temporary file). Frees w either way.
int imgds_writer_close(ImgWriter *w, int64_t n_skipped, AmError *err);
void imgds_writer_abort(ImgWriter *w);

typedef struct ImgDataset ImgDataset;

// 1 when path is an HDF5 file with format = "astromm-images" (no error otherwise).
int imgds_probe(const char *path);
int imgds_open(const char *path, ImgDataset **out, AmError *err);
void imgds_close(ImgDataset *ds);  // NULL-safe
int64_t imgds_count(const ImgDataset *ds);
int imgds_image_size(const ImgDataset *ds);
int imgds_channels(const ImgDataset *ds);
int64_t imgds_skipped(const ImgDataset *ds);
void imgds_classes(const ImgDataset *ds, const char *const **names, int *n);
// NULL when the dataset stores no votes.
const VoteSchema *imgds_schema(const ImgDataset *ds);
// In-memory small arrays (valid until imgds_close).
const int32_t *imgds_labels(const ImgDataset *ds);
const uint8_t *imgds_splits(const ImgDataset *ds);
const uint8_t *imgds_subsets(const ImgDataset *ds);
const int64_t *imgds_ids(const ImgDataset *ds);
const char *imgds_name(const ImgDataset *ds, int64_t i);
const float *imgds_votes(const ImgDataset *ds, int64_t i);  // [answers] or NULL
const float *imgds_truth(const ImgDataset *ds, int64_t i);  // [answers] or NULL
// Reads image i into dst [S, S, C] (one chunk). Thread-compatible: one
// ImgDataset per thread (HDF5 serialises calls anyway).
int imgds_read_image(ImgDataset *ds, int64_t i, uint8_t *dst, AmError *err);
const char *imgds_path(const ImgDataset *ds);

// The id of a catalogue name: its value when it is a decimal integer, else a
// 64-bit FNV-1a hash of the text (stable across runs and machines).
int64_t imgds_id_of_name(const char *name);

#endif
