// Reading parts of one embedding of an embeddings file (embeddings_file.h):
// row ranges and row lists, so a rank of a sharded search or index build holds
// only the rows it works on, never the whole [N, D] matrix. Serial HDF5
// (every rank opens the file read-only on its own). Values arrive as float32
// whatever the stored float type.
#ifndef ASTROMM_EMBEDDINGS_ROWS_H
#define ASTROMM_EMBEDDINGS_ROWS_H

#include <stdint.h>

#include "core/error.h"

typedef struct EmbRows EmbRows;

// The embedding `slot` (its name) of the file at path, of dimension dim and n rows.
int emb_rows_open(const char *path, const char *slot, int64_t n, int dim, EmbRows **out, AmError *err);
// The stored PCA scores of `slot` (/pca/<slot>/scores, embed.pca), delivered as
// rows of their first `cols` columns. *stored = the file's component count (0:
// no PCA copy of slot); *out = NULL, and no error, when it is below cols.
int emb_rows_open_pca(const char *path, const char *slot, int64_t n, int cols, int *stored, EmbRows **out,
                      AmError *err);
// Rows [row0, row0 + count) into out [count, dim] (dim: the columns delivered).
int emb_rows_read_range(EmbRows *r, int64_t row0, int64_t count, float *out, AmError *err);
// Rows rows[0..count) (any order, repeats allowed) into out [count, dim].
int emb_rows_read_list(EmbRows *r, const int64_t *rows, int64_t count, float *out, AmError *err);
void emb_rows_close(EmbRows *r);

#endif
