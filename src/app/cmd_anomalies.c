// astromm anomalies: Gaussian-process active learning of one researcher's
// interest (src/eval/anomaly_run.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "eval/anomaly_run.h"
#include "eval/embeddings_file.h"

static void help(void) {
    printf("usage: astromm anomalies --embeddings FILE.h5 --oracle CLASS[,CLASS] [options]\n"
           "       astromm anomalies --embeddings FILE.h5 --state LABELS.csv [--scores SCORED.csv] [options]\n\n"
           "Finds the galaxies one researcher finds interesting, from few of their labels, as\n"
           "Walmsley et al. 2022: the representation -> PCA -> standardised; a Gaussian process\n"
           "(rational quadratic + white noise kernel, hyper-parameters by maximum marginal\n"
           "likelihood, Cholesky by LAPACK) regresses the researcher's 0-5 interest scores;\n"
           "10 random galaxies are scored first, then rounds of the 10 of highest expected\n"
           "improvement, up to a budget. The result is a ranking (a labelled galaxy's score,\n"
           "else the predicted interest) and a montage of the top candidates.\n\n"
           "Oracle mode (experiments): a class list stands in for the researcher (5 for those\n"
           "classes, 0 for the others; the pool is the galaxies with a label). The whole budget\n"
           "runs at once and the ranking is scored against the truth: precision at 50/100/200,\n"
           "against random order and the label-free distance from the mean in PCA space.\n"
           "Interactive mode: --state holds the scores so far (CSV id,score; created when\n"
           "missing). Each run merges --scores (the last batch, scored), writes the next batch\n"
           "to score to --next, and the ranking.\n\n"
           "  --embeddings FILE   embeddings file (astromm embed --out)\n"
           "  --modality M        the embedding (default: fused, or the file's only one: image)\n"
           "  --split S           the pool: all (default), train, val or test\n"
           "  --oracle C[,C]      oracle mode: the interesting classes (the file's class names)\n"
           "  --state FILE        interactive mode: the label state (id,score)\n"
           "  --scores FILE       a scored batch to merge into the state (id,score; blank = skip)\n"
           "  --next FILE         where the next batch goes (default: <state>.next.csv)\n"
           "  --pca N             PCA components (default 40)\n"
           "  --budget N          labels in all (default 200); --seeds N (10), --batch N (10)\n"
           "  --seed N            for the random seed labels (default 0)\n"
           "  --out FILE          the ranking (CSV rank,id,label,interest,sd,labelled)\n"
           "  --montage FILE.png  the top candidates' images (--top N, default 25; --dataset FILE)\n"
           "  --json FILE         oracle mode: the precision table\n\n"
           "exit codes: 0 done, 1 runtime error, 2 bad arguments or input.\n");
}

static int int_arg(const CliArgs *a, const char *name, long lo, long hi, int *out) {
    const char *v = cli_option(a, name);
    if (!v) return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || end == v || x < lo || x > hi)
        return fprintf(stderr, "astromm anomalies: %s '%s': expected an integer from %ld to %ld\n", name, v, lo, hi), 2;
    *out = (int)x;
    return 0;
}

int cmd_anomalies(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "anomalies")) return 2;
    if (a.help) return help(), 0;
    static const char *const allowed[] = {"--embeddings", "--modality", "--split", "--oracle", "--state", "--scores",
                                          "--next", "--pca", "--budget", "--seeds", "--batch", "--seed", "--out",
                                          "--montage", "--top", "--dataset", "--json", NULL};
    if (cli_reject_unknown(&a, "anomalies", allowed)) return 2;
    if (a.n_rest % 2) return fprintf(stderr, "astromm anomalies: %s needs a value\n", a.rest[a.n_rest - 1]), 2;
    AnomalyRun r = {.embeddings = cli_option(&a, "--embeddings"), .modality = cli_option(&a, "--modality"),
                    .split = -1, .oracle = cli_option(&a, "--oracle"), .state = cli_option(&a, "--state"),
                    .scores = cli_option(&a, "--scores"), .next = cli_option(&a, "--next"),
                    .out = cli_option(&a, "--out"), .montage = cli_option(&a, "--montage"),
                    .dataset = cli_option(&a, "--dataset"), .json = cli_option(&a, "--json"), .top = 25};
    anomaly_options_defaults(&r.al);
    if (!r.embeddings)
        return fprintf(stderr, "astromm anomalies: --embeddings FILE is required (try: astromm anomalies --help)\n"), 2;
    if (!r.oracle == !r.state)
        return fprintf(stderr, "astromm anomalies: give exactly one of --oracle CLASSES (experiments) or --state FILE "
                               "(a researcher's scores)\n"), 2;
    if (r.oracle && (r.scores || r.next))
        return fprintf(stderr, "astromm anomalies: --scores and --next belong to --state (interactive) runs\n"), 2;
    if (r.json && !r.oracle) return fprintf(stderr, "astromm anomalies: --json needs --oracle (the truth to score)\n"), 2;
    int seed = 0;
    if (int_arg(&a, "--pca", 1, 4096, &r.al.pca) || int_arg(&a, "--budget", 1, 100000, &r.al.budget) ||
        int_arg(&a, "--seeds", 1, 100000, &r.al.seeds) || int_arg(&a, "--batch", 1, 100000, &r.al.batch) ||
        int_arg(&a, "--seed", 0, 2147483647, &seed) || int_arg(&a, "--top", 1, 400, &r.top))
        return 2;
    r.al.seed = (uint64_t)seed;
    const char *sp = cli_option(&a, "--split");
    if (sp && (r.split = emb_split_parse(sp)) == -2)
        return fprintf(stderr, "astromm anomalies: --split '%s': expected all, train, val or test\n", sp), 2;
    return anomaly_run(&r);
}
