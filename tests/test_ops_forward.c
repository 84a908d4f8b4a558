// Forward (and some backward) checks of the CPU ops against naive double loops
// and known values, at sizes large enough to take the OpenMP paths, plus the
// exact rules PyTorch fixes: circular padding, the max-pool tie rule, GELU
// values, the dropout mask definition, ProbSparse top-k ties.
//
// Tolerances: against double references, max |c - ref| / max(|ref|_inf, floor)
// <= 1e-5 (REF_TOL) unless stated; "1 vs 2 threads" results within 1e-6.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/ops.h"
#include "testdata.h"
#include "testutil.h"

#define REF_TOL 1e-5

static double *dzeros(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

// Error of float c against a double reference.
static double rel_err_d(const float *c, const double *ref, size_t n, double floor_) {
    double amax = floor_, err = 0.0;
    for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)c[i] - ref[i]);
        if (isnan(d)) return INFINITY;
        err = fmax(err, d);
    }
    return err / amax;
}

// ---------------------------------------------------------------- linear
static void test_linear(void) {
    int n = 300, in = 70, out = 130;  // n*out > the parallel threshold
    float *x = randn((size_t)n * in, 1.0f), *w = randn((size_t)out * in, 0.3f),
          *b = randn((size_t)out, 1.0f), *dy = randn((size_t)n * out, 1.0f);
    float *y = zeros((size_t)n * out);
    double *ref = dzeros((size_t)n * out);
    op_linear_forward(y, x, w, b, n, in, out);
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double s = b[o];
            for (int i = 0; i < in; i++) s += (double)x[(size_t)r * in + i] * w[(size_t)o * in + i];
            ref[(size_t)r * out + o] = s;
        }
    double e = rel_err_d(y, ref, (size_t)n * out, 1e-6);
    EXPECT(e <= REF_TOL, "linear forward rel err %.3g", e);

    // Backward onto non-zero buffers (accumulation) against naive loops.
    float *dx = randn((size_t)n * in, 1.0f), *dw = randn((size_t)out * in, 1.0f),
          *db = randn((size_t)out, 1.0f);
    double *rdx = dzeros((size_t)n * in), *rdw = dzeros((size_t)out * in), *rdb = dzeros(out);
    for (size_t i = 0; i < (size_t)n * in; i++) rdx[i] = dx[i];
    for (size_t i = 0; i < (size_t)out * in; i++) rdw[i] = dw[i];
    for (int o = 0; o < out; o++) rdb[o] = db[o];
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double g = dy[(size_t)r * out + o];
            rdb[o] += g;
            for (int i = 0; i < in; i++) {
                rdx[(size_t)r * in + i] += g * w[(size_t)o * in + i];
                rdw[(size_t)o * in + i] += g * x[(size_t)r * in + i];
            }
        }
    op_linear_backward(dx, dw, db, dy, x, w, n, in, out);
    EXPECT(rel_err_d(dx, rdx, (size_t)n * in, 1e-6) <= REF_TOL, "linear din");
    EXPECT(rel_err_d(dw, rdw, (size_t)out * in, 1e-6) <= REF_TOL, "linear dw");
    EXPECT(rel_err_d(db, rdb, (size_t)out, 1e-6) <= REF_TOL, "linear db");

    // Without bias.
    op_linear_forward(y, x, w, NULL, 3, in, out);
    for (int o = 0; o < out; o++) ref[o] -= b[o];
    EXPECT(rel_err_d(y, ref, (size_t)out, 1e-6) <= REF_TOL, "linear forward without bias");
    free(x), free(w), free(b), free(dy), free(y), free(ref), free(dx), free(dw), free(db);
    free(rdx), free(rdw), free(rdb);
}

// ---------------------------------------------------------------- conv1d
static void conv_ref(double *y, const float *x, const float *w, const float *b, int B, int Ci,
                     int L, int Co, int K, int pad, PadMode mode) {
    int Lo = conv1d_out_len(L, K, pad);
    for (int bb = 0; bb < B; bb++)
        for (int co = 0; co < Co; co++)
            for (int t = 0; t < Lo; t++) {
                double s = b ? b[co] : 0.0;
                for (int ci = 0; ci < Ci; ci++)
                    for (int k = 0; k < K; k++) {
                        int p = t + k - pad;
                        if (p < 0 || p >= L) {
                            if (mode == PAD_ZEROS) continue;
                            p = (p % L + L) % L;
                        }
                        s += (double)w[((size_t)co * Ci + ci) * K + k] *
                             x[((size_t)bb * Ci + ci) * L + p];
                    }
                y[((size_t)bb * Co + co) * Lo + t] = s;
            }
}

