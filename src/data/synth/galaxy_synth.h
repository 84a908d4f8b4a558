// Synthetic galaxies with Galaxy Zoo volunteer votes (astromm synth --kind
// galaxies): no public set of images with vote counts can be fetched here, so
// this makes one that exercises the Dirichlet loss the way real data does.
//
// Each object is a pure function of (seed, index): its own Philox stream
// am_rng(seed, index, RNG_SYNTH, GALAXY_STREAM), drawn in a fixed order.
//  - Morphology (the class label): smooth (Sérsic bulge only), disk (bulge +
//    exponential disk), spiral (log-spiral arms, 1-5, tight..loose), barred
//    spiral, ring, edge-on (thin disk, boxy / no / rounded bulge), merger
//    (a companion and tidal tails; minor or major), artifact (satellite streak
//    or bright star). Inclination and position angle random.
//  - Image: 3 bands (bulge red, disk/arms/ring blue) rendered analytically,
//    Gaussian PSF (sigma 0.8-1.6 px), sky noise, asinh stretch to 8 bits.
//  - Truth: answer probabilities of every GZ DECaLS question (10 questions,
//    34 answers) as smooth functions of the drawn parameters.
//  - Votes, as Galaxy Zoo collects them: the first question's total from the
//    real totals of votes.csv (smooth-or-featured_total-votes); each later
//    question is asked only of the volunteers whose answers lead there
//    (disk-edge-on of those who said featured, has-spiral-arms/bar/bulge-size
//    of those who said not edge-on, how-rounded of those who said smooth,
//    edge-on-bulge of those who said edge-on, winding and arm count of those
//    who saw arms, merging of everyone but the artifact voters); the counts of
//    a question are Dirichlet-multinomial around its true probabilities
//    (concentration GALAXY_VOTE_CONCENTRATION).
// The true probabilities are stored beside the votes (/truth), so a trained
// model's vote-fraction error can be compared with the truth and the noise floor.
#ifndef ASTROMM_GALAXY_SYNTH_H
#define ASTROMM_GALAXY_SYNTH_H

#include <stdint.h>

#include "core/error.h"
#include "core/vote_schema.h"

#define GALAXY_STREAM 0x6a1au
#define GALAXY_VOTE_CONCENTRATION 12.0
enum {
    GAL_SMOOTH, GAL_DISK, GAL_SPIRAL, GAL_BARRED, GAL_RING, GAL_EDGE_ON, GAL_MERGER, GAL_ARTIFACT, GAL_N_TYPES
};
extern const char *const GALAXY_TYPES[GAL_N_TYPES];

typedef struct {
    const char *out;
    int64_t n;
    uint64_t seed;
    int image_size;  // default 128
    int channels;    // 3 (default) or 1
    const char *votes_csv;  // the real totals (votes.csv)
} GalaxySynthOptions;

typedef struct {
    int64_t type_count[GAL_N_TYPES];
    double mean_total_votes;
} GalaxySynthSummary;

// One galaxy: pixels [S, S, C] (uint8), the true answer probabilities [34]
// and the vote counts [34]; total_first is the first question's total.
int galaxy_synth_one(uint64_t seed, int64_t index, int S, int C, float total_first, uint8_t *pixels, float *truth,
                     float *votes);
// Reads the first-question totals of a Galaxy Zoo votes CSV (column
// smooth-or-featured_total-votes); malloc'ed array in *totals.
int galaxy_read_totals(const char *path, float **totals, int *n, AmError *err);
int galaxy_synth_write(const GalaxySynthOptions *o, GalaxySynthSummary *s, AmError *err);

#endif
