// Evaluation of a fine-tuned classifier (classify_eval.h).
#define _POSIX_C_SOURCE 200809L
#include "eval/classify_eval.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/format/dataset.h"
#include "data/loader/loader.h"
#include "io/params_file.h"
#include "io/safetensors.h"
#include "io/text_out.h"
#include "models/device_batch.h"
#include "train/cls_step.h"

int classify_eval_checkpoint(const char *path, int *head, char *class_live, size_t cap, AmError *err) {
    StFile *sf = NULL;
    if (st_open(&sf, path, err)) return 1;
    *head = modality_mask_from_name(st_meta(sf, "head"));  // 0: none
    char task[32];
    snprintf(task, sizeof task, "%s", st_meta(sf, "task") ? st_meta(sf, "task") : "unknown");
    snprintf(class_live, cap, "%s", st_meta(sf, "class_live") ? st_meta(sf, "class_live") : "");
    st_close(sf);
    if (strcmp(task, "classify") || !*head)
        return am_error_set(err, "%s has no classifier head (task %s); fine-tune first (astromm finetune --init %s)",
                            path, task, path), 2;
    return 0;
}

// Everything one evaluation holds open.
typedef struct {
    const RunConfig *cfg;
    const ClassifyEvalOptions *o;
    Comm *comm;
    int rank, P, b, C;
    LoaderConfig lc;
    Loader *l;
    AstroM3 m;
    ClsStep cs;
    DeviceBatch dev;
    int stage;  // how far setup got (what to free)
} Session;

static void loader_config_for(Session *S, int head) {
    const RunConfig *cfg = S->cfg;
    LoaderConfig *lc = &S->lc;
    loader_config_defaults(lc);
    lc->global_batch = cfg->batch_size;
    lc->seq_len = cfg->model.seq_len;
    lc->photo_in = cfg->model.photo_in;
    lc->seed = cfg->seed;
    lc->split = S->o->split;
    lc->subset_bits = S->o->subset_bits;
    lc->require_all = 0;
    lc->require_mask = head;
    lc->labelled_only = 1;
    lc->shuffle = 0;
    lc->drop_last = 0;
    lc->crop = S->o->crops > 1 ? LOADER_CROP_SPREAD : LOADER_CROP_CENTER;
    lc->crop_index = 0;
    lc->crop_count = S->o->crops;
}

// Loader, model with the checkpoint's weights, the step; 0 or the exit code.
static int session_open(Session *S, int head, const char *class_live, ClassifyEval *out) {
    const RunConfig *cfg = S->cfg;
    const char *who = S->o->who;
    AmError err = {{0}};
    loader_config_for(S, head);
    if (loader_open(cfg->data_path, S->comm, &S->lc, &S->l, &err)) {
        if (S->rank == 0) fprintf(stderr, "%s: error: %s\n", who, err.msg);
        return 1;
    }
    S->stage = 1;
    if (loader_check_model_inputs(S->l, cfg->model.spec_len, cfg->model.spec_in, cfg->model.meta_in,
                                  cfg->model.photo_in, &err)) {
        if (S->rank == 0) fprintf(stderr, "%s: %s: %s\n", who, cfg->source, err.msg);
        return 2;
    }
    astrom3_create_with_head(&S->m, &cfg->model, S->b, head);
    S->stage = 2;
    const int rc = params_load(&S->m.params, S->o->checkpoint, &err);
    if (comm_any_failed(S->comm, rc)) {
        if (rc) fprintf(stderr, "%s: rank %d: error: %s\n", who, S->rank, err.msg);
        return 1;
    }
    if (loader_n_classes(S->l) != S->C) {
        if (S->rank == 0)
            fprintf(stderr, "%s: error: %s has %d classes but model.n_classes is %d\n", who, cfg->data_path,
                    loader_n_classes(S->l), S->C);
        return 2;
    }
    out->n_classes = S->C;
    out->class_names = am_calloc((size_t)S->C, sizeof *out->class_names, "class names");
    for (int c = 0; c < S->C; c++) out->class_names[c] = am_strdup(loader_class_names(S->l)[c], "class name");
    cls_step_init(&S->cs, &S->m, S->comm, S->b, 1);
    S->stage = 3;
    if ((int)strlen(class_live) == S->C) {  // classes the fine-tuning run had no example of are never predicted
        uint8_t *lv = am_malloc((size_t)S->C, "live classes");
        int any = 0;
        for (int c = 0; c < S->C; c++) any |= lv[c] = class_live[c] == '1';
        if (any) cls_step_set_live(&S->cs, lv);
        free(lv);
    }
    device_batch_alloc(&S->dev, &cfg->model, S->b);
    S->stage = 4;
    return 0;
}