static void test_conv1d_case(int B, int Ci, int L, int Co, int K, int pad, PadMode mode) {
    int Lo = conv1d_out_len(L, K, pad);
    size_t nx = (size_t)B * Ci * L, nw = (size_t)Co * Ci * K, ny = (size_t)B * Co * Lo;
    float *x = randn(nx, 1.0f), *w = randn(nw, 0.5f), *b = randn(Co, 1.0f), *y = zeros(ny);
    double *ref = dzeros(ny);
    op_conv1d_forward(y, x, w, b, B, Ci, L, Co, K, pad, mode);
    conv_ref(ref, x, w, b, B, Ci, L, Co, K, pad, mode);
    double e = rel_err_d(y, ref, ny, 1e-6);
    EXPECT(e <= REF_TOL, "conv1d B%d Ci%d L%d Co%d K%d pad%d mode%d forward rel err %.3g", B, Ci,
           L, Co, K, pad, (int)mode, e);

    // Backward vs naive: din/dw/db of L = sum(y * dy).
    float *dy = randn(ny, 1.0f), *dx = zeros(nx), *dw = zeros(nw), *db = zeros(Co);
    double *rdx = dzeros(nx), *rdw = dzeros(nw), *rdb = dzeros(Co);
    for (int bb = 0; bb < B; bb++)
        for (int co = 0; co < Co; co++)
            for (int t = 0; t < Lo; t++) {
                double g = dy[((size_t)bb * Co + co) * Lo + t];
                rdb[co] += g;
                for (int ci = 0; ci < Ci; ci++)
                    for (int k = 0; k < K; k++) {
                        int p = t + k - pad;
                        if (p < 0 || p >= L) {
                            if (mode == PAD_ZEROS) continue;
                            p = (p % L + L) % L;
                        }
                        size_t xi = ((size_t)bb * Ci + ci) * L + p, wi = ((size_t)co * Ci + ci) * K + k;
                        rdx[xi] += g * w[wi];
                        rdw[wi] += g * x[xi];
                    }
            }
    op_conv1d_backward(dx, dw, db, dy, x, w, B, Ci, L, Co, K, pad, mode);
    EXPECT(rel_err_d(dx, rdx, nx, 1e-6) <= REF_TOL, "conv1d din (mode %d pad %d)", (int)mode, pad);
    EXPECT(rel_err_d(dw, rdw, nw, 1e-6) <= REF_TOL, "conv1d dw (mode %d pad %d)", (int)mode, pad);
    EXPECT(rel_err_d(db, rdb, Co, 1e-6) <= REF_TOL, "conv1d db (mode %d pad %d)", (int)mode, pad);
    free(x), free(w), free(b), free(y), free(ref), free(dy), free(dx), free(dw), free(db);
    free(rdx), free(rdw), free(rdb);
}

static void test_conv1d(void) {
    // Circular padding by hand: x = [1 2 3 4], w = [1 10 100] -> y[t] = x[t-1] + 10 x[t] + 100 x[t+1].
    float x[4] = {1, 2, 3, 4}, w[3] = {1, 10, 100}, y[4];
    op_conv1d_forward(y, x, w, NULL, 1, 1, 4, 1, 3, 1, PAD_CIRCULAR);
    float want_c[4] = {4 + 10 + 200, 1 + 20 + 300, 2 + 30 + 400, 3 + 40 + 100};
    EXPECT(memcmp(y, want_c, sizeof y) == 0, "circular conv: %g %g %g %g", y[0], y[1], y[2], y[3]);
    op_conv1d_forward(y, x, w, NULL, 1, 1, 4, 1, 3, 1, PAD_ZEROS);
    float want_z[4] = {0 + 10 + 200, 1 + 20 + 300, 2 + 30 + 400, 3 + 40 + 0};
    EXPECT(memcmp(y, want_z, sizeof y) == 0, "zero-padded conv: %g %g %g %g", y[0], y[1], y[2], y[3]);

    test_conv1d_case(4, 9, 200, 16, 3, 1, PAD_CIRCULAR);  // the photometry token embedding
    test_conv1d_case(3, 3, 300, 8, 3, 0, PAD_ZEROS);      // GalSpecNet style
    test_conv1d_case(2, 4, 50, 5, 3, 1, PAD_ZEROS);
    test_conv1d_case(1, 3, 40, 4, 3, 1, PAD_CIRCULAR);  // B == 1 path
    test_conv1d_case(2, 2, 9, 3, 5, 2, PAD_CIRCULAR);
    test_conv1d_case(3, 8, 20, 6, 1, 0, PAD_ZEROS);  // 1x1
}

// ---------------------------------------------------------------- transpose
static void test_transpose(void) {
    int B = 3, M = 70, N = 200;
    size_t n = (size_t)B * M * N;
    float *x = randn(n, 1.0f), *y = zeros(n), *dx = randn(n, 1.0f), *dx0 = copy_of(dx, n);
    op_transpose_forward(y, x, B, M, N);
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                bad += y[((size_t)b * N + j) * M + i] != x[((size_t)b * M + i) * N + j];
    EXPECT(bad == 0, "transpose forward: %d wrong", bad);
    op_transpose_backward(dx, y, B, M, N);  // din += transpose back of y = x
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += dx[i] != dx0[i] + x[i];
    EXPECT(bad == 0, "transpose backward: %d wrong", bad);
    free(x), free(y), free(dx), free(dx0);
}

