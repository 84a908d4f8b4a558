// astromm eval: a fine-tuned classifier on a dataset split -> accuracy,
// balanced accuracy, per-class precision/recall/F1, confusion matrix (JSON and
// CSV) and per-object predictions (CSV). Distributed like training: every rank
// classifies its block of each batch; rank 0 gathers and writes.
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "data/format/dataset.h"
#include "eval/classify_eval.h"
#include "eval/image_classify_eval.h"
#include "eval/vote_eval.h"
#include "mpi/comm.h"

static void help(void) {
    printf("usage: [mpirun -np N] astromm eval --run RUN_DIR [--split test|val|train] [--subset full|sub50|sub25|sub10]\n"
           "                     [--checkpoint FILE] [--config FILE] [--out DIR] [--crops K] [--set key=value]...\n\n"
           "Evaluates a fine-tuned classifier (astromm finetune) on the labelled objects of a split of\n"
           "data.path. --run takes the configuration (RUN_DIR/config.cfg) and the best checkpoint\n"
           "(RUN_DIR/best/model.safetensors) of a fine-tuning run; --config / --checkpoint override.\n"
           "--crops K (default 1: the centred window, as AstroM3) averages the class probabilities\n"
           "over K evenly spaced light-curve windows (test-time averaging: the model sees the\n"
           "whole curve, model.seq_len steps at a time).\n"
           "Writes to --out (default RUN_DIR/eval_<split>[_<subset>]):\n"
           "  metrics.json     accuracy, balanced accuracy, macro F1, per-class precision/recall/F1/support,\n"
           "                   confusion matrix\n"
           "  confusion.csv    the matrix (header of class names, one row per true class;\n"
           "                   tools/plot_confusion.py draws it)\n"
           "  predictions.csv  id,label,predicted,probability per object\n\n"
           "A Zoobot model (model.family = \"convnext\", trained by astromm train on an image dataset)\n"
           "is measured on the split's vote counts instead: per question, the mean absolute error of the\n"
           "predicted vote fractions against the measured ones, beside the training-mean baseline and,\n"
           "for synthetic galaxies, the errors against the true probabilities and the noise floor of\n"
           "the votes themselves; and the majority-answer accuracy. Writes metrics.json to --out.\n");
}


// --split and --subset: DS_SPLIT_* and DS_SUB* (0 = full); -1 when unknown.
static int parse_split(const char *s) {
    return !strcmp(s, "train") ? DS_SPLIT_TRAIN : !strcmp(s, "val") ? DS_SPLIT_VAL : !strcmp(s, "test") ? DS_SPLIT_TEST : -1;
}
static int parse_subset(const char *s) {
    return !strcmp(s, "full") ? 0 : !strcmp(s, "sub50") ? DS_SUB50 : !strcmp(s, "sub25") ? DS_SUB25
         : !strcmp(s, "sub10") ? DS_SUB10 : -1;
}

// Rank 0: the three files and the summary on stdout; 0 or 1.
static int report(const ClassifyEval *e, const RunConfig *cfg, const char *ckpt, const char *split_s,
                  const char *subset_s, int subset, int crops, const char *out_dir) {
    char loss_s[32], crops_v[16];
    snprintf(loss_s, sizeof loss_s, "%.6f", e->loss);
    snprintf(crops_v, sizeof crops_v, "%d", crops);
    const char *extra[] = {"checkpoint", ckpt, "dataset", cfg->data_path, "split", split_s, "subset", subset_s,
                           "head", modality_mask_name(e->head), "loss", loss_s, "crops", crops_v};
    AmError err = {{0}};
    if (classify_eval_write(e, out_dir, extra, 7, &err)) return fprintf(stderr, "astromm eval: error: %s\n", err.msg), 1;
    ClassReport rep;
    confusion_report(&e->conf, &rep);
    printf("astromm eval: %s split%s%s, head %s: %lld objects, accuracy %.4f, balanced accuracy %.4f, "
           "macro F1 %.4f -> %s/\n", split_s, subset ? " " : "", subset ? subset_s : "", modality_mask_name(e->head),
           (long long)rep.total, rep.accuracy, rep.balanced_accuracy, rep.macro_f1, out_dir);
    for (int k = 0; k < e->n_classes; k++)
        printf("  %-6s precision %.3f recall %.3f f1 %.3f support %lld\n", e->class_names[k], rep.precision[k],
               rep.recall[k], rep.f1[k], (long long)rep.support[k]);
    class_report_free(&rep);
    return 0;
}

// A Zoobot model: vote-fraction errors (eval/vote_eval.h).
static int eval_votes(const RunConfig *cfg, const char *ckpt, int split, const char *split_s, const char *out_dir,
                      int argc, char **argv) {
    Comm *comm = comm_init(&argc, &argv);
    RunConfig c = *cfg;
    cli_select_device(&c, comm);
    VoteEval e;
    int rc = vote_eval_run(&c, comm, ckpt, split, "astromm eval", &e);
    AmError err = {{0}};
    if (rc == 0 && comm_rank(comm) == 0 && vote_eval_report(&e, out_dir, ckpt, split_s, &err))
        rc = 1, fprintf(stderr, "astromm eval: error: %s\n", err.msg);
    const int bad = comm_any_failed(comm, rc);
    comm_finalize(comm);
    return bad ? 1 : 0;
}

