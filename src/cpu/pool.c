// MaxPool1d(k) with stride k, floor mode, over rows [R, L].
#include <math.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops.h"

void op_maxpool1d_forward(float *out, int32_t *argmax, const float *in, int R, int L, int k) {
    CHECK(k > 0 && L >= 0 && R >= 0, "maxpool1d: bad shape R %d L %d k %d", R, L, k);
    int Lo = L / k;
#pragma omp parallel for schedule(static) if ((size_t)R * L >= CPU_PAR_MIN)
    for (int r = 0; r < R; r++) {
        const float *x = in + (size_t)r * L;
        float *y = out + (size_t)r * Lo;
        int32_t *am = argmax + (size_t)r * Lo;
        for (int o = 0; o < Lo; o++) {
            int best = o * k;
            float bv = x[best];
            // Strictly greater keeps the first maximum; NaN wins and sticks, as in PyTorch.
            for (int j = o * k + 1; j < o * k + k; j++) {
                float v = x[j];
                if (!isnan(bv) && (v > bv || isnan(v))) {
                    bv = v;
                    best = j;
                }
            }
            y[o] = bv;
            am[o] = best;
        }
    }
}

void op_maxpool1d_backward(float *din, const float *dout, const int32_t *argmax,
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
