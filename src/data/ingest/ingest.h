// astromm ingest: build an astromm dataset (docs/data-format.md) from real survey
// files listed in a manifest.
//
// Manifest: a CSV file whose first line is a header naming the columns (any
// order, extra columns ignored; fields are trimmed, a surrounding pair of double
// quotes is stripped, fields cannot contain commas; blank lines are skipped):
//   id          signed 64-bit integer, unique (required column)
//   class       a class name of the dataset's list (IngestOptions.classes; by
//               default the 10 AstroM3 codes EW SR EA RRAB EB ROT RRC HADS M DSCT,
//               label = the index), or empty = unlabelled (label -1)
//   lightcurve  path of an ASAS-SN text file (lc_read_asassn), or "asas:<id>" =
//               object <id> of the ASAS CSV files given as asas_csv (lc_read_asas_csv:
//               rows grouped by object in increasing id order, as the ASAS dev file;
//               each file streamed once, in the order given, until every requested
//               id is found; an id in two files is taken from the first), or empty
//   spectrum    path of a LAMOST FITS file (spec_read_lamost), or empty
//   split       train / val / test, or empty = split_by_id(id, seed)
// Relative paths are taken relative to the manifest's directory. Columns
// lightcurve, spectrum, class and split may be absent (all empty).
//
// Metadata: the optional catalogue (meta_read_csv) is matched by id; objects not
// in it get has[MOD_METADATA] = 0. Photo columns (amplitude, period,
// lksl_statistic, rfr_score) are stored with the light curve (NaN without one):
// from the catalogue row or computed from the curve, see IngestOptions.features.
// The stored metadata are meta_transform-ed but not z-scored; the statistics are
// meta_fit_stats over the written training objects that have a catalogue row
// (mean 0 / std 1 when there is none; IngestSummary.stats_fallback is then 1);
// the photo-column statistics are over the written training objects with a light
// curve and a finite value, column by column (mean 0 / std 1 for a column with none).
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
#include "data/ingest/periodogram.h"

#define INGEST_N_CLASSES 10
extern const char *const INGEST_CLASSES[INGEST_N_CLASSES];  // AstroM3 order (astrom3.md)
#define INGEST_MAX_CLASSES 256
#define INGEST_CLASS_NAME_MAX 63

typedef struct {
    const char *manifest;  // required
    const char *out;       // required: dataset path
    const char *const *asas_csv;  // [n_asas_csv] ASAS CSV files (asas:<id> rows are skipped without)
    int n_asas_csv;
    const char *catalog;   // may be NULL (no metadata)
    uint64_t seed;         // splits (where the manifest gives none) and subsets
    FILE *log;             // skip reports; NULL = stderr
    int features;          // INGEST_FEATURES_*: where photo columns come from (0 = auto)
    const LsOptions *ls;   // period search; NULL = ls_default_options()
    // Normalisation statistics (metadata and photo-column mean/std) copied from this
    // dataset instead of computed from the training split: a dataset to evaluate a
    // model on must be z-scored as the model's training data were. NULL = compute.
    const char *stats_from;
    // The dataset's class list (label = position): NULL or "astrom3" = the 10
    // AstroM3 codes (another name in the manifest is skipped as an unknown class);
    // "manifest" = every distinct class of the manifest, sorted by bytes (the same
    // list from any manifest with the same classes); else a comma-separated list.
    // With stats_from the class list of that dataset is used (give only one).
    const char *classes;
    // Ranks sharing the feature computation (every rank calls ingest_run with the
    // same options; rank 0 alone reports skips and writes the dataset). NULL = serial.
    struct Comm *comm;
    // CSV of the computed features (header id + LCF_NAMES, one row per written object
    // whose features were computed: every curve with ALWAYS), written atomically and
    // only when the dataset is. NULL = none.
    const char *features_out;
    // Extra metadata columns from a table: CSV meta_csv, columns meta_columns
    // (comma-separated names), rows matched on column meta_id (NULL = "id"); read
    // with meta_read_columns (every value a finite number). They follow the
    // catalogue's and the computed lc_* columns; an object has metadata only with
    // a row here. NULL = none.
    const char *meta_csv, *meta_columns, *meta_id;
} IngestOptions;

// Photo columns (amplitude, log10 period, lksl_statistic) of an object with a
// light curve: AUTO takes them from its catalogue row when it has one and
// computes them from the curve (lc_features.h: Lomb-Scargle period, 5-95
// percentile amplitude, Lafler-Kinman at the period) when it has none; ALWAYS
// computes them for every curve (rfr_score still from the catalogue); OFF never
// computes (no catalogue row: NaN, fed to the model as 0). A curve whose
// features are needed and cannot be computed (fewer than LCF_MIN_POINTS
// positive fluxes, a constant curve) is skipped as a bad light curve.
// Features run on every OpenMP thread, FEAT_CHUNK curves at a time, shared out
// over the ranks of IngestOptions.comm (identical results for any rank count).
enum { INGEST_FEATURES_AUTO = 0, INGEST_FEATURES_ALWAYS, INGEST_FEATURES_OFF };

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
    int n_classes;                         // the dataset's class list
    char class_names[INGEST_MAX_CLASSES][INGEST_CLASS_NAME_MAX + 1];
    int64_t class_count[INGEST_MAX_CLASSES], unlabelled;
    int64_t split_count[3];                // train / val / test
    int64_t modality_count[3];             // objects with photometry / spectrum / metadata
    int stats_fallback;                    // 1: no training object had metadata
    int64_t features_computed;             // curves whose features were computed
    int64_t features_used;                 // written objects whose photo columns are computed
    int64_t lc_missing;                    // asas:<id> rows whose id no ASAS CSV holds
    int64_t features_written;              // rows of the features_out table
    int meta_cols;                         // metadata columns written (ds_meta_cols)
    int meta_feature_cols;                 // of which computed from the light curves (LCF_META_NAMES)
    int meta_table_cols;                   // of which from IngestOptions.meta_csv
    int stats_copied;                      // 1: statistics from stats_from
} IngestSummary;

// 0 on success (summary filled, dataset at opts->out); non-zero with err filled.
// summary may be NULL; on failure it still holds the counts gathered so far.
int ingest_run(const IngestOptions *opts, IngestSummary *summary, AmError *err);

#endif
