// Distributed CLIP step (src/train/dist_step) == single-process step.
//
// Every rank builds the tiny AstroM3 (tests/tiny_model.h, dropout on) with the
// same weights, generates the same global batch of n_global samples and runs
// the single-process clip_forward_backward on all of it: the reference. Then
// rank r runs dist_step_forward_backward on its local part (samples
// base + r*b .. base + r*b + b-1, generated on their own) and checks:
//   * global scope: loss, pair losses, CLIP-accuracy count and every element of
//     every parameter gradient == reference (rel 1e-5 of the tensor's largest
//     magnitude, tiny absolute floor; 5e-5 for the scalar logit-scale sums);
//   * gradient buckets: 16-float buckets (many, spanning tensor and modality
//     boundaries, some started during the backward), one huge bucket, and many
//     buckets with MPI calls chunked to 5 floats all give the same gradients
//     (bitwise at <= 2 ranks, where a sum of two is order-free);
//   * local scope: == each rank's single-process step on its own local batch,
//     gradients averaged over ranks; at 1 rank == global scope exactly; at
//     more ranks its loss differs from the global one.
// Cases: n_global 8 and 12 (divisible by 1, 2, 4); logit scales {log 10,
// log 20, log 5} and the initial log 100 (clamp boundary, saturated softmax);
// all three modalities, then photometry + metadata only (train.modalities: only
// pair MP counts, the spectra tensors get exactly zero gradient and are not in
// the trained ranges).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/synth_batch.h"
#include "loss/clip.h"
#include "models/astrom3.h"
#include "mpi/comm.h"
#include "mpi_testutil.h"
#include "nn/ops.h"
#include "testutil.h"
#include "tiny_model.h"
#include "train/clip_step.h"
#include "train/dist_step.h"

#define TOL 1e-5     // relative, normalised by the tensor's largest magnitude
#define TOL_LS 5e-5  // logit-scale gradients: one scalar sum of many float terms
#define ATOL 1e-7    // absolute floor (saturated softmax: p - onehot noise)
#define TOL_BUCKET 1e-6  // bucketings at 4 ranks: only the all-reduce order differs

static int g_rank, g_size;
static int g_mask = MOD_MASK_ALL;  // modalities of the loss (DistStepOptions.modalities)

// max |a - b| / (max(max |b|, scale) + atol / tol): <= tol when every
// |a - b| <= tol * max(max |b|, scale) + atol.
static double cmp_err(const float *a, const float *b, size_t n, double scale, double tol,
                      double atol) {
    double amax = scale, err = 0;
    for (size_t i = 0; i < n; i++) {
        amax = fmax(amax, fabs((double)b[i]));
        const double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        err = fmax(err, d);
    }
    return err / (amax + atol / tol);
}

static double amax_of(const float *x, size_t n) {
    double a = 0;
    for (size_t i = 0; i < n; i++) a = fmax(a, fabs((double)x[i]));
    return a;
}

static float *grads_copy(const AstroM3 *m) {
    const size_t n = m->params.n_train_floats;
    float *g = am_malloc(n * sizeof(float), "gradient copy");
    ops_to_host(g, m->params.grad, n * sizeof(float));
    return g;
}

// The largest reference magnitude a tensor's float noise scales with: its own,
// and for a ".bias" that of the layer's ".weight" gradient (same upstream
// gradient summed over rows). It matters for the key-projection biases, whose
// gradient is analytically zero (softmax is invariant to a shift of every key
// logit): there both sides are pure rounding noise of that size.
static double noise_scale(const ParamStore *ps, const float *want, int t) {
    const ParamInfo *p = &ps->info[t];
    double scale = amax_of(want + p->offset, p->numel);
    const size_t len = strlen(p->name);
    if (len > 5 && !strcmp(p->name + len - 5, ".bias")) {
        char w[PARAM_NAME_MAX];
        snprintf(w, sizeof w, "%.*s.weight", (int)(len - 5), p->name);
        const int k = params_find(ps, w);
        if (k >= 0 && ps->info[k].trainable)
            scale = fmax(scale, amax_of(want + ps->info[k].offset, ps->info[k].numel));
    }
    return scale;
}

