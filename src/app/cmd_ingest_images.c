// astromm ingest --images CATALOG.csv: galaxy images into an image dataset
// (data/ingest/image_ingest.h does the work).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/cli.h"
#include "data/ingest/image_ingest.h"

static void usage(FILE *f) {
    fprintf(f, "usage: astromm ingest --images CATALOG.csv --out D.h5 [--image-size S] [--channels 1|3]\n"
               "                      [--votes gz_decals | --class-column C [--classes A,B,...] | --label-column C]\n"
               "                      [--file-column F] [--name-column N] [--split-column C] [--compress 0-9] [--seed S]\n\n"
               "Builds an astromm image dataset (docs/data-format.md, \"Image datasets\") from a CSV\n"
               "catalogue with a file column (JPEG or PNG, relative to the catalogue's directory;\n"
               "default column 'file') and the object's name (default: the first column).\n"
               "Targets: --votes gz_decals reads the 34 GZ DECaLS vote-count columns\n"
               "<question>_<answer> (an empty cell is 0 votes); --class-column a class per row\n"
               "(integers 0..K-1 keep their value, names are sorted; --classes names them);\n"
               "--label-column a 0/1 label. Images are centre-cropped to a square and resampled to\n"
               "--image-size (default 128), stored with --channels (default 3; 1 = mean of RGB).\n"
               "Splits: --split-column (train/val/test), else by a hash of the name with --seed\n"
               "(default 42), 80/10/10. Bad rows and images are reported as\n"
               "'<catalogue>:<line>: <name>: skipped: <reason>' and left out; the rest is written.\n"
               "Exit status: 0 written, 1 nothing written, 2 usage error.\n");
}

static int int_arg(const char *opt, const char *v, int lo, int hi, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) {
        fprintf(stderr, "astromm ingest: %s %s: expected an integer in %d..%d\n", opt, v, lo, hi);
        return 2;
    }
    *out = (int)x;
    return 0;
}

int cmd_ingest_images(int argc, char **argv) {
    ImageIngestOptions o;
    image_ingest_defaults(&o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "astromm ingest: %s needs a value (see astromm ingest --images --help)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int seed, rc = 0;
        if (!strcmp(a, "--images")) o.catalog = v;
        else if (!strcmp(a, "--out")) o.out = v;
        else if (!strcmp(a, "--votes")) o.votes = v;
        else if (!strcmp(a, "--class-column")) o.class_column = v;
        else if (!strcmp(a, "--label-column")) o.label_column = v;
        else if (!strcmp(a, "--classes")) o.classes = v;
        else if (!strcmp(a, "--file-column")) o.file_column = v;
        else if (!strcmp(a, "--name-column")) o.name_column = v;
        else if (!strcmp(a, "--split-column")) o.split_column = v;
        else if (!strcmp(a, "--image-size")) rc = int_arg(a, v, 8, 4096, &o.image_size);
        else if (!strcmp(a, "--channels")) rc = int_arg(a, v, 1, 3, &o.channels);
        else if (!strcmp(a, "--compress")) rc = int_arg(a, v, 0, 9, &o.compress);
        else if (!strcmp(a, "--seed")) rc = int_arg(a, v, 0, 2147483647, &seed), o.seed = (uint64_t)seed;
        else {
            fprintf(stderr, "astromm ingest: unknown option %s for --images (see astromm ingest --images --help)\n", a);
            return 2;
        }
        if (rc) return rc;
    }
    if (!o.out) {
        fprintf(stderr, "astromm ingest: --images needs --out D.h5\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ImageIngestSummary s;
    AmError err;
    if (image_ingest_run(&o, &s, &err)) {
        fprintf(stderr, "astromm ingest: %s\n", err.msg);
        if (s.rows) fprintf(stderr, "astromm ingest: %lld rows, %lld skipped, nothing written\n", (long long)s.rows,
                            (long long)s.skipped);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("ingest: %lld rows -> %lld images written to %s (%dx%d, %d channel%s, %d classes%s), %lld skipped, %.2f s\n",
           (long long)s.rows, (long long)s.written, o.out, o.image_size, o.image_size, o.channels,
           o.channels > 1 ? "s" : "", s.n_classes, o.votes ? ", GZ DECaLS votes" : "", (long long)s.skipped,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
