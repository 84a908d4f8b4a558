// Every op of src/nn/ops.h on the CUDA device against the CPU implementation.
//
// Each check makes random host inputs (testdata.h), runs the CPU op by calling
// cpu_op_* directly on host buffers, runs op_* (dispatching to CUDA) on device
// copies (ops_alloc / ops_to_device / ops_to_host), and compares every output
// and every gradient. Backward ops accumulate, so gradient buffers start
// pre-filled with random values on both sides. Sizes: small odd shapes (tails,
// partial tiles) and the real AstroM3 shapes (batch 64: 12,800 photometry
// tokens x 128 -> 512, ProbSparse B=8 L=200 H=4 D=32, spectra 3 x 2575).
//
// Tolerances (cuBLAS in full FP32: ASTROMM_TF32 is cleared before the device is
// selected), as max |gpu - cpu| / max |cpu| over the tensor:
//   * TOL_EW = 1e-5: elementwise, normalisation, softmax / cross entropy, Adam
//     (only the order of float sums and FMA contraction differ);
//   * TOL_GEMM = 1e-4: GEMM-based ops (linear, conv1d) and attention (long
//     float dot products summed in another order);
//   * exact (bitwise): pure data movement and selection: transpose, row
//     gather / scatter-add (ops.h fixes the summation order) / zero, copy, add,
//     scale, ReLU forward and masks, max-pool values, argmax and backward, the
//     position table and add_position, the ProbSparse key samples and top_idx,
//     dropout keep bits and the dropped-element pattern;
//   * op_sumsq / op_dot (double accumulation of exact float products):
//     |gpu - cpu| <= 1e-9 sum |a_i b_i|.
// Backward ops that reduce (linear, conv1d, layernorm, attention, ProbSparse)
// must also give the same bits when run twice (no atomics).
//
// Reduced precision (ops_set_precision), GPU only, linear and conv1d again:
//   * TF32 (10-bit mantissa products, fp32 accumulation): 5e-3;
//   * BF16 (inputs rounded to 8-bit mantissas, fp32 accumulation): 3e-2 —
//     each input is off by up to 2^-9 relative, and a K-long dot product of
//     random signs accumulates ~sqrt(K) of those against a max |output| that
//     also grows like sqrt(K).
//
// Without a usable GPU the test prints "SKIP: ..." and exits 77 (ctest SKIP).
// ASTROMM_GPU_TESTS_ON_CPU=1 instead runs every comparison with op_* on the CPU
// device: a self-test of this harness on machines without a GPU (the results
// are then trivially identical). ASTROMM_TEST_VERBOSE=1 prints every error.
#define _POSIX_C_SOURCE 200809L  // unsetenv
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/ops.h"
#include "nn/ops_cpu.h"
#include "testdata.h"
#include "testutil.h"

#define TOL_EW 1e-5
// GEMM tolerance: 1e-4 in FP32; the precision section at the end loosens it.
static double TOL_GEMM = 1e-4;

static int g_verbose;
static double g_worst_ratio;  // largest error / tolerance seen (the margin report)
static char g_worst_what[160];

// ---------------------------------------------------------------- device helpers
static void *dev_bytes(const void *host, size_t bytes) {
    void *d = ops_alloc(bytes ? bytes : 1, "test tensor");
    if (host && bytes) ops_to_device(d, host, bytes);
    return d;
}
static float *dev_f(const float *host, size_t n) { return dev_bytes(host, n * sizeof(float)); }
static int32_t *dev_i(const int32_t *host, size_t n) { return dev_bytes(host, n * sizeof(int32_t)); }

static void *host_bytes(const void *dev, size_t bytes) {
    void *h = malloc(bytes ? bytes : 1);
    REQUIRE(h, "out of host memory");
    if (bytes) ops_to_host(h, dev, bytes);
    return h;
}
static float *host_f(const float *dev, size_t n) { return host_bytes(dev, n * sizeof(float)); }

static int32_t *rand_rows(size_t n, int below) {
    static uint32_t stream = 0;
    AmRng r = am_rng(77, 0, RNG_SYNTH, 1000 + stream++);
    int32_t *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (int32_t)am_rng_below(&r, i, (uint32_t)below);
    return x;
}

// max |gpu - cpu| / max |cpu|; the worst element is named on failure.
static void expect_close(const char *tag, const char *what, const float *dev, const float *ref,
                         size_t n, double tol) {
    float *got = host_f(dev, n);
    double amax = 0.0, err = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs((double)ref[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (isnan(d)) d = INFINITY;
        if (d > err) err = d, worst = i;
    }
    const double rel = err == 0.0 ? 0.0 : err / fmax(amax, 1e-30);
    EXPECT(rel <= tol, "%s: %s max rel err %.3g > %.0e (worst [%zu]: gpu %.9g cpu %.9g, max |cpu| %.3g)",
           tag, what, rel, tol, worst, n ? (double)got[worst] : 0.0, n ? (double)ref[worst] : 0.0, amax);
    if (g_verbose) printf("  %-44s %-22s %.3g\n", tag, what, rel);
    if (rel / tol > g_worst_ratio) {
        g_worst_ratio = rel / tol;
        snprintf(g_worst_what, sizeof g_worst_what, "%s: %s, %.3g vs %.0e", tag, what, rel, tol);
    }
    free(got);
}

// Bitwise equality of a device buffer with a host reference.
static void expect_same(const char *tag, const char *what, const void *dev, const void *ref,
                        size_t bytes) {
    unsigned char *got = host_bytes(dev, bytes);
    const unsigned char *want = ref;
    size_t first = bytes, ndiff = 0;
    for (size_t i = 0; i < bytes; i++)
        if (got[i] != want[i]) {
            if (first == bytes) first = i;
            ndiff++;
        }
    EXPECT(ndiff == 0, "%s: %s differs from the CPU in %zu of %zu bytes (first at byte %zu)", tag,
           what, ndiff, bytes, first);
    if (g_verbose) printf("  %-44s %-22s %s\n", tag, what, ndiff ? "DIFFERS" : "identical");
    free(got);
}

// Two device buffers hold the same bits (run-to-run determinism).
static void expect_repeatable(const char *tag, const char *what, const float *a, const float *b,
                              size_t n) {
    float *ha = host_f(a, n), *hb = host_f(b, n);
    EXPECT(memcmp(ha, hb, n * sizeof(float)) == 0, "%s: %s differs between two identical GPU runs",
           tag, what);
    free(ha);
    free(hb);
}

// ---------------------------------------------------------------- linear
static void test_linear(int n, int in, int out, int bias) {
    char tag[96];
    snprintf(tag, sizeof tag, "linear n%d %d->%d%s", n, in, out, bias ? "" : " nobias");
    const size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    float *x = randn(nx, 1.0f), *w = randn(nw, 1.0f / sqrtf((float)in)), *b = randn(out, 0.5f);
    float *dy = randn(ny, 1.0f), *dx0 = randn(nx, 1.0f), *dw0 = randn(nw, 1.0f), *db0 = randn(out, 1.0f);
    float *y = zeros(ny);
    cpu_op_linear_forward(y, x, w, bias ? b : NULL, n, in, out);
    float *x_d = dev_f(x, nx), *w_d = dev_f(w, nw), *b_d = dev_f(b, out), *dy_d = dev_f(dy, ny);
    float *y_d = dev_f(NULL, ny);
    op_linear_forward(y_d, x_d, w_d, bias ? b_d : NULL, n, in, out);
    expect_close(tag, "forward", y_d, y, ny, TOL_GEMM);

    float *dx = copy_of(dx0, nx), *dw = copy_of(dw0, nw), *db = copy_of(db0, out);
    cpu_op_linear_backward(dx, dw, bias ? db : NULL, dy, x, w, n, in, out);
    float *g[2][3];
    for (int rep = 0; rep < 2; rep++) {
        g[rep][0] = dev_f(dx0, nx), g[rep][1] = dev_f(dw0, nw), g[rep][2] = dev_f(db0, out);
        op_linear_backward(g[rep][0], g[rep][1], bias ? g[rep][2] : NULL, dy_d, x_d, w_d, n, in, out);
    }
    expect_close(tag, "din (accumulated)", g[0][0], dx, nx, TOL_GEMM);
    expect_close(tag, "dw (accumulated)", g[0][1], dw, nw, TOL_GEMM);
    expect_close(tag, "db (accumulated)", g[0][2], bias ? db : db0, out, TOL_GEMM);
    expect_repeatable(tag, "din", g[0][0], g[1][0], nx);
    expect_repeatable(tag, "dw", g[0][1], g[1][1], nw);
    expect_repeatable(tag, "db", g[0][2], g[1][2], out);
    for (int rep = 0; rep < 2; rep++)
        for (int j = 0; j < 3; j++) ops_free(g[rep][j]);

    // NULL gradients: only din, then only dw and db.
    if (nx <= (size_t)1 << 20) {
        float *dxa = copy_of(dx0, nx), *dwa = copy_of(dw0, nw), *dba = copy_of(db0, out);
        cpu_op_linear_backward(dxa, NULL, NULL, dy, x, w, n, in, out);
        cpu_op_linear_backward(NULL, dwa, dba, dy, x, w, n, in, out);
        float *dxa_d = dev_f(dx0, nx), *dwa_d = dev_f(dw0, nw), *dba_d = dev_f(db0, out);
        op_linear_backward(dxa_d, NULL, NULL, dy_d, x_d, w_d, n, in, out);
        op_linear_backward(NULL, dwa_d, dba_d, dy_d, x_d, w_d, n, in, out);
        expect_close(tag, "din only", dxa_d, dxa, nx, TOL_GEMM);
        expect_close(tag, "dw, db only", dwa_d, dwa, nw, TOL_GEMM);
        expect_close(tag, "db with din NULL", dba_d, dba, out, TOL_GEMM);
        ops_free(dxa_d), ops_free(dwa_d), ops_free(dba_d);
        free(dxa), free(dwa), free(dba);
    }
    ops_free(x_d), ops_free(w_d), ops_free(b_d), ops_free(dy_d), ops_free(y_d);
    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0), free(y), free(dx), free(dw), free(db);
}

