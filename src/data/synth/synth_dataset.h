// Synthetic AstroM3-like dataset generator (astromm synth).
//
// Writes n objects of the 10 AstroM3 classes (EW SR EA RRAB EB ROT RRC HADS M
// DSCT) with all three modalities present, through DsWriter (atomic: path holds
// either the finished file or nothing). Every object is a pure function of
// (seed, object index): each component (class/parameters, light curve,
// spectrum, metadata) draws from its own am_rng stream
// am_rng(seed, component, RNG_SYNTH, index).
//  - class: AstroM3 full-data proportions (balance 0) or uniform (balance 1);
//  - light curve: class-typical period/amplitude (overlapping ranges so EW/EB,
//    RRC/DSCT and SR/M are confusable) and shape; ~2-4 year ground-survey
//    cadence with seasonal and weather gaps, 100..600 points, 0.01-0.05 mag
//    noise; flux = 10^(-0.4 (mag - 20)); then lc_normalize;
//  - spectrum: class-typical Teff, blackbody continuum on a LAMOST-like
//    log-linear grid 3700..9100 Å, Balmer, metal and TiO absorption, noise
//    with ivar; then spec_preprocess;
//  - metadata: 34 raw columns consistent with the star (absolute magnitude by
//    class, distance -> parallax, colours from Teff), meta_transform; photo
//    columns amplitude, period, lksl_statistic, rfr_score (random).
// Splits: split_by_id over ids 1..n (seed), subsets_by_class, statistics from
// meta_fit_stats on the training split.
#ifndef ASTROMM_SYNTH_DATASET_H
#define ASTROMM_SYNTH_DATASET_H

#include <stdint.h>

#include "core/error.h"

#define SYNTH_N_CLASSES 10
extern const char *const SYNTH_CLASSES[SYNTH_N_CLASSES];

typedef struct {
    int64_t class_count[SYNTH_N_CLASSES];
    int64_t split_count[3];  // train / val / test
} SynthSummary;

// balance: 0 = AstroM3 class proportions, 1 = uniform. summary may be NULL.
// Returns 0, or non-zero with err filled (nothing left at path).
int synth_dataset_write_ex(const char *path, int n, uint64_t seed, int balance, SynthSummary *summary, AmError *err);
int synth_dataset_write(const char *path, int n, uint64_t seed, int balance, AmError *err);

#endif
