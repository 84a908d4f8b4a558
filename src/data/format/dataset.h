// The astromm dataset file: one HDF5 file (or a directory of shard files) holding
// every preprocessed object of a multimodal dataset. Layout: docs/data-format.md.
//
// Writer (serial): ds_writer_open creates "<path>.tmp.<pid>"; ds_writer_add appends
// objects in order (exactly n_objects of them); ds_writer_set_stats supplies the
// training-split normalisation statistics; ds_writer_close writes the buffered
// per-object arrays and attributes, closes the file and renames it to path. Any
// failure (including a close with too few objects or no statistics) removes the
// temporary file, so path never holds a half-written dataset. Large arrays
// (spectra, light-curve steps) are streamed to disk as objects are added; small
// per-object arrays (id, label, split, subset, has, scalars, photo, metadata:
// ~200 bytes per object) are buffered and written at close.
//
// Reader: ds_open accepts a file or a directory of shard_NNNNN.h5 files,
// validates format, version, shapes and contents, keeps the small arrays in
// memory and reads spectra / light curves per object with hyperslab selections.
// All functions return 0 on success, non-zero with err naming the file (and the
// HDF5 dataset path) on failure. HDF5's own error printing is silenced inside.
#ifndef ASTROMM_DATASET_H
#define ASTROMM_DATASET_H

#include <stdint.h>

#include "core/error.h"
#include "core/modality.h"
#include "data/preprocess/lightcurve.h"
#include "data/preprocess/metadata.h"
#include "data/preprocess/spectrum.h"

#define DS_FORMAT "astromm-dataset"
#define DS_VERSION 1
#define DS_META_COLS 34            // AstroM3's catalogue columns: the default metadata width
#define DS_META_MAX META_MAX_COLS  // widest metadata a dataset may store
#define DS_PHOTO_COLS 4
#define DS_LC_VALUES 3  // per step: t01, flux_n, err_n

// (has[] and per-modality counts are indexed by MOD_*, core/modality.h.)
enum { DS_SPLIT_TRAIN = 0, DS_SPLIT_VAL = 1, DS_SPLIT_TEST = 2 };
enum { DS_SUB50 = 1, DS_SUB25 = 2, DS_SUB10 = 4 };  // bits of DsObject.subset

typedef struct {
    int64_t id;
    int32_t label;           // 0 .. n_classes-1, or -1 (unlabelled)
    uint8_t split;           // DS_SPLIT_*
    uint8_t subset;          // DS_SUB* bits (limited-label subsets), 0 = none
    uint8_t has[MOD_COUNT];   // modality presence, 0 or 1
    // Normalised light curve (whole, uncropped). lc.n == 0 and NULL arrays when
    // has[MOD_PHOTOMETRY] == 0; lc.n >= 1 otherwise.
    LcNorm lc;
    float photo[DS_PHOTO_COLS];  // raw photo columns (amplitude, log10 period, lksl, rfr)
    const float *spectrum;       // [3 * SPEC_LEN] or NULL when has[MOD_SPECTRA] == 0
    float meta[DS_META_MAX];     // raw (transformed, not z-scored) metadata, ds_meta_cols of them
} DsObject;

typedef struct DsWriter DsWriter;

// classes[0 .. n_classes-1] are the class names in label order (n_classes >= 1).
int ds_writer_open(const char *path, int64_t n_objects, const char *const classes[], int n_classes,
                   DsWriter **out, AmError *err);
// Validates and appends one object. The writer copies everything it needs.
// For an absent modality the stored photo/meta rows are NaN and the spectrum is
// left unwritten (reads as zeros).
int ds_writer_add(DsWriter *w, const DsObject *obj, AmError *err);
// The metadata columns (names, in model input order; 1 .. DS_META_MAX, unique,
// non-empty): before the first ds_writer_add. Default: the 34 AstroM3 columns
// (META_COLUMNS).
int ds_writer_set_meta_columns(DsWriter *w, const char *const names[], int n, AmError *err);
// Training-split statistics: metadata mean/std [metadata columns], photo-column
// mean/std [4] (population std). Must be called before ds_writer_close. Values
// must be finite.
int ds_writer_set_stats(DsWriter *w, const float meta_mean[], const float meta_std[],
                        const float photo_mean[DS_PHOTO_COLS], const float photo_std[DS_PHOTO_COLS],
                        AmError *err);
// Finishes and renames into place, or (on any error, now or earlier) removes the
// temporary file. Always frees w (NULL-safe).
int ds_writer_close(DsWriter *w, AmError *err);
// Discards the dataset being written (temporary file removed); frees w.
void ds_writer_abort(DsWriter *w);
// The usual ending: when rc == 0, store the training statistics st (converted to
// float) and close; otherwise, or if that fails, abort (no file is left). Returns
// the final status; w is consumed either way.
int ds_writer_finish(DsWriter *w, int rc, const MetaStats *st, AmError *err);

typedef struct Dataset Dataset;

int ds_open(const char *path, Dataset **out, AmError *err);
int64_t ds_count(const Dataset *ds);
// Class names in label order.
int ds_classes(const Dataset *ds, const char *const **names, int *n_classes);
// Metadata width (1 .. DS_META_MAX) and column names.
int ds_meta_cols(const Dataset *ds);
const char *const *ds_meta_names(const Dataset *ds);
// meta_mean / meta_std have ds_meta_cols entries.
void ds_stats(const Dataset *ds, const float **meta_mean, const float **meta_std, const float **photo_mean,
              const float **photo_std);
// Fills *out; its lc arrays and spectrum point into buffers owned by ds, valid
// until the next ds_get or ds_close.
int ds_get(Dataset *ds, int64_t index, DsObject *out, AmError *err);
void ds_close(Dataset *ds);  // NULL-safe

// ---- for the parallel loader (src/data/loader/loader.c), which reads the large arrays
// itself through MPI-IO: the shard layout and the in-memory small arrays.
typedef struct {
    const char *path;
    int64_t base, n;          // global index of the shard's first object; its object count
    const int64_t *offsets;   // [n + 1] rows of /photometry/values per object
} DsShardInfo;

int ds_shard_count(const Dataset *ds);
void ds_shard_info(const Dataset *ds, int shard, DsShardInfo *out);
// Shard holding global object `index` (0 <= index < ds_count); *local = its row there.
int ds_locate(const Dataset *ds, int64_t index, int64_t *local);
// The small fields of object `index` (everything but the light-curve arrays and
// the spectrum, which stay NULL; lc.n is the stored length). No file access.
void ds_get_small(const Dataset *ds, int64_t index, DsObject *out);
// Closes the HDF5 files (keeping everything in memory) so they can be reopened
// with another file driver: HDF5 would otherwise share the already-open file,
// driver included. ds_get fails afterwards with a message saying so.
void ds_release_files(Dataset *ds);

#endif
