// astromm ingest: build a dataset from a manifest of real survey files.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/cli.h"
#include "data/ingest/ingest.h"
#include "mpi/comm.h"

static void ingest_usage(FILE *f) {
    fprintf(f, "usage: astromm ingest --manifest M.csv --out D.h5 [--asas-csv F]... [--catalog C.csv] [--seed S]\n"
               "                      [--features auto|always|off] [--period-min DAYS] [--period-max DAYS]\n"
               "                      [--classes astrom3|manifest|NAME,NAME,...] [--stats-from TRAIN.h5]\n"
               "                      [--features-out F.csv] [--meta-csv T.csv --meta-columns A,B,... [--meta-id COL]]\n\n"
               "Builds an astromm dataset (docs/data-format.md) from the objects listed in the\n"
               "manifest CSV, columns: id, class (a class of --classes or empty = unlabelled),\n"
               "lightcurve (ASAS-SN text file, or asas:<id> = object <id> of the ASAS CSV\n"
               "files given with --asas-csv, or empty), spectrum (LAMOST FITS file or empty),\n"
               "split (train/val/test, or empty = by id hash with seed S, default 42).\n"
               "Relative paths are relative to the manifest's directory. --asas-csv may be\n"
               "repeated; each file (plain or gzip, header id,hjd,mag,mag_err) must group its\n"
               "rows by object in increasing id order, as the ASAS files do; the files are read\n"
               "in the order given and the first holding an id wins. --catalog adds the\n"
               "metadata and photo columns of the objects whose id it lists.\n"
               "Photo columns (amplitude, log10 period, Lafler-Kinman statistic) of a light\n"
               "curve without a catalogue row are computed from the curve (--features auto,\n"
               "the default): Lomb-Scargle period between --period-min (default 0.05) and\n"
               "--period-max (default 1000) days, 5-95 percentile amplitude. --features\n"
               "always computes them for every curve, off never (docs/data-format.md).\n"
               "--meta-csv adds named numeric columns of another table (matched on column\n"
               "--meta-id, default id) as metadata columns, for surveys whose catalogue gives\n"
               "features rather than light curves (e.g. LINEAR's colours, log period, amplitude);\n"
               "they follow the catalogue's and the computed lc_* columns.\n"
               "--features-out writes every computed feature (period, amplitude, Lafler-Kinman,\n"
               "LS power and FAP, Fourier, moments) as CSV, one row per object.\n"
               "Features run on all OpenMP threads (OMP_NUM_THREADS), and on every rank under\n"
               "mpirun (curves shared out; rank 0 writes; the same dataset for any rank count).\n"
               "--classes: the dataset's class list, label = position: astrom3 (default: the\n"
               "10 AstroM3 codes; other names are skipped as unknown), manifest (every class\n"
               "the manifest names, sorted), or an explicit comma-separated list.\n"
               "--stats-from copies the normalisation statistics (metadata and photo-column\n"
               "mean/std) from the dataset a model was trained on: use it for a dataset that\n"
               "only evaluates (every object split=test), which has no training split of its own;\n"
               "the class list is that dataset's too.\n"
               "Bad objects are skipped and reported on stderr as\n"
               "'<manifest>:<line>: id <id>: skipped: <reason>'. Exit status: 0 written,\n"
               "1 nothing written (no file is left at --out), 2 usage error.\n");
}

static int parse_days(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v > 0) || !isfinite(v)) return 1;
    *out = v;
    return 0;
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

enum { MAX_ASAS = 256 };

// The command line, parsed.
typedef struct {
    const char *manifest, *out, *catalog, *stats_from, *classes, *features_out, *meta_csv, *meta_columns, *meta_id;
    const char *asas[MAX_ASAS];
    int n_asas;
    long long seed;
    int features;  // INGEST_FEATURES_*
    LsOptions ls;
} IngestArgs;