// ---------------------------------------------------------------- max-pool
static void test_maxpool(void) {
    float x[9] = {1, 3, 3, 2, 5, 5, 0, -1, 7};
    float y[4], want[4] = {3, 3, 5, 0};
    int32_t am[4], want_am[4] = {1, 2, 4, 6};
    op_maxpool1d_forward(y, am, x, 1, 9, 2);  // floor: the trailing 7 is dropped
    EXPECT(memcmp(y, want, sizeof y) == 0, "maxpool values %g %g %g %g", y[0], y[1], y[2], y[3]);
    EXPECT(memcmp(am, want_am, sizeof am) == 0, "maxpool argmax (first max on ties) %d %d %d %d",
           am[0], am[1], am[2], am[3]);
    float dx[9] = {0}, dy[4] = {1, 2, 3, 4};
    op_maxpool1d_backward(dx, dy, am, 1, 9, 2);
    float want_dx[9] = {0, 1, 2, 0, 3, 0, 4, 0, 0};
    EXPECT(memcmp(dx, want_dx, sizeof dx) == 0, "maxpool backward");
    float xn[4] = {NAN, 1, 1, NAN};
    op_maxpool1d_forward(y, am, xn, 1, 4, 2);
    EXPECT(isnan(y[0]) && am[0] == 0 && isnan(y[1]) && am[1] == 3, "maxpool NaN propagation");

    // Larger rows (vector path) against a scalar loop; values on a coarse grid so
    // ties are frequent.
    int R = 37, L = 1031, k = 4, Lo = L / k;
    float *xs = randn((size_t)R * L, 2.0f), *ys = zeros((size_t)R * Lo);
    int32_t *as = malloc((size_t)R * Lo * sizeof *as);
    for (size_t i = 0; i < (size_t)R * L; i++) xs[i] = roundf(xs[i]);
    op_maxpool1d_forward(ys, as, xs, R, L, k);
    int bad = 0;
    for (int r = 0; r < R; r++)
        for (int o = 0; o < Lo; o++) {
            int best = o * k;
            for (int j = o * k + 1; j < o * k + k; j++)
                if (xs[(size_t)r * L + j] > xs[(size_t)r * L + best]) best = j;
            bad += as[(size_t)r * Lo + o] != best || ys[(size_t)r * Lo + o] != xs[(size_t)r * L + best];
        }
    EXPECT(bad == 0, "maxpool vs scalar loop: %d windows differ", bad);
    free(xs), free(ys), free(as);
}

