// Evaluation of a fine-tuned image classifier: see image_classify_eval.h.
#include "eval/image_classify_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/loader/loader.h"
#include "io/params_file.h"
#include "io/safetensors.h"
#include "models/device_batch.h"
#include "models/zoobot.h"
#include "train/image_ft_step.h"
#include "train/task.h"

int image_classify_checkpoint(const char *path) {
    StFile *sf = NULL;
    AmError e = {{0}};
    if (st_open(&sf, path, &e)) return 0;
    const char *t = st_meta(sf, "task");
    const int yes = t && !strcmp(t, "image_classify");
    st_close(sf);
    return yes;
}

typedef struct {
    int64_t id;
    int32_t label, pred;
    float prob;
    int32_t valid;
} Row;

int image_classify_eval_run(const RunConfig *cfg, Comm *comm, const char *checkpoint, int split, const char *who,
                            ClassifyEval *out) {
    memset(out, 0, sizeof *out);
    const int P = comm_size(comm), rank = comm_rank(comm);
    LoaderConfig lt, lc;  // the validation view of fine-tuning (CV folds included), on another split
    task_loader_configs(TASK_IMAGE_FT, cfg, &lt, &lc);
    lc.global_batch = (cfg->batch_size + P - 1) / P * P;
    lc.split = split;
    Loader *l = NULL;
    AmError err = {{0}};
    if (loader_open(cfg->data_path, comm, &lc, &l, &err)) {
        if (rank == 0) fprintf(stderr, "%s: error: %s\n", who, err.msg);
        loader_close(l);
        return 1;
    }
    const int C = loader_n_classes(l), b = lc.global_batch / P;
    const int target = image_ft_target(cfg->image_target, C);
    if (target < 0 || target == IMAGE_TARGET_VOTES) {
        if (rank == 0 && target < 0)
            fprintf(stderr, "%s: error: finetune.target = \"binary\" needs 2 classes; %s has %d\n", who, cfg->data_path, C);
        else if (rank == 0)
            fprintf(stderr, "%s: error: finetune.target = \"votes\" but %s is a classifier's checkpoint\n", who, checkpoint);
        loader_close(l);
        return 2;
    }
    const int head = cfg->image_head == FINETUNE_IMAGE_HEAD_PAPER ? IMAGE_HEAD_PAPER : IMAGE_HEAD_LINEAR;
    ConvNextConfig cc;
    zoobot_convnext_config(&cfg->model, &cc);
    ImageClassifier m;
    image_classifier_create(&m, &cc, head, target == IMAGE_TARGET_BINARY ? 1 : C, image_ft_dropout(cfg->head_dropout, head), b);
    int rc = params_load(&m.params, checkpoint, &err);
    if (comm_any_failed(comm, rc)) {
        if (rc) fprintf(stderr, "%s: error: %s (the checkpoint of this run's model, head and %d classes?)\n", who, err.msg, C);
        image_classifier_free(&m);
        loader_close(l);
        return 2;
    }
    out->n_classes = C;
    out->class_names = am_malloc((size_t)C * sizeof *out->class_names, "class names");
    const char *const *names = loader_class_names(l);
    for (int c = 0; c < C; c++) out->class_names[c] = am_strdup(names[c], "class name");
    confusion_init(&out->conf, C);
    ImageFtStep s;
    image_ft_step_init(&s, &m, comm, b, target, C, NULL, 0, 1.0f);
    DeviceBatch dev;
    device_batch_alloc(&dev, &cfg->model, b);
    Row *send = am_calloc((size_t)b, sizeof *send, "eval rows"), *recv = NULL;
    int32_t *pred = am_malloc((size_t)b * sizeof *pred, "eval predictions");
    if (rank == 0) recv = am_malloc((size_t)b * P * sizeof *recv, "eval rows");
    double loss = 0, n_loss = 0;
    for (int64_t k = 0; k < loader_batches_per_epoch(l) && !rc; k++) {
        LoaderBatch lb;
        if ((rc = loader_next(l, &lb, &err))) {
            fprintf(stderr, "%s: error: %s\n", who, err.msg);
            break;
        }
        Batch db = device_batch_upload(&dev, &lb.batch);
        StepCtx ctx = {.seed = cfg->seed, .step = 0, .sample_offset = lb.sample_offset, .training = 0};
        const ImageFtTargets y = {.labels = lb.batch.labels, .valid = lb.valid};
        const ImageFtResult r = image_ft_step_evaluate(&s, &db, &y, &ctx, pred);
        loss += (double)r.loss * (double)r.n;
        n_loss += (double)r.n;
        for (int i = 0; i < lb.n; i++) {
            const float *z = s.host_logits + (size_t)i * m.outputs;
            float p;
            if (target == IMAGE_TARGET_BINARY) {
                const float q = 1.0f / (1.0f + expf(-z[0]));
                p = pred[i] ? q : 1.0f - q;
            } else {
                double sum = 0;
                for (int c = 0; c < C; c++) sum += exp((double)z[c] - z[pred[i]]);
                p = (float)(1.0 / sum);
            }
            send[i] = (Row){lb.ids[i], lb.batch.labels[i], pred[i], p, lb.valid[i]};
        }
        comm_gather_rows(comm, send, recv, sizeof *send, (size_t)b, 0);
        if (rank == 0)
            for (int i = 0; i < b * P; i++)
                if (recv[i].valid) {
                    classify_eval_push(out, recv[i].id, recv[i].label, recv[i].pred, recv[i].prob);
                    confusion_add(&out->conf, recv[i].label, recv[i].pred);
                }
    }
    out->loss = n_loss > 0 ? loss / n_loss : 0.0;
    free(send), free(recv), free(pred);
    device_batch_free(&dev);
    image_ft_step_free(&s);
    image_classifier_free(&m);
    loader_close(l);
    return comm_any_failed(comm, rc) ? 1 : 0;
}