static int takes_value(const char *a) {
    static const char *const opts[] = {"--manifest", "--out", "--asas-csv", "--catalog", "--seed", "--features",
                                       "--period-min", "--period-max", "--stats-from", "--classes", "--features-out",
                                       "--meta-csv", "--meta-columns", "--meta-id", NULL};
    for (int k = 0; opts[k]; k++)
        if (!strcmp(a, opts[k])) return 1;
    return 0;
}

// One option's value into A (periods into pmin/pmax); 0, or 2 after saying why.
static int set_option(IngestArgs *A, const char *a, const char *v, double *pmin, double *pmax) {
    if (!strcmp(a, "--manifest")) A->manifest = v;
    else if (!strcmp(a, "--out")) A->out = v;
    else if (!strcmp(a, "--asas-csv")) {
        if (A->n_asas == MAX_ASAS) return fprintf(stderr, "astromm ingest: more than %d --asas-csv files\n", MAX_ASAS), 2;
        A->asas[A->n_asas++] = v;
    } else if (!strcmp(a, "--stats-from")) A->stats_from = v;
    else if (!strcmp(a, "--classes")) A->classes = v;
    else if (!strcmp(a, "--features-out")) A->features_out = v;
    else if (!strcmp(a, "--catalog")) A->catalog = v;
    else if (!strcmp(a, "--meta-csv")) A->meta_csv = v;
    else if (!strcmp(a, "--meta-columns")) A->meta_columns = v;
    else if (!strcmp(a, "--meta-id")) A->meta_id = v;
    else if (!strcmp(a, "--features")) {
        if (!strcmp(v, "auto")) A->features = INGEST_FEATURES_AUTO;
        else if (!strcmp(v, "always")) A->features = INGEST_FEATURES_ALWAYS;
        else if (!strcmp(v, "off")) A->features = INGEST_FEATURES_OFF;
        else return fprintf(stderr, "astromm ingest: --features '%s': use auto, always or off\n", v), 2;
    } else if (!strcmp(a, "--period-min") || !strcmp(a, "--period-max")) {
        if (parse_days(v, !strcmp(a, "--period-min") ? pmin : pmax))
            return fprintf(stderr, "astromm ingest: %s '%s': a period in days > 0\n", a, v), 2;
    } else if (parse_seed(v, &A->seed)) return fprintf(stderr, "astromm ingest: bad value for %s: '%s'\n", a, v), 2;
    return 0;
}

// 0 = run; 1 = --help printed; 2 = a usage error (said).
static int parse_args(IngestArgs *A, int argc, char **argv) {
    memset(A, 0, sizeof *A);
    A->seed = 42;
    A->features = INGEST_FEATURES_AUTO;
    A->ls = ls_default_options();
    double pmin = 1 / A->ls.f_max, pmax = 1 / A->ls.f_min;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return ingest_usage(stdout), 1;
        if (!takes_value(a))
            return fprintf(stderr, "astromm ingest: unknown argument '%s' (try: astromm ingest --help)\n", a), 2;
        if (i + 1 >= argc) return fprintf(stderr, "astromm ingest: %s needs a value\n", a), 2;
        if (set_option(A, a, argv[++i], &pmin, &pmax)) return 2;
    }
    if (!A->manifest || !A->out) {
        fprintf(stderr, "astromm ingest: --manifest M.csv and --out PATH are required\n");
        ingest_usage(stderr);
        return 2;
    }
    if (!A->meta_csv != !A->meta_columns)
        return fprintf(stderr, "astromm ingest: --meta-csv and --meta-columns go together\n"), 2;
    if (A->meta_id && !A->meta_csv) return fprintf(stderr, "astromm ingest: --meta-id needs --meta-csv\n"), 2;
    if (!(pmin < pmax))
        return fprintf(stderr, "astromm ingest: --period-min %g must be below --period-max %g\n", pmin, pmax), 2;
    A->ls.f_min = 1 / pmax;
    A->ls.f_max = 1 / pmin;
    return 0;
}

