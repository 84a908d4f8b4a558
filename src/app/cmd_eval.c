// astromm eval: a fine-tuned classifier on a dataset split -> accuracy,
// balanced accuracy, per-class precision/recall/F1, confusion matrix (JSON and
// CSV) and per-object predictions (CSV). Distributed like training: every rank
// classifies its block of each batch; rank 0 gathers and writes.
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/cli.h"
#include "data/format/dataset.h"
#include "io/params_file.h"
#include "models/device_batch.h"
#include "data/loader/loader.h"
#include "eval/confusion.h"
#include "io/safetensors.h"
#include "io/text_out.h"
#include "mpi/comm.h"
#include "nn/ops.h"
#include "train/cls_step.h"

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
           "  predictions.csv  id,label,predicted,probability per object\n");
}


typedef struct {
    int64_t *id;
    int32_t *label, *pred;
    float *prob;
    size_t n, cap;
} Rows;

static void rows_push(Rows *r, int64_t id, int32_t label, int32_t pred, float prob) {
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->id = realloc(r->id, r->cap * sizeof *r->id);
        r->label = realloc(r->label, r->cap * sizeof *r->label);
        r->pred = realloc(r->pred, r->cap * sizeof *r->pred);
        r->prob = realloc(r->prob, r->cap * sizeof *r->prob);
        CHECK(r->id && r->label && r->pred && r->prob, "out of memory (predictions)");
    }
    r->id[r->n] = id;
    r->label[r->n] = label;
    r->pred[r->n] = pred;
    r->prob[r->n] = prob;
    r->n++;
}

