// astromm ingest: build an astromm dataset (docs/data-format.md) from real survey
// files listed in a manifest.
//
// Manifest: a CSV file whose first line is a header naming the columns (any
// order, extra columns ignored; fields are trimmed, a surrounding pair of double
// quotes is stripped, fields cannot contain commas; blank lines are skipped):
//   id          signed 64-bit integer, unique (required column)
//   class       one of the 10 AstroM3 codes (EW SR EA RRAB EB ROT RRC HADS M
//               DSCT, label = that index), or empty = unlabelled (label -1)
//   lightcurve  path of an ASAS-SN text file (lc_read_asassn), or "asas:<id>" =
//               object <id> of the ASAS CSV given as asas_csv (lc_read_asas_csv,
//               streamed once for all requested ids), or empty = no light curve
//   spectrum    path of a LAMOST FITS file (spec_read_lamost), or empty
//   split       train / val / test, or empty = split_by_id(id, seed)
// Relative paths are taken relative to the manifest's directory. Columns
// lightcurve, spectrum, class and split may be absent (all empty).
//
// Metadata: the optional catalogue (meta_read_csv) is matched by id; objects not
// in it get has[DS_MOD_META] = 0. Its photo columns (amplitude, period,
// lksl_statistic, rfr_score) are stored with the light curve, so they are NaN
// for objects without a light curve or without a catalogue row. The stored
// metadata are meta_transform-ed but not z-scored; the statistics are
// meta_fit_stats over the written training objects that have a catalogue row
// (mean 0 / std 1 when there is none; IngestSummary.stats_fallback is then 1).
// Subsets: subsets_by_class over the written objects with the same seed.
//
// A bad object is skipped, never fatal: malformed row, bad or duplicate id,
// unknown class, bad split, unreadable / invalid light curve or spectrum, an
// asas:<id> absent from the ASAS CSV, no modality at all. Each skip is reported
// on opts->log (stderr when NULL) as "<manifest>:<line>: id <id>: skipped: <reason>"
// (line = physical line, header = 1). Fatal errors (unreadable manifest,
// catalogue or ASAS CSV, nothing left to write, dataset write failure) return
// non-zero with err filled, and nothing is left at opts->out (DsWriter's atomic
// rename). Two passes: the first validates every object (light curves are kept
// in memory, spectra are read and discarded), the second re-reads the spectra
// while writing.
#ifndef ASTROMM_INGEST_H
#define ASTROMM_INGEST_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

#define INGEST_N_CLASSES 10
extern const char *const INGEST_CLASSES[INGEST_N_CLASSES];  // AstroM3 order (astrom3.md)

typedef struct {
    const char *manifest;  // required
    const char *out;       // required: dataset path
    const char *asas_csv;  // may be NULL (then asas:<id> rows are skipped)
    const char *catalog;   // may be NULL (no metadata)
    uint64_t seed;         // splits (where the manifest gives none) and subsets
    FILE *log;             // skip reports; NULL = stderr
} IngestOptions;

enum {
    INGEST_SKIP_ROW = 0,     // malformed row, bad/duplicate id, bad split
    INGEST_SKIP_CLASS,       // unknown class code
    INGEST_SKIP_LIGHTCURVE,  // unreadable/invalid light curve, id missing from the ASAS CSV
    INGEST_SKIP_SPECTRUM,    // unreadable/invalid FITS or spectrum
    INGEST_SKIP_EMPTY,       // no modality at all
    INGEST_N_SKIP
};
extern const char *const INGEST_SKIP_NAMES[INGEST_N_SKIP];

typedef struct {
    int64_t rows;                          // manifest data rows
    int64_t written, skipped;
    int64_t skip_count[INGEST_N_SKIP];
    int64_t class_count[INGEST_N_CLASSES], unlabelled;
    int64_t split_count[3];                // train / val / test
    int64_t modality_count[3];             // objects with photometry / spectrum / metadata
    int stats_fallback;                    // 1: no training object had metadata
} IngestSummary;

// 0 on success (summary filled, dataset at opts->out); non-zero with err filled.
// summary may be NULL; on failure it still holds the counts gathered so far.
int ingest_run(const IngestOptions *opts, IngestSummary *summary, AmError *err);

#endif
