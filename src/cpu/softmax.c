// Row softmax and mean softmax cross-entropy.
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

#define PAR_ROWS(N, C) if ((size_t)(N) * (size_t)(C) >= (size_t)CPU_PAR_MIN)

void cpu_op_softmax_forward(float *out, const float *in, int N, int C) {
#pragma omp parallel for schedule(static) PAR_ROWS(N, C)
    for (int n = 0; n < N; n++) {
        float *y = out + (size_t)n * C;
        if (y != in + (size_t)n * C) memcpy(y, in + (size_t)n * C, (size_t)C * sizeof *y);
        cpu_softmax_row(y, C);
    }
}

void cpu_op_softmax_backward(float *din, const float *dout, const float *out, int N, int C) {
#pragma omp parallel for schedule(static) PAR_ROWS(N, C)
    for (int n = 0; n < N; n++) {
        const float *y = out + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = din + (size_t)n * C;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += dy[c] * y[c];
#pragma omp simd
        for (int c = 0; c < C; c++) dx[c] += y[c] * (dy[c] - s);
    }
}

float cpu_op_cross_entropy_forward(float *probs, const float *logits, const int32_t *labels,
                               int N, int C) {
    CHECK(N > 0 && C > 0, "cross entropy: bad shape N %d C %d", N, C);
    for (int n = 0; n < N; n++)
        CHECK(labels[n] >= 0 && labels[n] < C, "cross entropy: label %d of row %d outside [0, %d)",
              (int)labels[n], n, C);
    // Per-row loss logsumexp(x) - x[label] (sum of exponentials in double), kept
    // per row in scratch slot 0 and summed in row order: same bits for any thread count.
    double *row_loss = (double *)cpu_ops_scratch(0, 2 * (size_t)N);
#pragma omp parallel for schedule(static) PAR_ROWS(N, C)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * C;
        float *p = probs + (size_t)n * C;
        float mx = -INFINITY;
        for (int c = 0; c < C; c++) mx = x[c] > mx ? x[c] : mx;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) {
            float e = cpu_expf(x[c] - mx);
            p[c] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
#pragma omp simd
        for (int c = 0; c < C; c++) p[c] *= inv;
        row_loss[n] = log(s) + (double)mx - (double)x[labels[n]];
    }
    double total = 0.0;
    for (int n = 0; n < N; n++) total += row_loss[n];
    return (float)(total / N);
}

void cpu_op_cross_entropy_backward(float *dlogits, const float *probs, const int32_t *labels,
                               int N, int C, float dloss) {
    float s = dloss / (float)N;
#pragma omp parallel for schedule(static) PAR_ROWS(N, C)
    for (int n = 0; n < N; n++) {
        const float *p = probs + (size_t)n * C;
        float *d = dlogits + (size_t)n * C;
#pragma omp simd
        for (int c = 0; c < C; c++) d[c] += s * p[c];
        d[labels[n]] -= s;
    }
}