// ---------------------------------------------------------------- elementwise
static double gelu_d(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

static void test_gelu(void) {
    float x[5] = {0.0f, 1.0f, -1.0f, 2.0f, -3.0f}, y[5];
    double want[5] = {0.0, 0.8413447460685429, -0.15865525393145707, 1.9544997361036416,
                      -0.0040496965800026};
    op_gelu_forward(y, x, 5);
    for (int i = 0; i < 5; i++)
        EXPECT(fabs(y[i] - want[i]) <= 1e-6, "gelu(%g) = %.9g, want %.9g", x[i], y[i], want[i]);

    // Dense grid (parallel path): within ~1 float ulp-scale of the erff formula,
    // and the derivative against the double formula.
    size_t n = 200001;
    float *g = malloc(n * sizeof *g), *gy = malloc(n * sizeof *gy), *gd = zeros(n);
    float *ones = malloc(n * sizeof *ones);
    for (size_t i = 0; i < n; i++) {
        g[i] = -10.0f + 20.0f * (float)i / (float)(n - 1);
        ones[i] = 1.0f;
    }
    op_gelu_forward(gy, g, n);
    op_gelu_backward(gd, ones, g, n);
    {  // In place: g * GELU'(x) into the gradient buffer itself equals accumulating into zeros.
        float *ip = malloc(n * sizeof *ip);
        memcpy(ip, ones, n * sizeof *ip);
        op_gelu_backward_inplace(ip, g, n);
        EXPECT(memcmp(ip, gd, n * sizeof *ip) == 0, "gelu backward in place differs from accumulate");
        free(ip);
    }
    double e_f = 0, e_d = 0, e_b = 0;
    for (size_t i = 0; i < n; i++) {
        float xf = g[i];
        float ref_f = xf * 0.5f * (1.0f + erff(xf * 0.70710678118654752440f));
        e_f = fmax(e_f, fabs((double)gy[i] - ref_f) / fmax(1.0, fabs(xf)));
        e_d = fmax(e_d, fabs((double)gy[i] - gelu_d(xf)) / fmax(1.0, fabs(xf)));
        double xd = xf;
        double dref = 0.5 * (1.0 + erf(xd / sqrt(2.0))) + xd * exp(-0.5 * xd * xd) / 2.50662827463100050242;
        e_b = fmax(e_b, fabs((double)gd[i] - dref));
    }
    EXPECT(e_f <= 2e-7, "gelu vs erff formula: max |diff| / max(1,|x|) = %.3g", e_f);
    EXPECT(e_d <= 3e-7, "gelu vs double: max |diff| / max(1,|x|) = %.3g", e_d);
    EXPECT(e_b <= 1e-6, "gelu backward vs double: max |diff| = %.3g", e_b);
    free(g), free(gy), free(gd), free(ones);
}

static void test_relu_mask_blas1(void) {
    size_t n = 100000;
    float *x = randn(n, 1.0f), *y = zeros(n), *d = randn(n, 1.0f), *d0 = copy_of(d, n);
    float *g = randn(n, 1.0f);
    op_relu_forward(y, x, n);
    op_relu_backward(d, g, x, n);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += y[i] != (x[i] > 0 ? x[i] : 0.0f);
        bad += d[i] != d0[i] + (x[i] > 0 ? g[i] : 0.0f);
    }
    EXPECT(bad == 0, "relu: %d wrong", bad);

    // mask_rows [B, L, C]
    int B = 4, L = 200, C = 64;
    size_t nm = (size_t)B * L * C;
    float *m = randn((size_t)B * L, 1.0f), *xm = randn(nm, 1.0f), *ym = zeros(nm);
    float *dm = randn(nm, 1.0f), *dm0 = copy_of(dm, nm), *gm = randn(nm, 1.0f);
    op_mask_rows_forward(ym, xm, m, B, L, C);
    op_mask_rows_backward(dm, gm, m, B, L, C);
    bad = 0;
    for (size_t i = 0; i < nm; i++) {
        bad += ym[i] != xm[i] * m[i / C];
        bad += dm[i] != dm0[i] + gm[i] * m[i / C];
    }
    EXPECT(bad == 0, "mask_rows: %d wrong", bad);

    // axpy / add / scale / sumsq / zero
    float *a = randn(n, 1.0f), *b = randn(n, 1.0f), *c = copy_of(a, n);
    op_axpy(c, 0.5f, b, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += c[i] != a[i] + 0.5f * b[i];
    op_add(c, a, b, n);
    for (size_t i = 0; i < n; i++) bad += c[i] != a[i] + b[i];
    op_scale(c, -2.0f, n);
    for (size_t i = 0; i < n; i++) bad += c[i] != -2.0f * (a[i] + b[i]);
    EXPECT(bad == 0, "axpy/add/scale: %d wrong", bad);
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)a[i] * a[i];
    double got = op_sumsq(a, n);
    EXPECT(fabs(got - ss) <= 1e-12 * ss, "sumsq %.17g vs %.17g", got, ss);
    int saved = ops_num_threads();
    ops_init(1);
    double got1 = op_sumsq(a, n);
    ops_init(saved);
    EXPECT(got1 == got, "sumsq depends on the thread count");
    EXPECT(op_sumsq(a, 0) == 0.0, "sumsq of nothing");
    ops_zero(c, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += c[i] != 0.0f;
    EXPECT(bad == 0, "ops_zero");
    free(x), free(y), free(d), free(d0), free(g), free(m), free(xm), free(ym), free(dm), free(dm0);
    free(gm), free(a), free(b), free(c);
}

static void test_dropout(void) {
    size_t n = (size_t)1 << 20;
    float p = 0.3f, scale = 1.0f / (1.0f - p);
    AmRng r = am_rng(9, 4, RNG_DROPOUT, 2);
    uint64_t off = 13;
    float *x = randn(n, 1.0f), *y = zeros(n), *y2 = zeros(n);
    op_dropout_forward(y, x, n, p, &r, off, NULL);
    op_dropout_forward(y2, x, n, p, &r, off, NULL);
    size_t kept = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        int keep = am_rng_uniform(&r, off + i) >= p;
        kept += keep;
        bad += y[i] != (keep ? x[i] * scale : 0.0f);
    }
    double rate = (double)kept / (double)n;
    EXPECT(bad == 0, "dropout mask differs from the definition in %zu elements", bad);
    EXPECT(fabs(rate - (1.0 - p)) < 0.003, "dropout keep rate %.4f, want %.2f", rate, 1.0 - p);
    EXPECT(memcmp(y, y2, n * sizeof *y) == 0, "dropout is not deterministic");
    // In place.
    float *z = copy_of(x, n);
    op_dropout_forward(z, z, n, p, &r, off, NULL);
    EXPECT(memcmp(y, z, n * sizeof *y) == 0, "dropout in place differs");
    // A shifted offset is the same stream: elements 5.. at offset off equal offset off+5.
    op_dropout_forward(y2, x + 5, n - 5, p, &r, off + 5, NULL);
    EXPECT(memcmp(y + 5, y2, (n - 5) * sizeof *y) == 0, "dropout offset shift inconsistent");
    // A different stream gives a different mask.
    AmRng r2 = am_rng(9, 5, RNG_DROPOUT, 2);
    op_dropout_forward(y2, x, n, p, &r2, off, NULL);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += (y[i] != 0.0f) == (y2[i] != 0.0f);
    EXPECT(same < n * 0.7, "another step's mask agrees in %zu of %zu", same, n);
    // Backward: din += dout * mask * scale.
    float *dy = randn(n, 1.0f), *dx = randn(n, 1.0f), *dx0 = copy_of(dx, n);
    op_dropout_backward(dx, dy, n, p, &r, off, NULL);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        int keep = am_rng_uniform(&r, off + i) >= p;
        bad += dx[i] != dx0[i] + (keep ? dy[i] * scale : 0.0f);
    }
    EXPECT(bad == 0, "dropout backward: %zu wrong", bad);
    // Stored keep bits give exactly what regeneration gives (odd n: a partial last byte).
    {
        size_t m = n - 3;
        uint8_t *bits = calloc((m + 7) / 8, 1);
        float *y3 = zeros(m), *dxa = copy_of(dx0, m), *dxb = copy_of(dx0, m);
        op_dropout_forward(y3, x, m, p, &r, off, bits);
        EXPECT(memcmp(y3, y, m * sizeof *y) == 0, "dropout with keep bits changes the output");
        size_t wrong_bits = 0;
        for (size_t i = 0; i < m; i++) wrong_bits += ((bits[i / 8] >> (i % 8)) & 1) != (y[i] != 0.0f || x[i] == 0.0f);
        EXPECT(wrong_bits == 0, "dropout keep bits disagree with the mask in %zu elements", wrong_bits);
        op_dropout_backward(dxa, dy, m, p, &r, off, bits);
        op_dropout_backward(dxb, dy, m, p, &r, off, NULL);
        EXPECT(memcmp(dxa, dxb, m * sizeof *dxa) == 0, "dropout backward from keep bits differs");
        free(bits);
        free(y3);
        free(dxa);
        free(dxb);
    }
    // p = 0 copies; p = 1 zeroes.
    op_dropout_forward(y2, x, n, 0.0f, &r, off, NULL);
    EXPECT(memcmp(y2, x, n * sizeof *x) == 0, "dropout p=0 is not a copy");
    op_dropout_forward(y2, x, 1000, 1.0f, &r, off, NULL);
    bad = 0;
    for (size_t i = 0; i < 1000; i++) bad += y2[i] != 0.0f;
    EXPECT(bad == 0, "dropout p=1 keeps something");
    free(x), free(y), free(y2), free(z), free(dy), free(dx), free(dx0);
}