// ---------------------------------------------------------------- conv1d
static void test_conv1d(int B, int Ci, int L, int Co, int K, int pad, PadMode mode) {
    char tag[96];
    snprintf(tag, sizeof tag, "conv1d B%d %dx%d->%d K%d pad%d %s", B, Ci, L, Co, K, pad,
             mode == PAD_CIRCULAR ? "circular" : "zeros");
    const int Lo = conv1d_out_len(L, K, pad);
    const size_t nx = (size_t)B * Ci * L, nw = (size_t)Co * Ci * K, ny = (size_t)B * Co * Lo;
    float *x = randn(nx, 1.0f), *w = randn(nw, 1.0f / sqrtf((float)(Ci * K))), *b = randn(Co, 0.5f);
    float *dy = randn(ny, 1.0f), *dx0 = randn(nx, 1.0f), *dw0 = randn(nw, 1.0f), *db0 = randn(Co, 1.0f);
    float *y = zeros(ny), *y2 = zeros(ny);
    cpu_op_conv1d_forward(y, x, w, b, B, Ci, L, Co, K, pad, mode);
    cpu_op_conv1d_forward(y2, x, w, NULL, B, Ci, L, Co, K, pad, mode);
    float *x_d = dev_f(x, nx), *w_d = dev_f(w, nw), *b_d = dev_f(b, Co), *dy_d = dev_f(dy, ny);
    float *y_d = dev_f(NULL, ny);
    op_conv1d_forward(y_d, x_d, w_d, b_d, B, Ci, L, Co, K, pad, mode);
    expect_close(tag, "forward", y_d, y, ny, TOL_GEMM);
    op_conv1d_forward(y_d, x_d, w_d, NULL, B, Ci, L, Co, K, pad, mode);
    expect_close(tag, "forward, no bias", y_d, y2, ny, TOL_GEMM);

    float *dx = copy_of(dx0, nx), *dw = copy_of(dw0, nw), *db = copy_of(db0, Co);
    cpu_op_conv1d_backward(dx, dw, db, dy, x, w, B, Ci, L, Co, K, pad, mode);
    float *g[2][3];
    for (int rep = 0; rep < 2; rep++) {
        g[rep][0] = dev_f(dx0, nx), g[rep][1] = dev_f(dw0, nw), g[rep][2] = dev_f(db0, Co);
        op_conv1d_backward(g[rep][0], g[rep][1], g[rep][2], dy_d, x_d, w_d, B, Ci, L, Co, K, pad, mode);
    }
    expect_close(tag, "din (accumulated)", g[0][0], dx, nx, TOL_GEMM);
    expect_close(tag, "dw (accumulated)", g[0][1], dw, nw, TOL_GEMM);
    expect_close(tag, "db (accumulated)", g[0][2], db, Co, TOL_GEMM);
    expect_repeatable(tag, "din", g[0][0], g[1][0], nx);
    expect_repeatable(tag, "dw", g[0][1], g[1][1], nw);
    expect_repeatable(tag, "db", g[0][2], g[1][2], Co);
    for (int rep = 0; rep < 2; rep++)
        for (int j = 0; j < 3; j++) ops_free(g[rep][j]);

    // The first layer passes din = NULL; a layer may also skip db.
    float *dwa = copy_of(dw0, nw), *dba = copy_of(db0, Co), *dxa = copy_of(dx0, nx);
    cpu_op_conv1d_backward(NULL, dwa, dba, dy, x, w, B, Ci, L, Co, K, pad, mode);
    cpu_op_conv1d_backward(dxa, NULL, NULL, dy, x, w, B, Ci, L, Co, K, pad, mode);
    float *dwa_d = dev_f(dw0, nw), *dba_d = dev_f(db0, Co), *dxa_d = dev_f(dx0, nx);
    op_conv1d_backward(NULL, dwa_d, dba_d, dy_d, x_d, w_d, B, Ci, L, Co, K, pad, mode);
    op_conv1d_backward(dxa_d, NULL, NULL, dy_d, x_d, w_d, B, Ci, L, Co, K, pad, mode);
    expect_close(tag, "dw with din NULL", dwa_d, dwa, nw, TOL_GEMM);
    expect_close(tag, "db with din NULL", dba_d, dba, Co, TOL_GEMM);
    expect_close(tag, "din only", dxa_d, dxa, nx, TOL_GEMM);
    ops_free(dwa_d), ops_free(dba_d), ops_free(dxa_d);
    free(dwa), free(dba), free(dxa);
    ops_free(x_d), ops_free(w_d), ops_free(b_d), ops_free(dy_d), ops_free(y_d);
    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0), free(y), free(y2);
    free(dx), free(dw), free(db);
}

// ---------------------------------------------------------------- layout
static void test_transpose(int B, int M, int N) {
    char tag[96];
    snprintf(tag, sizeof tag, "transpose B%d %dx%d", B, M, N);
    const size_t n = (size_t)B * M * N;
    float *x = randn(n, 1.0f), *dy = randn(n, 1.0f), *dx = randn(n, 1.0f), *y = zeros(n);
    float *x_d = dev_f(x, n), *dy_d = dev_f(dy, n), *dx_d = dev_f(dx, n), *y_d = dev_f(NULL, n);
    cpu_op_transpose_forward(y, x, B, M, N);
    op_transpose_forward(y_d, x_d, B, M, N);
    expect_same(tag, "forward", y_d, y, n * sizeof(float));
    cpu_op_transpose_backward(dx, dy, B, M, N);
    op_transpose_backward(dx_d, dy_d, B, M, N);
    expect_same(tag, "backward (accumulated)", dx_d, dx, n * sizeof(float));
    ops_free(x_d), ops_free(dy_d), ops_free(dx_d), ops_free(y_d);
    free(x), free(dy), free(dx), free(y);
}

static void test_rows(int n_src, int n_rows, int C) {
    char tag[96];
    snprintf(tag, sizeof tag, "rows src%d n%d C%d", n_src, n_rows, C);
    const size_t ns = (size_t)n_src * C, nr = (size_t)n_rows * C;
    int32_t *rows = rand_rows((size_t)n_rows, n_src);
    if (n_rows >= 4) rows[1] = rows[0], rows[3] = rows[0];  // repeated rows for sure
    float *src = randn(ns, 1.0f), *g = zeros(nr), *acc = randn(ns, 1.0f), *vals = randn(nr, 1.0f);
    int32_t *rows_d = dev_i(rows, (size_t)n_rows);
    float *src_d = dev_f(src, ns), *g_d = dev_f(NULL, nr), *acc_d = dev_f(acc, ns), *vals_d = dev_f(vals, nr);
    cpu_op_gather_rows(g, src, rows, n_rows, C);
    op_gather_rows(g_d, src_d, rows_d, n_rows, C);
    expect_same(tag, "gather", g_d, g, nr * sizeof(float));
    cpu_op_scatter_add_rows(acc, vals, rows, n_rows, C);
    op_scatter_add_rows(acc_d, vals_d, rows_d, n_rows, C);
    expect_same(tag, "scatter_add (repeats)", acc_d, acc, ns * sizeof(float));
    cpu_op_zero_rows(acc, rows, n_rows, C);
    op_zero_rows(acc_d, rows_d, n_rows, C);
    expect_same(tag, "zero_rows", acc_d, acc, ns * sizeof(float));
    ops_free(rows_d), ops_free(src_d), ops_free(g_d), ops_free(acc_d), ops_free(vals_d);
    free(rows), free(src), free(g), free(acc), free(vals);
}

