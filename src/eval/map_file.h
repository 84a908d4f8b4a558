// The output files of astromm map (docs/map.md).
#ifndef ASTROMM_MAP_FILE_H
#define ASTROMM_MAP_FILE_H

#include "core/error.h"
#include "eval/embeddings_file.h"
#include "eval/umap.h"

// What the HDF5 map records about how it was made.
typedef struct {
    const char *in_path, *embedding, *method;
    UmapParams up;
    const UmapInfo *info;  // NULL for PCA
} MapMeta;

// id,label,class,x,y per row of in (xy [n, 2]).
int map_write_csv(const char *path, const EmbView *in, const float *xy, AmError *err);
// /id, /label, /xy [n, 2] and the attributes method, embedding, source, classes,
// seed (and for UMAP neighbors, epochs, min_dist, a, b).
int map_write_h5(const char *path, const EmbView *in, const float *xy, const MapMeta *mm, AmError *err);

#endif