// ---------------------------------------------------------------- softmax / CE
static void test_softmax_ce(void) {
    int N = 300, C = 200;
    size_t n = (size_t)N * C;
    float *x = randn(n, 3.0f), *y = zeros(n);
    x[0] = 1000.0f, x[1] = 1001.0f;  // stability
    op_softmax_forward(y, x, N, C);
    double worst = 0, e = 0;
    for (int r = 0; r < N; r++) {
        double s = 0, mx = -INFINITY, z = 0;
        for (int c = 0; c < C; c++) s += y[(size_t)r * C + c];
        worst = fmax(worst, fabs(s - 1.0));
        for (int c = 0; c < C; c++) mx = fmax(mx, x[(size_t)r * C + c]);
        for (int c = 0; c < C; c++) z += exp((double)x[(size_t)r * C + c] - mx);
        for (int c = 0; c < C; c++)
            e = fmax(e, fabs(y[(size_t)r * C + c] - exp((double)x[(size_t)r * C + c] - mx) / z));
    }
    EXPECT(worst <= 1e-5, "softmax rows sum to 1 within %.3g", worst);
    EXPECT(e <= 1e-6, "softmax vs double: max abs err %.3g", e);
    EXPECT(fabsf(y[1] / y[0] - expf(1.0f)) < 1e-5f, "softmax at large logits");

    float lg[2] = {0, 0}, pr[6];
    int32_t lab[1] = {0};
    float l1 = op_cross_entropy_forward(pr, lg, lab, 1, 2);
    EXPECT(fabsf(l1 - 0.69314718f) < 1e-6f, "CE([0,0], 0) = %.8g, want ln 2", l1);
    float lg3[3] = {1, 2, 3};
    int32_t lab3[1] = {2};
    float l3 = op_cross_entropy_forward(pr, lg3, lab3, 1, 3);
    EXPECT(fabsf(l3 - 0.40760596f) < 1e-6f, "CE([1,2,3], 2) = %.8g", l3);
    float lg2[6] = {0, 0, 0, 1, 2, 3};
    int32_t lab2[2] = {0, 2};
    float l2 = op_cross_entropy_forward(pr, lg2, lab2, 2, 3);
    EXPECT(fabsf(l2 - 0.5f * (1.0986123f + 0.40760596f)) < 1e-6f, "CE mean over rows = %.8g", l2);
    double ps = pr[3] + pr[4] + pr[5];
    EXPECT(fabs(ps - 1.0) < 1e-6, "CE probs sum to 1");
    float dl[6] = {0};
    op_cross_entropy_backward(dl, pr, lab2, 2, 3, 2.0f);
    EXPECT(fabsf(dl[0] - (pr[0] - 1.0f)) < 1e-6f && fabsf(dl[5] - (pr[5] - 1.0f)) < 1e-6f &&
               fabsf(dl[4] - pr[4]) < 1e-6f,
           "CE backward = dloss (p - onehot) / N");
    free(x), free(y);
}

