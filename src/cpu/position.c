// Fixed sinusoidal position table (Informer PositionalEmbedding) and its addition.
#include <math.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

// Computed in float step by step as the PyTorch reference does:
//   div_term = exp(float(2i) * float(-(ln 10000 / d)));  pe = sin/cos(float(p) * div_term)
void cpu_op_sinusoid_table(float *pe, int max_len, int d) {
    CHECK(max_len >= 0 && d > 0, "sinusoid table: bad shape max_len %d d %d", max_len, d);
    const float c = (float)(-(log(10000.0) / (double)d));
    for (int p = 0; p < max_len; p++) {
        for (int j = 0; j < d; j++) {
            float w = expf((float)(j - (j & 1)) * c);
            float a = (float)p * w;
            pe[(size_t)p * d + j] = (j & 1) ? cosf(a) : sinf(a);
        }
    }
}

void cpu_op_add_position(float *x, const float *pe, int B, int L, int C) {
    size_t rows = (size_t)B * L;
#pragma omp parallel for schedule(static) if (rows * (size_t)C >= (size_t)CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        float *y = x + r * C;
        const float *e = pe + (r % (size_t)L) * C;
#pragma omp simd
        for (int c = 0; c < C; c++) y[c] += e[c];
    }
}
