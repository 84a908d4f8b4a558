// The parallel data loader: batches of a dataset (docs/data-format.md) for
// data-parallel training, read with collective MPI-IO through parallel HDF5.
//
// Order. Each epoch, every rank builds the same permutation of the selected
// objects (Philox keyed by (seed, epoch); identity when shuffle = 0). Global
// batch k of the epoch is permutation positions k*B .. k*B+B-1; rank r of P
// takes the contiguous block of B/P of them starting at k*B + r*B/P, the rows
// it owns in the global contrastive matrix. So the global batch, its order and
// every sample's content are independent of the rank count, and each sample
// is read by exactly one rank. The last partial batch is dropped (drop_last) or
// filled with the epoch's first samples again, flagged valid = 0 (pad).
//
// Content. Light curves are cropped to seq_len steps: a random window in
// training (offset from Philox keyed by (seed, epoch, object index), so it does
// not depend on ranks either) or the centred one (crop = LOADER_CROP_CENTER);
// shorter curves are zero-padded with mask 0. Only the window is read from the
// file. Photo columns and metadata are z-scored with the dataset's training
// statistics. A missing modality gives zeros and has[.] = 0.
//
// I/O. Per batch, per shard and per array (spectra, light-curve steps), one
// collective read of the union of this rank's rows (sorted, runs merged). Two
// paths, chosen per shard at open (the same on every rank):
//  - HDF5 (always possible): H5Dread with H5FD_MPIO_COLLECTIVE on the MPI-IO
//    file driver; LoaderStats counts the reads whose H5Pget_mpio_actual_io_mode
//    is collective.
//  - direct (io = LOADER_IO_AUTO and both arrays contiguous native floats, as
//    the astromm writer stores them): MPI_File_read_at_all with a file view of
//    the rows at the dataset offsets HDF5 reports (H5Dget_offset); spectra land
//    straight in their batch rows. Same bytes, no HDF5 selection building
//    (2.2x the loader throughput, benchmarks/results/io.md).
// Reads run on the process-wide I/O thread (data/io_worker.h): while the caller
// computes on batch k, batch k+1 is being read (double buffer). Without
// MPI_THREAD_MULTIPLE reads are synchronous.
//
// Position. loader_next returns the batch at the current position (epoch,
// batch) and advances, rolling over to the next epoch; loader_seek moves the
// position (resume mid-epoch continues the exact sequence).
//
// Every function except the getters is collective: all ranks call it in the
// same order with the same arguments. Errors name the file and dataset.
#ifndef ASTROMM_LOADER_H
#define ASTROMM_LOADER_H

#include <stdint.h>

#include "core/error.h"
#include "core/vote_schema.h"
#include "data/batch.h"
#include "mpi/comm.h"

// SPREAD: window crop_index of crop_count evenly spaced ones, start =
// floor(j (n - L) / (K - 1)) (K = 1: the centred window); for test-time averaging.
enum { LOADER_CROP_RANDOM = 0, LOADER_CROP_CENTER = 1, LOADER_CROP_SPREAD = 2 };
enum { LOADER_ANY_SPLIT = -1 };
enum { LOADER_IO_AUTO = 0, LOADER_IO_HDF5 = 1 };

typedef struct {
    int global_batch;   // B, a multiple of the rank count
    int seq_len;        // light-curve window (AstroM3: 200)
    uint64_t seed;
    int split;          // DS_SPLIT_* or LOADER_ANY_SPLIT
    int subset_bits;    // 0: all objects of the split; else objects with (subset & bits) != 0
    int require_all;    // only objects having all three modalities (CLIP pre-training)
    int require_mask;   // only objects having every modality of this mask (MOD_BIT(MOD_*), core/modality.h); 0 = none
    int labelled_only;  // only objects with label >= 0
    int shuffle;        // 1: new permutation each epoch; 0: dataset order
    int drop_last;      // 1: drop the last partial batch; 0: pad it (valid = 0)
    int crop;           // LOADER_CROP_*
    int crop_index, crop_count;  // LOADER_CROP_SPREAD: window j of K
    int photo_in;       // LC_CHANNELS (AstroM3, default) or LC_CHANNELS_PHASE (+ phase sin, cos)
    int prefetch;       // 1: read the next batch in the background
    int io;             // LOADER_IO_AUTO (direct MPI-IO where possible) or LOADER_IO_HDF5
    // Image datasets (data/format/image_dataset.h; the loader recognises them by
    // their format attribute): the view each row gets.
    int image_size;      // side of the delivered images (0: the stored size)
    int image_channels;  // 1 (mean of the stored channels) or 3; 0: as stored
    int augment;         // 1: Zoobot's augmentations (rotation, flips, random resized crop); 0: plain resize
    float crop_scale_lo, crop_scale_hi;  // random resized crop area fraction (Zoobot: 0.7 .. 0.8)
    int cv_folds, cv_fold;  // image datasets: K-fold splits (0: the stored splits), stratified by class:
    uint64_t cv_seed;       // per class the labelled objects by a Philox key of (cv_seed, index), dealt
                            // to folds in turn; fold cv_fold is test, the next val, the rest train
    int per_class_limit;  // image datasets: at most this many objects of each class (0: all), the
                          // same ones for any rank count: the first by a Philox key of (seed, index)
} LoaderConfig;