static void session_close(Session *S) {
    if (S->stage >= 4) device_batch_free(&S->dev);
    if (S->stage >= 3) cls_step_free(&S->cs);
    if (S->stage >= 2) astrom3_free(&S->m);
    loader_close(S->l);
}

// Per local row: id, label, valid, then the C class probabilities.
typedef struct {
    int per;
    double *send, *recv;   // [b, per]; rank 0: [P, b, per]
    double *acc, *meta3;   // rank 0: summed probabilities [total, C]; id, label, valid [total, 3]
    int32_t *pred;
    float *prob;
    double loss, n_loss;
} Pass;

// One window of every object (crop j), gathered to rank 0; 0 or the exit code.
static int run_window(Session *S, int j, Pass *p) {
    AmError err = {{0}};
    if (j > 0) {  // the next window of every curve: same objects, same order
        loader_close(S->l);
        S->l = NULL;
        S->lc.crop_index = j;
        if (loader_open(S->cfg->data_path, S->comm, &S->lc, &S->l, &err)) {
            if (S->rank == 0) fprintf(stderr, "%s: error: %s\n", S->o->who, err.msg);
            return 1;
        }
    }
    const int b = S->b, C = S->C, P = S->P;
    const int64_t nb = loader_batches_per_epoch(S->l);
    for (int64_t k = 0; k < nb; k++) {
        LoaderBatch lb;
        if (loader_next(S->l, &lb, &err)) {
            fprintf(stderr, "%s: rank %d: error: %s\n", S->o->who, S->rank, err.msg);
            return 1;
        }
        Batch db = device_batch_upload(&S->dev, &lb.batch);
        const StepCtx ctx = {.seed = S->cfg->seed, .step = 0, .sample_offset = lb.step * S->cfg->batch_size,
                             .training = 0};
        const ClsStepResult r = cls_step_evaluate(&S->cs, &db, lb.batch.labels, lb.valid, &ctx, p->pred, p->prob);
        p->loss += (double)r.loss * (double)r.n;
        p->n_loss += (double)r.n;
        for (int i = 0; i < b; i++) {
            double *q = p->send + (size_t)p->per * i;
            q[0] = (double)lb.ids[i];  // ids up to 2^53 are exact in a double
            q[1] = lb.batch.labels[i];
            q[2] = lb.valid[i];
            for (int c = 0; c < C; c++) q[3 + c] = p->prob[(size_t)i * C + c];
        }
        comm_gather_rows(S->comm, p->send, p->recv, (size_t)p->per * sizeof *p->send, (size_t)b, 0);
        if (S->rank != 0) continue;
        for (int i = 0; i < b * P; i++) {
            const double *q = p->recv + (size_t)p->per * i;
            const int64_t row = k * b * P + i;
            if (j == 0) memcpy(p->meta3 + 3 * row, q, 3 * sizeof(double));
            for (int c = 0; c < C; c++) p->acc[(size_t)row * C + c] += q[3 + c];
        }
    }
    return 0;
}

void classify_eval_push(ClassifyEval *e, int64_t id, int32_t label, int32_t pred, float prob) {
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 1024;
        e->id = realloc(e->id, (size_t)e->cap * sizeof *e->id);
        e->label = realloc(e->label, (size_t)e->cap * sizeof *e->label);
        e->pred = realloc(e->pred, (size_t)e->cap * sizeof *e->pred);
        e->prob = realloc(e->prob, (size_t)e->cap * sizeof *e->prob);
        CHECK(e->id && e->label && e->pred && e->prob, "out of memory (predictions)");
    }
    e->id[e->n] = id;
    e->label[e->n] = label;
    e->pred[e->n] = pred;
    e->prob[e->n] = prob;
    e->n++;
}

// Rank 0: the prediction of every valid row from its mean probabilities.
static void predict(ClassifyEval *e, const Pass *p, int64_t total, int C, int crops) {
    double crop_loss = 0;
    for (int64_t row = 0; row < total; row++) {
        const double *q = p->meta3 + 3 * row, *sum = p->acc + (size_t)row * C;
        if (!q[2]) continue;
        int arg = 0;
        for (int c = 1; c < C; c++)
            if (sum[c] > sum[arg]) arg = c;
        classify_eval_push(e, (int64_t)q[0], (int32_t)q[1], arg, (float)(sum[arg] / crops));
        confusion_add(&e->conf, (int)q[1], arg);
        crop_loss += -log(fmax(sum[(int)q[1]] / crops, 1e-30));
    }
    // One window: the step's own loss (bit-identical to training's validation);
    // several: the cross-entropy of the mean probabilities.
    double loss = p->loss, n_loss = p->n_loss;
    if (crops > 1) loss = crop_loss, n_loss = (double)e->n;
    e->loss = n_loss > 0 ? loss / n_loss : 0.0;
}

