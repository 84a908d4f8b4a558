// The training loop (see trainer.h for the contract): set-up, epochs, steps,
// validation, logs. Checkpoints and resume: trainer_ckpt.c.
#define _POSIX_C_SOURCE 200809L

#include "core/clock.h"
#include "train/trainer_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/run_config.h"
#include "data/format/dataset.h"
#include "models/device_batch.h"
#include "data/loader/loader.h"
#include "nn/ops.h"
#include "optim/adam.h"
#include "train/metrics.h"
#include "train/schedule.h"
#include "train/preempt_writer.h"
#include "train/progress_dest.h"
#include "train/signals.h"
#include "train/task.h"
#include "train/train_state.h"
#include "train/watchdog.h"


// Rank 0: a line on stdout (or stderr) and in train.log.
void trainer_say(Trainer *T, FILE *to, const char *fmt, ...) {
    if (T->rank != 0) return;
    progress_break(&T->prog);
    va_list ap;
    va_start(ap, fmt);
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(to, "astromm %s: %s\n", T->kind == TASK_CLASSIFY || T->kind == TASK_IMAGE_FT ? "finetune" : "train", line);
    fflush(to);
    if (T->log) {
        fprintf(T->log, "%s\n", line);
        fflush(T->log);
    }
}

static int mkdir_p(const char *path) {
    char tmp[PATH_CAP];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0775) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0775) != 0 && errno != EEXIST ? -1 : 0;
}

// The configuration that determines the numbers: paths, devices, threads,
// timeouts, run length and checkpoint cadence may change on resume.
static uint64_t config_hash(const RunConfig *cfg, int kind) {
    RunConfig h = *cfg, d;
    run_config_defaults(&d);
    memcpy(h.run_dir, d.run_dir, sizeof h.run_dir);
    memcpy(h.data_path, d.data_path, sizeof h.data_path);
    h.device = d.device;
    memcpy(h.source, d.source, sizeof h.source);
    memcpy(h.init, d.init, sizeof h.init);
    h.threads = d.threads;
    h.hang_timeout = d.hang_timeout;
    h.prefetch = d.prefetch;
    h.epochs = d.epochs;
    h.max_steps = d.max_steps;
    h.checkpoint_every = d.checkpoint_every;
    h.keep_last = d.keep_last;
    char *text = run_config_text(&h);
    CHECK(text, "out of memory (config text)");
    const uint64_t v = train_config_hash(text) ^ (uint64_t)kind * 0x9e3779b97f4a7c15ull;
    free(text);
    return v;
}

// ------------------------------------------------------------------ steps

static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

// Which modality went non-finite first (embeddings, then parameter gradients).
static void nonfinite_where(Trainer *T, char *out, size_t cap) {
    const size_t ne = (size_t)T->local_b * (size_t)T->cfg->model.proj_dim;
    float *h = malloc(ne * sizeof *h);
    for (int i = 0; i < MOD_COUNT && h && T->m && !T->m->head_mask; i++) {
        ops_to_host(h, T->m->emb[i], ne * sizeof *h);
        if (!all_finite(h, ne)) {
            snprintf(out, cap, "%s embeddings", modality_name(i));
            free(h);
            return;
        }
    }
    free(h);
    const ParamStore *ps = T->task.params;
    for (int k = 0; k < ps->n; k++) {
        float *g = params_grad(ps, k);
        if (!g) continue;
        const size_t cnt = (size_t)ps->info[k].numel;
        float *hg = malloc(cnt * sizeof *hg);
        ops_to_host(hg, g, cnt * sizeof *hg);
        const int ok = all_finite(hg, cnt);
        free(hg);
        if (!ok) {
            snprintf(out, cap, "gradient of %s", ps->info[k].name);
            return;
        }
    }
    snprintf(out, cap, "loss only (embeddings and gradients finite)");
}

typedef struct {
    double loss, acc;
} EvalResult;

