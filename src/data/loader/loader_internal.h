// Internals of the parallel loader shared by its two files: loader.c (order,
// batch planning and assembly, the I/O thread's jobs, the public API) and
// loader_io.c (the collective reads: HDF5 and direct MPI-IO, opening shards).
#ifndef ASTROMM_LOADER_INTERNAL_H
#define ASTROMM_LOADER_INTERNAL_H

#include <hdf5.h>
#include <mpi.h>

#include "core/vote_schema.h"
#include "data/format/dataset.h"
#include "data/format/image_dataset.h"
#include "data/loader/io_worker.h"
#include "data/loader/loader.h"

typedef struct {
    hid_t file, d_spec, d_vals;
    DsShardInfo info;
    // Direct path: both arrays are contiguous native floats in the file, so a
    // row union is read with MPI_File_read_at_all on their file offsets, the
    // spectra scattered straight into their batch rows (no staging copy and no
    // HDF5 selection building). fh == MPI_FILE_NULL: HDF5 path.
    MPI_File fh;
    MPI_Offset off_spec, off_vals;
    int fd;  // direct path: a plain descriptor for read-ahead advice (posix_fadvise)
} LoaderShard;

// One local row's plan: which object, which window of its light curve.
typedef struct {
    int64_t index, local;  // dataset index, row in its shard
    int shard, k;          // shard; position in the batch
    int64_t lc_start;      // first step read (relative to the object's offset)
    int lc_len;            // steps read (<= seq_len)
    int dup;               // same object as the previous row in sorted order
    int has_spec;          // the object has a spectrum (read from the index once, at planning)
} RowPlan;

typedef struct {
    float *phot, *mask, *spec, *meta;
    float *images, *votes, *truth;  // image datasets (truth: NULL without /truth)
    int32_t *labels;
    int64_t *index, *ids;
    uint8_t *has, *valid;
    int n_valid;
    int64_t epoch, step;
    // the job that fills it
    IoJob job;
    int submitted;
    int rc;
    AmError err;
    double read_seconds, bytes_read;
    int reads, collective_reads, direct_reads, last_io_mode;
    struct Loader *l;
} Slot;

struct Loader {
    LoaderConfig cfg;
    Comm *comm;
    MPI_Comm mpi;
    int rank, size, local_n;
    char *path;
    Dataset *ds;
    LoaderShard *sh;
    int n_sh;
    int64_t *sel, n_sel, n_batches;
    // I/O thread only: permutation, plans and staging buffers
    int64_t *perm, perm_epoch;
    RowPlan *plan;
    float *spec_stage, *lc_stage, *lc_tmp;
    int period_col;  // photo column of log10 period (phase channels)
    size_t lc_stage_cap;
    hid_t dxpl;
    // main thread
    int64_t epoch, step;  // position of the next batch loader_next returns
    Slot slot[2];
    int ready;            // slot index holding a prefetched batch for (epoch, step), or -1
    LoaderStats stats;
    const float *meta_mean, *meta_std, *photo_mean, *photo_std;
    int meta_cols;  // ds_meta_cols: the batch's metadata width
    const char *const *classes;
    int n_classes;
    // Image datasets (loader_images.c): the dataset (its small arrays in
    // memory; images read on the I/O thread), the delivered shape, the schema.
    ImgDataset *imgs;
    int img_size, img_channels;
    VoteSchema schema;
    uint8_t *img_stage;  // one stored image
};

// loader.c: a slot's per-row arrays of either kind (labels, index, ids, has, valid).
void loader_slot_alloc_rows(struct Loader *l, Slot *s);

// loader_images.c (image datasets; everything that touches HDF5 runs on the I/O thread)
int loader_images_setup(struct Loader *l, AmError *err);  // after imgds_open: selection, shape, schema
void loader_images_slot_alloc(struct Loader *l, Slot *s);
int loader_images_fill(struct Loader *l, Slot *s, AmError *err);
void loader_images_class_counts(const struct Loader *l, int64_t *counts);
// The global permutation position pos of the epoch: its dataset index (shared by both kinds).
void loader_ensure_perm(struct Loader *l, int64_t epoch);

// loader_io.c
// Collective HDF5 read of the union of row runs of d (see loader_io.c).
int loader_read_rows(struct Loader *l, Slot *s, hid_t d, const char *what, const char *path, const hsize_t *starts,
                     const hsize_t *counts, int n_runs, int rank, hsize_t width, float *dst, AmError *err);
// Read-ahead advice for row runs (no-op when fd < 0).
void loader_advise_runs(int fd, MPI_Offset base, const hsize_t *starts, const hsize_t *counts, int n_runs,
                        size_t row_bytes);
// Collective direct MPI-IO read of row runs (see loader_io.c).
int loader_read_direct(struct Loader *l, Slot *s, MPI_File fh, MPI_Offset base, const char *what, const char *path,
                       const hsize_t *starts, const hsize_t *counts, int n_runs, size_t row_bytes, float *const *dst,
                       float *contig, AmError *err);
// Opens every shard with the MPI-IO driver (and directly where contiguous); closes them.
int loader_mpio_open(struct Loader *l, AmError *err);
void loader_mpio_close(struct Loader *l);

#endif