// ---------------------------------------------------------------- max-pool
static void test_maxpool(int R, int L, int k) {
    char tag[96];
    snprintf(tag, sizeof tag, "maxpool R%d L%d k%d", R, L, k);
    const int Lo = L / k;
    const size_t nx = (size_t)R * L, ny = (size_t)R * Lo;
    float *x = randn(nx, 2.0f), *dy = randn(ny, 1.0f), *dx = randn(nx, 1.0f), *y = zeros(ny);
    for (size_t i = 0; i < nx; i++) x[i] = roundf(x[i]);  // frequent ties: first maximum wins
    int32_t *am = malloc(ny * sizeof *am);
    float *x_d = dev_f(x, nx), *dy_d = dev_f(dy, ny), *dx_d = dev_f(dx, nx), *y_d = dev_f(NULL, ny);
    int32_t *am_d = dev_i(NULL, ny);
    cpu_op_maxpool1d_forward(y, am, x, R, L, k);
    op_maxpool1d_forward(y_d, am_d, x_d, R, L, k);
    expect_same(tag, "forward", y_d, y, ny * sizeof(float));
    expect_same(tag, "argmax (ties)", am_d, am, ny * sizeof(int32_t));
    cpu_op_maxpool1d_backward(dx, dy, am, R, L, k);
    op_maxpool1d_backward(dx_d, dy_d, am_d, R, L, k);
    expect_same(tag, "backward (accumulated)", dx_d, dx, nx * sizeof(float));
    ops_free(x_d), ops_free(dy_d), ops_free(dx_d), ops_free(y_d), ops_free(am_d);
    free(x), free(dy), free(dx), free(y), free(am);
}

static void test_maxpool_nan(void) {
    const float x[8] = {NAN, 1, 1, NAN, 2, NAN, -1, -2};
    float *x_d = dev_f(x, 8), *y_d = dev_f(NULL, 4);
    int32_t *am_d = dev_i(NULL, 4), am[4], am_c[4];
    float y_c[4], y[4];
    cpu_op_maxpool1d_forward(y_c, am_c, x, 1, 8, 2);
    op_maxpool1d_forward(y_d, am_d, x_d, 1, 8, 2);
    ops_to_host(y, y_d, sizeof y);
    ops_to_host(am, am_d, sizeof am);
    int ok = 1;
    for (int i = 0; i < 4; i++) ok &= am[i] == am_c[i] && (isnan(y[i]) ? isnan(y_c[i]) : y[i] == y_c[i]);
    EXPECT(ok, "maxpool NaN propagation: gpu argmax %d %d %d %d, cpu %d %d %d %d", am[0], am[1],
           am[2], am[3], am_c[0], am_c[1], am_c[2], am_c[3]);
    ops_free(x_d), ops_free(y_d), ops_free(am_d);
}

// ---------------------------------------------------------------- normalisation
static void test_layernorm(int N, int C) {
    char tag[96];
    snprintf(tag, sizeof tag, "layernorm N%d C%d", N, C);
    const size_t n = (size_t)N * C;
    float *x = randn(n, 2.0f), *w = randn(C, 0.5f), *b = randn(C, 0.5f), *dy = randn(n, 1.0f);
    for (size_t i = 0; i < n; i++) x[i] += 3.0f;  // offset rows: the mean matters
    float *dx0 = randn(n, 1.0f), *dw0 = randn(C, 1.0f), *db0 = randn(C, 1.0f);
    float *y = zeros(n), *mean = zeros(N), *rstd = zeros(N);
    cpu_op_layernorm_forward(y, mean, rstd, x, w, b, N, C, 1e-5f);
    float *x_d = dev_f(x, n), *w_d = dev_f(w, C), *b_d = dev_f(b, C), *dy_d = dev_f(dy, n);
    float *y_d = dev_f(NULL, n), *mean_d = dev_f(NULL, N), *rstd_d = dev_f(NULL, N);
    op_layernorm_forward(y_d, mean_d, rstd_d, x_d, w_d, b_d, N, C, 1e-5f);
    expect_close(tag, "forward", y_d, y, n, TOL_EW);
    expect_close(tag, "mean", mean_d, mean, N, TOL_EW);
    expect_close(tag, "rstd", rstd_d, rstd, N, TOL_EW);

    // Backward from the CPU's saved statistics on both sides.
    float *dx = copy_of(dx0, n), *dw = copy_of(dw0, C), *db = copy_of(db0, C);
    cpu_op_layernorm_backward(dx, dw, db, dy, x, mean, rstd, w, N, C);
    ops_to_device(mean_d, mean, (size_t)N * sizeof(float));
    ops_to_device(rstd_d, rstd, (size_t)N * sizeof(float));
    float *g[2][3];
    for (int rep = 0; rep < 2; rep++) {
        g[rep][0] = dev_f(dx0, n), g[rep][1] = dev_f(dw0, C), g[rep][2] = dev_f(db0, C);
        op_layernorm_backward(g[rep][0], g[rep][1], g[rep][2], dy_d, x_d, mean_d, rstd_d, w_d, N, C);
    }
    expect_close(tag, "din (accumulated)", g[0][0], dx, n, TOL_EW);
    expect_close(tag, "dw (accumulated)", g[0][1], dw, C, TOL_EW);
    expect_close(tag, "db (accumulated)", g[0][2], db, C, TOL_EW);
    expect_repeatable(tag, "din", g[0][0], g[1][0], n);
    expect_repeatable(tag, "dw", g[0][1], g[1][1], C);
    expect_repeatable(tag, "db", g[0][2], g[1][2], C);
    for (int rep = 0; rep < 2; rep++)
        for (int j = 0; j < 3; j++) ops_free(g[rep][j]);
    // din only
    float *dxa = copy_of(dx0, n), *dxa_d = dev_f(dx0, n);
    cpu_op_layernorm_backward(dxa, NULL, NULL, dy, x, mean, rstd, w, N, C);
    op_layernorm_backward(dxa_d, NULL, NULL, dy_d, x_d, mean_d, rstd_d, w_d, N, C);
    expect_close(tag, "din only", dxa_d, dxa, n, TOL_EW);
    ops_free(dxa_d), free(dxa);
    ops_free(x_d), ops_free(w_d), ops_free(b_d), ops_free(dy_d), ops_free(y_d), ops_free(mean_d), ops_free(rstd_d);
    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0), free(y), free(mean), free(rstd);
    free(dx), free(dw), free(db);
}

static void test_l2norm(int N, int C) {
    char tag[96];
    snprintf(tag, sizeof tag, "l2norm N%d C%d", N, C);
    const size_t n = (size_t)N * C;
    float *x = randn(n, 1.0f), *dy = randn(n, 1.0f), *dx = randn(n, 1.0f);
    for (int c = 0; c < C; c++) x[c] = 0.0f;                         // clamped: norm = eps
    if (N > 1)
        for (int c = 0; c < C; c++) x[(size_t)C + c] *= 1e-14f;      // clamped too, non-zero
    float *y = zeros(n), *nr = zeros(N);
    float *x_d = dev_f(x, n), *dy_d = dev_f(dy, n), *dx_d = dev_f(dx, n), *y_d = dev_f(NULL, n);
    float *nr_d = dev_f(NULL, N);
    cpu_op_l2norm_forward(y, nr, x, N, C);
    op_l2norm_forward(y_d, nr_d, x_d, N, C);
    expect_close(tag, "forward", y_d, y, n, TOL_EW);
    expect_close(tag, "norm", nr_d, nr, N, TOL_EW);
    // Backward from the CPU's forward on both sides. Rows whose norm was clamped
    // have din = dout / 1e-12: compare the unclamped rows and the clamped ones apart.
    ops_to_device(y_d, y, n * sizeof(float));
    ops_to_device(nr_d, nr, (size_t)N * sizeof(float));
    cpu_op_l2norm_backward(dx, dy, y, nr, N, C);
    op_l2norm_backward(dx_d, dy_d, y_d, nr_d, N, C);
    const int nclamp = N > 1 ? 2 : 1;
    expect_close(tag, "din clamped rows", dx_d, dx, (size_t)nclamp * C, TOL_EW);
    expect_close(tag, "din (accumulated)", dx_d + (size_t)nclamp * C, dx + (size_t)nclamp * C,
                 n - (size_t)nclamp * C, TOL_EW);
    ops_free(x_d), ops_free(dy_d), ops_free(dx_d), ops_free(y_d), ops_free(nr_d);
    free(x), free(dy), free(dx), free(y), free(nr);
}