static int validate(Trainer *T, EvalResult *out) {
    AmError err = {{0}};
    if (loader_seek(T->val, 0, 0, &err)) return TRAIN_ERROR;
    const int64_t nb = loader_batches_per_epoch(T->val);
    double loss = 0, rows = 0, correct = 0, n = 0;  // loss weighted by rows: the mean over the split
    for (int64_t b = 0; b < nb; b++) {
        watchdog_beat("validation");
        LoaderBatch lb;
        if (loader_next(T->val, &lb, &err)) {
            trainer_say(T, stderr, "error: %s", err.msg);
            return TRAIN_ERROR;
        }
        Batch db = device_batch_upload(&T->dev, &lb.batch);
        StepCtx ctx = {.seed = T->cfg->seed, .step = (uint64_t)T->step, .sample_offset = lb.step * T->B,
                       .training = 0};
        const TaskStats r = task_evaluate(&T->task, &db, &lb, &ctx);
        loss += (double)r.loss * (double)r.rows;
        rows += (double)r.rows;
        correct += (double)r.correct;
        n += (double)r.n;
    }
    out->loss = loss / rows;
    out->acc = n > 0 ? correct / n : NAN;
    return TRAIN_OK;
}

static void log_step(Trainer *T, const LoaderBatch *lb, const TaskStats *r, float gn, double t_data,
                     double t_step) {
    const double sps = (double)T->B / (t_data + t_step);
    if (T->rank != 0) {
        if (T->kind == TASK_CLIP) {  // reads the logit scales: every rank takes part on a device
            float ls[3];
            astrom3_log_scales(T->m, ls);
        }
        return;
    }
    MetricsWriter *w = &T->metrics;
    metrics_begin(w);
    metrics_str(w, "kind", "step");
    metrics_int(w, "step", T->step);
    metrics_int(w, "epoch", lb->epoch);
    metrics_int(w, "batch", lb->step);
    metrics_num(w, "loss", r->loss);
    metrics_num(w, T->task.acc_key, (double)r->correct / (double)r->n);
    task_log_fields(&T->task, w, r);
    metrics_num(w, "lr", T->opt.lr);
    metrics_num(w, "grad_norm", gn);
    metrics_num(w, "samples_per_s", sps);
    metrics_num(w, "t_compute", t_step - r->comm_seconds);
    metrics_num(w, "t_comm", r->comm_seconds);
    metrics_num(w, "t_data", t_data);
    metrics_num(w, "peak_rss_mib", am_peak_rss_mib());
    AmError err = {{0}};
    if (metrics_end(w, &err)) trainer_say(T, stderr, "warning: %s", err.msg);
    // Global step over the whole run, so the rate (and the ETA to the end of
    // train.epochs, or of train.max_steps) spans epoch boundaries.
    int64_t total = (int64_t)T->cfg->epochs * loader_batches_per_epoch(T->train);
    if (T->cfg->max_steps > 0 && T->cfg->max_steps < total) total = T->cfg->max_steps;
    progress_update(&T->prog, am_now_s(), lb->epoch, T->step, total, r->loss, sps);
}

// ------------------------------------------------------------------ setup

static int open_loaders(Trainer *T) {
    const RunConfig *c = T->cfg;
    LoaderConfig lt, lv;
    task_loader_configs(T->kind, c, &lt, &lv);
    AmError err = {{0}};
    if (loader_open(c->data_path, T->comm, &lt, &T->train, &err)) {
        trainer_say(T, stderr, "error: training data: %s", err.msg);
        return TRAIN_ERROR;
    }
    if (loader_open(c->data_path, T->comm, &lv, &T->val, &err)) {
        trainer_say(T, stderr, "error: validation data: %s", err.msg);
        return TRAIN_ERROR;
    }
    const ModelConfig *mc = &c->model;
    if (loader_is_images(T->train) != task_reads_images(T->kind)) {
        trainer_say(T, stderr, "error: %s: the dataset %s holds %s but model.family is \"%s\"; hint: --set "
                    "model.family=%s", c->source, c->data_path, loader_is_images(T->train) ? "images" : "stars",
                    run_config_value_name("model.family", mc->family), loader_is_images(T->train) ? "convnext" : "astrom3");
        return TRAIN_BAD_CONFIG;
    }
    if (loader_check_model_inputs(T->train, mc->spec_len, mc->spec_in, mc->meta_in, mc->photo_in, &err)) {
        trainer_say(T, stderr, "error: %s: %s", c->source, err.msg);
        return TRAIN_BAD_CONFIG;
    }
    // A label outside the head would stop the run at its first batch; say it now.
    if (T->kind == TASK_CLASSIFY && loader_n_classes(T->train) != c->model.n_classes) {
        trainer_say(T, stderr, "error: %s: the dataset %s has %d classes but model.n_classes is %d; hint: --set "
                    "model.n_classes=%d", c->source, c->data_path, loader_n_classes(T->train), c->model.n_classes,
                    loader_n_classes(T->train));
        return TRAIN_BAD_CONFIG;
    }
    return TRAIN_OK;
}

