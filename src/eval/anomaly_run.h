// astromm anomalies: the two ways to run GP active learning (eval/anomalies.h).
//  - oracle: a class list stands in for the researcher (interest 5 for those
//    classes, 0 for the others; the pool is the labelled rows): the whole
//    budget is labelled in one run, then the ranking is scored against the
//    truth (precision at 50/100/200, against random order and the label-free
//    distance-from-the-mean baseline, and how many interesting galaxies the
//    labelling itself found);
//  - interactive: a state file (CSV id,score) holds the researcher's scores;
//    each run merges a scored batch (--scores), writes the next batch to score
//    (--next) and the current ranking, so the work resumes from the file.
// Label files: header "id,score", one galaxy per line; an unknown id or a
// score that is not a number in 0..5 is an error naming the file and line.
#ifndef ASTROMM_ANOMALY_RUN_H
#define ASTROMM_ANOMALY_RUN_H

#include "eval/anomalies.h"

typedef struct {
    AnomalyOptions al;
    const char *embeddings;
    const char *modality;   // NULL: the file's default embedding
    int split;              // DS_SPLIT_* or -1
    const char *oracle;     // comma list of class names (oracle mode), or NULL
    const char *state;      // interactive: the label state file
    const char *scores;     // interactive: a scored batch to merge (may be NULL)
    const char *next;       // interactive: where the next batch goes (NULL: <state>.next.csv)
    const char *out;        // ranking CSV (NULL: none)
    const char *montage;    // PNG of the top candidates (NULL: none)
    const char *dataset;    // images for the montage (NULL: the embeddings file's dataset)
    const char *json;       // oracle metrics (NULL: none)
    int top;                // candidates in the montage
} AnomalyRun;

// Returns 0, 1 on a runtime error, 2 on bad input; messages go to stderr.
int anomaly_run(const AnomalyRun *r);

#endif