// ---------------------------------------------------------------- elementwise
static void test_elementwise(size_t n) {
    char tag[96];
    snprintf(tag, sizeof tag, "elementwise n%zu", n);
    const size_t nb = n * sizeof(float);
    float *x = randn(n, 2.0f), *b = randn(n, 1.0f), *dy = randn(n, 1.0f), *acc = randn(n, 1.0f);
    float *y = zeros(n);
    float *x_d = dev_f(x, n), *b_d = dev_f(b, n), *dy_d = dev_f(dy, n), *y_d = dev_f(NULL, n);
    float *acc_d = dev_f(acc, n);

    cpu_op_gelu_forward(y, x, n);
    op_gelu_forward(y_d, x_d, n);
    expect_close(tag, "gelu forward", y_d, y, n, TOL_EW);
    cpu_op_gelu_backward(acc, dy, x, n);
    op_gelu_backward(acc_d, dy_d, x_d, n);
    expect_close(tag, "gelu backward (acc)", acc_d, acc, n, TOL_EW);
    {
        float *g = copy_of(dy, n), *g_d = dev_f(dy, n);
        cpu_op_gelu_backward_inplace(g, x, n);
        op_gelu_backward_inplace(g_d, x_d, n);
        expect_close(tag, "gelu backward in place", g_d, g, n, TOL_EW);
        free(g);
        ops_free(g_d);
    }

    cpu_op_relu_forward(y, x, n);
    op_relu_forward(y_d, x_d, n);
    expect_same(tag, "relu forward", y_d, y, nb);
    cpu_op_relu_backward(acc, dy, x, n);
    op_relu_backward(acc_d, dy_d, x_d, n);
    expect_close(tag, "relu backward (acc)", acc_d, acc, n, TOL_EW);
    float *gm = copy_of(dy, n), *gm_d = dev_f(dy, n);
    cpu_op_relu_mask_inplace(gm, y, n);  // y = the ReLU output (exact zeros)
    op_relu_mask_inplace(gm_d, y_d, n);
    expect_same(tag, "relu_mask_inplace", gm_d, gm, nb);

    float *c = copy_of(acc, n), *c_d = dev_f(acc, n);
    cpu_op_axpy(c, -0.37f, x, n);
    op_axpy(c_d, -0.37f, x_d, n);
    expect_close(tag, "axpy", c_d, c, n, TOL_EW);
    cpu_op_add(c, x, b, n);
    op_add(c_d, x_d, b_d, n);
    expect_same(tag, "add", c_d, c, nb);
    cpu_op_scale(c, -1.7f, n);
    op_scale(c_d, -1.7f, n);
    expect_same(tag, "scale", c_d, c, nb);
    op_copy(c_d, b_d, n);
    expect_same(tag, "copy", c_d, b, nb);
    ops_zero(c_d, n);
    memset(c, 0, nb);
    expect_same(tag, "ops_zero", c_d, c, nb);

    double s_c = cpu_op_sumsq(x, n), s_g = op_sumsq(x_d, n);
    double d_c = cpu_op_dot(x, b, n), d_g = op_dot(x_d, b_d, n), abs_sum = 0.0;
    for (size_t i = 0; i < n; i++) abs_sum += fabs((double)x[i] * b[i]);
    EXPECT(fabs(s_g - s_c) <= 1e-9 * s_c, "%s: sumsq gpu %.17g cpu %.17g", tag, s_g, s_c);
    EXPECT(fabs(d_g - d_c) <= 1e-9 * abs_sum, "%s: dot gpu %.17g cpu %.17g (sum |ab| %.6g)", tag,
           d_g, d_c, abs_sum);
    EXPECT(op_sumsq(x_d, 0) == 0.0 && op_dot(x_d, b_d, 0) == 0.0, "%s: sums of nothing", tag);
    if (g_verbose) printf("  %-44s sumsq %.3g dot %.3g\n", tag, fabs(s_g - s_c) / s_c, fabs(d_g - d_c) / abs_sum);

    ops_free(x_d), ops_free(b_d), ops_free(dy_d), ops_free(y_d), ops_free(acc_d), ops_free(gm_d), ops_free(c_d);
    free(x), free(b), free(dy), free(acc), free(y), free(gm), free(c);
}

static void test_mask_rows(int B, int L, int C) {
    char tag[96];
    snprintf(tag, sizeof tag, "mask_rows B%d L%d C%d", B, L, C);
    const size_t n = (size_t)B * L * C;
    float *m = randn((size_t)B * L, 1.0f), *x = randn(n, 1.0f), *dy = randn(n, 1.0f), *dx = randn(n, 1.0f);
    for (int i = 0; i < B * L; i += 3) m[i] = 0.0f;  // padded positions
    float *y = zeros(n);
    float *m_d = dev_f(m, (size_t)B * L), *x_d = dev_f(x, n), *dy_d = dev_f(dy, n), *dx_d = dev_f(dx, n);
    float *y_d = dev_f(NULL, n);
    cpu_op_mask_rows_forward(y, x, m, B, L, C);
    op_mask_rows_forward(y_d, x_d, m_d, B, L, C);
    expect_same(tag, "forward", y_d, y, n * sizeof(float));
    cpu_op_mask_rows_backward(dx, dy, m, B, L, C);
    op_mask_rows_backward(dx_d, dy_d, m_d, B, L, C);
    expect_close(tag, "backward (accumulated)", dx_d, dx, n, TOL_EW);
    ops_free(m_d), ops_free(x_d), ops_free(dy_d), ops_free(dx_d), ops_free(y_d);
    free(m), free(x), free(dy), free(dx), free(y);
}

// ---------------------------------------------------------------- dropout
// The kept/dropped pattern of an output (elements whose input is non-zero).
static size_t pattern_diff(const float *gpu, const float *cpu, const float *in, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += in[i] != 0.0f && ((gpu[i] == 0.0f) != (cpu[i] == 0.0f));
    return bad;
}
// Keep bits 0..n-1 (padding bits of the last byte are not part of the contract).
static size_t bits_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += ((a[i / 8] >> (i % 8)) & 1) != ((b[i / 8] >> (i % 8)) & 1);
    return bad;
}

static void test_dropout(size_t n, float p, uint64_t offset) {
    char tag[96];
    snprintf(tag, sizeof tag, "dropout n%zu p%.3g off%llu", n, (double)p, (unsigned long long)offset);
    const AmRng rng = am_rng(9, 4, RNG_DROPOUT, 2);
    const size_t nbits = (n + 7) / 8;
    float *x = randn(n, 1.0f), *dy = randn(n, 1.0f), *dx0 = randn(n, 1.0f);
    float *y = zeros(n), *y2 = zeros(n), *dxa = copy_of(dx0, n), *dxb = copy_of(dx0, n);
    uint8_t *bits = calloc(nbits, 1);
    float *x_d = dev_f(x, n), *dy_d = dev_f(dy, n), *y_d = dev_f(NULL, n);
    uint8_t *bits_d = dev_bytes(NULL, nbits);

    // forward with keep bits, forward without, forward in place
    cpu_op_dropout_forward(y, x, n, p, &rng, offset, bits);
    cpu_op_dropout_forward(y2, x, n, p, &rng, offset, NULL);
    EXPECT(memcmp(y, y2, n * sizeof *y) == 0, "%s: CPU dropout with and without keep bits differ", tag);
    op_dropout_forward(y_d, x_d, n, p, &rng, offset, bits_d);
    float *got = host_f(y_d, n);
    uint8_t *got_bits = host_bytes(bits_d, nbits);
    EXPECT(bits_diff(got_bits, bits, n) == 0, "%s: keep bits differ from the CPU in %zu of %zu", tag,
           bits_diff(got_bits, bits, n), n);
    EXPECT(pattern_diff(got, y, x, n) == 0, "%s: dropped elements differ (with keep bits) in %zu", tag,
           pattern_diff(got, y, x, n));
    expect_close(tag, "forward (keep bits)", y_d, y, n, TOL_EW);
    free(got);
    ops_zero(y_d, n);
    op_dropout_forward(y_d, x_d, n, p, &rng, offset, NULL);
    got = host_f(y_d, n);
    EXPECT(pattern_diff(got, y, x, n) == 0, "%s: dropped elements differ (no keep bits) in %zu", tag,
           pattern_diff(got, y, x, n));
    expect_close(tag, "forward (no bits)", y_d, y, n, TOL_EW);
    free(got);
    float *xi_d = dev_f(x, n);
    op_dropout_forward(xi_d, xi_d, n, p, &rng, offset, NULL);
    expect_close(tag, "forward in place", xi_d, y, n, TOL_EW);

    // backward from the GPU's keep bits and from regeneration, onto pre-filled din
    cpu_op_dropout_backward(dxa, dy, n, p, &rng, offset, bits);
    cpu_op_dropout_backward(dxb, dy, n, p, &rng, offset, NULL);
    float *dxa_d = dev_f(dx0, n), *dxb_d = dev_f(dx0, n);
    op_dropout_backward(dxa_d, dy_d, n, p, &rng, offset, bits_d);
    op_dropout_backward(dxb_d, dy_d, n, p, &rng, offset, NULL);
    expect_close(tag, "backward (keep bits)", dxa_d, dxa, n, TOL_EW);
    expect_close(tag, "backward (no bits)", dxb_d, dxb, n, TOL_EW);

    // mask in place, with and without keep bits
    float *ma = copy_of(dy, n), *mb = copy_of(dy, n);
    cpu_op_dropout_mask_inplace(ma, n, p, &rng, offset, bits);
    cpu_op_dropout_mask_inplace(mb, n, p, &rng, offset, NULL);
    float *ma_d = dev_f(dy, n), *mb_d = dev_f(dy, n);
    op_dropout_mask_inplace(ma_d, n, p, &rng, offset, bits_d);
    op_dropout_mask_inplace(mb_d, n, p, &rng, offset, NULL);
    got = host_f(ma_d, n);
    EXPECT(pattern_diff(got, ma, dy, n) == 0, "%s: mask_inplace (keep bits) pattern differs", tag);
    free(got);
    got = host_f(mb_d, n);
    EXPECT(pattern_diff(got, mb, dy, n) == 0, "%s: mask_inplace (no bits) pattern differs", tag);
    free(got);
    expect_close(tag, "mask_inplace (bits)", ma_d, ma, n, TOL_EW);
    expect_close(tag, "mask_inplace (no bits)", mb_d, mb, n, TOL_EW);

    // p = 0 copies
    op_dropout_forward(y_d, x_d, n, 0.0f, &rng, offset, NULL);
    expect_same(tag, "p = 0 forward", y_d, x, n * sizeof(float));

    ops_free(x_d), ops_free(dy_d), ops_free(y_d), ops_free(bits_d), ops_free(xi_d), ops_free(dxa_d);
    ops_free(dxb_d), ops_free(ma_d), ops_free(mb_d);
    free(x), free(dy), free(dx0), free(y), free(y2), free(dxa), free(dxb), free(bits), free(got_bits);
    free(ma), free(mb);
}