// Every trainable tensor of got against the reference want; returns the worst
// error over tensors (in units of its tolerance).
static double check_grads(const AstroM3 *m, const float *got, const float *want, const char *tag) {
    const ParamStore *ps = &m->params;
    double worst = 0;
    int bad = 0;
    for (int t = 0; t < ps->n; t++) {
        const ParamInfo *p = &ps->info[t];
        if (!p->trainable) continue;
        const double tol = strncmp(p->name, "logit_scale", 11) ? TOL : TOL_LS;
        const double scale = noise_scale(ps, want, t);
        const double err = cmp_err(got + p->offset, want + p->offset, p->numel, scale, tol,
                                   ATOL);
        worst = fmax(worst, err / tol);
        if (err > tol && bad++ < 5)
            fprintf(stderr, "  %s: %s err %.3g (tol %.3g), max|ref| %.3g, noise scale %.3g\n",
                    tag, p->name, err, tol, amax_of(want + p->offset, p->numel), scale);
    }
    EXPECT(bad == 0, "%s: %d parameter gradients differ from the reference", tag, bad);
    return worst;
}

static int all_equal(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

static void set_log_scales(AstroM3 *m, const float ls[3]) {
    for (int i = 0; i < 3; i++)
        ops_to_device(params_data(&m->params, m->logit_scale[i]), &ls[i], sizeof(float));
}

static DistStepResult run_dist(Comm *c, AstroM3 *m, int b, const Batch *lb, const StepCtx *ctx,
                               DistLossScope scope, size_t bucket_bytes, float **grads) {
    DistStep d;
    const DistStepOptions opt = {scope, bucket_bytes, g_mask};
    dist_step_init(&d, m, c, b, &opt);
    DistStepResult r = dist_step_forward_backward(&d, lb, ctx);
    dist_step_free(&d);
    *grads = grads_copy(m);
    return r;
}

static void run_case(Comm *c, int n_global, const float ls[3], uint64_t seed, uint64_t step) {
    const int W = g_size, b = n_global / W;
    const int64_t base = 1000 + (int64_t)seed;  // global index of the batch's first sample
    const ModelConfig cfg = tiny_model_config();
    char tag[128];
    snprintf(tag, sizeof tag, "W=%d n=%d ls={%.3g,%.3g,%.3g} modalities 0x%x rank %d", W, n_global, ls[0],
             ls[1], ls[2], g_mask, g_rank);

    AstroM3 m;
    astrom3_create(&m, &cfg, n_global);
    astrom3_init(&m, 42);
    set_log_scales(&m, ls);
    const size_t NP = m.params.n_train_floats;

    SynthBatch sg, sl;
    synth_batch_alloc(&sg, &cfg, n_global);
    synth_batch_alloc(&sl, &cfg, b);
    const Batch gb = synth_batch_fill(&sg, &cfg, seed, base, n_global);
    const Batch lb = synth_batch_fill(&sl, &cfg, seed, base + (int64_t)g_rank * b, b);
    const size_t lp = (size_t)cfg.seq_len * cfg.photo_in, lm = (size_t)cfg.meta_in;
    EXPECT(all_equal(lb.photometry, gb.photometry + (size_t)g_rank * b * lp, (size_t)b * lp) &&
               all_equal(lb.metadata, gb.metadata + (size_t)g_rank * b * lm, (size_t)b * lm),
           "%s: local batch is not the rank's rows of the global batch", tag);
    const StepCtx ctx = {.seed = 7, .step = step, .sample_offset = base, .training = 1};

    // ---- single-process reference on the whole global batch
    ClipLoss ref;
    clip_loss_init(&ref, n_global, n_global, cfg.proj_dim);
    clip_loss_set_modalities(&ref, g_mask);
    const float loss_ref = clip_forward_backward(&m, &ref, &gb, &ctx);
    const int correct_ref = clip_loss_correct(&ref);
    float *g_ref = grads_copy(&m);

    // ---- global scope, default buckets
    float *g_a, *g_b, *g_c, *g_d, *g_e;
    const DistStepResult ra = run_dist(c, &m, b, &lb, &ctx, DIST_LOSS_GLOBAL, 0, &g_a);
    EXPECT(fabs(ra.loss - loss_ref) <= TOL * fmax(1.0, fabs(loss_ref)),
           "%s: loss %.8g vs reference %.8g", tag, ra.loss, loss_ref);
    for (int p = 0; p < 3; p++)
        EXPECT(fabs(ra.loss_pair[p] - ref.loss_pair[p]) <= TOL * fmax(1.0, fabs(ref.loss_pair[p])),
               "%s: pair %d loss %.8g vs reference %.8g", tag, p, ra.loss_pair[p],
               ref.loss_pair[p]);
    EXPECT(ra.correct == correct_ref, "%s: correct %lld vs reference %d", tag,
           (long long)ra.correct, correct_ref);
    EXPECT(ra.n_global == n_global, "%s: n_global %d", tag, ra.n_global);
    EXPECT(ra.comm_seconds >= 0 && ra.comm_seconds < 60, "%s: comm time %g s", tag,
           ra.comm_seconds);
    EXPECT(ra.n_buckets == 1 && ra.buckets_early == 0,
           "%s: default 25 MiB buckets: %d buckets, %d early (want 1, 0)", tag, ra.n_buckets,
           ra.buckets_early);
    const double worst = check_grads(&m, g_a, g_ref, tag);
    if (g_mask == 5) {
        // Only pair MP: the other pairs add nothing; spectra tensors get exactly 0
        // and stay out of the trained ranges.
        EXPECT(ra.loss_pair[CLIP_PS] == 0 && ra.loss_pair[CLIP_SM] == 0 && ra.loss_pair[CLIP_MP] > 0,
               "%s: pair losses %g %g %g", tag, ra.loss_pair[0], ra.loss_pair[1], ra.loss_pair[2]);
        DistStep d;
        const DistStepOptions o = {DIST_LOSS_GLOBAL, 0, g_mask};
        dist_step_init(&d, &m, c, b, &o);
        size_t rg[16][2];
        const int nr = dist_step_trainable_ranges(&d, rg, 16);
        dist_step_free(&d);
        for (int t = 0; t < m.params.n; t++) {
            const ParamInfo *pi = &m.params.info[t];
            if (!pi->trainable) continue;
            const int spec = !strncmp(pi->name, "spectra_", 8) || t == m.logit_scale[CLIP_PS] ||
                             t == m.logit_scale[CLIP_SM];
            int in = 0;
            for (int r = 0; r < nr; r++) in |= pi->offset >= rg[r][0] && pi->offset < rg[r][0] + rg[r][1];
            EXPECT(in == !spec, "%s: %s %s the trained ranges", tag, pi->name, in ? "in" : "not in");
            if (spec) EXPECT(amax_of(g_a + pi->offset, pi->numel) == 0, "%s: %s has gradient", tag, pi->name);
        }
    }

    // ---- bucketings
    const DistStepResult rb = run_dist(c, &m, b, &lb, &ctx, DIST_LOSS_GLOBAL, 64, &g_b);
    const DistStepResult rc = run_dist(c, &m, b, &lb, &ctx, DIST_LOSS_GLOBAL, (size_t)1 << 40, &g_c);
    comm_set_max_count(c, 5);
    const DistStepResult rd = run_dist(c, &m, b, &lb, &ctx, DIST_LOSS_GLOBAL, 64, &g_d);
    comm_set_max_count(c, 0);
    EXPECT(rb.n_buckets == (int)((NP + 15) / 16), "%s: %d buckets of 16 floats for %zu floats",
           tag, rb.n_buckets, NP);
    EXPECT(rb.buckets_early > 0 && rb.buckets_early < rb.n_buckets,
           "%s: %d of %d small buckets started during the backward", tag, rb.buckets_early,
           rb.n_buckets);
    EXPECT(rc.n_buckets == 1 && rc.buckets_early == 0, "%s: huge bucket: %d buckets, %d early",
           tag, rc.n_buckets, rc.buckets_early);
    EXPECT(rb.loss == ra.loss && rc.loss == ra.loss && rd.loss == ra.loss &&
               rb.correct == ra.correct && rd.correct == ra.correct,
           "%s: loss/correct changed with the bucketing", tag);
    const float *bucketed[3] = {g_b, g_c, g_d};
    static const char *bnames[3] = {"16-float buckets", "one huge bucket", "chunked 16-float"};
    for (int k = 0; k < 3; k++) {
        if (W <= 2) {
            EXPECT(all_equal(bucketed[k], g_a, NP), "%s: %s gradients differ bitwise", tag,
                   bnames[k]);
        } else {
            const double e = cmp_err(bucketed[k], g_a, NP, 0.0, TOL_BUCKET, ATOL);
            EXPECT(e <= TOL_BUCKET, "%s: %s gradients differ (err %.3g)", tag, bnames[k], e);
        }
    }

    // ---- local scope
    const DistStepResult re = run_dist(c, &m, b, &lb, &ctx, DIST_LOSS_LOCAL, 0, &g_e);
    ClipLoss lref;
    clip_loss_init(&lref, b, b, cfg.proj_dim);
    clip_loss_set_modalities(&lref, g_mask);
    StepCtx lctx = ctx;
    lctx.sample_offset = base + (int64_t)g_rank * b;
    double lstats[2] = {clip_forward_backward(&m, &lref, &lb, &lctx), clip_loss_correct(&lref)};
    comm_allreduce_sum_host(c, lstats, 2);
    float *g_lref = grads_copy(&m);
    comm_allreduce_mean(c, g_lref, NP);
    char ltag[160];
    snprintf(ltag, sizeof ltag, "%s local", tag);
    EXPECT(fabs(re.loss - lstats[0] / W) <= TOL * fmax(1.0, fabs(lstats[0] / W)),
           "%s: loss %.8g vs mean of rank losses %.8g", ltag, re.loss, lstats[0] / W);
    EXPECT(re.correct == (int64_t)lstats[1], "%s: correct %lld vs %.0f", ltag,
           (long long)re.correct, lstats[1]);
    EXPECT(re.n_global == n_global, "%s: n_global %d", ltag, re.n_global);
    check_grads(&m, g_e, g_lref, ltag);
    if (W == 1) {
        EXPECT(re.loss == ra.loss && re.correct == ra.correct && all_equal(g_e, g_a, NP),
               "%s: local scope at 1 rank differs from global (loss %.8g vs %.8g)", ltag,
               re.loss, ra.loss);
    } else {
        EXPECT(fabs(re.loss - ra.loss) > 1e-4, "%s: local loss %.6g equals the global %.6g", ltag,
               re.loss, ra.loss);
    }

    if (g_rank == 0)
        printf("  W=%d n=%2d ls={%.3f,%.3f,%.3f}: loss %.6f (ref %.6f) correct %lld/%d, local "
               "loss %.6f, worst grad err %.3g x tol, %d small buckets (%d early), comm %.2g s\n",
               W, n_global, ls[0], ls[1], ls[2], ra.loss, loss_ref, (long long)ra.correct,
               n_global, re.loss, worst, rb.n_buckets, rb.buckets_early, ra.comm_seconds);

    free(g_ref);
    free(g_a);
    free(g_b);
    free(g_c);
    free(g_d);
    free(g_e);
    free(g_lref);
    clip_loss_free(&ref);
    clip_loss_free(&lref);
    synth_batch_free(&sg);
    synth_batch_free(&sl);
    astrom3_free(&m);
}

// comm_iallreduce_*: several requests in flight, chunked, against the blocking calls.
static void test_iallreduce(Comm *c) {
    const size_t n = 1000;
    float *x = am_malloc(n * sizeof(float), "x"), *y = am_malloc(n * sizeof(float), "y");
    float *z = am_malloc(n * sizeof(float), "z"), *w = am_malloc(n * sizeof(float), "w");
    for (size_t i = 0; i < n; i++)
        x[i] = y[i] = z[i] = w[i] = (float)((i * 7 + (size_t)g_rank * 13) % 101) * 0.25f;
    comm_set_max_count(c, 64);
    CommRequest *r1 = comm_iallreduce_mean(c, x, n);
    CommRequest *r2 = comm_iallreduce_sum(c, y, n);
    CommRequest *r0 = comm_iallreduce_mean(c, x, 0);
    comm_test(r1);
    comm_wait(r2);
    comm_wait(r1);
    comm_wait(r0);
    comm_wait(NULL);
    comm_set_max_count(c, 0);
    comm_allreduce_mean(c, z, n);
    comm_allreduce_sum(c, w, n);
    EXPECT(cmp_err(x, z, n, 0.0, 1e-7, 0) <= 1e-7, "iallreduce_mean differs from allreduce_mean");
    EXPECT(cmp_err(y, w, n, 0.0, 1e-7, 0) <= 1e-7, "iallreduce_sum differs from allreduce_sum");
    double s[2] = {1.0, (double)g_rank};
    comm_allreduce_sum_host(c, s, 2);
    EXPECT(s[0] == g_size && s[1] == g_size * (g_size - 1) / 2.0, "allreduce_sum_host {%g, %g}",
           s[0], s[1]);
    free(x);
    free(y);
    free(z);
    free(w);
}

int main(int argc, char **argv) {
    Comm *c = comm_init(&argc, &argv);
    g_rank = comm_rank(c);
    g_size = comm_size(c);
    ops_init(0);
    const ModelConfig cfg = tiny_model_config();
    REQUIRE(cfg.p_photo > 0 && cfg.p_spec > 0 && cfg.p_meta > 0 && cfg.p_embed > 0,
            "the test needs dropout on");

    test_iallreduce(c);
    const float scales[2][3] = {{logf(10.0f), logf(20.0f), logf(5.0f)},
                                {logf(100.0f), logf(100.0f), logf(100.0f)}};
    const int ns[2] = {8, 12};
    uint64_t seed = 11;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 2; i++, seed++) run_case(c, ns[i], scales[s], seed, 3 + seed);
    g_mask = 5;  // photometry + metadata
    for (int i = 0; i < 2; i++, seed++) run_case(c, ns[i], scales[0], seed, 3 + seed);

    return mpi_finish(c, "test_mpi_train_step");
}