// ---------------------------------------------------------------- norms
static void test_norms(void) {
    int N = 400, C = 128;
    size_t n = (size_t)N * C;
    float *x = randn(n, 2.0f), *w = randn(C, 0.5f), *b = randn(C, 0.5f), *y = zeros(n);
    for (size_t i = 0; i < n; i++) x[i] += 3.0f;
    float *mean = zeros(N), *rstd = zeros(N);
    op_layernorm_forward(y, mean, rstd, x, w, b, N, C, 1e-5f);
    double *ref = dzeros(n);
    double *xh = dzeros(n), *rs = dzeros(N);
    for (int r = 0; r < N; r++) {
        double mu = 0, v = 0;
        for (int c = 0; c < C; c++) mu += x[(size_t)r * C + c];
        mu /= C;
        for (int c = 0; c < C; c++) v += pow(x[(size_t)r * C + c] - mu, 2);
        v /= C;
        rs[r] = 1.0 / sqrt(v + 1e-5);
        for (int c = 0; c < C; c++) {
            xh[(size_t)r * C + c] = (x[(size_t)r * C + c] - mu) * rs[r];
            ref[(size_t)r * C + c] = xh[(size_t)r * C + c] * w[c] + b[c];
        }
    }
    EXPECT(rel_err_d(y, ref, n, 1e-6) <= REF_TOL, "layernorm forward");
    // Backward vs double formula (parallel path with per-thread dw/db partials).
    float *dy = randn(n, 1.0f), *dx = zeros(n), *dw = zeros(C), *db = zeros(C);
    double *rdx = dzeros(n), *rdw = dzeros(C), *rdb = dzeros(C);
    for (int r = 0; r < N; r++) {
        double sg = 0, sgx = 0;
        for (int c = 0; c < C; c++) {
            double g = (double)dy[(size_t)r * C + c] * w[c];
            sg += g;
            sgx += g * xh[(size_t)r * C + c];
            rdw[c] += dy[(size_t)r * C + c] * xh[(size_t)r * C + c];
            rdb[c] += dy[(size_t)r * C + c];
        }
        for (int c = 0; c < C; c++)
            rdx[(size_t)r * C + c] = rs[r] * ((double)dy[(size_t)r * C + c] * w[c] - sg / C -
                                              xh[(size_t)r * C + c] * sgx / C);
    }
    op_layernorm_backward(dx, dw, db, dy, x, mean, rstd, w, N, C);
    EXPECT(rel_err_d(dx, rdx, n, 1e-6) <= 1e-4, "layernorm din %.3g", rel_err_d(dx, rdx, n, 1e-6));
    EXPECT(rel_err_d(dw, rdw, C, 1e-6) <= REF_TOL, "layernorm dw");
    EXPECT(rel_err_d(db, rdb, C, 1e-6) <= REF_TOL, "layernorm db");

    // L2: unit rows; a zero row stays zero with the clamped norm; clamped backward = dout / eps.
    float *nr = zeros(N);
    for (int c = 0; c < C; c++) x[c] = 0.0f;
    op_l2norm_forward(y, nr, x, N, C);
    double worst = 0;
    for (int r = 1; r < N; r++) {
        double s = 0;
        for (int c = 0; c < C; c++) s += pow(y[(size_t)r * C + c], 2);
        worst = fmax(worst, fabs(sqrt(s) - 1.0));
    }
    EXPECT(worst < 1e-6, "l2norm rows have norm 1 within %.3g", worst);
    int zero_ok = nr[0] == 1e-12f;
    for (int c = 0; c < C; c++) zero_ok &= y[c] == 0.0f;
    EXPECT(zero_ok, "l2norm of a zero row");
    float tiny[3] = {1e-14f, -2e-14f, 0.0f}, ty[3], tn, td[3] = {0}, tg[3] = {1.0f, 2.0f, 3.0f};
    op_l2norm_forward(ty, &tn, tiny, 1, 3);
    op_l2norm_backward(td, tg, ty, &tn, 1, 3);
    EXPECT(tn == 1e-12f && fabsf(ty[0] - 0.01f) < 1e-8f, "l2norm clamps the norm at 1e-12");
    EXPECT(fabsf(td[1] / 2e12f - 1.0f) < 1e-6f, "l2norm clamped backward = dout / eps (%g)",
           td[1]);
    free(x), free(w), free(b), free(y), free(mean), free(rstd), free(ref), free(xh), free(rs);
    free(dy), free(dx), free(dw), free(db), free(rdx), free(rdw), free(rdb), free(nr);
}

// ---------------------------------------------------------------- position
static void test_position(void) {
    int P = 200, d = 128;
    float *pe = zeros((size_t)P * d);
    op_sinusoid_table(pe, P, d);
    int ok0 = 1;
    for (int j = 0; j < d; j++) ok0 &= pe[j] == ((j & 1) ? 1.0f : 0.0f);
    EXPECT(ok0, "pe[0] = (0, 1, 0, 1, ...)");
    double e = 0;
    for (int p = 0; p < P; p++)
        for (int j = 0; j < d; j++) {
            double w = exp((double)(j - (j & 1)) * -(log(10000.0) / d));
            double ref = (j & 1) ? cos(p * w) : sin(p * w);
            e = fmax(e, fabs(pe[(size_t)p * d + j] - ref));
        }
    EXPECT(e < 5e-5, "sinusoid table vs double formula: %.3g", e);  // float angles up to 199 rad
    int B = 3;
    float *x = randn((size_t)B * P * d, 1.0f), *x0 = copy_of(x, (size_t)B * P * d);
    op_add_position(x, pe, B, P, d);
    int bad = 0;
    for (size_t i = 0; i < (size_t)B * P * d; i++) bad += x[i] != x0[i] + pe[i % ((size_t)P * d)];
    EXPECT(bad == 0, "add_position: %d wrong", bad);
    free(pe), free(x), free(x0);
}

// ---------------------------------------------------------------- attention
// Naive double attention of query row i of (b, h) over all keys: o[D].
static void attend_ref(double *o, const float *q, const float *k, const float *v, int b, int h,
                       int i, int L, int H, int D) {
    size_t HD = (size_t)H * D;
    const float *qi = q + ((size_t)b * L + i) * HD + (size_t)h * D;
    double *s = dzeros(L), mx = -INFINITY, z = 0;
    for (int j = 0; j < L; j++) {
        const float *kj = k + ((size_t)b * L + j) * HD + (size_t)h * D;
        double t = 0;
        for (int d = 0; d < D; d++) t += (double)qi[d] * kj[d];
        s[j] = t / sqrt((double)D);
        mx = fmax(mx, s[j]);
    }
    for (int j = 0; j < L; j++) z += (s[j] = exp(s[j] - mx));
    for (int d = 0; d < D; d++) o[d] = 0;
    for (int j = 0; j < L; j++)
        for (int d = 0; d < D; d++) o[d] += s[j] / z * v[((size_t)b * L + j) * HD + (size_t)h * D + d];
    free(s);
}

