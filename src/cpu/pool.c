// MaxPool1d(k) with stride k, floor mode, over rows [R, L].
#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

void cpu_op_maxpool1d_forward(float *out, int32_t *argmax, const float *in, int R, int L, int k) {
    CHECK(k > 0 && L >= 0 && R >= 0, "maxpool1d: bad shape R %d L %d k %d", R, L, k);
    int Lo = L / k;
#pragma omp parallel for schedule(static) if ((size_t)R * L >= CPU_PAR_MIN)
    for (int r = 0; r < R; r++) {
        const float *x = in + (size_t)r * L;
        float *y = out + (size_t)r * Lo;
        int32_t *am = argmax + (size_t)r * Lo;
        // PyTorch's rule: take v when v > max or v is NaN, so the first maximum
        // wins ties and a NaN always propagates. Window position outer, windows
        // inner: the selects vectorise across windows instead of becoming
        // data-dependent (mispredicted) branches.
#pragma omp simd
        for (int o = 0; o < Lo; o++) {
            y[o] = x[(size_t)o * k];
            am[o] = o * k;
        }
        for (int j = 1; j < k; j++) {
#pragma omp simd
            for (int o = 0; o < Lo; o++) {
                float v = x[(size_t)o * k + j], bv = y[o];
                int take = (v > bv) | (v != v);
                y[o] = take ? v : bv;
                am[o] = take ? o * k + j : am[o];
            }
        }
    }
}

void cpu_op_maxpool1d_backward(float *din, const float *dout, const int32_t *argmax,
                           int R, int L, int k) {
    int Lo = L / k;
    // Windows do not overlap (stride == kernel), so rows and windows never collide.
#pragma omp parallel for schedule(static) if ((size_t)R * L >= CPU_PAR_MIN)
    for (int r = 0; r < R; r++) {
        float *dx = din + (size_t)r * L;
        const float *dy = dout + (size_t)r * Lo;
        const int32_t *am = argmax + (size_t)r * Lo;
        for (int o = 0; o < Lo; o++) dx[am[o]] += dy[o];
    }
}

// Global average pooling [B, L, C] -> [B, C]: each (b, c) sums its L values in
// order, in double.
void cpu_op_mean_pool_forward(float *out, const float *in, int B, int L, int C) {
    CHECK(B >= 0 && L > 0 && C > 0, "mean_pool: bad shape B %d L %d C %d", B, L, C);
#pragma omp parallel for schedule(static) if ((size_t)B * L * C >= CPU_PAR_MIN)
    for (int b = 0; b < B; b++) {
        float *y = out + (size_t)b * C;
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            const float *x = in + (size_t)b * L * C + c;
            for (int l = 0; l < L; l++) s += x[(size_t)l * C];
            y[c] = (float)(s / L);
        }
    }
}

void cpu_op_mean_pool_backward(float *din, const float *dout, int B, int L, int C) {
    CHECK(B >= 0 && L > 0 && C > 0, "mean_pool: bad shape B %d L %d C %d", B, L, C);
    const float inv = 1.0f / (float)L;
#pragma omp parallel for schedule(static) if ((size_t)B * L * C >= CPU_PAR_MIN)
    for (int b = 0; b < B; b++) {
        const float *g = dout + (size_t)b * C;
        for (int l = 0; l < L; l++) {
            float *dx = din + ((size_t)b * L + l) * C;
#pragma omp simd
            for (int c = 0; c < C; c++) dx[c] += g[c] * inv;
        }
    }
}
