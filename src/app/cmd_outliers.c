// astromm outliers: misclassification / anomaly candidates (src/eval/outliers.h).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "io/text_out.h"
#include "data/format/dataset.h"
#include "eval/embeddings_file.h"
#include "eval/outliers.h"

static void help(void) {
    printf("usage: astromm outliers --embeddings FILE.h5 [--modality M|all] [--split S] [--k N]\n"
           "                        [--out FILE.csv] [--json FILE.json]\n\n"
           "Per modality, score = 1 - cos(embedding, centroid of the object's class), the\n"
           "centroids being the class means over the TRAINING-split rows of the embeddings\n"
           "file (astromm embed --split all); predicted = the nearest centroid by cosine.\n"
           "Lists the k highest-scoring objects of the split: misclassification and anomaly\n"
           "candidates (predicted != label: the embedding sits closer to another class).\n\n"
           "  --embeddings FILE  the embeddings file (astromm embed --out)\n"
           "  --modality M       an embedding of the file (AstroM3: photometry, spectra, metadata,\n"
           "                     fused; images: image) or all (default)\n"
           "  --split S          objects to rank: test (default), val, train or all\n"
           "  --k N              candidates per modality (default 20)\n"
           "  --out FILE         CSV there instead of stdout\n"
           "  --json FILE        also write the candidates as JSON\n\n"
           "output (CSV): modality,rank,id,label,predicted,score\n"
           "exit codes: 0 done, 1 runtime error, 2 bad arguments or input.\n");
}

int cmd_outliers(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "outliers")) return 2;
    if (a.help) return help(), 0;
    static const char *const allowed[] = {"--embeddings", "--modality", "--split", "--k", "--out", "--json", NULL};
    if (cli_reject_unknown(&a, "outliers", allowed)) return 2;
    if (a.n_rest % 2) return fprintf(stderr, "astromm outliers: %s needs a value\n", a.rest[a.n_rest - 1]), 2;
    const char *path = cli_option(&a, "--embeddings"), *ms = cli_option(&a, "--modality");
    const char *sp = cli_option(&a, "--split"), *ks = cli_option(&a, "--k");
    const char *out = cli_option(&a, "--out"), *json = cli_option(&a, "--json");
    if (!path) return fprintf(stderr, "astromm outliers: --embeddings FILE is required (try: astromm outliers --help)\n"), 2;
    const int one = ms && strcmp(ms, "all") != 0;  // one embedding, or every one in the file
    int split = DS_SPLIT_TEST;
    if (sp && (split = emb_split_parse(sp)) == -2)
        return fprintf(stderr, "astromm outliers: --split '%s': expected test, val, train or all\n", sp), 2;
    long k = 20;
    if (ks) {
        char *end;
        k = strtol(ks, &end, 10);
        if (*end || end == ks || k < 1 || k > 100000000)
            return fprintf(stderr, "astromm outliers: --k '%s': expected a positive integer\n", ks), 2;
    }
    EmbSet s;
    AmError err = {{0}};
    if (emb_read_some(path, one ? &ms : NULL, one, &s, &err))
        return fprintf(stderr, "astromm outliers: --modality '%s': %s\n", ms ? ms : "all", err.msg), 2;
    const int mod = one ? emb_slot_index(&s, ms) : -1;
    TextOut to, tj = {0};
    if (text_out_open(&to, out ? out : "-", &err)) {
        fprintf(stderr, "astromm outliers: --out: %s\n", err.msg);
        emb_free(&s);
        return 1;
    }
    FILE *f = to.f, *jf = NULL;
    int rc = 0;
    if (json && text_out_open(&tj, json, &err)) {
        fprintf(stderr, "astromm outliers: --json: %s\n", err.msg);
        rc = 1;
    }
    jf = tj.f;
    if (jf) {
        fprintf(jf, "{\"embeddings\": ");
        outliers_json_string(jf, path);
        fprintf(jf, ", \"split\": \"%s\", \"results\": [", emb_split_name(split));
    }
    int first = 1;
    for (int m = 0; m < s.n_slots && !rc; m++) {
        if (mod >= 0 && m != mod) continue;
        OutlierRow *r = NULL;
        const int64_t n = outliers_rank(&s, m, split, &r, &err);
        if (n < 0) {
            fprintf(stderr, "astromm outliers: %s\n", err.msg);
            rc = 2;
            break;
        }
        if (n == 0)
            fprintf(stderr, "astromm outliers: warning: no labelled %s objects with %s embeddings\n",
                    emb_split_name(split), s.slot[m]);
        const int64_t kk = n < k ? n : k;
        outliers_write_csv(f, &s, m, r, kk, first);
        if (jf) {
            if (!first) fputc(',', jf);
            fputc('\n', jf);
            outliers_write_json(jf, &s, m, r, kk);
        }
        first = 0;
        free(r);
    }
    // Complete results only: on an error nothing is renamed into place.
    if (jf) {
        fprintf(jf, "\n]}\n");
        if (rc)
            text_out_abort(&tj);
        else if (text_out_commit(&tj, &err)) {
            fprintf(stderr, "astromm outliers: %s\n", err.msg);
            rc = 1;
        }
    }
    if (rc)
        text_out_abort(&to);
    else if (text_out_commit(&to, &err)) {
        fprintf(stderr, "astromm outliers: %s\n", err.msg);
        rc = 1;
    }
    emb_free(&s);
    return rc;
}
