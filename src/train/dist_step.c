#include "core/clock.h"
#include "train/dist_step.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "nn/ops.h"

// Readiness groups are the model's parameter groups (astrom3.h,
// params_set_group): the logit scales and the classifier head are final before
// the backward; astrom3_embed_backward_hooked reports the others (mod, part).
#define N_GROUPS ASTROM3_N_GROUPS
#define GROUPS_FINAL_AT_START (1u << ASTROM3_GROUP_LOGIT_SCALES | 1u << ASTROM3_GROUP_CLASSIFIER)

struct DistBucket {
    size_t off, n;      // float range of the flat gradient buffer
    unsigned pending;   // groups (bits) not final yet at this step
    unsigned groups;    // groups the bucket overlaps
    CommRequest *req;
};

// A tensor's group as the model registered it. A tensor without one would be
// all-reduced at an arbitrary time, possibly before its gradient exists: refused.
static int tensor_group(const ParamInfo *p) {
    CHECK(p->group >= 0 && p->group < N_GROUPS,
          "dist_step: parameter %s has no gradient group (%d): register it after params_set_group "
          "(models/params.h)", p->name, p->group);
    return p->group;
}

void dist_step_init(DistStep *d, AstroM3 *m, Comm *comm, int max_local, const DistStepOptions *opt) {
    const DistStepOptions def = {DIST_LOSS_GLOBAL, 0, 0};
    if (!opt) opt = &def;
    CHECK(opt->scope == DIST_LOSS_GLOBAL || opt->scope == DIST_LOSS_LOCAL,
          "dist_step_init: unknown loss scope %d", (int)opt->scope);
    CHECK(max_local >= 1 && max_local <= m->max_batch,
          "dist_step_init: local batch %d must be in 1..%d (the model's max batch)", max_local,
          m->max_batch);
    *d = (DistStep){0};
    d->m = m;
    d->comm = comm;
    d->scope = opt->scope;
    d->rank = comm_rank(comm);
    d->size = comm_size(comm);
    d->max_local = max_local;
    d->dim = m->cfg.proj_dim;
    const int max_global = d->scope == DIST_LOSS_GLOBAL ? d->size * max_local : max_local;
    clip_loss_init(&d->loss, max_local, max_global, d->dim);
    d->mod_mask = opt->modalities ? opt->modalities : MOD_MASK_ALL;
    clip_loss_set_modalities(&d->loss, d->mod_mask);
    if (d->scope == DIST_LOSS_GLOBAL) {
        const size_t n = (size_t)max_global * (size_t)d->dim * sizeof(float);
        for (int i = 0; i < MOD_COUNT; i++) {
            d->gathered[i] = ops_alloc(n, "gathered embeddings");
            d->g_gathered[i] = ops_alloc(n, "gathered embedding gradients");
        }
    }

    // Tensor readiness groups and buckets over the flat gradient buffer.
    const ParamStore *ps = &m->params;
    d->group_of = am_calloc((size_t)(ps->n ? ps->n : 1), 1, "tensor groups");
    for (int t = 0; t < ps->n; t++) d->group_of[t] = (uint8_t)tensor_group(&ps->info[t]);
    size_t per = (opt->bucket_bytes ? opt->bucket_bytes : DIST_BUCKET_BYTES_DEFAULT) / sizeof(float);
    if (per < 1) per = 1;
    const size_t total = ps->n_train_floats;
    d->n_buckets = total == 0 ? 0 : (int)((total - 1) / per + 1);
    d->buckets = am_calloc((size_t)(d->n_buckets ? d->n_buckets : 1), sizeof *d->buckets,
                           "gradient buckets");
    for (int k = 0; k < d->n_buckets; k++) {
        DistBucket *bk = &d->buckets[k];
        bk->off = (size_t)k * per;
        bk->n = total - bk->off < per ? total - bk->off : per;
    }
    // Tensors are registered with increasing offsets: mark every bucket a
    // trainable tensor overlaps with the tensor's group.
    for (int t = 0; t < ps->n; t++) {
        const ParamInfo *p = &ps->info[t];
        if (!p->trainable || p->numel == 0) continue;
        const size_t k0 = p->offset / per, k1 = (p->offset + p->numel - 1) / per;
        for (size_t k = k0; k <= k1; k++) d->buckets[k].groups |= 1u << d->group_of[t];
    }
}

