// The optional PCA-reduced copy of an embeddings file (embed.pca = P,
// docs/embeddings-format.md): per embedding <name>,
//   /pca/<name>/mean        [D]     float32, the centre,
//   /pca/<name>/components  [P, D]  float32, unit loading vectors (pca.h's signs),
//   /pca/<name>/scores      [N, P]  float32, (row - mean) . component,
//                                   0 for rows without the embedding (/has).
// The PCA is fitted on a fixed stride sample of the rows that have the
// embedding (the rows floor(i N / S), i < S = min(N, 20000)), gathered from
// the ranks that wrote them while the file was written, so every rank fits the
// same model: the file is identical for any rank count. Used by the writer of
// embeddings_file.c only (collective, like it).
#ifndef ASTROMM_EMBEDDINGS_PCA_H
#define ASTROMM_EMBEDDINGS_PCA_H

#include <hdf5.h>
#include <stdint.h>

#include "core/error.h"
#include "mpi/comm.h"

#define EMB_PCA_SAMPLE 20000

typedef struct EmbPca EmbPca;

// k components (1 <= k <= d) of each of n_slots embeddings of width d in an
// n-row file whose /has has n_has columns (a slot past them: present where any is).
EmbPca *emb_pca_new(int k, int64_t n, int d, int n_slots, int n_has);
// This rank writes rows [row0, row0 + nrows): keeps the sample rows among them.
void emb_pca_collect(EmbPca *p, int64_t row0, int64_t nrows, const uint8_t *has, const float *const *emb);
// Collective, before the file is closed: fits each embedding's PCA and writes
// the /pca group. emb_dsets: the open /embeddings/<name> datasets, has_dset:
// /has, names: the embeddings' names; the rows this rank wrote are read back
// from the file (independent reads) and their scores written collectively.
int emb_pca_write(EmbPca *p, hid_t file, const hid_t *emb_dsets, hid_t has_dset, const char *const *names, hid_t dxpl,
                  Comm *comm, const char *where, AmError *err);
void emb_pca_free(EmbPca *p);

#endif
