// Run metrics for `astromm train`: metrics.jsonl (one JSON object per line) and a
// human progress line. Both are rank-0 only (the caller decides; nothing here
// knows about ranks).
//
// metrics.jsonl: opened in append mode so a resumed run continues the same file.
// A line is built in memory (metrics_begin, then one metrics_num/int/str per key,
// then metrics_end) and written with a single fwrite + fflush: a crash of the
// process loses at most the line being built, never leaves half a line from an
// earlier call. Keys and strings are JSON-escaped; NaN and +-Inf are written as
// null (JSON has no such numbers); doubles are written in the shortest of %.15g /
// %.17g that reads back exactly. Calling a field function outside begin/end is a
// programmer error (CHECK).
#ifndef ASTROMM_METRICS_H
#define ASTROMM_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

typedef struct {
    FILE *f;        // owned
    char *buf;      // the line being built (owned)
    size_t len, cap;
    int in_line;    // between metrics_begin and metrics_end
    int nfields;    // fields in the current line (for commas)
    char path[256]; // for error messages
} MetricsWriter;

// Opens (creating if needed) path for appending. Non-zero with err naming path.
int metrics_open(MetricsWriter *w, const char *path, AmError *err);
void metrics_begin(MetricsWriter *w);
void metrics_num(MetricsWriter *w, const char *key, double value);  // NaN/Inf -> null
void metrics_int(MetricsWriter *w, const char *key, int64_t value);
void metrics_str(MetricsWriter *w, const char *key, const char *value);  // NULL -> null
// Writes "{...}\n" and flushes. Non-zero with err (naming the file) on I/O error.
int metrics_end(MetricsWriter *w, AmError *err);
// Closes the file and frees the buffer (safe on a zeroed or closed writer).
int metrics_close(MetricsWriter *w, AmError *err);
// Resume: cuts the file at path back to the records up to `step`, so steps redone
// after a crash are not recorded twice. Keeps every line before the first one that
// records "step" > step (a top-level integer field) or is incomplete (no final
// newline: a crash mid-write), drops that line and all after it. Atomic: the kept
// lines go to "<path>.tmp.<pid>", fsynced, renamed over path; when w is open on path
// it is reopened on the new file. Nothing is rewritten when nothing is dropped, and
// a missing file is fine. *dropped (may be NULL) = lines removed. Non-zero with err
// naming the file on I/O failure (the file is then unchanged).
int metrics_rewind(MetricsWriter *w, const char *path, int64_t step, int64_t *dropped, AmError *err);

// ---------------------------------------------------------------- progress line
// "epoch 3 step 1200/20000 loss 1.2345 samples/s 1234.5 ETA 1h02m03s".
// On a terminal (isatty) the line is rewritten in place with '\r' (at most every
// 0.1 s, plus the last step); otherwise (log files, batch jobs) a plain line is
// printed on the first and last step and then whenever interval_s seconds or
// every_steps steps have passed since the previous line, whichever comes first
// (0 disables that trigger). ETA extrapolates the step rate since the first update.
typedef struct {
    FILE *out;            // not owned
    int tty;              // set by progress_init from isatty; may be overridden
    double interval_s;    // plain mode: seconds between lines (0 = no time trigger)
    int64_t every_steps;  // plain mode: steps between lines (0 = no step trigger)
    int started;          // first update seen
    double t0;            // time of the first update
    int64_t step0;        // step of the first update
    double t_last;        // time of the last printed line
    int64_t step_last;    // step of the last printed line
    int pending_cr;       // tty: a line without newline is on screen
    int last_width;       // tty: its length, to blank leftovers of a longer line
} Progress;

void progress_init(Progress *p, FILE *out, double interval_s, int64_t every_steps);
// Monotonic seconds (CLOCK_MONOTONIC) for progress_update's now_s.
double progress_now(void);
// Reports step `step` of total_steps (total_steps <= 0: unknown, no ETA). Returns 1
// when a line was printed. samples_per_s is the caller's global throughput.
int progress_update(Progress *p, double now_s, int64_t epoch, int64_t step, int64_t total_steps, double loss,
                    double samples_per_s);
// Ends an in-place tty line with '\n' so other output starts on a clean line
// (call before printing anything else, and at the end). No-op in plain mode.
void progress_break(Progress *p);

#endif
