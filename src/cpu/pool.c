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
