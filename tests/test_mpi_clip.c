// Distributed CLIP loss == single-process CLIP loss.
//
// Every rank builds the same global batch of n_global = W*b samples:
//   P = l2norm(X Wenc^T)   (X [n, din] inputs, Wenc [dim, din] a shared "encoder")
//   S = l2norm(P + 0.7 noise),  M = l2norm(P + 1.0 noise)   (correlated, so the
//   CLIP accuracy is neither 0 nor 1)
// and computes the single-process reference (row0 = 0, b = n_global). Then rank r
// computes the loss of its own rows r*b .. r*b+b-1 against all n_global columns,
// backward into full [n_global, dim] gradient buffers, and:
//   * loss:        comm_allreduce_mean over ranks          == reference loss
//   * embeddings:  comm_reduce_scatter_sum -> own rows     == W x reference rows
//     (each rank's loss is a mean over its b rows, the reference a mean over W*b
//     rows, so L_ref = (1/W) sum_r L_r and sum_r dL_r = W dL_ref)
//   * log scales:  comm_allreduce_mean                     == reference
//   * encoder:     backward of the own rows from the reduce-scattered (W x)
//     gradient, then comm_allreduce_mean of dWenc          == reference dWenc
//     (the W from the sum and the 1/W of the average cancel: clip.h's recipe)
//   * accuracy:    clip_loss_correct summed over ranks     == reference count
// Cases: b in {1, 3, 8}, dim in {8, 33}, log scales {log 10, log 20, log 5},
// {log 100 (clamp boundary), 0 (lower boundary), log 50} and
// {log 150, log 0.5 (both clamped: no gradient), log 30}.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "loss/clip.h"
#include "mpi/comm.h"
#include "nn/ops.h"
#include "mpi_testutil.h"
#include "testutil.h"

#define TOL 1e-5     // relative, normalised by the largest magnitude
#define TOL_LS 5e-5  // log-scale gradients: sums over b x n_global x 6 float terms
#define ATOL 1e-6    // absolute floor (see cmp_err)

static int g_rank, g_size;

// max |a - b| / (max(max |b|, scale) + atol / TOL): <= TOL when every
// |a - b| <= TOL * max(max|b|, scale) + atol. The absolute term covers
// gradients that are tiny because the softmax saturated (scale 100): there
// p - onehot is a float difference of numbers near 1, noisy at ~1e-7 absolute.
static double cmp_err(const float *a, const float *b, size_t n, double scale, double atol) {
    double amax = scale, err = 0;
    for (size_t i = 0; i < n; i++) {
        amax = fmax(amax, fabs((double)b[i]));
        const double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        err = fmax(err, d);
    }
    return err / (amax + atol / TOL);
}

static float *falloc(size_t n) { return am_aligned_alloc(n * sizeof(float), "test tensor"); }

static void fill_normal(float *x, size_t n, uint64_t seed, uint32_t stream, float scale) {
    AmRng r = am_rng(seed, 0, RNG_SYNTH, stream);
    for (size_t i = 0; i < n; i++) x[i] = scale * am_rng_normal(&r, i);
}