static void test_attention(void) {
    int B = 2, L = 40, H = 3, D = 8;
    size_t n = (size_t)B * L * H * D;
    float *q = randn(n, 1.0f), *k = randn(n, 1.0f), *v = randn(n, 1.0f), *o = zeros(n);
    float *pr = zeros((size_t)B * H * L * L);
    double *ref = dzeros(n);
    op_attention_forward(o, pr, q, k, v, B, L, H, D);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < L; i++)
                attend_ref(ref + ((size_t)b * L + i) * H * D + (size_t)h * D, q, k, v, b, h, i, L, H, D);
    EXPECT(rel_err_d(o, ref, n, 1e-6) <= REF_TOL, "attention forward vs double");
    free(q), free(k), free(v), free(o), free(pr), free(ref);
}

// ProbSparse at the AstroM3 sizes against a naive double reference.
static void test_probsparse_full(void) {
    int B = 2, L = 200, H = 4, D = 32;
    int u = probsparse_u(1, L);
    size_t n = (size_t)B * L * H * D, HD = (size_t)H * D;
    float *q = randn(n, 1.0f), *k = randn(n, 1.0f), *v = randn(n, 1.0f), *o = zeros(n);
    int32_t *si = malloc((size_t)L * u * sizeof *si), *top = malloc((size_t)B * H * u * sizeof *top);
    AmRng r = am_rng(3, 0, RNG_PROBSPARSE, 1);
    probsparse_sample_keys(si, L, L, u, &r);
    float *pr = zeros((size_t)B * H * u * L);
    op_probsparse_attention_forward(o, pr, top, q, k, v, si, u, u, B, L, H, D);
    double *ref = dzeros(n), *m = dzeros(L);
    int top_bad = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < L; i++) {
                const float *qi = q + ((size_t)b * L + i) * HD + (size_t)h * D;
                double mx = -INFINITY, s = 0;
                for (int j = 0; j < u; j++) {
                    const float *kj = k + ((size_t)b * L + si[i * u + j]) * HD + (size_t)h * D;
                    double t = 0;
                    for (int d = 0; d < D; d++) t += (double)qi[d] * kj[d];
                    mx = fmax(mx, t);
                    s += t;
                }
                m[i] = mx - s / L;
            }
            // Selection by repeated arg-max (first index on ties).
            int chosen[200] = {0}, want[16];
            for (int t = 0; t < u; t++) {
                int best = -1;
                for (int i = 0; i < L; i++)
                    if (!chosen[i] && (best < 0 || m[i] > m[best])) best = i;
                chosen[best] = 1;
                want[t] = best;
            }
            for (int t = 0; t < u; t++) top_bad += top[(b * H + h) * u + t] != want[t];
            double mean[64] = {0};
            for (int j = 0; j < L; j++)
                for (int d = 0; d < D; d++) mean[d] += v[((size_t)b * L + j) * HD + (size_t)h * D + d];
            for (int i = 0; i < L; i++) {
                double *oi = ref + ((size_t)b * L + i) * HD + (size_t)h * D;
                if (chosen[i])
                    attend_ref(oi, q, k, v, b, h, i, L, H, D);
                else
                    for (int d = 0; d < D; d++) oi[d] = mean[d] / L;
            }
        }
    EXPECT(top_bad == 0, "probsparse top_idx: %d differ from the reference (largest M first)",
           top_bad);
    double e = rel_err_d(o, ref, n, 1e-6);
    EXPECT(e <= REF_TOL, "probsparse forward vs double: %.3g", e);

    // Same results with 1 and with 2 threads (forward and backward).
    float *dy = randn(n, 1.0f);
    float *g[2][3];
    int saved = ops_num_threads();
    for (int t = 0; t < 2; t++) {
        ops_init(t + 1);
        op_probsparse_attention_forward(o, pr, top, q, k, v, si, u, u, B, L, H, D);
        for (int j = 0; j < 3; j++) g[t][j] = zeros(n);
        op_probsparse_attention_backward(g[t][0], g[t][1], g[t][2], dy, q, k, v, pr, top, u, B, L,
                                         H, D);
    }
    ops_init(saved);
    for (int j = 0; j < 3; j++) {
        EXPECT(memcmp(g[0][j], g[1][j], n * sizeof(float)) == 0,
               "probsparse backward grad %d differs between 1 and 2 threads", j);
        free(g[0][j]), free(g[1][j]);
    }
    free(q), free(k), free(v), free(o), free(si), free(top), free(pr), free(ref), free(m), free(dy);
}

