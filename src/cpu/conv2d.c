// 2-D convolutions of channels-last images (ConvNeXt): the patch convolution
// (kernel = stride = p) as a patch gather plus one SGEMM, and the depthwise
// K x K convolution as direct loops vectorised over channels.
//
// Determinism: every output element is a fixed sequence of operations (taps in
// ascending (ky, kx), one patch per input element), and the weight gradients
// of the depthwise convolution are summed per image in double and the images
// added in order: the same bits for any thread count. The patch convolution's
// GEMMs follow OpenBLAS (bitwise for a fixed kernel and thread count).
//
// Scratch: slot 1 patches, slot 2 patch gradients (or the depthwise per-thread
// accumulators), slot 3 the transposed depthwise taps or the per-image
// weight-gradient partials (slot 0 stays free
// for cpu_op_linear_backward's bias sums).
#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

// ---------------------------------------------------------------- patch convolution

static void check_patch(int B, int H, int W, int C_in, int C_out, int p) {
    CHECK(B >= 0 && H > 0 && W > 0 && C_in > 0 && C_out > 0 && p > 0,
          "patch_conv2d: bad shape B %d H %d W %d C_in %d C_out %d p %d", B, H, W, C_in, C_out, p);
    CHECK(H % p == 0 && W % p == 0,
          "patch_conv2d: image %dx%d is not a multiple of the patch size %d", H, W, p);
}

// patches[(b, i, j), (c, ky, kx)] = in[b, i*p + ky, j*p + kx, c] (torch's weight
// order, so w [C_out, C_in*p*p] multiplies it directly). dir = 1 gathers into
// patches; dir = -1 adds patches back onto in (each input element belongs to
// exactly one patch: no overlaps, no order question).
static void patch_move(float *patches, float *in, int B, int H, int W, int C, int p, int dir) {
    const int Ho = H / p, Wo = W / p, D = C * p * p;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * H * W * C >= CPU_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                float *row = patches + (((size_t)b * Ho + i) * Wo + j) * D;
                for (int ky = 0; ky < p; ky++)
                    for (int kx = 0; kx < p; kx++) {
                        float *px = in + (((size_t)b * H + i * p + ky) * W + j * p + kx) * C;
                        const int o = ky * p + kx;
                        if (dir > 0)
                            for (int c = 0; c < C; c++) row[c * p * p + o] = px[c];
                        else
                            for (int c = 0; c < C; c++) px[c] += row[c * p * p + o];
                    }
            }
}

void cpu_op_patch_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                                 int B, int H, int W, int C_in, int C_out, int p) {
    check_patch(B, H, W, C_in, C_out, p);
    const int N = B * (H / p) * (W / p), D = C_in * p * p;
    if (N == 0) return;
    float *patches = cpu_ops_scratch(1, (size_t)N * D);
    patch_move(patches, (float *)in, B, H, W, C_in, p, 1);  // dir 1 only reads `in`
    cpu_op_linear_forward(out, patches, w, b, N, D, C_out);
}

void cpu_op_patch_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                                  const float *in, const float *w, int B, int H, int W, int C_in,
                                  int C_out, int p) {
    check_patch(B, H, W, C_in, C_out, p);
    const int N = B * (H / p) * (W / p), D = C_in * p * p;
    if (N == 0) return;
    if (dw || db) {
        float *patches = dw ? cpu_ops_scratch(1, (size_t)N * D) : NULL;
        if (dw) patch_move(patches, (float *)in, B, H, W, C_in, p, 1);
        cpu_op_linear_backward(NULL, dw, db, dout, patches, w, N, D, C_out);
    }
    if (din) {
        float *dpatches = cpu_ops_scratch(2, (size_t)N * D);
        cpu_sgemm(0, 0, N, D, C_out, 1.0f, dout, C_out, w, D, 0.0f, dpatches, D);
        patch_move(dpatches, din, B, H, W, C_in, p, -1);
    }
}

// ---------------------------------------------------------------- depthwise convolution

static void check_dw(int B, int H, int W, int C, int K) {
    CHECK(B >= 0 && H > 0 && W > 0 && C > 0 && K > 0 && K % 2 == 1,
          "dwconv2d: bad shape B %d H %d W %d C %d K %d (K must be odd)", B, H, W, C, K);
}

// taps[t, c] = w[c, t] for t = ky*K + kx (flip: t -> K*K-1-t, the correlation
// with the flipped kernel that propagates gradients back to the input).
static float *tap_table(const float *w, int C, int K, int flip) {
    const int T = K * K;
    float *taps = cpu_ops_scratch(3, (size_t)T * C);
    for (int c = 0; c < C; c++)
        for (int t = 0; t < T; t++) taps[(size_t)(flip ? T - 1 - t : t) * C + c] = w[(size_t)c * T + t];
    return taps;
}