static void run_case(Comm *c, int b, int dim, const float ls[3], uint64_t seed) {
    const int W = g_size, n = W * b, din = 5;
    const size_t nd = (size_t)n * dim, bd = (size_t)b * dim;
    const size_t own = (size_t)g_rank * bd;  // offset of this rank's rows

    // ---- the global batch, identical on every rank
    float *X = falloc((size_t)n * din), *Wenc = falloc((size_t)dim * din);
    float *Praw = falloc(nd), *P = falloc(nd), *S = falloc(nd), *M = falloc(nd);
    float *normP = falloc((size_t)n), *norm_tmp = falloc((size_t)n), *tmp = falloc(nd);
    fill_normal(X, (size_t)n * din, seed, 1, 1.0f);
    fill_normal(Wenc, (size_t)dim * din, seed, 2, 1.0f / sqrtf((float)din));
    op_linear_forward(Praw, X, Wenc, NULL, n, din, dim);
    op_l2norm_forward(P, normP, Praw, n, dim);
    fill_normal(tmp, nd, seed, 3, 0.7f / sqrtf((float)dim));
    for (size_t i = 0; i < nd; i++) tmp[i] += P[i];
    op_l2norm_forward(S, norm_tmp, tmp, n, dim);
    fill_normal(tmp, nd, seed, 4, 1.0f / sqrtf((float)dim));
    for (size_t i = 0; i < nd; i++) tmp[i] += P[i];
    op_l2norm_forward(M, norm_tmp, tmp, n, dim);

    // ---- single-process reference
    ClipLoss ref;
    clip_loss_init(&ref, n, n, dim);
    const float loss_ref = clip_loss_forward(&ref, P, S, M, n, 0, n, ls);
    float *dref[3] = {falloc(nd), falloc(nd), falloc(nd)};
    float dls_ref[3] = {0, 0, 0};
    clip_loss_backward(&ref, dref[0], dref[1], dref[2], dls_ref);
    const int correct_ref = clip_loss_correct(&ref);
    float *dPraw_ref = falloc(nd), *dWenc_ref = falloc((size_t)dim * din);
    op_l2norm_backward(dPraw_ref, dref[0], P, normP, n, dim);
    op_linear_backward(NULL, dWenc_ref, NULL, dPraw_ref, X, Wenc, n, din, dim);

    // ---- distributed: this rank's rows
    ClipLoss loc;
    clip_loss_init(&loc, b, n, dim);
    float loss = clip_loss_forward(&loc, P, S, M, n, g_rank * b, b, ls);
    float *dall[3] = {falloc(nd), falloc(nd), falloc(nd)};
    float dls[3] = {0, 0, 0};
    clip_loss_backward(&loc, dall[0], dall[1], dall[2], dls);
    const int correct = clip_loss_correct(&loc);
    float *g[3] = {falloc(bd), falloc(bd), falloc(bd)};
    for (int m = 0; m < 3; m++) comm_reduce_scatter_sum(c, dall[m], g[m], bd);
    comm_allreduce_mean(c, &loss, 1);
    comm_allreduce_mean(c, dls, 3);
    const double correct_sum = comm_allreduce_sum_double(c, correct);
    // Encoder: backward through this rank's rows with the reduce-scattered
    // gradient, then average the parameter gradient over ranks.
    float *dPraw = falloc(bd), *dWenc = falloc((size_t)dim * din);
    op_l2norm_backward(dPraw, g[0], P + own, normP + (size_t)g_rank * b, b, dim);
    op_linear_backward(NULL, dWenc, NULL, dPraw, X + (size_t)g_rank * b * din, Wenc, b, din,
                       dim);
    comm_allreduce_mean(c, dWenc, (size_t)dim * din);

    // ---- checks
    char tag[160];
    snprintf(tag, sizeof tag, "W=%d b=%d dim=%d ls={%g,%g,%g} rank %d", W, b, dim, ls[0],
             ls[1], ls[2], g_rank);
    EXPECT(isfinite(loss_ref) && (n == 1 ? loss_ref == 0 : loss_ref > 0), "%s: reference loss %g", tag, loss_ref);
    EXPECT(fabs(loss - loss_ref) <= TOL * fmax(1.0, fabs(loss_ref)),
           "%s: mean rank loss %.8g vs reference %.8g", tag, loss, loss_ref);

    static const char *names[3] = {"dP", "dS", "dM"};
    float *want = falloc(bd);
    for (int m = 0; m < 3; m++) {
        // Normalised by the largest magnitude of the whole W x reference
        // gradient (all rows: every row's float noise comes from the same
        // n_global-column softmaxes), plus the absolute term.
        double omax = 0, gmax = 0;
        for (size_t i = 0; i < nd; i++) gmax = fmax(gmax, fabs(dref[m][i]));
        for (size_t i = 0; i < bd; i++) omax = fmax(omax, fabs(dref[m][own + i]));
        for (size_t i = 0; i < bd; i++) want[i] = (float)W * dref[m][own + i];
        const double err = cmp_err(g[m], want, bd, W * gmax, W * ATOL);
        EXPECT(err <= TOL, "%s: reduce-scattered %s != W x reference rows (err %.3g)", tag,
               names[m], err);
        if (W > 1 && omax > 1e3 * ATOL) {
            // The factor is really W, not 1: the plain reference rows do not match.
            const double err1 = cmp_err(g[m], dref[m] + own, bd, 0.0, 0.0);
            EXPECT(err1 > 0.5, "%s: %s matched the unscaled reference (err %.3g)", tag,
                   names[m], err1);
        }
    }
    const double err_ls = cmp_err(dls, dls_ref, 3, 0.0, ATOL);
    EXPECT(err_ls <= TOL_LS, "%s: mean dlog_scale {%g,%g,%g} vs reference {%g,%g,%g} (err %.3g)",
           tag, dls[0], dls[1], dls[2], dls_ref[0], dls_ref[1], dls_ref[2], err_ls);
    const double err_w = cmp_err(dWenc, dWenc_ref, (size_t)dim * din, 0.0, ATOL);
    EXPECT(err_w <= TOL, "%s: averaged encoder gradient vs reference (err %.3g)", tag, err_w);
    for (int p = 0; p < 3; p++) {
        int live = 0;
        clip_logit_scale(ls[p], &live);
        if (!live)
            EXPECT(dls_ref[p] == 0.0f && dls[p] == 0.0f,
                   "%s: clamped scale %d has gradient %g / %g", tag, p, dls_ref[p], dls[p]);
        else if (n > 1)  // one sample: softmax over one column, no gradient at all
            EXPECT(dls_ref[p] != 0.0f, "%s: live scale %d has zero gradient", tag, p);
    }
    EXPECT(correct_sum == (double)correct_ref, "%s: correct over ranks %.0f vs reference %d", tag,
           correct_sum, correct_ref);
    EXPECT(correct >= 0 && correct <= b, "%s: rank correct %d of %d", tag, correct, b);

    if (g_rank == 0)
        printf("  W=%d b=%d dim=%2d ls={%.4f,%.4f,%.4f}: loss %.6f (ref %.6f), correct %.0f/%d, "
               "dlog {%.5g,%.5g,%.5g}\n",
               W, b, dim, ls[0], ls[1], ls[2], loss, loss_ref, correct_sum, n, dls[0], dls[1],
               dls[2]);

    clip_loss_free(&ref);
    clip_loss_free(&loc);
    free(want);
    free(dPraw);
    free(dWenc);
    free(dPraw_ref);
    free(dWenc_ref);
    for (int m = 0; m < 3; m++) {
        free(dref[m]);
        free(dall[m]);
        free(g[m]);
    }
    free(X);
    free(Wenc);
    free(Praw);
    free(P);
    free(S);
    free(M);
    free(normP);
    free(norm_tmp);
    free(tmp);
}

int main(int argc, char **argv) {
    Comm *c = comm_init(&argc, &argv);
    g_rank = comm_rank(c);
    g_size = comm_size(c);
    ops_init(0);

    const float scales[3][3] = {
        {logf(10.0f), logf(20.0f), logf(5.0f)},
        {logf(100.0f), 0.0f, logf(50.0f)},  // clamp boundaries exp(s) = 100 and 1
        {logf(150.0f), logf(0.5f), logf(30.0f)},  // beyond both ends: clamped
    };
    const int bs[3] = {1, 3, 8}, dims[2] = {8, 33};
    uint64_t seed = 1234;
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) run_case(c, bs[i], dims[j], scales[s], seed++);

    return mpi_finish(c, "test_mpi_clip");
}
