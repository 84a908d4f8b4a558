// Internals shared by ingest.c (the run) and ingest_manifest.c (the manifest).
#ifndef ASTROMM_INGEST_INTERNAL_H
#define ASTROMM_INGEST_INTERNAL_H

#include <stdint.h>

#include "core/error.h"
#include "data/ingest/ingest.h"
#include "data/ingest/feature_queue.h"
#include "data/preprocess/lightcurve.h"

// One manifest row and what the run learns about it.
typedef struct {
    int line;
    char id_txt[40];
    int64_t id;
    int label, split;  // split -1: generated
    char cls[INGEST_CLASS_NAME_MAX + 1];  // class as written ("" = unlabelled)
    char *lc_path, *spec_path;
    int64_t asas_id;
    int asas_slot;  // index into the ASAS slots, -1 when not an asas: reference
    LcNorm lc;      // text-file curve (owned)
    int has_lc;
    int meta_row;   // catalogue row, -1 when absent
    int tab_row;    // row of the metadata table (meta_csv), -1 when absent
    int skip;       // -1: ok, else INGEST_SKIP_*
    char why[600];
    int need_feat;  // photo columns come from computed features
    Features feat;  // text-file curve's features (asas: rows use their slot's)
} Row;

// Marks a row skipped for reason (INGEST_SKIP_*) with a message; the first reason wins.
void ingest_row_skip(Row *r, int reason, const char *fmt, ...) AM_PRINTF(3, 4);
// The manifest's rows (every line, bad ones marked skipped); 0 or an error for an
// unreadable file or header.
int ingest_read_manifest(const char *path, Row **rows_out, int *n_out, AmError *err);
// The class list (o->classes, or --stats-from's classes from, or the manifest's
// names) into S; labels the rows, skipping unknown classes.
int ingest_set_classes(const IngestOptions *o, const char (*from)[INGEST_CLASS_NAME_MAX + 1], int n_from, Row *rows,
                       int n, IngestSummary *S, AmError *err);
void ingest_free_rows(Row *rows, int n);

#endif
