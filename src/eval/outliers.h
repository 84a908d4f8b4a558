// Misclassification / anomaly candidates from an embeddings file.
//
// Per modality: the centroid of each class is the mean embedding of the
// TRAINING-split rows of that class having the modality; an object's score is
// 1 - cos(embedding, centroid of its own class), its predicted class the
// nearest centroid by cosine (ties: the smaller class index). The objects of
// the requested split (labelled, having the modality, of a class with a
// centroid) are ranked by score, highest first (ties: the smaller row).
// Arithmetic in double precision.
#ifndef ASTROMM_OUTLIERS_H
#define ASTROMM_OUTLIERS_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "eval/embeddings_file.h"

typedef struct {
    int64_t row;
    int32_t label, predicted;
    double score;           // 1 - cos(embedding, centroid of its class)
    double cos_predicted;   // cos(embedding, centroid of the predicted class)
} OutlierRow;

// Class centroids (unnormalised means) [n_classes * dim] and their training
// row counts [n_classes] (0: class absent from the training rows).
void outliers_centroids(const EmbSet *s, int mod, double *centroid, int64_t *count);

// Scores and ranks the rows of split (DS_SPLIT_* or -1 for all) for modality
// mod. *out (malloc'd) holds every eligible row, best candidate first; returns
// their number, or -1 with err set when there are no training centroids.
int64_t outliers_rank(const EmbSet *s, int mod, int split, OutlierRow **out, AmError *err);

// CSV header "modality,rank,id,label,predicted,score" and the first k rows.
void outliers_write_csv(FILE *f, const EmbSet *s, int mod, const OutlierRow *r, int64_t k, int header);
// A JSON string literal (quotes, backslashes and control characters escaped).
void outliers_json_string(FILE *f, const char *v);
// One JSON object per modality: {"modality": ..., "candidates": [{...}, ...]}.
void outliers_write_json(FILE *f, const EmbSet *s, int mod, const OutlierRow *r, int64_t k);

#endif