// ---------------------------------------------------------------- softmax / CE
static void test_softmax(int N, int C) {
    char tag[96];
    snprintf(tag, sizeof tag, "softmax N%d C%d", N, C);
    const size_t n = (size_t)N * C;
    float *x = randn(n, 3.0f), *dy = randn(n, 1.0f), *dx = randn(n, 1.0f), *y = zeros(n);
    x[0] = 1000.0f;  // stability: the row maximum is subtracted
    if (C > 1) x[1] = 1001.0f;
    float *x_d = dev_f(x, n), *dy_d = dev_f(dy, n), *dx_d = dev_f(dx, n), *y_d = dev_f(NULL, n);
    cpu_op_softmax_forward(y, x, N, C);
    op_softmax_forward(y_d, x_d, N, C);
    expect_close(tag, "forward", y_d, y, n, TOL_EW);
    cpu_op_softmax_backward(dx, dy, y, N, C);
    ops_to_device(y_d, y, n * sizeof(float));
    op_softmax_backward(dx_d, dy_d, y_d, N, C);
    expect_close(tag, "backward (accumulated)", dx_d, dx, n, TOL_EW);
    ops_free(x_d), ops_free(dy_d), ops_free(dx_d), ops_free(y_d);
    free(x), free(dy), free(dx), free(y);
}

static void test_cross_entropy(int N, int C) {
    char tag[96];
    snprintf(tag, sizeof tag, "cross_entropy N%d C%d", N, C);
    const size_t n = (size_t)N * C;
    float *x = randn(n, 3.0f), *dl = randn(n, 1.0f), *pr = zeros(n);
    int32_t *lab = rand_rows((size_t)N, C);
    float *x_d = dev_f(x, n), *dl_d = dev_f(dl, n), *pr_d = dev_f(NULL, n);
    int32_t *lab_d = dev_i(lab, (size_t)N);
    const float lc = cpu_op_cross_entropy_forward(pr, x, lab, N, C);
    const float lg = op_cross_entropy_forward(pr_d, x_d, lab_d, N, C);
    EXPECT(fabsf(lg - lc) <= TOL_EW * fabsf(lc), "%s: loss gpu %.9g cpu %.9g", tag, (double)lg, (double)lc);
    expect_close(tag, "probs", pr_d, pr, n, TOL_EW);
    cpu_op_cross_entropy_backward(dl, pr, lab, N, C, 0.7f);
    ops_to_device(pr_d, pr, n * sizeof(float));
    op_cross_entropy_backward(dl_d, pr_d, lab_d, N, C, 0.7f);
    expect_close(tag, "dlogits (accumulated)", dl_d, dl, n, TOL_EW);
    ops_free(x_d), ops_free(dl_d), ops_free(pr_d), ops_free(lab_d);
    free(x), free(dl), free(pr), free(lab);
}

// ---------------------------------------------------------------- optimizer
static void test_adam(size_t n) {
    char tag[96];
    snprintf(tag, sizeof tag, "adam n%zu", n);
    float *p = randn(n, 0.05f), *m = randn(n, 0.01f), *v = randn(n, 0.01f);
    for (size_t i = 0; i < n; i++) v[i] *= v[i];  // second moments are non-negative
    float *p_d = dev_f(p, n), *m_d = dev_f(m, n), *v_d = dev_f(v, n);
    for (int64_t t = 1; t <= 3; t++) {
        float *g = randn(n, t == 2 ? 1e-3f : 1.0f);  // t = 2: small gradients (eps and decay matter)
        float *g_d = dev_f(g, n);
        const int64_t step = t == 3 ? 1000 : t;      // late step: bias corrections ~ 1
        cpu_op_adam_step(p, g, m, v, n, 3.92e-3f, 0.926f, 0.999f, 1e-8f, 4.67e-3f, step);
        op_adam_step(p_d, g_d, m_d, v_d, n, 3.92e-3f, 0.926f, 0.999f, 1e-8f, 4.67e-3f, step);
        ops_free(g_d);
        free(g);
    }
    expect_close(tag, "param after 3 steps", p_d, p, n, TOL_EW);
    expect_close(tag, "m", m_d, m, n, TOL_EW);
    expect_close(tag, "v", v_d, v, n, TOL_EW);
    ops_free(p_d), ops_free(m_d), ops_free(v_d);
    free(p), free(m), free(v);
}

// ---------------------------------------------------------------- position
static void test_position(int B, int L, int C) {
    char tag[96];
    snprintf(tag, sizeof tag, "position B%d L%d C%d", B, L, C);
    const size_t npe = (size_t)L * C, n = (size_t)B * L * C;
    float *pe = zeros(npe), *x = randn(n, 1.0f);
    float *pe_d = dev_f(NULL, npe), *x_d = dev_f(x, n);
    cpu_op_sinusoid_table(pe, L, C);
    op_sinusoid_table(pe_d, L, C);
    expect_same(tag, "sinusoid table", pe_d, pe, npe * sizeof(float));
    cpu_op_add_position(x, pe, B, L, C);
    op_add_position(x_d, pe_d, B, L, C);
    expect_same(tag, "add_position", x_d, x, n * sizeof(float));
    ops_free(pe_d), ops_free(x_d);
    free(pe), free(x);
}