static int setup(Trainer *T, const RunConfig *cfg, Comm *comm, int kind) {
    T->cfg = cfg;
    T->kind = kind;
    T->comm = comm;
    T->rank = comm_rank(comm);
    T->size = comm_size(comm);
    T->B = cfg->batch_size;
    T->last_ckpt = -1;
    T->written_step = -1;
    T->best_acc = -1.0;
    T->best_loss = INFINITY;
    const int dest = progress_dest_resolve(cfg->progress, stdout);  // run.progress, see progress_dest.h
    progress_init(&T->prog, dest == PROGRESS_OFF ? NULL : stdout, 10.0, 0);
    T->prog.tty = dest == PROGRESS_TTY;
    if (!cfg->data_path[0]) {
        trainer_say(T, stderr, "error: %s: data.path is not set (a dataset from astromm synth or ingest)", cfg->source);
        return TRAIN_BAD_CONFIG;
    }
    if (cfg->batch_size % T->size) {
        trainer_say(T, stderr, "error: %s: train.batch_size %d is not a multiple of the %d ranks", cfg->source,
            cfg->batch_size, T->size);
        return TRAIN_BAD_CONFIG;
    }
    AmError ferr;
    if (!task_reads_images(kind) && loader_check_model_inputs(NULL, cfg->model.spec_len, cfg->model.spec_in,
                                                        cfg->model.meta_in, cfg->model.photo_in, &ferr)) {
        trainer_say(T, stderr, "error: %s: %s", cfg->source, ferr.msg);
        return TRAIN_BAD_CONFIG;
    }
    T->local_b = cfg->batch_size / T->size;
    snprintf(T->root, sizeof T->root, "%s/checkpoints", cfg->run_dir);
    T->config_hash = config_hash(cfg, kind);

    int rc = 0;
    if (T->rank == 0) {
        char path[PATH_CAP + 32], err[512];
        if (mkdir_p(cfg->run_dir) != 0) {
            fprintf(stderr, "astromm train: error: cannot create run directory %s: %s\n", cfg->run_dir,
                    strerror(errno));
            rc = 1;
        }
        if (!rc && trainer_lock_run_dir(T)) rc = 1;  // before anything in run.dir is written
        if (!rc) trainer_clear_preempted_marker(T);
        snprintf(path, sizeof path, "%s/config.cfg", cfg->run_dir);
        if (!rc && run_config_write(cfg, path, err, sizeof err)) {
            fprintf(stderr, "astromm train: error: %s\n", err);
            rc = 1;
        }
        snprintf(path, sizeof path, "%s/train.log", cfg->run_dir);
        if (!rc && !(T->log = fopen(path, "a"))) {
            fprintf(stderr, "astromm train: error: cannot open %s: %s\n", path, strerror(errno));
            rc = 1;
        }
        snprintf(path, sizeof path, "%s/metrics.jsonl", cfg->run_dir);
        AmError e = {{0}};
        if (!rc && metrics_open(&T->metrics, path, &e)) {
            fprintf(stderr, "astromm train: error: %s\n", e.msg);
            rc = 1;
        }
        T->metrics_open = !rc;
    }
    if (comm_any_failed(T->comm, rc)) return TRAIN_ERROR;
    {  // whichever rank's watchdog fires, train.log says why the run ended
        char log_path[PATH_CAP + 32];
        snprintf(log_path, sizeof log_path, "%s/train.log", cfg->run_dir);
        watchdog_log_to(log_path);
    }
    watchdog_beat("opening the dataset");
    if ((rc = open_loaders(T))) return rc;

    AmError terr = {{0}};
    VoteSchema schema = {0};
    // vote fine-tuning reads the dataset's schema too
    const int votes_target = kind == TASK_IMAGE_FT && cfg->image_target == FINETUNE_TARGET_VOTES;
    if ((kind == TASK_VOTES || votes_target) && loader_vote_schema(T->train, &schema, &terr)) {
        trainer_say(T, stderr, "error: %s", terr.msg);
        return TRAIN_BAD_CONFIG;
    }
    rc = task_setup(&T->task, kind, cfg, comm, T->local_b, &schema, loader_n_classes(T->train), &terr);
    if (comm_any_failed(T->comm, rc)) {
        if (rc) fprintf(stderr, "astromm: rank %d: error: %s\n", T->rank, terr.msg);
        return TRAIN_ERROR;
    }
    T->m = task_reads_images(kind) ? NULL : &T->task.m;
    if (kind == TASK_CLASSIFY) {
        // Classes the training objects do not have are never predicted; optional
        // balanced loss weights (finetune.class_weights, cls_step_set_classes).
        const int C = cfg->model.n_classes;
        int64_t *counts = am_calloc((size_t)C, sizeof *counts, "class counts");
        loader_class_counts(T->train, counts);
        cls_step_set_classes(&T->task.cls, counts, cfg->class_weights == FINETUNE_WEIGHTS_BALANCED);
        const char *const *names = loader_class_names(T->train);
        char dead[1024] = "";
        size_t used = 0;
        for (int c = 0; c < C; c++) {
            if (c < (int)sizeof T->class_live - 1) T->class_live[c] = counts[c] > 0 ? '1' : '0';
            if (!counts[c] && used < sizeof dead - 80)
                used += (size_t)snprintf(dead + used, sizeof dead - used, "%s%s", used ? ", " : "", names[c]);
        }
        T->class_live[C < (int)sizeof T->class_live - 1 ? C : 0] = 0;  // too many classes: not recorded
        if (used)
            trainer_say(T, stdout, "classes without a training example (never predicted): %s", dead);
        if (cfg->class_weights == FINETUNE_WEIGHTS_BALANCED && T->task.cls.weight) {
            char wl[1024] = "";
            size_t u = 0;
            for (int c = 0; c < C && u < sizeof wl - 80; c++)
                if (counts[c]) u += (size_t)snprintf(wl + u, sizeof wl - u, "%s%s %.3g", u ? ", " : "", names[c],
                                                     (double)T->task.cls.weight[c]);
            trainer_say(T, stdout, "class weights (balanced): %s", wl);
        }
        free(counts);
    }
    if ((kind == TASK_CLASSIFY || kind == TASK_IMAGE_FT) && cfg->init[0])
        trainer_say(T, stdout, "initialised the encoders from %s (classifier head %s: fresh)", cfg->init,
            task_head_name(&T->task));
    if (kind == TASK_IMAGE_FT)
        trainer_say(T, stdout, "fine-tuning: %s head, %s target, %d of 5 encoder blocks trained (lr decay %.3g)%s",
                    task_head_name(&T->task), T->task.ift.target == IMAGE_TARGET_BINARY ? "binary" : T->task.ift.target == IMAGE_TARGET_VOTES ? "vote (Dirichlet)" : "class",
                    cfg->unfreeze_blocks, (double)cfg->lr_decay, cfg->unfreeze_blocks ? "" : ": a frozen encoder");
    device_batch_alloc(&T->dev, &cfg->model, T->local_b);
    T->n = T->task.params->n_train_floats;
    if (cfg->optimizer == TRAIN_OPTIMIZER_ADAMW)
        adamw_init(&T->opt, T->n, cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay);
    else
        adam_init(&T->opt, T->n, cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay);
    if (ops_device() == OPS_CPU) {
        T->host_m = T->opt.m;
        T->host_v = T->opt.v;
    } else {
        T->host_m = am_malloc(T->n * sizeof(float), "moments (host)");
        T->host_v = am_malloc(T->n * sizeof(float), "moments (host)");
    }
    ScheduleConfig sc;
    sched_config_default(&sc, cfg->lr);
    sc.warmup_start_factor = cfg->warmup_start_factor;
    sc.warmup_epochs = cfg->warmup_epochs;
    sc.kind = cfg->schedule == TRAIN_SCHEDULE_COSINE ? SCHED_COSINE : SCHED_PLATEAU;
    sc.factor = cfg->plateau_factor;
    sc.patience = cfg->plateau_patience;
    sc.threshold = cfg->plateau_threshold;
    sc.min_lr = cfg->min_lr;
    sc.total_epochs = cfg->epochs;
    sc.early_stop_patience = cfg->early_stop_patience;
    AmError e = {{0}};
    if (sched_init(&T->sched, &sc, &e)) {
        trainer_say(T, stderr, "error: %s: %s", cfg->source, e.msg);
        return TRAIN_BAD_CONFIG;
    }
    return TRAIN_OK;
}