int dist_step_trainable_ranges(const DistStep *d, size_t ranges[][2], int max_ranges) {
    const ParamStore *ps = &d->m->params;
    unsigned char *keep = am_calloc((size_t)(ps->n ? ps->n : 1), 1, "trained tensors");
    for (int t = 0; t < ps->n; t++) {
        const int mod = astrom3_group_modality(d->group_of[t]);
        keep[t] = mod < 0 ? 1 : (unsigned char)(d->mod_mask >> mod & 1);
        for (int q = 0; q < 3; q++)  // a logit scale counts with its pair
            if (t == d->m->logit_scale[q]) keep[t] = (unsigned char)clip_pair_active(&d->loss, q);
    }
    const int n = params_ranges(ps, keep, ranges, max_ranges);
    free(keep);
    return n;
}

void dist_step_free(DistStep *d) {
    clip_loss_free(&d->loss);
    for (int i = 0; i < MOD_COUNT; i++) {
        if (d->gathered[i]) ops_free(d->gathered[i]);
        if (d->g_gathered[i]) ops_free(d->g_gathered[i]);
    }
    free(d->buckets);
    free(d->group_of);
    *d = (DistStep){0};
}

// Starts every bucket (ascending) whose tensors are all final.
static void launch_ready(DistStep *d) {
    float *grad = d->m->params.grad;
    for (int k = 0; k < d->n_buckets; k++) {
        DistBucket *bk = &d->buckets[k];
        if (bk->req || bk->pending) continue;
        bk->req = comm_iallreduce_mean(d->comm, grad + bk->off, bk->n);
        d->launched++;
    }
}

static void on_group_ready(DistStep *d, int group) {
    const double t0 = am_now_s();
    for (int k = 0; k < d->n_buckets; k++) d->buckets[k].pending &= ~(1u << group);
    d->groups_done++;
    launch_ready(d);
    if (d->groups_done < N_GROUPS) d->early = d->launched;
    // Drive MPI progress of the reductions in flight.
    for (int k = 0; k < d->n_buckets; k++)
        if (d->buckets[k].req) comm_test(d->buckets[k].req);
    d->comm_s += am_now_s() - t0;
}

static void grad_ready_cb(void *user, int mod, int part) {
    on_group_ready(user, astrom3_group(mod, part));
}

// The global loss (mean of the rank losses), pair losses and accuracy count.
static DistStepResult reduce_stats(DistStep *d, float value, int correct, int n_global) {
    double stats[5] = {value, d->loss.loss_pair[0], d->loss.loss_pair[1], d->loss.loss_pair[2], correct};
    const double t0 = am_now_s();
    comm_allreduce_sum_host(d->comm, stats, 5);
    d->comm_s += am_now_s() - t0;
    DistStepResult r = {0};
    r.loss = (float)(stats[0] / d->size);
    for (int p = 0; p < 3; p++) r.loss_pair[p] = (float)(stats[1 + p] / d->size);
    r.correct = (int64_t)(stats[4] + 0.5);
    r.n_global = n_global;
    r.comm_seconds = d->comm_s;
    return r;
}