// out[b, y, x, c] (= or +=) bias[c] + sum_{ky, kx} taps[ky*K+kx, c] *
// in[b, y+ky-r, x+kx-r, c], taps in ascending order, zero outside the image.
static void dw_correlate(float *out, const float *in, const float *taps, const float *bias,
                         int accumulate, int B, int H, int W, int C, int K) {
    const int r = K / 2;
    size_t stride;
    float *accs = cpu_thread_scratch(2, (size_t)C, &stride);
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * H * W * C * K >= CPU_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int y = 0; y < H; y++) {
            float *acc = accs + stride * (size_t)omp_get_thread_num();
            for (int x = 0; x < W; x++) {
                float *o = out + (((size_t)b * H + y) * W + x) * C;
                for (int c = 0; c < C; c++) acc[c] = bias ? bias[c] : 0.0f;
                for (int ky = 0; ky < K; ky++) {
                    const int yy = y + ky - r;
                    if (yy < 0 || yy >= H) continue;
                    const float *row = in + ((size_t)b * H + yy) * W * C;
                    for (int kx = 0; kx < K; kx++) {
                        const int xx = x + kx - r;
                        if (xx < 0 || xx >= W) continue;
                        const float *px = row + (size_t)xx * C, *t = taps + (size_t)(ky * K + kx) * C;
#pragma omp simd
                        for (int c = 0; c < C; c++) acc[c] += t[c] * px[c];
                    }
                }
                if (accumulate) {
#pragma omp simd
                    for (int c = 0; c < C; c++) o[c] += acc[c];
                } else {
                    memcpy(o, acc, (size_t)C * sizeof *o);
                }
            }
        }
}

void cpu_op_dwconv2d_forward(float *out, const float *in, const float *w, const float *b, int B,
                             int H, int W, int C, int K) {
    check_dw(B, H, W, C, K);
    if (B == 0) return;
    dw_correlate(out, in, tap_table(w, C, K, 0), b, 0, B, H, W, C, K);
}

// dw[c, t] += sum over images b (in order) of image b's double partial
// sum_{y, x} dout[b, y, x, c] * in[b, y+ky-r, x+kx-r, c]; db likewise. Within an
// image, tap t of output row y is one float sum over x (the accumulator stays
// in registers while a row of dout and one of in stream through L1), and the
// rows are added in double.
static void dw_weight_grad(float *dw, float *db, const float *dout, const float *in, int B, int H, int W, int C,
                           int K) {
    const int r = K / 2, T = K * K;
    const size_t per = (size_t)(T + 1) * C;  // taps, then the bias
    double *part = (double *)cpu_ops_scratch(3, 2 * per * (size_t)B);
    size_t stride;
    float *accs = cpu_thread_scratch(2, (size_t)C, &stride);
#pragma omp parallel for schedule(static) if ((size_t)B * H * W * C * K >= CPU_PAR_MIN)
    for (int b = 0; b < B; b++) {
        double *pb = part + per * (size_t)b;
        float *acc = accs + stride * (size_t)omp_get_thread_num();
        for (size_t i = 0; i < per; i++) pb[i] = 0.0;
        for (int y = 0; y < H; y++) {
            const float *g = dout + ((size_t)b * H + y) * W * C;
            for (int ky = 0; ky < K; ky++) {
                const int yy = y + ky - r;
                if (yy < 0 || yy >= H) continue;
                const float *row = in + ((size_t)b * H + yy) * W * C;
                for (int kx = 0; kx < K; kx++) {
                    const int x0 = r - kx > 0 ? r - kx : 0, x1 = W + r - kx < W ? W + r - kx : W;  // xx = x + kx - r in [0, W)
                    for (int c = 0; c < C; c++) acc[c] = 0.0f;
                    for (int x = x0; x < x1; x++) {
                        const float *gx = g + (size_t)x * C, *px = row + (size_t)(x + kx - r) * C;
#pragma omp simd
                        for (int c = 0; c < C; c++) acc[c] += gx[c] * px[c];
                    }
                    double *dst = pb + (size_t)(ky * K + kx) * C;
                    for (int c = 0; c < C; c++) dst[c] += acc[c];
                }
            }
            for (int c = 0; c < C; c++) acc[c] = 0.0f;
            for (int x = 0; x < W; x++) {
                const float *gx = g + (size_t)x * C;
#pragma omp simd
                for (int c = 0; c < C; c++) acc[c] += gx[c];
            }
            double *dst = pb + (size_t)T * C;
            for (int c = 0; c < C; c++) dst[c] += acc[c];
        }
    }
    for (int c = 0; c < C; c++) {
        for (int t = 0; t <= T; t++) {
            double s = 0.0;
            for (int b2 = 0; b2 < B; b2++) s += part[per * (size_t)b2 + (size_t)t * C + c];
            if (t < T && dw) dw[(size_t)c * T + t] += (float)s;
            if (t == T && db) db[c] += (float)s;
        }
    }
}

void cpu_op_dwconv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                              const float *w, int B, int H, int W, int C, int K) {
    check_dw(B, H, W, C, K);
    if (B == 0) return;
    if (dw || db) dw_weight_grad(dw, db, dout, in, B, H, W, C, K);
    if (din) dw_correlate(din, dout, tap_table(w, C, K, 1), NULL, 1, B, H, W, C, K);
}
