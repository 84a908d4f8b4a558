// Elementwise ops: GELU, ReLU, row masks and the BLAS-1 style helpers.
// Every loop is `parallel for simd` over flat indices (static schedule).
#include <math.h>

#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

#define PAR_IF(n) if ((n) >= (size_t)CPU_PAR_MIN)

// The constants PyTorch's GeluKernel uses (approximate='none').
#define GELU_ALPHA 0.70710678118654752440f  // M_SQRT1_2
#define GELU_BETA 0.39894228040143267794f   // M_2_SQRTPI * M_SQRT1_2 * 0.5 = 1/sqrt(2 pi)

void cpu_op_gelu_forward(float *out, const float *in, size_t n) {
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = x * 0.5f * (1.0f + cpu_erff(x * GELU_ALPHA));
    }
}

// d/dx = Phi(x) + x phi(x)
void cpu_op_gelu_backward(float *din, const float *dout, const float *in, size_t n) {
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float cdf = 0.5f * (1.0f + cpu_erff(x * GELU_ALPHA));
        float pdf = GELU_BETA * cpu_expf(x * x * -0.5f);
        din[i] += dout[i] * (cdf + x * pdf);
    }
}

void cpu_op_gelu_backward_inplace(float *g, const float *in, size_t n) {
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float cdf = 0.5f * (1.0f + cpu_erff(x * GELU_ALPHA));
        float pdf = GELU_BETA * cpu_expf(x * x * -0.5f);
        g[i] = g[i] * (cdf + x * pdf);
    }
}

void cpu_op_relu_forward(float *out, const float *in, size_t n) {
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = x < 0.0f ? 0.0f : x;  // NaN propagates, as torch.relu
    }
}

void cpu_op_relu_backward(float *din, const float *dout, const float *in, size_t n) {
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) din[i] += in[i] > 0.0f ? dout[i] : 0.0f;
}

void cpu_op_mask_rows_forward(float *out, const float *in, const float *mask, int B, int L, int C) {
    size_t rows = (size_t)B * L;
#pragma omp parallel for schedule(static) PAR_IF(rows * (size_t)C)
    for (size_t r = 0; r < rows; r++) {
        float m = mask[r];
        const float *x = in + r * C;
        float *y = out + r * C;
#pragma omp simd
        for (int c = 0; c < C; c++) y[c] = x[c] * m;
    }
}

void cpu_op_mask_rows_backward(float *din, const float *dout, const float *mask, int B, int L, int C) {
    size_t rows = (size_t)B * L;
#pragma omp parallel for schedule(static) PAR_IF(rows * (size_t)C)
    for (size_t r = 0; r < rows; r++) {
        float m = mask[r];
        const float *dy = dout + r * C;
        float *dx = din + r * C;
#pragma omp simd
        for (int c = 0; c < C; c++) dx[c] += dy[c] * m;
    }
}

void cpu_op_axpy(float *y, float alpha, const float *x, size_t n) {
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

void cpu_op_copy(float *y, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n >= 4 * (size_t)CPU_PAR_MIN)
    for (size_t c = 0; c < n; c += 65536) memcpy(y + c, x + c, (n - c < 65536 ? n - c : 65536) * sizeof *y);
}

void cpu_op_add(float *y, const float *a, const float *b, size_t n) {
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void cpu_op_scale(float *x, float alpha, size_t n) {
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) x[i] *= alpha;
}

// Fixed chunks (not per-thread ranges) summed in chunk order: the result is the
// same bits for any thread count.
// Sum of a[i]*b[i] in double over fixed chunks combined in order, so the result
// does not depend on the thread count (b == a gives the sum of squares).
static double chunked_dot(const float *a, const float *b, size_t n) {
    enum { MAX_CHUNKS = 1024 };
    size_t chunk = (n + MAX_CHUNKS - 1) / MAX_CHUNKS;
    if (chunk < 16384) chunk = 16384;
    size_t nchunks = (n + chunk - 1) / chunk;
    double part[MAX_CHUNKS];
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = c * chunk, hi = lo + chunk < n ? lo + chunk : n;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (size_t i = lo; i < hi; i++) s += (double)a[i] * (double)b[i];
        part[c] = s;
    }
    double total = 0.0;
    for (size_t c = 0; c < nchunks; c++) total += part[c];
    return total;
}

double cpu_op_sumsq(const float *x, size_t n) { return chunked_dot(x, x, n); }

double cpu_op_dot(const float *a, const float *b, size_t n) { return chunked_dot(a, b, n); }

void cpu_op_relu_mask_inplace(float *g, const float *a, size_t n) {
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) g[i] = a[i] > 0.0f ? g[i] : 0.0f;
}

// ---------------------------------------------------------------- layer scale

void cpu_op_channel_scale_forward(float *out, const float *in, const float *g, int N, int C) {
    CHECK(N >= 0 && C > 0, "channel_scale: bad shape N %d C %d", N, C);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        float *y = out + (size_t)n * C;
#pragma omp simd
        for (int c = 0; c < C; c++) y[c] = x[c] * g[c];
    }
}

// dg[c] += sum_n dout[n, c] in[n, c]: fixed row chunks (a function of N only)
// sum in double into scratch slot 0, added in chunk order, so the result does
// not depend on the thread count.
void cpu_op_channel_scale_backward(float *din, float *dg, const float *dout, const float *in,
                                   const float *g, int N, int C) {
    CHECK(N >= 0 && C > 0, "channel_scale: bad shape N %d C %d", N, C);
    if (N == 0) return;
    if (din) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= CPU_PAR_MIN)
        for (int n = 0; n < N; n++) {
            const float *dy = dout + (size_t)n * C;
            float *dx = din + (size_t)n * C;
#pragma omp simd
            for (int c = 0; c < C; c++) dx[c] += dy[c] * g[c];
        }
    }
    if (!dg) return;
    enum { ROWS = 256 };
    const int nchunks = (N + ROWS - 1) / ROWS;
    double *part = (double *)cpu_ops_scratch(0, 2 * (size_t)nchunks * (size_t)C);
#pragma omp parallel for schedule(static) if (nchunks > 1 && (size_t)N * C >= CPU_PAR_MIN)
    for (int k = 0; k < nchunks; k++) {
        double *acc = part + (size_t)k * C;
        const int n1 = (k + 1) * ROWS < N ? (k + 1) * ROWS : N;
        for (int c = 0; c < C; c++) acc[c] = 0.0;
        for (int n = k * ROWS; n < n1; n++) {
            const float *dy = dout + (size_t)n * C, *x = in + (size_t)n * C;
#pragma omp simd
            for (int c = 0; c < C; c++) acc[c] += (double)(dy[c] * x[c]);
        }
    }
    for (int c = 0; c < C; c++) {
        double s = 0.0;
        for (int k = 0; k < nchunks; k++) s += part[(size_t)k * C + c];
        dg[c] += (float)s;
    }
}
