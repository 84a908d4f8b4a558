// The two training tasks (see task.h).
#include "train/task.h"

#include <stdio.h>
#include <string.h>

#include "data/format/dataset.h"
#include "io/params_file.h"
#include "loss/clip.h"

static int subset_bits(int subset) {
    switch (subset) {
    case FINETUNE_SUBSET_SUB50: return DS_SUB50;
    case FINETUNE_SUBSET_SUB25: return DS_SUB25;
    case FINETUNE_SUBSET_SUB10: return DS_SUB10;
    default: return 0;
    }
}

int task_reads_images(int kind) { return kind == TASK_VOTES || kind == TASK_IMAGE_FT; }

void task_loader_configs(int kind, const RunConfig *c, LoaderConfig *train, LoaderConfig *val) {
    loader_config_defaults(train);
    train->global_batch = c->batch_size;
    train->seq_len = c->model.seq_len;
    train->photo_in = c->model.photo_in;
    train->seed = c->seed;
    train->split = DS_SPLIT_TRAIN;
    train->drop_last = c->drop_last;
    train->prefetch = c->prefetch;
    if (kind == TASK_CLIP && c->modalities != MOD_MASK_ALL) {
        // Pre-training on some of the modalities: the objects that have those.
        train->require_all = 0;
        train->require_mask = c->modalities;
    }
    if (kind == TASK_CLASSIFY) {
        // Labelled objects that have what the head reads; the limited-label
        // subsets apply to training and validation alike.
        train->require_all = 0;
        train->require_mask = c->head;
        train->labelled_only = 1;
        train->subset_bits = subset_bits(c->subset);
    }
    if (kind == TASK_IMAGE_FT) {
        // labelled images (votes: those with votes), optionally a few per class
        // or a nested subset as for the stars, optionally CV folds
        train->labelled_only = c->image_target != FINETUNE_TARGET_VOTES;
        train->per_class_limit = c->labels_per_class;
        train->subset_bits = subset_bits(c->subset);
        train->cv_folds = c->cv_folds;
        train->cv_fold = c->cv_fold;
        train->cv_seed = c->cv_seed;
    }
    if (task_reads_images(kind)) {
        // Zoobot's augmentations in training; the plain resized image in validation.
        train->image_size = c->model.image_size;
        train->image_channels = c->model.image_channels;
        train->augment = 1;
        train->crop_scale_lo = 0.7f;
        train->crop_scale_hi = 0.8f;
    }
    *val = *train;
    val->augment = 0;
    val->split = DS_SPLIT_VAL;
    val->shuffle = 0;
    val->crop = LOADER_CROP_CENTER;
    val->per_class_limit = 0;  // validate on every labelled object
    // CLIP: the reference's drop_last batches (the contrastive matrix needs full
    // batches); classification: every validation object once (padding masked).
    val->drop_last = kind == TASK_CLIP;
}

// Image fine-tuning: the encoder from finetune.init (any checkpoint holding it:
// a vote model's classifier.2 is ignored), a fresh head, the trained ranges.
static int setup_image_ft(TrainTask *t, const RunConfig *c, Comm *comm, int local_b, const VoteSchema *schema,
                          int n_classes, AmError *err) {
    const int target = image_ft_target(c->image_target, n_classes), votes = target == IMAGE_TARGET_VOTES;
    t->name = votes ? "image_votes" : "image_classify";
    t->acc_name = votes ? "majority-answer accuracy" : "accuracy";
    t->acc_key = votes ? "vote_acc" : "acc";
    if (target < 0)
        return am_error_set(err, "finetune.target = \"binary\" needs 2 classes; %s has %d", c->data_path, n_classes), -1;
    if (votes && (!schema || schema->answers < 2))
        return am_error_set(err, "finetune.target = \"votes\": %s has no vote counts", c->data_path), -1;
    if (votes && (c->labels_per_class > 0 || c->cv_folds > 0))
        return am_error_set(err, "finetune.target = \"votes\" has no classes to count or stratify: set "
                                 "finetune.labels_per_class and data.cv_folds to 0 (finetune.subset limits the "
                                 "training galaxies)"), -1;
    if (!votes && n_classes < 2)
        return am_error_set(err, "%s: fine-tuning needs labels of at least 2 classes (found %d)", c->data_path,
                            n_classes), -1;
    const int head = c->image_head == FINETUNE_IMAGE_HEAD_PAPER ? IMAGE_HEAD_PAPER : IMAGE_HEAD_LINEAR;
    const int outputs = votes ? schema->answers : target == IMAGE_TARGET_BINARY ? 1 : n_classes;
    ConvNextConfig cc;
    zoobot_convnext_config(&c->model, &cc);
    image_classifier_create(&t->ic, &cc, head, outputs, image_ft_dropout(c->head_dropout, head), local_b);
    image_classifier_init(&t->ic, c->seed);
    if (c->init[0]) {
        const ParamsLoadOptions o = {.fresh_prefix = "head.", .allow_extra = 1};
        if (params_load_with(&t->ic.params, c->init, &o, err)) {
            image_classifier_free(&t->ic);
            return -1;
        }
    }
    if (votes) t->schema = *schema;
    image_ft_step_init(&t->ift, &t->ic, comm, local_b, target, n_classes, votes ? schema : NULL, c->unfreeze_blocks,
                       c->lr_decay);
    t->params = &t->ic.params;
    t->n_ranges = t->ift.n_ranges;
    memcpy(t->ranges, t->ift.ranges, (size_t)t->n_ranges * sizeof t->ranges[0]);
    memcpy(t->range_lr, t->ift.lr_scale, (size_t)t->n_ranges * sizeof t->range_lr[0]);
    t->range_lr_set = 1;
    return 0;
}

