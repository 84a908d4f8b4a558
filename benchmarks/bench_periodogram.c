// Period-finder throughput on real light curves: ls_best (fast sums, refined
// peaks, FAP) and the full feature set (lcf_compute) on the first --curves
// curves of an ASAS CSV, on --threads OpenMP threads. Prints one line per
// measurement and "best f" per curve with --print (for side-by-side checks).
// Driver with astropy interleaved: benchmarks/periodogram.sh.
// Usage: bench_periodogram --asas-csv F [--curves N] [--threads T] [--what period|features] [--print]
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/ingest/lc_features.h"
#include "data/preprocess/lightcurve.h"
#include "data/ingest/periodogram.h"

typedef struct {
    LightCurve *mag;
    int64_t *id;
    int n, max;
} Curves;

static int collect(int64_t id, const LightCurve *lc, void *user) {
    Curves *c = user;
    if (c->n == c->max) return 1;
    AmError e;
    if (lcf_magnitudes(lc, &c->mag[c->n], &e)) {
        fprintf(stderr, "bench_periodogram: id %lld: %s\n", (long long)id, e.msg);
        exit(1);
    }
    c->id[c->n++] = id;
    return 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    const char *csv = NULL, *what = "period";
    int max = 40, threads = 1, print = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--asas-csv") && i + 1 < argc) csv = argv[++i];
        else if (!strcmp(argv[i], "--curves") && i + 1 < argc) max = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--what") && i + 1 < argc) what = argv[++i];
        else if (!strcmp(argv[i], "--print")) print = 1;
        else {
            fprintf(stderr, "usage: bench_periodogram --asas-csv F [--curves N] [--threads T] "
                            "[--what period|features] [--print]\n");
            return 2;
        }
    }
    if (!csv || max < 1 || threads < 1 || (strcmp(what, "period") && strcmp(what, "features"))) {
        fprintf(stderr, "bench_periodogram: --asas-csv is required; --curves, --threads >= 1\n");
        return 2;
    }
    Curves c = {calloc((size_t)max, sizeof(LightCurve)), calloc((size_t)max, sizeof(int64_t)), 0, max};
    AmError e;
    if (lc_read_asas_csv(csv, collect, &c, &e)) {
        fprintf(stderr, "bench_periodogram: %s\n", e.msg);
        return 1;
    }
    LsOptions o = ls_default_options();
    double *freq = calloc((size_t)c.n, sizeof *freq);
    int failed = 0;
    omp_set_num_threads(threads);
    double t0 = now();
#pragma omp parallel reduction(+ : failed)
    {
        LsWork *w = ls_work_new();
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < c.n; i++) {
            AmError le;
            if (!strcmp(what, "period")) {
                LsResult r;
                failed += ls_best(c.mag[i].t, c.mag[i].flux, c.mag[i].err, c.mag[i].n, &o, w, &r, &le) != 0;
                freq[i] = r.freq;
            } else {
                double out[LCF_N];
                failed += lcf_compute(&c.mag[i], &o, w, out, &le) != 0;
                freq[i] = 1 / out[LCF_PERIOD];
            }
        }
        ls_work_free(w);
    }
    double dt = now() - t0;
    if (print)
        for (int i = 0; i < c.n; i++) printf("best %lld %.10g\n", (long long)c.id[i], freq[i]);
    printf("astromm %s: %d curves, %d threads, %.3f s, %.2f curves/s, %.2f ms/curve/thread, %d failed\n", what, c.n,
           threads, dt, c.n / dt, 1e3 * dt * threads / c.n, failed);
    for (int i = 0; i < c.n; i++) lc_free(&c.mag[i]);
    free(c.mag);
    free(c.id);
    free(freq);
    return failed ? 1 : 0;
}