static int write_predictions(const Rows *r, const char *const *names, const char *path) {
    TextOut t;
    AmError err = {{0}};
    if (text_out_open(&t, path, &err)) return fprintf(stderr, "astromm eval: error: %s\n", err.msg), 1;
    fprintf(t.f, "id,label,predicted,probability\n");
    for (size_t i = 0; i < r->n; i++) {
        fprintf(t.f, "%lld,", (long long)r->id[i]);
        csv_field(t.f, names[r->label[i]]);
        fputc(',', t.f);
        csv_field(t.f, names[r->pred[i]]);
        fprintf(t.f, ",%.6f\n", (double)r->prob[i]);
    }
    if (text_out_commit(&t, &err)) return fprintf(stderr, "astromm eval: error: %s\n", err.msg), 1;
    return 0;
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
    int crops = 1;
    if (crops_s) {
        char *end;
        long v = strtol(crops_s, &end, 10);
        if (*end || v < 1 || v > 64) {
            fprintf(stderr, "astromm eval: --crops '%s': an integer 1..64\n", crops_s);
            return 2;
        }
        crops = (int)v;
    }
    split_s = split_s ? split_s : "test";
    subset_s = subset_s ? subset_s : "full";
    const int split = !strcmp(split_s, "train") ? DS_SPLIT_TRAIN : !strcmp(split_s, "val") ? DS_SPLIT_VAL
                    : !strcmp(split_s, "test") ? DS_SPLIT_TEST : -1;
    const int subset = !strcmp(subset_s, "full") ? 0 : !strcmp(subset_s, "sub50") ? DS_SUB50
                     : !strcmp(subset_s, "sub25") ? DS_SUB25 : !strcmp(subset_s, "sub10") ? DS_SUB10 : -1;
    if (split < 0 || subset < 0) {
        fprintf(stderr, "astromm eval: --split must be train, val or test and --subset full, sub50, sub25 or sub10\n");
        return 2;
    }
    char cfg_path[1100], ckpt_path[1100], out_dir[1200];
    if (!a.config_path && run) {
        snprintf(cfg_path, sizeof cfg_path, "%s/config.cfg", run);
        a.config_path = cfg_path;
    }
    if (!ckpt && run) {
        snprintf(ckpt_path, sizeof ckpt_path, "%s/best/model.safetensors", run);
        ckpt = ckpt_path;
    }
    if (!a.config_path || !ckpt) {
        fprintf(stderr, "astromm eval: give --run RUN_DIR (or --config FILE and --checkpoint FILE)\n");
        return 2;
    }
    if (!out && !run) {
        fprintf(stderr, "astromm eval: give --out DIR (no --run to put it in)\n");
        return 2;
    }
    if (out)
        snprintf(out_dir, sizeof out_dir, "%s", out);
    else if (subset)
        snprintf(out_dir, sizeof out_dir, "%s/eval_%s_%s", run, split_s, subset_s);
    else
        snprintf(out_dir, sizeof out_dir, "%s/eval_%s", run, split_s);
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, "eval")) return 2;

    // Which head the checkpoint carries and which classes it may predict (written
    // by astromm finetune; class_live: '1'/'0' per class, absent in older checkpoints).
    AmError err = {{0}};
    StFile *sf = NULL;
    if (st_open(&sf, ckpt, &err)) return fprintf(stderr, "astromm eval: error: %s\n", err.msg), 1;
    const int head = modality_mask_from_name(st_meta(sf, "head"));  // 0: none
    char task[32], class_live[4097];
    snprintf(task, sizeof task, "%s", st_meta(sf, "task") ? st_meta(sf, "task") : "unknown");
    snprintf(class_live, sizeof class_live, "%s", st_meta(sf, "class_live") ? st_meta(sf, "class_live") : "");
    st_close(sf);
    if (strcmp(task, "classify") || !head) {
        fprintf(stderr, "astromm eval: error: %s has no classifier head (task %s); fine-tune first "
                        "(astromm finetune --init %s)\n", ckpt, task, ckpt);
        return 2;
    }

    Comm *comm = comm_init(&argc, &argv);
    cli_select_device(&cfg, comm);
    const int P = comm_size(comm), rank = comm_rank(comm);
    int rc = 0;
    if (cfg.batch_size % P) {
        if (rank == 0)
            fprintf(stderr, "astromm eval: error: train.batch_size %d is not a multiple of the %d ranks\n",
                    cfg.batch_size, P);
        comm_finalize(comm);
        return 2;
    }
    LoaderConfig lc;
    loader_config_defaults(&lc);
    lc.global_batch = cfg.batch_size;
    lc.seq_len = cfg.model.seq_len;
    lc.photo_in = cfg.model.photo_in;
    lc.seed = cfg.seed;
    lc.split = split;
    lc.subset_bits = subset;
    lc.require_all = 0;
    lc.require_mask = head;
    lc.labelled_only = 1;
    lc.shuffle = 0;
    lc.drop_last = 0;
    lc.crop = crops > 1 ? LOADER_CROP_SPREAD : LOADER_CROP_CENTER;
    lc.crop_index = 0;
    lc.crop_count = crops;
    Loader *l = NULL;
    if (loader_open(cfg.data_path, comm, &lc, &l, &err)) {
        if (rank == 0) fprintf(stderr, "astromm eval: error: %s\n", err.msg);
        comm_finalize(comm);
        return 1;
    }
    if (loader_check_model_inputs(l, cfg.model.spec_len, cfg.model.spec_in, cfg.model.meta_in, cfg.model.photo_in,
                                  &err)) {
        if (rank == 0) fprintf(stderr, "astromm eval: %s: %s\n", cfg.source, err.msg);
        loader_close(l);
        comm_finalize(comm);
        return 2;
    }
    const int b = cfg.batch_size / P, C = cfg.model.n_classes;
    AstroM3 m;
    astrom3_create_with_head(&m, &cfg.model, b, head);
    rc = params_load(&m.params, ckpt, &err);
    if (comm_any_failed(comm, rc)) {
        if (rc) fprintf(stderr, "astromm eval: rank %d: error: %s\n", rank, err.msg);
        astrom3_free(&m);
        loader_close(l);
        comm_finalize(comm);
        return 1;
    }
    int n_names = 0;
    const char *const *names = loader_class_names(l);
    n_names = loader_n_classes(l);
    if (n_names != C) {
        if (rank == 0)
            fprintf(stderr, "astromm eval: error: %s has %d classes but model.n_classes is %d\n", cfg.data_path,
                    n_names, C);
        astrom3_free(&m);
        loader_close(l);
        comm_finalize(comm);
        return 2;
    }
    ClsStep cs;
    cls_step_init(&cs, &m, comm, b, 1);
    if ((int)strlen(class_live) == C) {  // classes the fine-tuning run had no example of are never predicted
        uint8_t *lv = malloc((size_t)C);
        int any = 0;
        for (int c = 0; c < C; c++) any |= lv[c] = class_live[c] == '1';
        if (any) cls_step_set_live(&cs, lv);
        free(lv);
    }
    DeviceBatch dev;
    device_batch_alloc(&dev, &cfg.model, b);
    int32_t *pred = malloc((size_t)b * sizeof *pred);
    float *prob = malloc((size_t)b * C * sizeof *prob);
    // Per local row: id, label, valid, then the C class probabilities. Rank 0 sums
    // the probabilities of every row over the K crop windows (the loader visits the
    // objects in the same order each time) and predicts from their mean.
    const int per = 3 + C;
    double *send = malloc((size_t)b * per * sizeof *send), *recv = rank == 0 ? malloc((size_t)b * per * P * sizeof *recv) : NULL;
    Rows rows = {0};
    Confusion conf;
    confusion_init(&conf, C);
    double loss = 0, n_loss = 0;
    const int64_t nb = loader_batches_per_epoch(l), total = nb * b * P;
    double *acc = rank == 0 ? calloc((size_t)total * C, sizeof *acc) : NULL;
    double *meta3 = rank == 0 ? calloc((size_t)total * 3, sizeof *meta3) : NULL;  // id, label, valid
    CHECK(rank != 0 || (acc && meta3), "out of memory (%lld rows x %d classes)", (long long)total, C);
    for (int j = 0; j < crops && !rc; j++) {
        if (j > 0) {  // the next window of every curve: same objects, same order
            loader_close(l);
            l = NULL;
            lc.crop_index = j;
            if (loader_open(cfg.data_path, comm, &lc, &l, &err)) {
                if (rank == 0) fprintf(stderr, "astromm eval: error: %s\n", err.msg);
                rc = 1;
                break;
            }
            names = loader_class_names(l);  // the old loader's copy is gone
        }
        for (int64_t k = 0; k < nb && !rc; k++) {
            LoaderBatch lb;
            if (loader_next(l, &lb, &err)) {
                fprintf(stderr, "astromm eval: rank %d: error: %s\n", rank, err.msg);
                rc = 1;
                break;
            }
            Batch db = device_batch_upload(&dev, &lb.batch);
            const StepCtx ctx = {.seed = cfg.seed, .step = 0, .sample_offset = lb.step * cfg.batch_size, .training = 0};
            const ClsStepResult r = cls_step_evaluate(&cs, &db, lb.batch.labels, lb.valid, &ctx, pred, prob);
            loss += (double)r.loss * (double)r.n;
            n_loss += (double)r.n;
            for (int i = 0; i < b; i++) {
                double *q = send + (size_t)per * i;
                q[0] = (double)lb.ids[i];  // ids up to 2^53 are exact in a double
                q[1] = lb.batch.labels[i];
                q[2] = lb.valid[i];
                for (int c = 0; c < C; c++) q[3 + c] = prob[(size_t)i * C + c];
            }
            comm_gather_rows(comm, send, recv, (size_t)per * sizeof *send, (size_t)b, 0);
            if (rank == 0)
                for (int i = 0; i < b * P; i++) {
                    const double *q = recv + (size_t)per * i;
                    const int64_t row = k * b * P + i;
                    if (j == 0) memcpy(meta3 + 3 * row, q, 3 * sizeof(double));
                    for (int c = 0; c < C; c++) acc[(size_t)row * C + c] += q[3 + c];
                }
        }
    }
    double crop_loss = 0;
    if (rank == 0 && !rc)
        for (int64_t row = 0; row < total; row++) {
            const double *q = meta3 + 3 * row, *sum = acc + (size_t)row * C;
            if (!q[2]) continue;
            int arg = 0;
            for (int c = 1; c < C; c++)
                if (sum[c] > sum[arg]) arg = c;
            rows_push(&rows, (int64_t)q[0], (int32_t)q[1], arg, (float)(sum[arg] / crops));
            confusion_add(&conf, (int)q[1], arg);
            crop_loss += -log(fmax(sum[(int)q[1]] / crops, 1e-30));
        }
    // One window: the step's own loss (bit-identical to training's validation);
    // several: the cross-entropy of the mean probabilities.
    if (crops > 1) loss = crop_loss, n_loss = (double)rows.n;
    if (rank == 0 && !rc) {
        ClassReport rep;
        confusion_report(&conf, &rep);
        char path[1300], loss_s[32], n_s[32];
        snprintf(loss_s, sizeof loss_s, "%.6f", n_loss > 0 ? loss / n_loss : 0.0);
        snprintf(n_s, sizeof n_s, "%lld", (long long)rows.n);
        char crops_v[16];
        snprintf(crops_v, sizeof crops_v, "%d", crops);
        const char *extra[] = {"checkpoint", ckpt, "dataset", cfg.data_path, "split", split_s,
                               "subset", subset_s, "head", modality_mask_name(head), "loss", loss_s,
                               "crops", crops_v};
        if (mkdir(out_dir, 0775) != 0 && errno != EEXIST) {
            fprintf(stderr, "astromm eval: error: cannot create %s: %s\n", out_dir, strerror(errno));
            rc = 1;
        }
        snprintf(path, sizeof path, "%s/metrics.json", out_dir);
        if (!rc && confusion_write_json(&conf, &rep, names, path, extra, 7, &err)) rc = 1;
        snprintf(path, sizeof path, "%s/confusion.csv", out_dir);
        if (!rc && confusion_write_csv(&conf, names, path, &err)) rc = 1;
        if (rc && err.msg[0]) fprintf(stderr, "astromm eval: error: %s\n", err.msg);
        snprintf(path, sizeof path, "%s/predictions.csv", out_dir);
        if (!rc) rc = write_predictions(&rows, names, path);
        if (!rc) {
            printf("astromm eval: %s split%s%s, head %s: %lld objects, accuracy %.4f, balanced accuracy %.4f, "
                   "macro F1 %.4f -> %s/\n", split_s, subset ? " " : "", subset ? subset_s : "", modality_mask_name(head),
                   (long long)rep.total, rep.accuracy, rep.balanced_accuracy, rep.macro_f1, out_dir);
            for (int k = 0; k < C; k++)
                printf("  %-6s precision %.3f recall %.3f f1 %.3f support %lld\n", names[k], rep.precision[k],
                       rep.recall[k], rep.f1[k], (long long)rep.support[k]);
        }
        class_report_free(&rep);
    }
    const int bad = comm_any_failed(comm, rc);
    free(rows.id);
    free(rows.label);
    free(rows.pred);
    free(rows.prob);
    free(acc);
    free(meta3);
    confusion_free(&conf);
    free(send);
    free(recv);
    free(pred);
    free(prob);
    device_batch_free(&dev);
    cls_step_free(&cs);
    astrom3_free(&m);
    loader_close(l);
    comm_finalize(comm);
    return bad ? 1 : 0;
}
