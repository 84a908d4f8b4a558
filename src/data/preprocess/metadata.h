// Catalogue (metadata + photometric columns) reading and AstroM3 preprocessing.
//
// meta_read_csv reads a comma-separated catalogue (plain or gzip, through zlib)
// whose first line is a header naming the columns. Columns are located by
// name, in any order; extra columns are ignored. Required: `id` (a signed
// 64-bit integer), the 34 META_COLUMNS and the 4 PHOTO_COLUMNS. Fields may be
// double-quoted (RFC 4180: commas inside quotes, "" for a literal quote; a
// quoted field cannot span lines); surrounding whitespace is trimmed; blank
// lines are skipped; a trailing \r is stripped. Errors (non-zero return, err
// filled, *out left empty):
//   - empty file / no header, duplicate header name, missing required
//     column (the message names the column and the file);
//   - wrong field count, unparsable, NaN or Inf value, non-integer id, period
//     <= 0 (log10 undefined): "file:line: column NAME: ..." (line numbers
//     are 1-based physical lines, the header being line 1);
//   - a file with a header and no rows.
// Raw values are kept as double.
//
// Preprocessing (../shared/reference/astrom3.md, "Preprocessing -> Metadata"):
// meta_transform, in place, on the raw values:
//   - the 11 apparent magnitudes META_MAG_COLUMNS (mean_vmag, phot_g_mean_mag,
//     phot_bp_mean_mag, phot_rp_mean_mag, j_mag, h_mag, k_mag, w1_mag, w2_mag,
//     w3_mag, w4_mag) become absolute: m - 10 + 5 log10(p), p = parallax, or
//     1 where parallax <= 0. The parallax column itself is NOT changed (the
//     substitution only applies inside the formula). Errors (e_*), colours
//     (bp_rp, j_k, w1_w2, w3_w4) are not magnitudes and are left alone.
//   - l -> cos(l in degrees), b -> sin(b in degrees);
//   - photo column period -> log10(period).
// meta_fit_stats: mean and population std (ddof 0), accumulated in double,
// over the rows with is_train[i] != 0 (two passes: mean, then sum of squared
// deviations), for the 34 metadata and 4 photo columns. A column whose std is
// exactly 0 gets std 1 (its zscore is then x - mean) and its flag is set.
// meta_apply_stats: x = (x - mean) / std in place, every row.
#ifndef ASTROMM_DATA_METADATA_H
#define ASTROMM_DATA_METADATA_H

#include <stdint.h>

#include "core/error.h"

#define META_N 34
#define PHOTO_N 4
#define META_N_MAGS 11
#define META_MAX_COLS 64  // metadata columns with extra (computed) ones: dataset.h DS_META_MAX

extern const char *const META_COLUMNS[META_N];    // model input order
extern const char *const PHOTO_COLUMNS[PHOTO_N];  // amplitude, period, lksl_statistic, rfr_score
extern const char *const META_MAG_COLUMNS[META_N_MAGS];

// Index of name in META_COLUMNS / PHOTO_COLUMNS, -1 if absent.
int meta_column_index(const char *name);
int photo_column_index(const char *name);

typedef struct {
    int n;           // rows, file order
    int64_t *id;     // [n]
    double *meta;    // [n * META_N], row-major, META_COLUMNS order
    double *photo;   // [n * PHOTO_N], row-major, PHOTO_COLUMNS order
} MetaTable;

typedef struct {
    double meta_mean[META_MAX_COLS], meta_std[META_MAX_COLS];  // first META_N from meta_fit_stats
    double photo_mean[PHOTO_N], photo_std[PHOTO_N];
    uint8_t meta_std_zero[META_MAX_COLS], photo_std_zero[PHOTO_N];  // 1 where the std was 0 (replaced by 1)
    int n_train;
} MetaStats;

void meta_free(MetaTable *t);  // frees the arrays and zeroes *t (NULL-safe)

// Named numeric columns of a CSV file (the same rules and errors as the
// catalogue: header by name, any order, extra columns ignored, every value a
// finite number, "file:line: column NAME: ..."), with an integer id column.
typedef struct {
    int n, k;       // rows (file order), columns
    int64_t *id;    // [n]
    double *v;      // [n * k], row-major, in the order asked for
    long *line;     // [n] physical line of each row
} MetaColumns;
int meta_read_columns(const char *path, const char *id_column, const char *const *names, int k, MetaColumns *out,
                      AmError *err);
void meta_columns_free(MetaColumns *t);  // NULL-safe

// 0 on success; non-zero with err filled (and *out zeroed) on failure.
int meta_read_csv(const char *path, MetaTable *out, AmError *err);

// In-place transforms above (raw values must satisfy period > 0, which
// meta_read_csv guarantees).
void meta_transform(MetaTable *t);

// 0 on success; 1 (stats untouched) when no row is a training row.
int meta_fit_stats(const MetaTable *t, const uint8_t *is_train, MetaStats *stats);

// One column: x[r * stride] over the rows with use[r] != 0, the same statistics
// (mean, population std; std 0 -> 1 with *zero set). Returns the rows used; with
// none, mean 0, std 1.
int meta_column_stats(const double *x, int n, int stride, const uint8_t *use, double *mean, double *std,
                      uint8_t *zero);

void meta_apply_stats(MetaTable *t, const MetaStats *stats);

#endif