// ---------------------------------------------------------------- attention
static void test_attention(int B, int L, int H, int D) {
    char tag[96];
    snprintf(tag, sizeof tag, "attention B%d L%d H%d D%d", B, L, H, D);
    const size_t n = (size_t)B * L * H * D, np = (size_t)B * H * L * L;
    float *q = randn(n, 1.0f), *k = randn(n, 1.0f), *v = randn(n, 1.0f), *dy = randn(n, 1.0f);
    float *g0[3] = {randn(n, 1.0f), randn(n, 1.0f), randn(n, 1.0f)};
    float *o = zeros(n), *pr = zeros(np);
    float *q_d = dev_f(q, n), *k_d = dev_f(k, n), *v_d = dev_f(v, n), *dy_d = dev_f(dy, n);
    float *o_d = dev_f(NULL, n), *pr_d = dev_f(NULL, np);
    cpu_op_attention_forward(o, pr, q, k, v, B, L, H, D);
    op_attention_forward(o_d, pr_d, q_d, k_d, v_d, B, L, H, D);
    expect_close(tag, "forward", o_d, o, n, TOL_GEMM);
    expect_close(tag, "probs", pr_d, pr, np, TOL_GEMM);
    // Backward from the CPU's probabilities on both sides.
    ops_to_device(pr_d, pr, np * sizeof(float));
    float *gc[3] = {copy_of(g0[0], n), copy_of(g0[1], n), copy_of(g0[2], n)};
    cpu_op_attention_backward(gc[0], gc[1], gc[2], dy, q, k, v, pr, B, L, H, D);
    float *g[2][3];
    for (int rep = 0; rep < 2; rep++) {
        for (int j = 0; j < 3; j++) g[rep][j] = dev_f(g0[j], n);
        op_attention_backward(g[rep][0], g[rep][1], g[rep][2], dy_d, q_d, k_d, v_d, pr_d, B, L, H, D);
    }
    static const char *const names[3] = {"dq (accumulated)", "dk (accumulated)", "dv (accumulated)"};
    for (int j = 0; j < 3; j++) {
        expect_close(tag, names[j], g[0][j], gc[j], n, TOL_GEMM);
        expect_repeatable(tag, names[j], g[0][j], g[1][j], n);
    }
    for (int rep = 0; rep < 2; rep++)
        for (int j = 0; j < 3; j++) ops_free(g[rep][j]);
    // dq not wanted
    float *gk = copy_of(g0[1], n), *gk_d = dev_f(g0[1], n);
    cpu_op_attention_backward(NULL, gk, NULL, dy, q, k, v, pr, B, L, H, D);
    op_attention_backward(NULL, gk_d, NULL, dy_d, q_d, k_d, v_d, pr_d, B, L, H, D);
    expect_close(tag, "dk only", gk_d, gk, n, TOL_GEMM);
    ops_free(gk_d), free(gk);
    ops_free(q_d), ops_free(k_d), ops_free(v_d), ops_free(dy_d), ops_free(o_d), ops_free(pr_d);
    for (int j = 0; j < 3; j++) free(g0[j]), free(gc[j]);
    free(q), free(k), free(v), free(dy), free(o), free(pr);
}

static void test_probsparse(int B, int L, int H, int D, int factor, int top_less) {
    const int u = probsparse_u(factor, L), n_top = u - top_less;
    char tag[96];
    snprintf(tag, sizeof tag, "probsparse B%d L%d H%d D%d u%d top%d", B, L, H, D, u, n_top);
    const size_t n = (size_t)B * L * H * D, np = (size_t)B * H * n_top * L, nt = (size_t)B * H * n_top;
    float *q = randn(n, 1.0f), *k = randn(n, 1.0f), *v = randn(n, 1.0f), *dy = randn(n, 1.0f);
    float *g0[3] = {randn(n, 1.0f), randn(n, 1.0f), randn(n, 1.0f)};
    float *o = zeros(n), *pr = zeros(np);
    int32_t *top = malloc((nt ? nt : 1) * sizeof *top), *si = malloc((size_t)L * u * sizeof *si);
    const AmRng r = am_rng(3, 5, RNG_PROBSPARSE, 1);
    cpu_probsparse_sample_keys(si, L, L, u, &r);
    int32_t *si_d = dev_i(NULL, (size_t)L * u);
    probsparse_sample_keys(si_d, L, L, u, &r);  // the device path of the same rule
    expect_same(tag, "sample_idx", si_d, si, (size_t)L * u * sizeof(int32_t));
    ops_to_device(si_d, si, (size_t)L * u * sizeof(int32_t));  // same injected samples either way

    float *q_d = dev_f(q, n), *k_d = dev_f(k, n), *v_d = dev_f(v, n), *dy_d = dev_f(dy, n);
    float *o_d = dev_f(NULL, n), *pr_d = dev_f(NULL, np);
    int32_t *top_d = dev_i(NULL, nt);
    cpu_op_probsparse_attention_forward(o, pr, top, q, k, v, si, u, n_top, B, L, H, D);
    op_probsparse_attention_forward(o_d, pr_d, top_d, q_d, k_d, v_d, si_d, u, n_top, B, L, H, D);
    expect_same(tag, "top_idx", top_d, top, nt * sizeof(int32_t));
    expect_close(tag, "forward", o_d, o, n, TOL_GEMM);
    expect_close(tag, "probs", pr_d, pr, np, TOL_GEMM);
    // Backward from the CPU's selection and probabilities on both sides.
    ops_to_device(pr_d, pr, np * sizeof(float));
    ops_to_device(top_d, top, nt * sizeof(int32_t));
    float *gc[3] = {copy_of(g0[0], n), copy_of(g0[1], n), copy_of(g0[2], n)};
    cpu_op_probsparse_attention_backward(gc[0], gc[1], gc[2], dy, q, k, v, pr, top, n_top, B, L, H, D);
    float *g[2][3];
    for (int rep = 0; rep < 2; rep++) {
        for (int j = 0; j < 3; j++) g[rep][j] = dev_f(g0[j], n);
        op_probsparse_attention_backward(g[rep][0], g[rep][1], g[rep][2], dy_d, q_d, k_d, v_d, pr_d,
                                         top_d, n_top, B, L, H, D);
    }
    static const char *const names[3] = {"dq (accumulated)", "dk (accumulated)", "dv (accumulated)"};
    for (int j = 0; j < 3; j++) {
        expect_close(tag, names[j], g[0][j], gc[j], n, TOL_GEMM);
        expect_repeatable(tag, names[j], g[0][j], g[1][j], n);
    }
    for (int rep = 0; rep < 2; rep++)
        for (int j = 0; j < 3; j++) ops_free(g[rep][j]);
    ops_free(si_d), ops_free(q_d), ops_free(k_d), ops_free(v_d), ops_free(dy_d), ops_free(o_d);
    ops_free(pr_d), ops_free(top_d);
    for (int j = 0; j < 3; j++) free(g0[j]), free(gc[j]);
    free(q), free(k), free(v), free(dy), free(o), free(pr), free(top), free(si);
}

// Hand-made ties of the sparsity score (test_ops_forward's case): lower index first,
// lazy queries output mean(v), n_top = 0 makes every query lazy.
static void test_probsparse_ties(void) {
    enum { L = 8, D = 2 };
    const float c[L] = {0.1f, 0.5f, 2.0f, 0.3f, 2.0f, -2.0f, 1.0f, 0.2f};
    float q[L * D], k[L * D] = {0}, v[L * D], o[L * D], pr[4 * L];
    for (int i = 0; i < L; i++) {
        q[i * D] = c[i], q[i * D + 1] = 0.0f;
        v[i * D] = (float)i, v[i * D + 1] = 1.0f;
    }
    k[0] = 1.0f, k[2] = -1.0f;
    int32_t si[L * 2], top[4];
    for (int i = 0; i < L; i++) si[2 * i] = 0, si[2 * i + 1] = 1;
    float *q_d = dev_f(q, L * D), *k_d = dev_f(k, L * D), *v_d = dev_f(v, L * D);
    float *o_d = dev_f(NULL, L * D), *pr_d = dev_f(NULL, 4 * L);
    int32_t *si_d = dev_i(si, L * 2), *top_d = dev_i(NULL, 4);
    for (int n_top = 4; n_top >= 0; n_top -= 4) {
        const char *tag = n_top ? "probsparse ties n_top 4" : "probsparse ties n_top 0";
        cpu_op_probsparse_attention_forward(o, pr, top, q, k, v, si, 2, n_top, 1, L, 1, D);
        op_probsparse_attention_forward(o_d, pr_d, top_d, q_d, k_d, v_d, si_d, 2, n_top, 1, L, 1, D);
        if (n_top) expect_same(tag, "top_idx", top_d, top, sizeof top);
        expect_close(tag, "forward", o_d, o, L * D, TOL_GEMM);
    }
    ops_free(q_d), ops_free(k_d), ops_free(v_d), ops_free(o_d), ops_free(pr_d), ops_free(si_d), ops_free(top_d);
}

// ProbSparse key samples and row tables (device-built, no host round trip):
// bit-identical to the CPU. top_idx is drawn with repeats across heads, as
// real selections have; H*u >= L makes every row selected (no stand-in).
static void test_probsparse_index(int B, int L, int H, int u) {
    char tag[96];
    snprintf(tag, sizeof tag, "probsparse index B%d L%d H%d u%d", B, L, H, u);
    const size_t nk = (size_t)L * (size_t)u;
    int32_t *keys = malloc(nk * sizeof *keys), *keys_d = dev_i(NULL, nk);
    AmRng r = am_rng(5, 9, RNG_PROBSPARSE, 3);
    cpu_probsparse_sample_keys(keys, L, L, u, &r);
    probsparse_sample_keys(keys_d, L, L, u, &r);
    expect_same(tag, "sample_idx", keys_d, keys, nk * sizeof *keys);
    const int S = probsparse_table_stride(L, H, u), Q = probsparse_query_stride(L, H, u);
    int32_t *top = rand_rows((size_t)B * H * u, L), *top_d = dev_i(top, (size_t)B * H * u);
    int32_t *tab = malloc((size_t)B * S * sizeof *tab), *map = malloc((size_t)B * L * sizeof *map);
    int32_t *qr = malloc((size_t)B * Q * sizeof *qr);
    int32_t *tab_d = dev_i(NULL, (size_t)B * S), *map_d = dev_i(NULL, (size_t)B * L), *qr_d = dev_i(NULL, (size_t)B * Q);
    cpu_op_probsparse_row_tables(tab, map, qr, top, B, L, H, u);
    op_probsparse_row_tables(tab_d, map_d, NULL, top_d, B, L, H, u);
    op_probsparse_row_tables(NULL, NULL, qr_d, top_d, B, L, H, u);
    expect_same(tag, "tab_rows", tab_d, tab, (size_t)B * S * sizeof *tab);
    expect_same(tag, "row_map", map_d, map, (size_t)B * L * sizeof *map);
    expect_same(tag, "q_rows", qr_d, qr, (size_t)B * Q * sizeof *qr);
    free(keys), free(top), free(tab), free(map), free(qr);
    ops_free(keys_d), ops_free(top_d), ops_free(tab_d), ops_free(map_d), ops_free(qr_d);
}

