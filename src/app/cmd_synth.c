// astromm synth: write a synthetic AstroM3-like dataset (all modalities present).
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/cli.h"
#include "data/synth/galaxy_synth.h"
#include "data/synth/synth_dataset.h"

static void synth_usage(FILE *f) {
    fprintf(f, "usage: astromm synth --out PATH [--n N] [--seed S] [--uniform]\n"
               "       astromm synth --kind galaxies --out PATH [--n N] [--seed S] [--image-size S] [--channels 1|3]\n"
               "                     [--votes-csv votes.csv]\n\n"
               "Writes a synthetic dataset of N objects (default 2000) of the 10 AstroM3\n"
               "classes, with light curves, LAMOST-like spectra and metadata, in the\n"
               "astromm dataset format (docs/data-format.md). Seed S (default 42) fixes\n"
               "every object and the train/val/test split; --uniform draws classes\n"
               "uniformly instead of in AstroM3 proportions.\n\n"
               "--kind galaxies writes an image dataset (docs/data-format.md, \"Image datasets\")\n"
               "of synthetic galaxies (Sersic bulge, exponential disk, spiral arms, bars, rings,\n"
               "edge-on disks, mergers with tidal tails, artifacts; PSF and noise) with Galaxy Zoo\n"
               "DECaLS vote counts drawn down the decision tree (first-question totals from the\n"
               "real --votes-csv, default ../shared/data/galaxies/votes/votes.csv) and the true\n"
               "answer probabilities (/truth). --image-size default 128, --channels default 3.\n");
}

static int parse_ll(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return 1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return 1;
    *out = v;
    return 0;
}

static int galaxies(const char *out, long long n, long long seed, int size, int channels, const char *votes_csv) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    GalaxySynthOptions o = {out, n, (uint64_t)seed, size, channels, votes_csv};
    GalaxySynthSummary s;
    AmError err;
    if (galaxy_synth_write(&o, &s, &err)) {
        fprintf(stderr, "astromm synth: %s\n", err.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("wrote %s: %lld galaxies %dx%d, %d channel%s (seed %lld), mean first-question votes %.1f\ntypes:", out, n,
           size, size, channels, channels > 1 ? "s" : "", seed, s.mean_total_votes);
    for (int t = 0; t < GAL_N_TYPES; t++) printf(" %s %lld", GALAXY_TYPES[t], (long long)s.type_count[t]);
    printf("\n%.2f s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}

int cmd_synth(int argc, char **argv) {
    const char *out = NULL, *kind = "stars", *votes_csv = "../shared/data/galaxies/votes/votes.csv";
    long long size = 128, channels = 3;
    long long n = 2000, seed = 42;
    int uniform = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            synth_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--uniform")) {
            uniform = 1;
            continue;
        }
        if (!strcmp(a, "--out") || !strcmp(a, "--n") || !strcmp(a, "--seed") || !strcmp(a, "--kind") ||
            !strcmp(a, "--image-size") || !strcmp(a, "--channels") || !strcmp(a, "--votes-csv")) {
            if (i + 1 >= argc) return fprintf(stderr, "astromm synth: %s needs a value\n", a), 2;
            const char *v = argv[++i];
            int bad = 0;
            if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--kind")) kind = v;
            else if (!strcmp(a, "--votes-csv")) votes_csv = v;
            else if (!strcmp(a, "--image-size")) bad = parse_ll(v, 16, 1024, &size);
            else if (!strcmp(a, "--channels")) bad = parse_ll(v, 1, 3, &channels) || channels == 2;
            else if (!strcmp(a, "--n")) bad = parse_ll(v, 1, 100000000, &n);
            else bad = parse_ll(v, 0, 0x7fffffffffffffffLL, &seed);
            if (bad) return fprintf(stderr, "astromm synth: bad value for %s: '%s'\n", a, v), 2;
            continue;
        }
        fprintf(stderr, "astromm synth: unknown argument '%s' (try: astromm synth --help)\n", a);
        return 2;
    }
    if (!out) {
        fprintf(stderr, "astromm synth: --out PATH is required\n");
        synth_usage(stderr);
        return 2;
    }
    if (!strcmp(kind, "galaxies")) return galaxies(out, n, seed, (int)size, (int)channels, votes_csv);
    if (strcmp(kind, "stars")) return fprintf(stderr, "astromm synth: --kind %s: expected stars or galaxies\n", kind), 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    AmError err;
    SynthSummary s;
    if (synth_dataset_write_ex(out, (int)n, (uint64_t)seed, uniform, &s, &err)) {
        fprintf(stderr, "astromm synth: %s\n", err.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("wrote %s: %lld objects (seed %lld, %s classes)\n", out, n, seed, uniform ? "uniform" : "AstroM3-proportion");
    printf("classes:");
    for (int c = 0; c < SYNTH_N_CLASSES; c++) printf(" %s %lld", SYNTH_CLASSES[c], (long long)s.class_count[c]);
    printf("\nsplits: train %lld, val %lld, test %lld\n", (long long)s.split_count[0], (long long)s.split_count[1],
           (long long)s.split_count[2]);
    printf("%.2f s\n", secs);
    return 0;
}