int classify_eval_run(const RunConfig *cfg, Comm *comm, const ClassifyEvalOptions *o, ClassifyEval *out) {
    memset(out, 0, sizeof *out);
    const int head = o->head;
    const char *class_live = o->class_live ? o->class_live : "";
    int rc = 0;
    Session S = {.cfg = cfg, .o = o, .comm = comm, .rank = comm_rank(comm), .P = comm_size(comm),
                 .C = cfg->model.n_classes};
    if (cfg->batch_size % S.P) {
        if (S.rank == 0)
            fprintf(stderr, "%s: error: train.batch_size %d is not a multiple of the %d ranks\n", o->who,
                    cfg->batch_size, S.P);
        return 2;
    }
    S.b = cfg->batch_size / S.P;
    out->head = head;
    confusion_init(&out->conf, S.C);
    if ((rc = session_open(&S, head, class_live, out))) {
        session_close(&S);
        return rc;
    }
    Pass p = {.per = 3 + S.C};
    const int64_t total = loader_batches_per_epoch(S.l) * S.b * S.P;
    p.send = am_malloc((size_t)S.b * p.per * sizeof *p.send, "eval rows");
    p.pred = am_malloc((size_t)S.b * sizeof *p.pred, "eval predictions");
    p.prob = am_malloc((size_t)S.b * S.C * sizeof *p.prob, "eval probabilities");
    if (S.rank == 0) {
        p.recv = am_malloc((size_t)S.b * p.per * S.P * sizeof *p.recv, "eval gathered rows");
        p.acc = am_calloc((size_t)total * S.C, sizeof *p.acc, "eval probability sums");
        p.meta3 = am_calloc((size_t)total * 3, sizeof *p.meta3, "eval rows");
    }
    for (int j = 0; j < o->crops && !rc; j++) rc = run_window(&S, j, &p);
    if (S.rank == 0 && !rc) predict(out, &p, total, S.C, o->crops);
    free(p.send);
    free(p.recv);
    free(p.acc);
    free(p.meta3);
    free(p.pred);
    free(p.prob);
    session_close(&S);
    return rc;
}

static int write_predictions(const ClassifyEval *e, const char *path, AmError *err) {
    TextOut t;
    if (text_out_open(&t, path, err)) return 1;
    fprintf(t.f, "id,label,predicted,probability\n");
    for (int64_t i = 0; i < e->n; i++) {
        fprintf(t.f, "%lld,", (long long)e->id[i]);
        csv_field(t.f, e->class_names[e->label[i]]);
        fputc(',', t.f);
        csv_field(t.f, e->class_names[e->pred[i]]);
        fprintf(t.f, ",%.6f\n", (double)e->prob[i]);
    }
    return text_out_commit(&t, err) ? 1 : 0;
}

int classify_eval_write(const ClassifyEval *e, const char *out_dir, const char *const *extra, int n_extra,
                        AmError *err) {
    if (mkdir(out_dir, 0775) != 0 && errno != EEXIST)
        return am_error_set(err, "cannot create %s: %s", out_dir, strerror(errno));
    const char *const *names = (const char *const *)e->class_names;
    ClassReport rep;
    confusion_report(&e->conf, &rep);
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.json", out_dir);
    int rc = confusion_write_json(&e->conf, &rep, names, path, extra, n_extra, err) != 0;
    snprintf(path, sizeof path, "%s/confusion.csv", out_dir);
    if (!rc) rc = confusion_write_csv(&e->conf, names, path, err) != 0;
    snprintf(path, sizeof path, "%s/predictions.csv", out_dir);
    if (!rc) rc = write_predictions(e, path, err);
    class_report_free(&rep);
    return rc;
}

void classify_eval_free(ClassifyEval *e) {
    for (int c = 0; e->class_names && c < e->n_classes; c++) free(e->class_names[c]);
    free(e->class_names);
    free(e->id);
    free(e->label);
    free(e->pred);
    free(e->prob);
    confusion_free(&e->conf);
    memset(e, 0, sizeof *e);
}