// ---------------------------------------------------------------- runtime
static void test_runtime(void) {
    // Round trip, and scratch slots that do not alias.
    float *x = randn(1000, 1.0f), *x_d = dev_f(x, 1000);
    expect_same("runtime", "to_device/to_host", x_d, x, 1000 * sizeof(float));
    float *a = ops_scratch(4, 1000), *b = ops_scratch(5, 1000);
    EXPECT(a != b, "scratch slots 4 and 5 alias");
    ops_to_device(a, x, 1000 * sizeof(float));
    ops_zero(b, 1000);
    expect_same("runtime", "scratch slot 4", a, x, 1000 * sizeof(float));
    ops_synchronize();
    ops_free(x_d);
    free(x);
}

// ---------------------------------------------------------------- images (ConvNeXt) and votes
// Forward against the CPU, backward accumulated onto random gradients twice
// (the repeats must agree bit for bit: cuDNN is asked for deterministic algorithms).
static void check_backward3(const char *tag, float *const dev[2][3], const float *const cpu[3], const size_t n[3],
                            const char *const names[3], double tol) {
    for (int j = 0; j < 3; j++) {
        if (!cpu[j]) continue;
        expect_close(tag, names[j], dev[0][j], cpu[j], n[j], tol);
        expect_repeatable(tag, names[j], dev[0][j], dev[1][j], n[j]);
    }
}

static void test_conv2d(int B, int H, int W, int Ci, int Co, int K, int depthwise) {
    char tag[96];
    snprintf(tag, sizeof tag, "%s B%d %dx%d C%d->%d K%d", depthwise ? "dwconv2d" : "patch_conv2d", B, H, W, Ci, Co, K);
    const int Ho = depthwise ? H : H / K, Wo = depthwise ? W : W / K;
    const size_t nx = (size_t)B * H * W * Ci, ny = (size_t)B * Ho * Wo * Co;
    const size_t nw = depthwise ? (size_t)Ci * K * K : (size_t)Co * Ci * K * K;
    float *x = randn(nx, 1.0f), *w = randn(nw, 0.3f), *b = randn((size_t)Co, 0.5f), *dy = randn(ny, 1.0f);
    float *g0[3] = {randn(nx, 1.0f), randn(nw, 1.0f), randn((size_t)Co, 1.0f)};
    float *y = zeros(ny);
    float *x_d = dev_f(x, nx), *w_d = dev_f(w, nw), *b_d = dev_f(b, (size_t)Co), *dy_d = dev_f(dy, ny), *y_d = dev_f(NULL, ny);
    if (depthwise) {
        cpu_op_dwconv2d_forward(y, x, w, b, B, H, W, Ci, K);
        op_dwconv2d_forward(y_d, x_d, w_d, b_d, B, H, W, Ci, K);
    } else {
        cpu_op_patch_conv2d_forward(y, x, w, b, B, H, W, Ci, Co, K);
        op_patch_conv2d_forward(y_d, x_d, w_d, b_d, B, H, W, Ci, Co, K);
    }
    expect_close(tag, "forward", y_d, y, ny, TOL_GEMM);
    const size_t n[3] = {nx, nw, (size_t)Co};
    float *cpu[3], *dev[2][3];
    for (int j = 0; j < 3; j++) cpu[j] = copy_of(g0[j], n[j]);
    if (depthwise) cpu_op_dwconv2d_backward(cpu[0], cpu[1], cpu[2], dy, x, w, B, H, W, Ci, K);
    else cpu_op_patch_conv2d_backward(cpu[0], cpu[1], cpu[2], dy, x, w, B, H, W, Ci, Co, K);
    for (int rep = 0; rep < 2; rep++) {
        for (int j = 0; j < 3; j++) dev[rep][j] = dev_f(g0[j], n[j]);
        if (depthwise) op_dwconv2d_backward(dev[rep][0], dev[rep][1], dev[rep][2], dy_d, x_d, w_d, B, H, W, Ci, K);
        else op_patch_conv2d_backward(dev[rep][0], dev[rep][1], dev[rep][2], dy_d, x_d, w_d, B, H, W, Ci, Co, K);
    }
    const char *names[3] = {"din (accumulated)", "dw (accumulated)", "db (accumulated)"};
    check_backward3(tag, dev, (const float *const *)cpu, n, names, TOL_GEMM);
    for (int rep = 0; rep < 2; rep++)
        for (int j = 0; j < 3; j++) ops_free(dev[rep][j]);
    for (int j = 0; j < 3; j++) free(cpu[j]), free(g0[j]);
    ops_free(x_d), ops_free(w_d), ops_free(b_d), ops_free(dy_d), ops_free(y_d);
    free(x), free(w), free(b), free(dy), free(y);
}

static void test_convnext_pieces(int B, int L, int C) {
    char tag[96];
    snprintf(tag, sizeof tag, "convnext pieces B%d L%d C%d", B, L, C);
    const size_t n = (size_t)B * L * C;
    float *x = randn(n, 1.0f), *g = randn((size_t)C, 1.0f), *dy = randn(n, 1.0f), *dp = randn((size_t)B * C, 1.0f);
    float *x_d = dev_f(x, n), *g_d = dev_f(g, (size_t)C), *dy_d = dev_f(dy, n), *dp_d = dev_f(dp, (size_t)B * C);
    float *y = zeros(n), *y_d = dev_f(NULL, n);
    // layer scale
    cpu_op_channel_scale_forward(y, x, g, B * L, C);
    op_channel_scale_forward(y_d, x_d, g_d, B * L, C);
    expect_close(tag, "channel_scale forward", y_d, y, n, TOL_EW);
    float *dx = zeros(n), *dg = zeros((size_t)C), *dx_d = dev_f(NULL, n), *dg_d = dev_f(NULL, (size_t)C);
    cpu_op_channel_scale_backward(dx, dg, dy, x, g, B * L, C);
    op_channel_scale_backward(dx_d, dg_d, dy_d, x_d, g_d, B * L, C);
    expect_close(tag, "channel_scale din", dx_d, dx, n, TOL_EW);
    expect_close(tag, "channel_scale dg", dg_d, dg, (size_t)C, TOL_EW);
    // mean pool
    float *pool = zeros((size_t)B * C), *pool_d = dev_f(NULL, (size_t)B * C);
    cpu_op_mean_pool_forward(pool, x, B, L, C);
    op_mean_pool_forward(pool_d, x_d, B, L, C);
    expect_close(tag, "mean_pool forward", pool_d, pool, (size_t)B * C, TOL_EW);
    cpu_op_mean_pool_backward(dx, dp, B, L, C);
    op_mean_pool_backward(dx_d, dp_d, B, L, C);
    expect_close(tag, "mean_pool din (accumulated)", dx_d, dx, n, TOL_EW);
    // drop path: the same samples dropped as on the CPU
    AmRng r = am_rng(3, 9, RNG_DROPOUT, 0x50001);
    cpu_op_drop_path_forward(y, x, B, (size_t)L * C, 0.4f, &r, 17);
    op_drop_path_forward(y_d, x_d, B, (size_t)L * C, 0.4f, &r, 17);
    expect_same(tag, "drop_path forward", y_d, y, n * sizeof(float));
    cpu_op_drop_path_backward(dx, dy, B, (size_t)L * C, 0.4f, &r, 17);
    op_drop_path_backward(dx_d, dy_d, B, (size_t)L * C, 0.4f, &r, 17);
    expect_close(tag, "drop_path din (accumulated)", dx_d, dx, n, TOL_EW);
    ops_free(x_d), ops_free(g_d), ops_free(dy_d), ops_free(dp_d), ops_free(y_d), ops_free(dx_d), ops_free(dg_d);
    ops_free(pool_d);
    free(x), free(g), free(dy), free(dp), free(y), free(dx), free(dg), free(pool);
}