// A fine-tuned image classifier: the same metrics and files as a star classifier.
static int eval_images(const RunConfig *cfg, const char *ckpt, int split, const char *split_s, const char *out_dir,
                       int argc, char **argv) {
    Comm *comm = comm_init(&argc, &argv);
    RunConfig c = *cfg;
    cli_select_device(&c, comm);
    ClassifyEval e;
    int rc = image_classify_eval_run(&c, comm, ckpt, split, "astromm eval", &e);
    AmError err = {{0}};
    if (rc == 0 && comm_rank(comm) == 0) {
        char loss_s[32];
        snprintf(loss_s, sizeof loss_s, "%.6f", e.loss);
        const char *extra[] = {"checkpoint", ckpt, "split", split_s, "task", "image_classify", "loss", loss_s};
        if (classify_eval_write(&e, out_dir, extra, 4, &err)) {
            fprintf(stderr, "astromm eval: error: %s\n", err.msg);
            rc = 1;
        } else {
            ClassReport rep;
            confusion_report(&e.conf, &rep);
            printf("astromm eval: %s split: %lld images, accuracy %.4f, balanced accuracy %.4f, macro F1 %.4f -> %s/\n",
                   split_s, (long long)rep.total, rep.accuracy, rep.balanced_accuracy, rep.macro_f1, out_dir);
            class_report_free(&rep);
        }
    }
    const int bad = comm_any_failed(comm, rc);
    classify_eval_free(&e);
    comm_finalize(comm);
    return rc == 2 ? 2 : bad ? 1 : 0;
}

int cmd_eval(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "eval")) return 2;
    if (a.help) return help(), 0;
    static const char *const allowed[] = {"--run", "--split", "--subset", "--checkpoint", "--out", "--crops", NULL};
    if (cli_reject_unknown(&a, "eval", allowed)) return 2;
    const char *run = cli_option(&a, "--run"), *split_s = cli_option(&a, "--split"),
               *subset_s = cli_option(&a, "--subset"), *ckpt = cli_option(&a, "--checkpoint"),
               *out = cli_option(&a, "--out"), *crops_s = cli_option(&a, "--crops");
    char *end = NULL;
    const long crops = crops_s ? strtol(crops_s, &end, 10) : 1;
    if (crops_s && (*end || crops < 1 || crops > 64))
        return fprintf(stderr, "astromm eval: --crops '%s': an integer 1..64\n", crops_s), 2;
    split_s = split_s ? split_s : "test";
    subset_s = subset_s ? subset_s : "full";
    const int split = parse_split(split_s), subset = parse_subset(subset_s);
    if (split < 0 || subset < 0)
        return fprintf(stderr, "astromm eval: --split must be train, val or test and --subset full, sub50, sub25 or "
                               "sub10\n"), 2;
    char cfg_path[1100], ckpt_path[1100], out_dir[1200];
    if (!a.config_path && run) snprintf(cfg_path, sizeof cfg_path, "%s/config.cfg", run), a.config_path = cfg_path;
    if (!ckpt && run) snprintf(ckpt_path, sizeof ckpt_path, "%s/best/model.safetensors", run), ckpt = ckpt_path;
    if (!a.config_path || !ckpt)
        return fprintf(stderr, "astromm eval: give --run RUN_DIR (or --config FILE and --checkpoint FILE)\n"), 2;
    if (!out && !run) return fprintf(stderr, "astromm eval: give --out DIR (no --run to put it in)\n"), 2;
    if (out) snprintf(out_dir, sizeof out_dir, "%s", out);
    else if (subset) snprintf(out_dir, sizeof out_dir, "%s/eval_%s_%s", run, split_s, subset_s);
    else snprintf(out_dir, sizeof out_dir, "%s/eval_%s", run, split_s);
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, "eval")) return 2;
    if (cfg.model.family == MODEL_FAMILY_CONVNEXT && image_classify_checkpoint(ckpt))
        return eval_images(&cfg, ckpt, split, split_s, out_dir, argc, argv);
    if (cfg.model.family == MODEL_FAMILY_CONVNEXT) return eval_votes(&cfg, ckpt, split, split_s, out_dir, argc, argv);
    // Refuse a checkpoint without a classifier head before starting MPI.
    AmError err = {{0}};
    char live[4097];
    int head = 0;
    const int crc = classify_eval_checkpoint(ckpt, &head, live, sizeof live, &err);
    if (crc) return fprintf(stderr, "astromm eval: error: %s\n", err.msg), crc;

    Comm *comm = comm_init(&argc, &argv);
    cli_select_device(&cfg, comm);
    const ClassifyEvalOptions o = {.checkpoint = ckpt, .head = head, .class_live = live, .split = split, .subset_bits = subset, .crops = (int)crops,
                                   .who = "astromm eval"};
    ClassifyEval e;
    int rc = classify_eval_run(&cfg, comm, &o, &e);
    if (rc == 0 && comm_rank(comm) == 0) rc = report(&e, &cfg, ckpt, split_s, subset_s, subset, (int)crops, out_dir);
    const int bad = comm_any_failed(comm, rc);
    classify_eval_free(&e);
    comm_finalize(comm);
    return rc == 2 ? 2 : bad ? 1 : 0;
}