// Rank 0: what was written, skipped and computed.
static void print_summary(const IngestArgs *A, const IngestSummary *s, int ranks, double secs) {
    printf("wrote %s: %lld of %lld objects (seed %lld, %d rank%s)\n", A->out, (long long)s->written,
           (long long)s->rows, A->seed, ranks, ranks == 1 ? "" : "s");
    printf("skipped: %lld", (long long)s->skipped);
    for (int k = 0; k < INGEST_N_SKIP; k++)
        if (s->skip_count[k]) printf(", %s %lld", INGEST_SKIP_NAMES[k], (long long)s->skip_count[k]);
    printf("\nclasses:");
    for (int c = 0; c < s->n_classes; c++) printf(" %s %lld", s->class_names[c], (long long)s->class_count[c]);
    printf(", unlabelled %lld\n", (long long)s->unlabelled);
    printf("splits: train %lld, val %lld, test %lld\n", (long long)s->split_count[0], (long long)s->split_count[1],
           (long long)s->split_count[2]);
    printf("modalities: photometry %lld, spectrum %lld, metadata %lld\n", (long long)s->modality_count[0],
           (long long)s->modality_count[1], (long long)s->modality_count[2]);
    if (s->features_computed)
        printf("features: computed for %lld light curves, photo columns from them for %lld objects\n",
               (long long)s->features_computed, (long long)s->features_used);
    if (s->lc_missing) {
        // Loud: usually the manifest's ids are not the light-curve file's ids.
        char line[512];
        snprintf(line, sizeof line,
                 "WARNING: %lld asas:<id> light curves are in none of the --asas-csv files (%lld of %lld rows "
                 "skipped); check that the manifest's lightcurve ids are the files' ids",
                 (long long)s->lc_missing, (long long)s->skipped, (long long)s->rows);
        printf("%s\n", line);
        fprintf(stderr, "astromm ingest: %s\n", line);
    }
    if (s->meta_feature_cols || s->meta_table_cols)
        printf("metadata: %d columns: %d from the catalogue, %d computed from the light curves (lc_*, "
               "docs/data-format.md), %d from %s\n", s->meta_cols,
               s->meta_cols - s->meta_feature_cols - s->meta_table_cols, s->meta_feature_cols, s->meta_table_cols,
               A->meta_csv ? A->meta_csv : "no table");
    if (s->features_written) printf("features table: %s (%lld rows)\n", A->features_out, (long long)s->features_written);
    if (s->stats_copied) printf("statistics: copied from %s\n", A->stats_from);
    if (s->stats_fallback) printf("note: no training object has metadata; its stored statistics are mean 0, std 1\n");
    printf("%.2f s\n", secs);
}

int cmd_ingest(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--images")) return cmd_ingest_images(argc, argv);
    IngestArgs A;
    const int prc = parse_args(&A, argc, argv);
    if (prc) return prc == 1 ? 0 : 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    // Under mpirun the ranks share the light-curve features; rank 0 writes.
    Comm *comm = comm_init(&argc, &argv);
    IngestOptions o = {A.manifest, A.out, A.asas, A.n_asas, A.catalog, (uint64_t)A.seed, stderr, A.features, &A.ls,
                       A.stats_from, A.classes, comm, A.features_out, A.meta_csv, A.meta_columns, A.meta_id};
    static IngestSummary s;
    AmError err;
    int rc = ingest_run(&o, &s, &err);
    const int rank = comm_rank(comm), ranks = comm_size(comm);
    comm_finalize(comm);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rank != 0) return rc ? 1 : 0;
    if (rc) {
        fprintf(stderr, "astromm ingest: %s\n", err.msg);
        if (s.rows) fprintf(stderr, "astromm ingest: %lld rows, %lld skipped, nothing written\n", (long long)s.rows,
                            (long long)s.skipped);
        return 1;
    }
    print_summary(&A, &s, ranks, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