static void test_dirichlet(int B) {
    char tag[64];
    snprintf(tag, sizeof tag, "dirichlet B%d", B);
    const int A = 34, Q = 10;
    const int32_t first[10] = {0, 3, 5, 7, 10, 15, 18, 21, 24, 30}, last[10] = {2, 4, 6, 9, 14, 17, 20, 23, 29, 33};
    const size_t n = (size_t)B * A;
    float *logits = randn(n, 3.0f), *counts = zeros(n), *alpha = zeros(n), *nll = zeros((size_t)B);
    AmRng r = am_rng(1, 0, RNG_SYNTH, 99);
    for (size_t i = 0; i < n; i++) counts[i] = (float)(am_rng_below(&r, i, 50) < 30 ? am_rng_below(&r, n + i, 2000) : 0);
    float *l_d = dev_f(logits, n), *c_d = dev_f(counts, n), *a_d = dev_f(NULL, n), *nll_d = dev_f(NULL, (size_t)B);
    int32_t *f_d = dev_i(first, Q), *last_d = dev_i(last, Q);
    cpu_op_dirichlet_concentration_forward(alpha, logits, n);
    op_dirichlet_concentration_forward(a_d, l_d, n);
    expect_close(tag, "concentration", a_d, alpha, n, TOL_EW);
    cpu_op_dirichlet_multinomial_forward(nll, alpha, counts, first, last, B, A, Q);
    ops_to_device(a_d, alpha, n * sizeof(float));  // both sides from the same alpha
    op_dirichlet_multinomial_forward(nll_d, a_d, c_d, f_d, last_d, B, A, Q);
    expect_close(tag, "nll", nll_d, nll, (size_t)B, TOL_EW);
    float *da = zeros(n), *da_d = dev_f(NULL, n), *dl = zeros(n), *dl_d = dev_f(NULL, n);
    cpu_op_dirichlet_multinomial_backward(da, alpha, counts, first, last, B, A, Q, 0.25f);
    op_dirichlet_multinomial_backward(da_d, a_d, c_d, f_d, last_d, B, A, Q, 0.25f);
    expect_close(tag, "dalpha", da_d, da, n, TOL_EW);
    cpu_op_dirichlet_concentration_backward(dl, da, logits, n);
    op_dirichlet_concentration_backward(dl_d, da_d, l_d, n);
    expect_close(tag, "dlogits", dl_d, dl, n, TOL_EW);
    ops_free(l_d), ops_free(c_d), ops_free(a_d), ops_free(nll_d), ops_free(f_d), ops_free(last_d), ops_free(da_d);
    ops_free(dl_d);
    free(logits), free(counts), free(alpha), free(nll), free(da), free(dl);
}

int main(void) {
    ops_init(0);
    g_verbose = getenv("ASTROMM_TEST_VERBOSE") != NULL;
    const char *self = getenv("ASTROMM_GPU_TESTS_ON_CPU");
    if (!ops_cuda_available()) {
        if (!(self && !strcmp(self, "1"))) {
            printf("SKIP: no usable GPU (test_gpu_ops)\n");
            return 77;
        }
        printf("test_gpu_ops: no GPU; ASTROMM_GPU_TESTS_ON_CPU=1: op_* run on the CPU device "
               "(a self-test of the harness, not of CUDA)\n");
    } else {
        unsetenv("ASTROMM_TF32");  // the tolerances are for full FP32 GEMMs
        ops_set_device(OPS_CUDA, 0);
    }
    printf("test_gpu_ops: device %s, %d CPU threads for the reference\n", ops_device_name(), ops_num_threads());

    test_runtime();
    // linear: odd shapes, the photometry FFN at batch 64 (12,800 tokens), the projection
    test_linear(37, 19, 23, 1);
    test_linear(5, 3, 2, 0);
    test_linear(12800, 128, 512, 1);
    test_linear(12800, 512, 128, 1);
    test_linear(8, 25600, 512, 1);
    // conv1d: token embedding (circular), GalSpecNet stages (zeros), odd cases
    test_conv1d(64, 9, 200, 128, 3, 1, PAD_CIRCULAR);
    test_conv1d(8, 3, 2575, 64, 3, 0, PAD_ZEROS);
    test_conv1d(8, 64, 643, 64, 3, 0, PAD_ZEROS);
    test_conv1d(2, 2, 9, 3, 5, 2, PAD_CIRCULAR);
    test_conv1d(1, 3, 40, 4, 3, 1, PAD_CIRCULAR);
    test_conv1d(3, 8, 20, 6, 1, 0, PAD_ZEROS);
    test_conv1d(2, 4, 50, 5, 3, 1, PAD_ZEROS);
    // layout
    test_transpose(64, 9, 200);
    test_transpose(8, 128, 200);
    test_transpose(3, 37, 45);
    test_rows(12800, 3000, 128);
    test_rows(50, 300, 33);
    test_rows(7, 4, 1);
    // pooling
    test_maxpool(8 * 64, 2573, 4);
    test_maxpool(37, 1031, 4);
    test_maxpool(5, 9, 2);
    test_maxpool_nan();
    // normalisation
    test_layernorm(12800, 128);
    test_layernorm(37, 37);
    test_layernorm(8, 512);
    test_l2norm(8, 512);
    test_l2norm(300, 37);
    // elementwise
    test_elementwise((size_t)12800 * 512);
    test_elementwise(1001);
    test_elementwise(1);
    test_mask_rows(64, 200, 128);
    test_mask_rows(3, 7, 5);
    test_dropout(((size_t)1 << 20) + 13, 0.3f, 13);
    test_dropout((size_t)12800 * 512, 0.245f, ((uint64_t)1 << 33) + 1);
    test_dropout(7, 0.5f, 2);
    // images: ConvNeXt-nano's stem and stage-0 shapes at batch 8, odd sizes
    test_conv2d(8, 224, 224, 1, 80, 4, 0);
    test_conv2d(8, 56, 56, 80, 160, 2, 0);
    test_conv2d(2, 12, 8, 3, 5, 4, 0);
    test_conv2d(8, 56, 56, 80, 80, 7, 1);
    test_conv2d(3, 7, 5, 6, 6, 7, 1);
    test_convnext_pieces(8, 49, 640);
    test_convnext_pieces(3, 5, 7);
    test_dirichlet(128);
    test_dirichlet(3);
    // softmax / cross entropy: the CLIP logits (8 x 8, 512 x 512), long rows
    test_softmax(8, 8);
    test_softmax(512, 512);
    test_softmax(37, 3001);
    test_softmax(5, 1);
    test_cross_entropy(8, 8);
    test_cross_entropy(512, 512);
    test_cross_entropy(300, 10);
    // optimizer: the AstroM3 parameter count order of magnitude, and a tail
    test_adam((size_t)1 << 22);
    test_adam(1001);
    // position
    test_position(64, 200, 128);
    test_position(3, 11, 6);
    // attention
    test_attention(8, 200, 4, 32);
    test_attention(2, 37, 3, 8);
    if (ops_device() == OPS_CUDA) {  // reduced-precision GEMMs (see the header)
        const struct {
            OpsPrecision p;
            double tol;
        } modes[2] = {{OPS_TF32, 5e-3}, {OPS_BF16, 3e-2}};
        for (int m = 0; m < 2; m++) {
            ops_set_precision(modes[m].p);
            TOL_GEMM = modes[m].tol;
            printf("test_gpu_ops: GEMMs in %s, tolerance %g\n", ops_precision_name(modes[m].p), TOL_GEMM);
            test_linear(37, 19, 23, 1);
            test_linear(12800, 128, 512, 1);
            test_linear(8, 25600, 512, 1);
            test_conv1d(64, 9, 200, 128, 3, 1, PAD_CIRCULAR);
            test_conv1d(8, 3, 2575, 64, 3, 0, PAD_ZEROS);
            test_conv1d(2, 4, 50, 5, 3, 1, PAD_ZEROS);
        }
        ops_set_precision(OPS_FP32);
        TOL_GEMM = 1e-4;
    }
    test_probsparse(8, 200, 4, 32, 1, 0);
    test_probsparse(64, 200, 4, 32, 1, 0);
    test_probsparse(2, 37, 3, 8, 2, 0);
    test_probsparse(3, 50, 2, 16, 1, 2);
    test_probsparse_ties();
    test_probsparse_index(512, 200, 4, 6);
    test_probsparse_index(3, 37, 3, 4);
    test_probsparse_index(4, 5, 2, 3);  // H*u > L: every row selected
    printf("test_gpu_ops: largest error / tolerance %.3g (%s)\n", g_worst_ratio,
           g_worst_ratio > 0 ? g_worst_what : "every compared tensor identical");
    return tu_finish("test_gpu_ops");
}