int task_setup(TrainTask *t, int kind, const RunConfig *c, Comm *comm, int local_b, const VoteSchema *schema,
               int n_classes, AmError *err) {
    memset(t, 0, sizeof *t);
    t->kind = kind;
    if (kind == TASK_IMAGE_FT) return setup_image_ft(t, c, comm, local_b, schema, n_classes, err);
    if (kind == TASK_VOTES) {
        t->name = "votes";
        t->acc_name = "majority-answer accuracy";
        t->acc_key = "vote_acc";
        t->schema = *schema;
        ConvNextConfig cc;
        zoobot_convnext_config(&c->model, &cc);
        zoobot_create(&t->zm, &cc, schema->answers, c->model.p_head, local_b);
        zoobot_init(&t->zm, c->seed);
        vote_step_init(&t->votes, &t->zm, schema, comm, local_b);
        t->params = &t->zm.params;
        t->ranges[0][0] = 0;
        t->ranges[0][1] = t->params->n_train_floats;
        t->n_ranges = 1;
        return 0;
    }
    t->params = &t->m.params;
    if (kind == TASK_CLIP) {
        t->name = "clip";
        t->acc_name = "CLIP accuracy";
        t->acc_key = "clip_acc";
        astrom3_create(&t->m, &c->model, local_b);
        astrom3_init(&t->m, c->seed);
        const int mask = c->modalities;
        const DistStepOptions o = {.scope = c->loss_scope == TRAIN_LOSS_LOCAL ? DIST_LOSS_LOCAL : DIST_LOSS_GLOBAL,
                                   .bucket_bytes = (size_t)(c->bucket_mb * 1048576.0),
                                   .modalities = mask};
        dist_step_init(&t->dist, &t->m, comm, local_b, &o);
        if (mask == MOD_MASK_ALL) {
            t->ranges[0][0] = 0;
            t->ranges[0][1] = t->m.params.n_train_floats;
            t->n_ranges = 1;
        } else {
            t->n_ranges = dist_step_trainable_ranges(&t->dist, t->ranges, CLS_MAX_RANGES);
        }
        return 0;
    }
    t->name = "classify";
    t->acc_name = "accuracy";
    t->acc_key = "acc";
    astrom3_create_with_head(&t->m, &c->model, local_b, c->head);
    astrom3_init(&t->m, c->seed);
    if (c->init[0] && params_load_except(&t->m.params, c->init, "classifier.", err)) {
        astrom3_free(&t->m);
        return -1;
    }
    cls_step_init(&t->cls, &t->m, comm, local_b, c->freeze);
    memcpy(t->ranges, t->cls.ranges, sizeof t->ranges);
    t->n_ranges = t->cls.n_ranges;
    return 0;
}

void task_free(TrainTask *t) {
    if (!t->name) return;
    if (t->kind == TASK_IMAGE_FT) {
        image_ft_step_free(&t->ift);
        image_classifier_free(&t->ic);
        memset(t, 0, sizeof *t);
        return;
    }
    if (t->kind == TASK_VOTES) {
        vote_step_free(&t->votes);
        zoobot_free(&t->zm);
        memset(t, 0, sizeof *t);
        return;
    }
    if (t->kind == TASK_CLIP)
        dist_step_free(&t->dist);
    else
        cls_step_free(&t->cls);
    astrom3_free(&t->m);
    memset(t, 0, sizeof *t);
}

static TaskStats from_clip(const DistStepResult *r) {
    return (TaskStats){.loss = r->loss, .part = {r->loss_pair[0], r->loss_pair[1], r->loss_pair[2]},
                       .correct = r->correct, .n = r->n_global, .rows = r->n_global, .comm_seconds = r->comm_seconds};
}