static void test_probsparse_ties(void) {
    // q_i = c_i (1, 0); every query samples keys 0 = (1, 0) and 1 = (-1, 0), so
    // M_i = |c_i| - 0. Ties at M = 2 for queries 2, 4, 5: lower index first.
    enum { L = 8, D = 2 };
    float c[L] = {0.1f, 0.5f, 2.0f, 0.3f, 2.0f, -2.0f, 1.0f, 0.2f};
    float q[L * D], k[L * D] = {0}, v[L * D], o[L * D], pr[4 * L];
    for (int i = 0; i < L; i++) {
        q[i * D] = c[i];
        q[i * D + 1] = 0.0f;
        v[i * D] = (float)i;
        v[i * D + 1] = 1.0f;
    }
    k[0] = 1.0f;
    k[2] = -1.0f;
    int32_t si[L * 2], top[4];
    for (int i = 0; i < L; i++) si[2 * i] = 0, si[2 * i + 1] = 1;
    op_probsparse_attention_forward(o, pr, top, q, k, v, si, 2, 4, 1, L, 1, D);
    EXPECT(top[0] == 2 && top[1] == 4 && top[2] == 5 && top[3] == 6,
           "probsparse top-k with ties: got %d %d %d %d, want 2 4 5 6", top[0], top[1], top[2],
           top[3]);
    // A lazy query outputs mean(v) = (3.5, 1).
    EXPECT(fabsf(o[0] - 3.5f) < 1e-6f && fabsf(o[1] - 1.0f) < 1e-6f, "lazy query = mean(v)");
    // n_top = 0: every query is lazy.
    op_probsparse_attention_forward(o, pr, top, q, k, v, si, 2, 0, 1, L, 1, D);
    int lazy = 1;
    for (int i = 0; i < L; i++) lazy &= fabsf(o[i * D] - 3.5f) < 1e-6f;
    EXPECT(lazy, "n_top = 0 gives mean(v) everywhere");
}

// op_probsparse_row_tables against its definition, checked row by row from a
// plain "selected" flag per row: every row reads a table entry holding itself
// (selected) or the sample's first unselected row; entries are within the
// sample's fixed slice, in ascending row order, padded with the first entry;
// q_rows lists the selected rows ascending, padded with the stand-in.
static void check_row_tables(int B, int L, int H, int u, uint32_t seed) {
    const int S = probsparse_table_stride(L, H, u), Q = probsparse_query_stride(L, H, u);
    int32_t *top = malloc((size_t)B * H * u * sizeof *top), *tab = malloc((size_t)B * S * sizeof *tab);
    int32_t *map = malloc((size_t)B * L * sizeof *map), *qr = malloc((size_t)B * Q * sizeof *qr);
    unsigned char *sel = calloc((size_t)L, 1);
    AmRng r = am_rng(seed, 0, RNG_SYNTH, 77);
    for (int i = 0; i < B * H * u; i++) top[i] = (int32_t)am_rng_below(&r, (uint64_t)i, (uint32_t)L);
    op_probsparse_row_tables(tab, map, qr, top, B, L, H, u);
    int bad = 0;
    for (int b = 0; b < B; b++) {
        memset(sel, 0, (size_t)L);
        for (int k = 0; k < H * u; k++) sel[top[(size_t)b * H * u + k]] = 1;
        int first_unsel = -1, n_sel = 0;
        for (int i = 0; i < L; i++) {
            if (!sel[i] && first_unsel < 0) first_unsel = i;
            n_sel += sel[i];
        }
        const int n_entries = n_sel + (first_unsel >= 0);
        for (int i = 0; i < L; i++) {
            const int e = map[b * L + i];
            const int want = b * L + (sel[i] ? i : first_unsel);
            if (e < b * S || e >= b * S + n_entries || tab[e] != want) bad++;
        }
        for (int k = 1; k < n_entries; k++)
            if (tab[b * S + k] <= tab[b * S + k - 1]) bad++;
        for (int k = n_entries; k < S; k++)
            if (tab[b * S + k] != tab[b * S]) bad++;
        int k = 0;
        for (int i = 0; i < L; i++)
            if (sel[i] && qr[b * Q + k++] != b * L + i) bad++;
        for (; k < Q; k++)
            if (qr[b * Q + k] != b * L + first_unsel) bad++;
    }
    EXPECT(bad == 0, "probsparse_row_tables B%d L%d H%d u%d: %d wrong entries", B, L, H, u, bad);
    free(top), free(tab), free(map), free(qr), free(sel);
}

static void test_probsparse_row_tables(void) {
    check_row_tables(16, 200, 4, 6, 1);
    check_row_tables(5, 37, 3, 4, 2);
    check_row_tables(4, 5, 2, 3, 3);  // H*u > L: usually every row selected
    check_row_tables(3, 9, 1, 1, 4);  // one selected row per sample
}

static void test_scratch(void) {
    float *a = ops_scratch(4, 100), *b = ops_scratch(5, 100);
    EXPECT(a != b, "scratch slots share memory");
    a[99] = 1.0f;
    EXPECT(ops_scratch(4, 50) == a, "a smaller request reallocates");
    float *big = ops_scratch(4, 1 << 20);
    big[(1 << 20) - 1] = 2.0f;
    EXPECT(((uintptr_t)big & 63) == 0, "scratch is not 64-byte aligned");
}

int main(void) {
    test_linear();
    test_conv1d();
    test_transpose();
    test_maxpool();
    test_gelu();
    test_relu_mask_blas1();
    test_dropout();
    test_softmax_ce();
    test_norms();
    test_position();
    test_attention();
    test_probsparse_full();
    test_probsparse_row_tables();
    test_probsparse_ties();
    test_scratch();
    return tu_finish("test_ops_forward");
}
