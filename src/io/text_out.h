// Text outputs (CSV, JSON) written atomically: the data go to a temporary
// sibling "<path>.tmp.<pid>" that is renamed over path only when every write
// and the close succeeded, so a crash or a full disk never leaves a truncated
// result where a reader expects a complete one. Path "-" means standard output;
// a path that exists and is not a regular file (/dev/null, a FIFO) is written
// directly too (a rename over it would replace the device).
#ifndef ASTROMM_TEXT_OUT_H
#define ASTROMM_TEXT_OUT_H

#include <stdio.h>

#include "core/error.h"

typedef struct {
    FILE *f;      // write here between open and commit
    char *path;   // NULL for stdout
    char *tmp;    // NULL: written in place (stdout, a device or a pipe)
} TextOut;

int text_out_open(TextOut *t, const char *path, AmError *err);
// Closes and renames into place; on any failure removes the temporary file.
// Always releases t.
int text_out_commit(TextOut *t, AmError *err);
// Discards what was written (temporary file removed); releases t. NULL-safe f.
void text_out_abort(TextOut *t);

// A CSV field, quoted (with doubled quotes) when it holds a comma, quote or line break.
void csv_field(FILE *f, const char *s);

#endif
