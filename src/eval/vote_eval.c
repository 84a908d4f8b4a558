#define _POSIX_C_SOURCE 200809L

#include "eval/vote_eval.h"

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
#include "loss/dirichlet.h"
#include "io/text_out.h"
#include "models/device_batch.h"
#include "models/image_classifier.h"
#include "models/zoobot.h"
#include "nn/ops.h"
#include "train/task.h"


// acc layout: per question VE_N error sums, then pair counts, then row counts; then
// objects, majority right, majority total.
static void add_row(const VoteSchema *s, const float *al, const float *k, const float *truth, const float *base,
                    double *acc) {
    const int Q = s->n_questions;
    for (int q = 0; q < Q; q++) {
        double N, e;
        int right;
        if (!vote_question_errors(s, q, al, k, &N, &e, &right)) continue;
        double a0 = 0.0;
        for (int a = s->first[q]; a <= s->last[q]; a++) a0 += al[a];
        acc[VE_MODEL * Q + q] += e;
        for (int a = s->first[q]; a <= s->last[q]; a++) {
            const double f = k[a] / N;
            acc[VE_BASELINE * Q + q] += fabs(base[a] - f);
            if (truth) {
                acc[VE_MODEL_TRUTH * Q + q] += fabs(al[a] / a0 - truth[a]);
                acc[VE_BASELINE_TRUTH * Q + q] += fabs(base[a] - truth[a]);
                acc[VE_NOISE_FLOOR * Q + q] += fabs(f - truth[a]);
            }
        }
        acc[VE_N * Q + q] += s->last[q] - s->first[q] + 1;
        acc[(VE_N + 1) * Q + q] += 1.0;
        if (N >= vote_majority_min(s)) acc[(VE_N + 2) * Q + 1] += right, acc[(VE_N + 2) * Q + 2] += 1.0;
    }
    acc[(VE_N + 2) * Q] += 1.0;
}

// The model that predicts the concentrations: a Zoobot vote model, or a
// ConvNeXt with a fine-tuning head trained on votes (checkpoint task
// "image_votes": astromm finetune with finetune.target = "votes").
typedef struct {
    int fine_tuned;
    ZoobotModel z;
    ImageClassifier ic;
    float *alpha;  // fine-tuned: [B, A] on the op device
} VoteModel;

static int is_image_votes_checkpoint(const char *path) {
    StFile *sf = NULL;
    AmError e = {{0}};
    if (st_open(&sf, path, &e)) return 0;
    const char *t = st_meta(sf, "task");
    const int yes = t && !strcmp(t, "image_votes");
    st_close(sf);
    return yes;
}

static int vote_model_open(VoteModel *vm, const RunConfig *cfg, int answers, int batch, const char *checkpoint,
                           AmError *err) {
    memset(vm, 0, sizeof *vm);
    ConvNextConfig cc;
    zoobot_convnext_config(&cfg->model, &cc);
    vm->fine_tuned = is_image_votes_checkpoint(checkpoint);
    if (!vm->fine_tuned) {
        zoobot_create(&vm->z, &cc, answers, cfg->model.p_head, batch);
        return params_load(&vm->z.params, checkpoint, err);
    }
    const int head = cfg->image_head == FINETUNE_IMAGE_HEAD_PAPER ? IMAGE_HEAD_PAPER : IMAGE_HEAD_LINEAR;
    image_classifier_create(&vm->ic, &cc, head, answers, 0.0f, batch);  // evaluation: no dropout
    vm->alpha = ops_alloc((size_t)batch * answers * sizeof(float), "vote eval");
    return params_load(&vm->ic.params, checkpoint, err);
}

static const float *vote_model_forward(VoteModel *vm, const float *images, int B, const StepCtx *ctx) {
    if (!vm->fine_tuned) return zoobot_forward(&vm->z, &vm->z.params, images, B, ctx);
    const float *logits = image_classifier_forward(&vm->ic, images, B, ctx);
    op_dirichlet_concentration_forward(vm->alpha, logits, (size_t)B * vm->ic.outputs);
    return vm->alpha;
}

static void vote_model_free(VoteModel *vm) {
    if (!vm->fine_tuned) {
        zoobot_free(&vm->z);
        return;
    }
    image_classifier_free(&vm->ic);
    ops_free(vm->alpha);
}

