// Classification metrics from a confusion matrix: accuracy, balanced accuracy
// (mean recall over the classes present, as sklearn), per-class precision,
// recall, F1 and support, macro F1. Written as JSON and as CSV (the matrix with
// a header of class names, one row per true class: tools/plot_confusion.py).
// A class never predicted has precision 0; a class absent from the labels has
// recall 0 and is left out of the balanced accuracy; macro F1 averages over the
// classes present in the labels or the predictions (sklearn's conventions: a
// dataset of 6 classes under a 10-class list is not averaged over 10).
#ifndef ASTROMM_CONFUSION_H
#define ASTROMM_CONFUSION_H

#include <stdint.h>

#include "core/error.h"

typedef struct {
    int n_classes;
    int64_t *count;  // [true * n_classes + predicted]
} Confusion;

typedef struct {
    int64_t total, correct;
    double accuracy, balanced_accuracy, macro_f1;
    double *precision, *recall, *f1;  // [n_classes]
    int64_t *support;                 // [n_classes] true objects per class
} ClassReport;

void confusion_init(Confusion *c, int n_classes);
void confusion_free(Confusion *c);
// Counts one object; labels outside 0 .. n_classes-1 are a fatal error.
void confusion_add(Confusion *c, int truth, int predicted);
void confusion_report(const Confusion *c, ClassReport *r);
void class_report_free(ClassReport *r);
// JSON object {"n", "accuracy", "balanced_accuracy", "macro_f1", "classes": [...],
// "per_class": {name: {precision, recall, f1, support}}, "confusion": [[...]]} plus
// the caller's extra "key": "value" string pairs (n_extra pairs), atomically written.
int confusion_write_json(const Confusion *c, const ClassReport *r, const char *const *names, const char *path,
                         const char *const *extra_kv, int n_extra, AmError *err);
int confusion_write_csv(const Confusion *c, const char *const *names, const char *path, AmError *err);

#endif
