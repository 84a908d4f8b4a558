// The astromm embeddings file (docs/embeddings-format.md): per-object
// L2-normalised embeddings of a dataset split, one HDF5 file, written by
// `astromm embed` and read by `astromm search`, `astromm outliers` (and any
// HDF5 reader: /embeddings/<name> are plain [N, D] float32, or optionally
// float16, datasets).
//
// Writer (parallel, collective): every rank calls every function in the same
// order. emb_writer_open creates "<path>.tmp.<pid of rank 0>" with the MPI-IO
// driver and every dataset at its final shape; emb_writer_write writes this
// rank's block of rows with one collective H5Dwrite per dataset (a rank may
// pass 0 rows); emb_writer_close closes the file and, only when every rank
// reports success, rank 0 renames it to path; otherwise the temporary file is
// removed. path never holds a half-written file.
//
// Reader (serial): emb_read loads the whole file into memory, validating the
// format attribute, version, shapes and that every dataset is present; errors
// name the file and the dataset/attribute.
#ifndef ASTROMM_EMBEDDINGS_FILE_H
#define ASTROMM_EMBEDDINGS_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/modality.h"
#include "mpi/comm.h"

#define EMB_FORMAT "astromm-embeddings"
#define EMB_VERSION 1

// A file holds n_slots embeddings ("slots"), named by the root attribute
// `modalities` (the datasets /embeddings/<name>, in that order). /has [N, n_has]
// says per object which of the first n_has slots are present; a slot past
// n_has (AstroM3's "fused") is present where any of them is.
#define EMB_MAX_SLOTS 8
#define EMB_SLOT_NAME_MAX 32

// The AstroM3 layout: one slot per modality (index MOD_*, core/modality.h),
// then the fused embedding (the mean of an object's modalities).
enum { EMB_FUSED = MOD_COUNT, EMB_N = MOD_COUNT + 1 };
// An AstroM3 slot's name: the modality's name, or "fused".
const char *emb_astrom3_slot_name(int slot);

// Split name -> DS_SPLIT_* (train/val/test), -1 for "all", -2 when unknown.
int emb_split_parse(const char *name);
const char *emb_split_name(int split);

typedef struct {
    int64_t n;            // rows
    int dim;              // D
    int n_slots, n_has;   // embeddings in the file; columns of /has
    int normalized;       // 1: every present row has unit L2 norm (cosine = dot product)
    char slot[EMB_MAX_SLOTS][EMB_SLOT_NAME_MAX];
    int64_t *id;          // [n]
    int32_t *label;       // [n] class index or -1
    uint8_t *split;       // [n] 0 train, 1 val, 2 test
    uint8_t *has;         // [n, n_has] slot presence
    int64_t *index;       // [n] row in the source dataset
    float *emb[EMB_MAX_SLOTS];  // [n, dim] each (NULL when not loaded)
    char **classes;
    int n_classes;
    char checkpoint[1024], dataset[1024];
    char path[1024];
} EmbSet;

int emb_read(const char *path, EmbSet *out, AmError *err);
// The same, loading only the named embeddings (the others stay NULL; names may
// repeat); everything else is read and checked. A name the file does not have is
// an error that quotes it and lists the file's names.
int emb_read_some(const char *path, const char *const *names, int n_names, EmbSet *out, AmError *err);
void emb_free(EmbSet *s);
// Row of the first object with this id, or -1 (a linear scan).
int64_t emb_find_id(const EmbSet *s, int64_t id);
// Rows of n ids at once (sorting the file's ids once): rows[i] = first row
// with ids[i], or -1.
void emb_find_ids(const EmbSet *s, const int64_t *ids, int64_t n, int64_t *rows);
// Slot of a name, or -1.
int emb_slot_index(const EmbSet *s, const char *name);
// The embedding a command uses when none is named: "fused", or the file's only
// one; -1 when neither (several, none fused).
int emb_default_slot(const EmbSet *s);
// The default embedding's name of a file (reading its attribute modalities).
int emb_default_name(const char *path, char *out, size_t cap, AmError *err);
// Reads one embedding: `name`, or the default one (NULL); *slot is its index.
int emb_read_one(const char *path, const char *name, EmbSet *out, int *slot, AmError *err);
// "photometry, spectra, ...": the slot names, for messages.
void emb_slot_list(const EmbSet *s, char *buf, size_t cap);
// 1 when row has the embedding of slot (past n_has: when it has any).
int emb_row_has(const EmbSet *s, int64_t row, int slot);
// Class name of a label ("" for -1 or out of range).
const char *emb_class_name(const EmbSet *s, int32_t label);

// One embedding of any HDF5 file laid out like an embeddings file (astromm map
// reads files of other tools this way): /embeddings/<name> [N, D] and /id [N]
// are required; /label [N] (-1 when absent), /has [N, MOD_COUNT] and the root
// attribute classes are optional. Only the rows that have the embedding's
// modality are kept (any modality for "fused"), and a kept row with a
// non-finite value is an error naming the row and id.
typedef struct {
    size_t n, d;       // rows kept, embedding width
    float *x;          // [n, d]
    int64_t *id;       // [n]
    int32_t *label;    // [n]
    char **classes;    // may be NULL
    int n_classes;
    size_t n_file;     // rows in the file
} EmbView;

int emb_read_view(const char *path, const char *name, EmbView *out, AmError *err);
void emb_view_free(EmbView *v);
// Class name of a label ("" for -1, out of range, or no classes).
const char *emb_view_class(const EmbView *v, int32_t label);

typedef struct {
    const char *checkpoint, *dataset;   // provenance attributes
    const char *const *classes;
    int n_classes;
    int64_t n;
    int dim;
    int n_slots, n_has;                 // 1 <= n_has <= n_slots <= EMB_MAX_SLOTS
    const char *const *slot_names;      // [n_slots]
    int normalized;                     // rows have unit norm (attribute `normalized`)
    int storage;                        // EMB_STORAGE_*: the embeddings' type on disk
    int pca;                            // > 0: also the /pca copy of this many components (embeddings_pca.h)
} EmbFileInfo;

// The embeddings' type on disk (attribute `storage`). float16 halves the file
// and the I/O of a search; readers get float32 either way (HDF5 converts).
// float16 is IEEE binary16 (h5py / numpy read it as float16); rows stored so
// are no longer unit-norm to float32 precision, so a float16 file records
// normalized = 0 and cosine consumers divide by the norms.
enum { EMB_STORAGE_FLOAT32 = 0, EMB_STORAGE_FLOAT16 = 1 };

typedef struct EmbWriter EmbWriter;

int emb_writer_open(const char *path, Comm *comm, const EmbFileInfo *info, EmbWriter **out, AmError *err);
// Rows row0 .. row0+nrows-1 (nrows may be 0). has is [nrows, n_has]; emb[s]
// (s < n_slots) are [nrows, dim] host arrays.
int emb_writer_write(EmbWriter *w, int64_t row0, int64_t nrows, const int64_t *id, const int32_t *label,
                     const uint8_t *split, const uint8_t *has, const int64_t *index, const float *const *emb,
                     AmError *err);
// ok: this rank's verdict on everything so far (0 = failed). Returns 0 when the
// file was renamed into place, non-zero (err set) otherwise. Frees w.
int emb_writer_close(EmbWriter *w, int ok, AmError *err);

#endif