int vote_eval_run(const RunConfig *cfg, Comm *comm, const char *checkpoint, int split, const char *who, VoteEval *out) {
    memset(out, 0, sizeof *out);
    const int P = comm_size(comm), rank = comm_rank(comm);
    LoaderConfig lt, lc;  // the validation view of vote training, on another split
    task_loader_configs(TASK_VOTES, cfg, &lt, &lc);
    lc.global_batch = (cfg->batch_size + P - 1) / P * P;
    lc.split = split;
    Loader *l = NULL;
    AmError err = {{0}};
    if (loader_open(cfg->data_path, comm, &lc, &l, &err) || loader_vote_schema(l, &out->schema, &err)) {
        if (rank == 0) fprintf(stderr, "%s: error: %s\n", who, err.msg);
        loader_close(l);
        return 1;
    }
    const VoteSchema *s = &out->schema;
    const int A = s->answers, Q = s->n_questions, local = lc.global_batch / P;
    float *base = am_calloc((size_t)A, sizeof *base, "baseline");
    loader_mean_vote_fractions(l, DS_SPLIT_TRAIN, base, &err);
    VoteModel m;
    int rc = vote_model_open(&m, cfg, A, local, checkpoint, &err);
    if (comm_any_failed(comm, rc)) {
        if (rank == 0) fprintf(stderr, "%s: error: %s (a checkpoint of this model and a dataset of %d vote answers?)\n",
                               who, err.msg[0] ? err.msg : "loading the checkpoint failed on a rank", A);
        vote_model_free(&m), loader_close(l), free(base);
        return 1;
    }
    DeviceBatch dev;
    device_batch_alloc(&dev, &cfg->model, local);
    const size_t n_acc = (size_t)(VE_N + 3) * Q;
    double *acc = am_calloc(n_acc, sizeof *acc, "vote eval");
    float *alpha = am_malloc((size_t)local * A * sizeof *alpha, "vote eval");
    for (int64_t b = 0; b < loader_batches_per_epoch(l) && !rc; b++) {
        LoaderBatch lb;
        if ((rc = loader_next(l, &lb, &err))) {
            if (rank == 0) fprintf(stderr, "%s: error: %s\n", who, err.msg);
            break;
        }
        Batch db = device_batch_upload(&dev, &lb.batch);
        StepCtx ctx = {.seed = cfg->seed, .step = 0, .sample_offset = lb.sample_offset, .training = 0};
        const float *al = vote_model_forward(&m, db.images, lb.n, &ctx);
        ops_to_host(alpha, al, (size_t)lb.n * A * sizeof *alpha);
        for (int k = 0; k < lb.n; k++)
            if (lb.valid[k])
                add_row(s, alpha + (size_t)k * A, lb.batch.votes + (size_t)k * A, lb.truth ? lb.truth + (size_t)k * A : NULL,
                        base, acc);
        out->has_truth = lb.truth != NULL;
    }
    comm_allreduce_sum_host(comm, acc, n_acc);
    for (int q = 0; q < Q; q++) {
        const double pairs = acc[VE_N * Q + q];
        for (int e = 0; e < VE_N; e++) out->err[e][q] = pairs > 0 ? acc[e * Q + q] / pairs : NAN;
        out->rows[q] = (int64_t)acc[(VE_N + 1) * Q + q];
    }
    out->objects = (int64_t)acc[(VE_N + 2) * Q];
    out->majority_right = (int64_t)acc[(VE_N + 2) * Q + 1];
    out->majority_total = (int64_t)acc[(VE_N + 2) * Q + 2];
    free(acc), free(alpha), free(base);
    device_batch_free(&dev);
    vote_model_free(&m);
    loader_close(l);
    return rc ? 1 : 0;
}

static const char *const NAMES[VE_N] = {"model", "baseline", "model_vs_truth", "baseline_vs_truth", "noise_floor"};

int vote_eval_report(const VoteEval *e, const char *out_dir, const char *checkpoint, const char *split_name, AmError *err) {
    if (mkdir(out_dir, 0777) && errno != EEXIST) return am_error_set(err, "%s: cannot create (%s)", out_dir, strerror(errno));
    const VoteSchema *s = &e->schema;
    const int n_err = e->has_truth ? VE_N : 2;
    char path[1400];
    snprintf(path, sizeof path, "%s/metrics.json", out_dir);
    TextOut t;
    if (text_out_open(&t, path, err)) return 1;
    FILE *f = t.f;
    fprintf(f, "{\"checkpoint\": \"%s\", \"split\": \"%s\", \"objects\": %lld, \"majority_accuracy\": %.6f, \"questions\": {",
            checkpoint, split_name, (long long)e->objects,
            e->majority_total ? (double)e->majority_right / (double)e->majority_total : 0.0);
    double mean[VE_N] = {0};
    int nq = 0;
    for (int q = 0; q < s->n_questions; q++) {
        fprintf(f, "%s\"%s\": {\"objects\": %lld", q ? ", " : "", s->question[q], (long long)e->rows[q]);
        for (int k = 0; k < n_err; k++) fprintf(f, ", \"mae_%s\": %.6f", NAMES[k], e->err[k][q]);
        fprintf(f, "}");
        if (e->rows[q] > 0) {
            for (int k = 0; k < n_err; k++) mean[k] += e->err[k][q];
            nq++;
        }
    }
    fprintf(f, "}, \"mean\": {");
    for (int k = 0; k < n_err; k++) fprintf(f, "%s\"mae_%s\": %.6f", k ? ", " : "", NAMES[k], nq ? mean[k] / nq : NAN);
    fprintf(f, "}}\n");
    if (text_out_commit(&t, err)) return 1;
    printf("astromm eval: %s split, %lld objects; majority-answer accuracy %.4f (%lld questions with >= %d votes)\n",
           split_name, (long long)e->objects, e->majority_total ? (double)e->majority_right / (double)e->majority_total : 0.0,
           (long long)e->majority_total, vote_majority_min(&e->schema));
    printf("  %-20s %8s %10s %10s", "question (MAE of", "objects", "model", "baseline");
    if (e->has_truth) printf(" %12s %12s %12s", "model-truth", "base-truth", "noise floor");
    printf(")\n");
    for (int q = 0; q < s->n_questions; q++) {
        printf("  %-20s %8lld", s->question[q], (long long)e->rows[q]);
        for (int k = 0; k < n_err; k++) printf(k < 2 ? " %10.4f" : " %12.4f", e->err[k][q]);
        printf("\n");
    }
    printf("  %-20s %8s", "mean", "");
    for (int k = 0; k < n_err; k++) printf(k < 2 ? " %10.4f" : " %12.4f", nq ? mean[k] / nq : NAN);
    printf("\n  -> %s\n", path);
    return 0;
}
