// astromm ingest: build a dataset from a manifest of real survey files.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "data/ingest.h"

static void ingest_usage(FILE *f) {
    fprintf(f, "usage: astromm ingest --manifest M.csv --out D.h5 [--asas-csv F] [--catalog C.csv] [--seed S]\n\n"
               "Builds an astromm dataset (docs/data-format.md) from the objects listed in the\n"
               "manifest CSV, columns: id, class (AstroM3 code or empty = unlabelled),\n"
               "lightcurve (ASAS-SN text file, or asas:<id> = object <id> of the ASAS CSV\n"
               "given with --asas-csv, or empty), spectrum (LAMOST FITS file or empty),\n"
               "split (train/val/test, or empty = by id hash with seed S, default 42).\n"
               "Relative paths are relative to the manifest's directory. --catalog adds the\n"
               "metadata and photo columns of the objects whose id it lists.\n"
               "Bad objects are skipped and reported on stderr as\n"
               "'<manifest>:<line>: id <id>: skipped: <reason>'. Exit status: 0 written,\n"
               "1 nothing written (no file is left at --out), 2 usage error.\n");
}

static int parse_seed(const char *s, long long *out) {
    if (!s || !*s) return 1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0) return 1;
    *out = v;
    return 0;
}

int cmd_ingest(int argc, char **argv) {
    const char *manifest = NULL, *out = NULL, *asas = NULL, *catalog = NULL;
    long long seed = 42;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            ingest_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--manifest") || !strcmp(a, "--out") || !strcmp(a, "--asas-csv") || !strcmp(a, "--catalog") ||
            !strcmp(a, "--seed")) {
            if (i + 1 >= argc) return fprintf(stderr, "astromm ingest: %s needs a value\n", a), 2;
            const char *v = argv[++i];
            if (!strcmp(a, "--manifest")) manifest = v;
            else if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--asas-csv")) asas = v;
            else if (!strcmp(a, "--catalog")) catalog = v;
            else if (parse_seed(v, &seed)) return fprintf(stderr, "astromm ingest: bad value for %s: '%s'\n", a, v), 2;
            continue;
        }
        fprintf(stderr, "astromm ingest: unknown argument '%s' (try: astromm ingest --help)\n", a);
        return 2;
    }
    if (!manifest || !out) {
        fprintf(stderr, "astromm ingest: --manifest M.csv and --out PATH are required\n");
        ingest_usage(stderr);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    IngestOptions o = {manifest, out, asas, catalog, (uint64_t)seed, stderr};
    IngestSummary s;
    AmError err;
    int rc = ingest_run(&o, &s, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc) {
        fprintf(stderr, "astromm ingest: %s\n", err.msg);
        if (s.rows) fprintf(stderr, "astromm ingest: %lld rows, %lld skipped, nothing written\n", (long long)s.rows,
                            (long long)s.skipped);
        return 1;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("wrote %s: %lld of %lld objects (seed %lld)\n", out, (long long)s.written, (long long)s.rows, seed);
    printf("skipped: %lld", (long long)s.skipped);
    for (int k = 0; k < INGEST_N_SKIP; k++)
        if (s.skip_count[k]) printf(", %s %lld", INGEST_SKIP_NAMES[k], (long long)s.skip_count[k]);
    printf("\nclasses:");
    for (int c = 0; c < INGEST_N_CLASSES; c++) printf(" %s %lld", INGEST_CLASSES[c], (long long)s.class_count[c]);
    printf(", unlabelled %lld\n", (long long)s.unlabelled);
    printf("splits: train %lld, val %lld, test %lld\n", (long long)s.split_count[0], (long long)s.split_count[1],
           (long long)s.split_count[2]);
    printf("modalities: photometry %lld, spectrum %lld, metadata %lld\n", (long long)s.modality_count[0],
           (long long)s.modality_count[1], (long long)s.modality_count[2]);
    if (s.stats_fallback) printf("note: no training object has metadata; stored statistics are mean 0, std 1\n");
    printf("%.2f s\n", secs);
    return 0;
}