// Defaults: training (shuffle, drop_last, random crop, prefetch, require_all).
void loader_config_defaults(LoaderConfig *c);

// Image datasets: each row is drawn as an ImageView (data/preprocess/image.h)
// from Philox keyed by (seed, epoch, RNG_CROP, dataset index), so a sample's
// pixels do not depend on the rank count or on resuming. The vote targets are
// the dataset's vote counts, or one vote for the row's class (a class dataset
// trains the same Dirichlet head as a one-question schema).

typedef struct {
    Batch batch;            // local rows: photometry [n, seq_len, 9], mask [n, seq_len],
                            // spectra [n, 3, 2575], metadata [n, loader_meta_cols], labels [n]
    const int64_t *index;   // [n] dataset index of each row
    const int64_t *ids;     // [n] object ids
    const uint8_t *has;     // [n, 3] modality presence
    const uint8_t *valid;   // [n] 0 for padding rows
    const float *truth;     // image datasets with /truth: [n, answers] true answer probabilities; else NULL
    int64_t epoch, step;    // the batch's epoch and its index within the epoch
    int64_t sample_offset;  // global position of row 0 in the epoch (k*B + r*B/P)
    int n;                  // B / P
    int n_valid;
} LoaderBatch;

typedef struct Loader Loader;

int loader_open(const char *path, Comm *comm, const LoaderConfig *cfg, Loader **out, AmError *err);
// Objects selected; global batches per epoch.
int64_t loader_size(const Loader *l);
int64_t loader_batches_per_epoch(const Loader *l);
int loader_n_classes(const Loader *l);
// The dataset's metadata width (ds_meta_cols): the model's meta_in must match.
int loader_meta_cols(const Loader *l);
// A model's input widths against what this loader delivers: 0, or non-zero with
// err naming the dataset, the key and the value to set (--set model.meta_in=N).
// l == NULL: only what the format fixes (spectra, photometry channels), before
// any data is opened.
int loader_check_model_inputs(const Loader *l, int spec_len, int spec_in, int meta_in, int photo_in, AmError *err);
// counts[c] = selected objects with label c (c < loader_n_classes); no I/O.
void loader_class_counts(const Loader *l, int64_t *counts);
const char *const *loader_class_names(const Loader *l);
// Next batch (valid until the following loader_next/seek/close).
int loader_next(Loader *l, LoaderBatch *out, AmError *err);
void loader_position(const Loader *l, int64_t *epoch, int64_t *step);
int loader_seek(Loader *l, int64_t epoch, int64_t step, AmError *err);

typedef struct {
    double wait_seconds;    // time loader_next blocked waiting for data
    double read_seconds;    // time spent in H5Dread (on the I/O thread)
    double bytes_read;      // bytes selected in the file by this rank
    int64_t batches;
    int last_io_mode;       // H5D_mpio_actual_io_mode_t of the last HDF5 read
    int reads;              // HDF5 H5Dread calls with a non-empty local selection
    int collective_reads;   // ... whose actual I/O mode (H5Pget_mpio_actual_io_mode) was collective
    int direct_reads;       // direct MPI_File_read_at_all calls with a non-empty local selection
} LoaderStats;

void loader_stats(const Loader *l, LoaderStats *out);

// Image datasets: 1 when the loader reads one (else 0 and the getters below
// are not to be used); the delivered image shape; the vote schema (the
// dataset's, or one question whose answers are the classes).
int loader_is_images(const Loader *l);
void loader_image_shape(const Loader *l, int *size, int *channels);
int loader_vote_schema(const Loader *l, VoteSchema *out, AmError *err);
// Mean measured vote fraction of every answer over the objects of `split`
// (DS_SPLIT_*) asked its question (k / N averaged over rows with N > 0; 0 when
// none): the "always predict the training mean" baseline. No I/O.
int loader_mean_vote_fractions(const Loader *l, int split, float *out, AmError *err);
void loader_close(Loader *l);  // NULL-safe; collective

#endif