static void teardown(Trainer *T) {
    loader_close(T->train);
    loader_close(T->val);
    if (T->task.params) {
        device_batch_free(&T->dev);
        if (T->host_m != T->opt.m) {
            free(T->host_m);
            free(T->host_v);
        }
        adam_free(&T->opt);
        task_free(&T->task);
    }
    if (T->metrics_open) {
        AmError e = {{0}};
        metrics_close(&T->metrics, &e);
    }
    if (T->log) fclose(T->log);
    trainer_unlock_run_dir(T);
}

// ------------------------------------------------------------------ the loop

// Testing knobs (tests/cli/train_*.sh), read from the environment:
// ASTROMM_FAULT_NAN_STEP=k turns rank 0's metadata inputs of step k into NaN, as
// a corrupt catalogue row would; ASTROMM_TEST_STEP_DELAY_MS=t sleeps t ms per
// step so a signal can be sent mid-run to a model that trains in milliseconds.
static int64_t fault_nan_step(void) {
    const char *s = getenv("ASTROMM_FAULT_NAN_STEP");
    return s && *s ? atoll(s) : -1;
}

static void test_step_delay(void) {
    const char *s = getenv("ASTROMM_TEST_STEP_DELAY_MS");
    const long ms = s && *s ? atol(s) : 0;
    // The whole delay even when a signal interrupts it: it stands for a long
    // computation, which a signal does not cut short either.
    struct timespec left = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

// One epoch's training steps from the loader's current position. Returns
// TRAIN_OK, or the code to exit with; *done = 1 when max_steps was reached.
static int train_epoch(Trainer *T, int *done) {
    const RunConfig *c = T->cfg;
    AmError err = {{0}};
    int64_t le, lbatch;
    loader_position(T->train, &le, &lbatch);
    while (le == T->epoch) {
        watchdog_beat("training step");
        double t0 = am_now_s();
        LoaderBatch lb;
        if (loader_next(T->train, &lb, &err)) {
            trainer_say(T, stderr, "error: %s", err.msg);
            return TRAIN_ERROR;
        }
        if (T->step == fault_nan_step() && T->rank == 0)  // testing knob, see fault_nan_step
            for (size_t i = 0; i < (size_t)lb.n * (size_t)loader_meta_cols(T->train); i++) ((float *)lb.batch.metadata)[i] = NAN;
        Batch db = device_batch_upload(&T->dev, &lb.batch);
        const double t_data = am_now_s() - t0;
        t0 = am_now_s();
        StepCtx ctx = {.seed = c->seed, .step = (uint64_t)T->step, .sample_offset = lb.step * T->B, .training = 1};
        const TaskStats r = task_step(&T->task, &db, &lb, &ctx);
        test_step_delay();
        const float gn = clip_grad_norm(T->task.params->grad, T->n, c->clip_norm);
        if (!isfinite(r.loss) || !isfinite(gn)) {
            char where[256], kept[PATH_CAP + 96];
            nonfinite_where(T, where, sizeof where);
            trainer_say(T, stderr, "error: step %lld (epoch %lld, batch %lld): loss %g (ps %g, sm %g, mp %g), gradient norm "
                "%g; first non-finite: %s. Stopping without updating; %s",
                (long long)T->step, (long long)lb.epoch, (long long)lb.step, (double)r.loss, (double)r.part[0],
                (double)r.part[1], (double)r.part[2], (double)gn, where, trainer_kept_ckpt(T, kept, sizeof kept));
            return TRAIN_NONFINITE;
        }
        // What a checkpoint holds changes only here, under the preemption writer's lock.
        preempt_lock(&T->pw);
        adam_step_ranges_scaled(&T->opt, T->task.params->data, T->task.params->grad, T->task.ranges,
                                T->task.range_lr_set ? T->task.range_lr : NULL, T->task.n_ranges);
        ops_synchronize();
        T->step++;
        trainer_snapshot(T);
        preempt_unlock(&T->pw);
        log_step(T, &lb, &r, gn, t_data, am_now_s() - t0);
        loader_position(T->train, &le, &lbatch);

        if (comm_any_failed(T->comm, signals_pending() != 0)) return trainer_preempted(T);
        if (c->max_steps > 0 && T->step >= c->max_steps) {
            *done = 1;
            trainer_say(T, stdout, "reached train.max_steps = %d", c->max_steps);
            return trainer_checkpoint(T, 0) ? TRAIN_ERROR : TRAIN_OK;
        }
        if (c->checkpoint_every > 0 && T->step % c->checkpoint_every == 0 && trainer_checkpoint(T, 0)) return TRAIN_ERROR;
    }
    return TRAIN_OK;
}

static int train_loop(Trainer *T) {
    const RunConfig *c = T->cfg;
    size_t trained = 0;
    for (int r = 0; r < T->task.n_ranges; r++) trained += T->task.ranges[r][1];
    trainer_say(T, stdout, "%s: %d rank(s), device %s, %lld training / %lld validation objects, global batch %lld "
        "(%d per rank), %lld steps per epoch, %zu parameters (%zu trained), run directory %s",
        T->kind == TASK_CLIP ? "CLIP pre-training" : T->kind == TASK_VOTES ? "vote pre-training (Dirichlet)" : "fine-tuning",
        T->size, ops_device_name(),
        (long long)loader_size(T->train), (long long)loader_size(T->val), (long long)T->B, T->local_b,
        (long long)loader_batches_per_epoch(T->train), T->n, trained, c->run_dir);
    while (T->epoch < c->epochs) {
        T->opt.lr = sched_lr(&T->sched);
        const double t_epoch = am_now_s();
        int done = 0, rc = train_epoch(T, &done);
        if (rc || done) return rc;
        EvalResult v;
        if ((rc = validate(T, &v))) return rc;
        const float lr_used = T->opt.lr;
        preempt_lock(&T->pw);
        const int stop = sched_end_epoch(&T->sched, v.loss);
        T->epoch++;
        // Accuracy that counts nothing on the validation split (n = 0: NaN, e.g.
        // no question with enough votes) cannot rank epochs: the lowest
        // validation loss does, so a best checkpoint always exists.
        const int best = isnan(v.acc) ? v.loss < T->best_loss : v.acc > T->best_acc;
        if (best && !isnan(v.acc)) T->best_acc = v.acc;
        if (v.loss < T->best_loss) T->best_loss = v.loss;
        trainer_snapshot(T);
        preempt_unlock(&T->pw);
        trainer_say(T, stdout, "epoch %lld/%d: val loss %.4f, val %s %.4f%s, lr %.3g, %.1f s", (long long)T->epoch,
            c->epochs, v.loss, T->task.acc_name, v.acc, best ? " (best)" : "", (double)lr_used, am_now_s() - t_epoch);
        if (T->rank == 0) {
            MetricsWriter *w = &T->metrics;
            metrics_begin(w);
            metrics_str(w, "kind", "epoch");
            metrics_int(w, "epoch", T->epoch);
            metrics_int(w, "step", T->step);
            metrics_num(w, "val_loss", v.loss);
            char key[32];
            snprintf(key, sizeof key, "val_%s", T->task.acc_key);
            metrics_num(w, key, v.acc);
            snprintf(key, sizeof key, "best_val_%s", T->task.acc_key);
            metrics_num(w, key, T->best_acc);
            metrics_num(w, "lr", lr_used);
            metrics_num(w, "epoch_seconds", am_now_s() - t_epoch);
            AmError e = {{0}};
            metrics_end(w, &e);
        }
        if (trainer_checkpoint(T, best)) return TRAIN_ERROR;
        if (stop) {
            trainer_say(T, stdout, "early stopping: no val-loss improvement for %d epochs", c->early_stop_patience);
            break;
        }
    }
    return TRAIN_OK;
}

int trainer_run(const RunConfig *cfg, Comm *comm, const TrainOptions *opt) {
    Trainer T;
    memset(&T, 0, sizeof T);
    preempt_writer_init(&T.pw);
    AmError e = {{0}};
    if (signals_install(&e)) {
        fprintf(stderr, "astromm train: error: %s\n", e.msg);
        return TRAIN_ERROR;
    }
    watchdog_start(cfg->hang_timeout, comm_rank(comm));
    const int images = cfg->model.family == MODEL_FAMILY_CONVNEXT;
    const int kind = opt && opt->classify ? (images ? TASK_IMAGE_FT : TASK_CLASSIFY) : images ? TASK_VOTES : TASK_CLIP;
    int rc = setup(&T, cfg, comm, kind);
    if (!rc) rc = trainer_resume(&T, opt && opt->require_resume);
    if (!rc) rc = trainer_start_preempt_writer(&T);
    if (!rc) rc = train_loop(&T);
    if (!rc) trainer_say(&T, stdout, "done: %lld steps, best val %s %.4f (%s/best)", (long long)T.step, T.task.acc_name,
                 T.best_acc, cfg->run_dir);
    watchdog_stop();
    watchdog_log_to(NULL);
    preempt_writer_destroy(&T.pw);  // before the parameters it writes are freed
    teardown(&T);
    signals_restore();
    return rc;
}
