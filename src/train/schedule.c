#include "train/schedule.h"

#include <math.h>
#include <string.h>

void sched_config_default(ScheduleConfig *c, double lr) {
    *c = (ScheduleConfig){.lr = lr,
                          .warmup_start_factor = 1e-5,
                          .warmup_epochs = 10,
                          .kind = SCHED_PLATEAU,
                          .factor = 0.1125,
                          .patience = 3,
                          .threshold = 1e-4,
                          .min_lr = 0.0,
                          .total_epochs = 100,
                          .early_stop_patience = 6};
}

static int check_config(const ScheduleConfig *c, AmError *err) {
    if (!(c->lr > 0) || !isfinite(c->lr)) return am_error_set(err, "schedule: lr must be finite and > 0 (got %g)", c->lr);
    if (c->warmup_epochs < 0) return am_error_set(err, "schedule: warmup_epochs must be >= 0 (got %lld)", (long long)c->warmup_epochs);
    if (c->warmup_epochs > 0 && !(c->warmup_start_factor > 0 && c->warmup_start_factor <= 1))
        return am_error_set(err, "schedule: warmup_start_factor must be in (0, 1] (got %g)", c->warmup_start_factor);
    if (c->kind != SCHED_PLATEAU && c->kind != SCHED_COSINE)
        return am_error_set(err, "schedule: kind must be plateau (%d) or cosine (%d) (got %lld)", SCHED_PLATEAU,
                            SCHED_COSINE, (long long)c->kind);
    if (!(c->min_lr >= 0 && c->min_lr <= c->lr))
        return am_error_set(err, "schedule: min_lr must be in [0, lr] (got %g, lr %g)", c->min_lr, c->lr);
    if (c->kind == SCHED_PLATEAU) {
        if (!(c->factor > 0 && c->factor < 1)) return am_error_set(err, "schedule: plateau factor must be in (0, 1) (got %g)", c->factor);
        if (c->patience < 0) return am_error_set(err, "schedule: plateau patience must be >= 0 (got %lld)", (long long)c->patience);
        if (!(c->threshold >= 0 && c->threshold < 1))
            return am_error_set(err, "schedule: plateau threshold must be in [0, 1) (got %g)", c->threshold);
    } else if (c->total_epochs <= c->warmup_epochs) {
        return am_error_set(err, "schedule: cosine needs total_epochs > warmup_epochs (got %lld <= %lld)",
                            (long long)c->total_epochs, (long long)c->warmup_epochs);
    }
    if (c->early_stop_patience < 0)
        return am_error_set(err, "schedule: early_stop_patience must be >= 0 (got %lld)", (long long)c->early_stop_patience);
    return 0;
}

int sched_init(Schedule *s, const ScheduleConfig *c, AmError *err) {
    memset(s, 0, sizeof *s);  // padding-free, but zero anyway so the bytes are deterministic
    if (check_config(c, err)) return 1;
    s->magic = SCHED_MAGIC;
    s->cfg = *c;
    // LinearLR's constructor applies start_factor at once (last_epoch 0).
    s->lr = c->warmup_epochs > 0 ? c->lr * c->warmup_start_factor : c->lr;
    s->plateau_best = INFINITY;
    s->best_val = INFINITY;
    s->best_epoch = -1;
    return 0;
}

float sched_lr(const Schedule *s) { return (float)s->lr; }

// torch LinearLR.get_lr (chainable form) with end_factor 1: after the step
// last_epoch = it; lr *= 1 + (end - start) / (total * start + (it - 1) * (end - start)).
static void warmup_step(Schedule *s) {
    const ScheduleConfig *c = &s->cfg;
    const int64_t it = ++s->warmup_iter;
    if (it > c->warmup_epochs) return;
    const double span = 1.0 - c->warmup_start_factor;
    const double denom = (double)c->warmup_epochs * c->warmup_start_factor + (double)(it - 1) * span;
    s->lr = s->lr * (1.0 + span / denom);
}

// torch ReduceLROnPlateau.step(metrics), mode min, threshold_mode rel, cooldown 0.
static void plateau_step(Schedule *s, double val) {
    const ScheduleConfig *c = &s->cfg;
    if (val < s->plateau_best * (1.0 - c->threshold)) {
        s->plateau_best = val;
        s->plateau_bad = 0;
    } else {
        s->plateau_bad++;
    }
    if (s->plateau_bad > c->patience) {
        const double old_lr = s->lr;
        const double new_lr = fmax(old_lr * c->factor, c->min_lr);
        if (old_lr - new_lr > 1e-8) {  // torch's eps: skip updates too small to matter
            s->lr = new_lr;
            s->n_reductions++;
        }
        s->plateau_bad = 0;
    }
}

static const double kPi = 3.14159265358979323846;

static double cosine_lr(const ScheduleConfig *c, int64_t epoch) {
    const double k = (double)(epoch - c->warmup_epochs), K = (double)(c->total_epochs - c->warmup_epochs);
    if (k >= K) return c->min_lr;
    return c->min_lr + (c->lr - c->min_lr) * (1.0 + cos(kPi * k / K)) / 2.0;
}

int sched_end_epoch(Schedule *s, double val_loss) {
    const ScheduleConfig *c = &s->cfg;
    // Early stopping: strict improvement (a NaN loss never improves).
    s->last_improved = val_loss < s->best_val;
    if (s->last_improved) {
        s->best_val = val_loss;
        s->best_epoch = s->epoch;
        s->es_bad = 0;
    } else {
        s->es_bad++;
    }
    // The lr schedule: warm-up epochs step LinearLR, later epochs the decay.
    if (s->epoch < c->warmup_epochs)
        warmup_step(s);
    else if (c->kind == SCHED_PLATEAU)
        plateau_step(s, val_loss);
    s->epoch++;
    if (c->kind == SCHED_COSINE && s->epoch >= c->warmup_epochs) s->lr = cosine_lr(c, s->epoch);
    if (c->early_stop_patience > 0 && s->es_bad >= c->early_stop_patience) s->stopped = 1;
    return (int)s->stopped;
}

int sched_check(const Schedule *s, AmError *err) {
    if (s->magic != SCHED_MAGIC) return am_error_set(err, "schedule state: bad magic (not a Schedule, or corrupt)");
    if (check_config(&s->cfg, err)) return 1;
    if (s->epoch < 0 || s->warmup_iter < 0 || s->plateau_bad < 0 || s->es_bad < 0 || s->best_epoch < -1 ||
        s->best_epoch >= s->epoch)
        return am_error_set(err, "schedule state: inconsistent counters (epoch %lld, best_epoch %lld)",
                            (long long)s->epoch, (long long)s->best_epoch);
    if (!(s->lr >= 0) || !isfinite(s->lr)) return am_error_set(err, "schedule state: bad lr %g", s->lr);
    return 0;
}