static TaskStats from_cls(const ClsStepResult *r) {
    return (TaskStats){.loss = r->loss, .correct = r->correct, .n = r->n, .rows = r->n, .comm_seconds = r->comm_seconds};
}

static TaskStats from_votes(const VoteStepResult *r) {
    TaskStats st = {.loss = r->loss, .correct = r->correct, .n = r->n, .rows = r->rows, .comm_seconds = r->comm_seconds};
    memcpy(st.mae_sum, r->mae_sum, sizeof st.mae_sum);
    memcpy(st.mae_n, r->mae_n, sizeof st.mae_n);
    return st;
}

static TaskStats from_image_ft(const TrainTask *t, const ImageFtResult *r) {
    if (t->ift.target == IMAGE_TARGET_VOTES) return from_votes(&r->votes);
    return (TaskStats){.loss = r->loss, .correct = r->correct, .n = r->n, .rows = r->n, .comm_seconds = r->comm_seconds};
}

TaskStats task_step(TrainTask *t, const Batch *db, const LoaderBatch *lb, const StepCtx *ctx) {
    if (t->kind == TASK_IMAGE_FT) {
        const ImageFtTargets y = {lb->batch.labels, lb->batch.votes, lb->valid};
        const ImageFtResult r = image_ft_step_forward_backward(&t->ift, db, &y, ctx);
        return from_image_ft(t, &r);
    }
    if (t->kind == TASK_VOTES) {
        const VoteStepResult r = vote_step_forward_backward(&t->votes, db, lb->batch.votes, lb->valid, ctx);
        return from_votes(&r);
    }
    if (t->kind == TASK_CLIP) {
        const DistStepResult r = dist_step_forward_backward(&t->dist, db, ctx);
        return from_clip(&r);
    }
    const ClsStepResult r = cls_step_forward_backward(&t->cls, db, lb->batch.labels, lb->valid, ctx);
    return from_cls(&r);
}

TaskStats task_evaluate(TrainTask *t, const Batch *db, const LoaderBatch *lb, const StepCtx *ctx) {
    if (t->kind == TASK_IMAGE_FT) {
        const ImageFtTargets y = {lb->batch.labels, lb->batch.votes, lb->valid};
        const ImageFtResult r = image_ft_step_evaluate(&t->ift, db, &y, ctx, NULL);
        return from_image_ft(t, &r);
    }
    if (t->kind == TASK_VOTES) {
        const VoteStepResult r = vote_step_evaluate(&t->votes, db, lb->batch.votes, lb->valid, ctx);
        return from_votes(&r);
    }
    if (t->kind == TASK_CLIP) {
        const DistStepResult r = dist_step_evaluate(&t->dist, db, ctx);
        return from_clip(&r);
    }
    const ClsStepResult r = cls_step_evaluate(&t->cls, db, lb->batch.labels, lb->valid, ctx, NULL, NULL);
    return from_cls(&r);
}

// Per question "mae_<question>" and their mean "vote_mae".
static void log_vote_errors(const VoteSchema *s, MetricsWriter *w, const TaskStats *st) {
    double mean = 0.0;
    int nq = 0;
    for (int q = 0; q < s->n_questions; q++) {
        if (st->mae_n[q] <= 0) continue;
        char key[VOTE_NAME_MAX + 8];
        snprintf(key, sizeof key, "mae_%s", s->question[q]);
        const double e = st->mae_sum[q] / st->mae_n[q];
        metrics_num(w, key, e);
        mean += e;
        nq++;
    }
    if (nq) metrics_num(w, "vote_mae", mean / nq);
}

void task_log_fields(TrainTask *t, MetricsWriter *w, const TaskStats *st) {
    if (t->kind == TASK_VOTES || (t->kind == TASK_IMAGE_FT && t->ift.target == IMAGE_TARGET_VOTES))
        return log_vote_errors(&t->schema, w, st);
    if (t->kind != TASK_CLIP) return;
    metrics_num(w, "loss_ps", st->part[0]);
    metrics_num(w, "loss_sm", st->part[1]);
    metrics_num(w, "loss_mp", st->part[2]);
    float ls[3];
    astrom3_log_scales(&t->m, ls);
    static const char *const keys[3] = {"scale_ps", "scale_sm", "scale_mp"};
    for (int i = 0; i < 3; i++) {
        int live;
        metrics_num(w, keys[i], clip_logit_scale(ls[i], &live));
    }
}

const char *task_head_name(const TrainTask *t) {
    if (t->kind == TASK_IMAGE_FT) return image_head_name(t->ic.kind);
    return t->kind == TASK_VOTES ? "votes" : modality_mask_name(t->m.head_mask);
}