DistStepResult dist_step_forward_backward(DistStep *d, const Batch *b, const StepCtx *ctx) {
    AstroM3 *m = d->m;
    Comm *c = d->comm;
    const int n = b->n, D = d->dim, W = d->size;
    CHECK(n >= 1 && n <= d->max_local, "dist_step: local batch %d must be in 1..%d", n,
          d->max_local);
    const size_t nd = (size_t)n * (size_t)D;
    double t0;
    d->comm_s = 0;

    params_zero_grad(&m->params);
    StepCtx lctx = *ctx;
    lctx.sample_offset = ctx->sample_offset + (int64_t)d->rank * n;
    const int mask = d->mod_mask;
    astrom3_embed_forward_masked(m, b, &lctx, mask);
    float log_scale[3], dlog_scale[3] = {0, 0, 0};
    astrom3_log_scales(m, log_scale);
    astrom3_zero_emb_grad(m);

    float value;
    int n_global;
    if (d->scope == DIST_LOSS_GLOBAL) {
        n_global = W * n;
        t0 = am_now_s();
        for (int i = 0; i < MOD_COUNT; i++)
            if (mask & MOD_BIT(i)) comm_allgather(c, m->emb[i], d->gathered[i], nd);
        d->comm_s += am_now_s() - t0;
        value = clip_loss_forward(&d->loss, d->gathered[MOD_PHOTOMETRY], d->gathered[MOD_SPECTRA],
                                  d->gathered[MOD_METADATA], n_global, d->rank * n, n, log_scale);
        for (int i = 0; i < MOD_COUNT; i++)
            if (mask & MOD_BIT(i)) ops_zero(d->g_gathered[i], (size_t)n_global * D);
        clip_loss_backward(&d->loss, d->g_gathered[MOD_PHOTOMETRY], d->g_gathered[MOD_SPECTRA],
                           d->g_gathered[MOD_METADATA], dlog_scale);
        t0 = am_now_s();
        for (int i = 0; i < MOD_COUNT; i++)
            if (mask & MOD_BIT(i)) comm_reduce_scatter_sum(c, d->g_gathered[i], m->g_emb[i], nd);
        d->comm_s += am_now_s() - t0;
    } else {
        n_global = W * n;
        value = clip_loss_forward(&d->loss, m->emb[MOD_PHOTOMETRY], m->emb[MOD_SPECTRA],
                                  m->emb[MOD_METADATA], n, 0, n, log_scale);
        clip_loss_backward(&d->loss, m->g_emb[MOD_PHOTOMETRY], m->g_emb[MOD_SPECTRA],
                           m->g_emb[MOD_METADATA], dlog_scale);
    }
    const int correct = clip_loss_correct(&d->loss);
    astrom3_add_log_scale_grad(m, dlog_scale);

    // Backward with bucketed, overlapped gradient averaging.
    for (int k = 0; k < d->n_buckets; k++) {
        d->buckets[k].pending = d->buckets[k].groups & ~GROUPS_FINAL_AT_START;
        d->buckets[k].req = NULL;
    }
    d->groups_done = 0;
    d->launched = 0;
    d->early = 0;
    on_group_ready(d, ASTROM3_GROUP_LOGIT_SCALES);
    on_group_ready(d, ASTROM3_GROUP_CLASSIFIER);
    // A modality outside the loss has zero gradients, final now.
    for (int i = 0; i < MOD_COUNT; i++)
        if (!(mask & MOD_BIT(i))) {
            on_group_ready(d, astrom3_group(i, ASTROM3_PART_PROJ));
            on_group_ready(d, astrom3_group(i, ASTROM3_PART_ENCODER));
        }
    astrom3_embed_backward_masked(m, mask, grad_ready_cb, d);
    t0 = am_now_s();
    launch_ready(d);  // none left unless a group never reported (defensive)
    for (int k = 0; k < d->n_buckets; k++) {
        CHECK(d->buckets[k].req, "dist_step: gradient bucket %d was never started", k);
        comm_wait(d->buckets[k].req);
        d->buckets[k].req = NULL;
    }

    d->comm_s += am_now_s() - t0;
    DistStepResult r = reduce_stats(d, value, correct, n_global);
    r.n_buckets = d->n_buckets;
    r.buckets_early = d->early;
    return r;
}

DistStepResult dist_step_evaluate(DistStep *d, const Batch *b, const StepCtx *ctx) {
    AstroM3 *m = d->m;
    Comm *c = d->comm;
    const int n = b->n, W = d->size;
    CHECK(n >= 1 && n <= d->max_local, "dist_step: local batch %d must be in 1..%d", n, d->max_local);
    const size_t nd = (size_t)n * (size_t)d->dim;
    StepCtx lctx = *ctx;
    lctx.sample_offset = ctx->sample_offset + (int64_t)d->rank * n;
    lctx.training = 0;
    astrom3_embed_forward_masked(m, b, &lctx, d->mod_mask);
    float log_scale[3];
    astrom3_log_scales(m, log_scale);
    float value;
    double t0 = am_now_s();
    d->comm_s = 0;
    if (d->scope == DIST_LOSS_GLOBAL) {
        for (int i = 0; i < MOD_COUNT; i++)
            if (d->mod_mask & MOD_BIT(i)) comm_allgather(c, m->emb[i], d->gathered[i], nd);
        d->comm_s += am_now_s() - t0;
        value = clip_loss_forward(&d->loss, d->gathered[MOD_PHOTOMETRY], d->gathered[MOD_SPECTRA],
                                  d->gathered[MOD_METADATA], W * n, d->rank * n, n, log_scale);
    } else {
        value = clip_loss_forward(&d->loss, m->emb[MOD_PHOTOMETRY], m->emb[MOD_SPECTRA], m->emb[MOD_METADATA], n, 0,
                                  n, log_scale);
    }
    return reduce_stats(d, value, clip_loss_correct(&d->loss), W * n);
}
