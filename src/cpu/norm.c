// LayerNorm over the last dimension and row-wise L2 normalisation.
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

#define L2_EPS 1e-12f

void cpu_op_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                          const float *w, const float *b, int N, int C, float eps) {
    CHECK(N >= 0 && C > 0 && eps > 0.0f, "layernorm: bad shape N %d C %d or eps %g", N, C, (double)eps);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += x[c];
        float mu = s / (float)C;
        float v = 0.0f;  // two-pass (biased) variance: no cancellation for offset rows
#pragma omp simd reduction(+ : v)
        for (int c = 0; c < C; c++) {
            float d = x[c] - mu;
            v += d * d;
        }
        float rs = 1.0f / sqrtf(v / (float)C + eps);
        mean[n] = mu;
        rstd[n] = rs;
        if (w && b) {
#pragma omp simd
            for (int c = 0; c < C; c++) y[c] = (x[c] - mu) * rs * w[c] + b[c];
        } else {
            for (int c = 0; c < C; c++) y[c] = (x[c] - mu) * rs * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
        }
    }
}

// xhat = (x - mean) rstd, g = dout * w:
//   din += rstd (g - mean_c(g) - xhat mean_c(g xhat));  dw += sum_n dout xhat;  db += sum_n dout
// dw/db: per-thread partial sums in double (scratch slot 0), added in thread order.
void cpu_op_layernorm_backward(float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *mean, const float *rstd,
                           const float *w, int N, int C) {
    if (N <= 0) return;
    int P = omp_get_max_threads();
    size_t stride = 0;
    double *part = NULL;
    if (dw || db) {
        // 2C doubles per thread = 4C floats.
        part = (double *)cpu_thread_scratch(0, 4 * (size_t)C, &stride);
        stride /= 2;  // in doubles
        memset(part, 0, (size_t)P * stride * sizeof *part);
    }
#pragma omp parallel if ((size_t)N * C >= CPU_PAR_MIN)
    {
        double *pdw = part ? part + (size_t)omp_get_thread_num() * stride : NULL;
        double *pdb = pdw ? pdw + C : NULL;
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *x = in + (size_t)n * C;
            const float *dy = dout + (size_t)n * C;
            float mu = mean[n], rs = rstd[n];
            if (din) {
                float sg = 0.0f, sgx = 0.0f;
#pragma omp simd reduction(+ : sg, sgx)
                for (int c = 0; c < C; c++) {
                    float g = dy[c] * (w ? w[c] : 1.0f);
                    sg += g;
                    sgx += g * (x[c] - mu) * rs;
                }
                float mg = sg / (float)C, mgx = sgx / (float)C;
                float *dx = din + (size_t)n * C;
#pragma omp simd
                for (int c = 0; c < C; c++) {
                    float g = dy[c] * (w ? w[c] : 1.0f);
                    float xh = (x[c] - mu) * rs;
                    dx[c] += rs * (g - mg - xh * mgx);
                }
            }
            if (pdw) {
#pragma omp simd
                for (int c = 0; c < C; c++) {
                    pdw[c] += (double)(dy[c] * ((x[c] - mu) * rs));
                    pdb[c] += (double)dy[c];
                }
            }
        }
    }
    if (part) {
        for (int t = 0; t < P; t++) {
            const double *pdw = part + (size_t)t * stride, *pdb = pdw + C;
            for (int c = 0; c < C; c++) {
                if (dw) dw[c] += (float)pdw[c];
                if (db) db[c] += (float)pdb[c];
            }
        }
    }
}

void cpu_op_l2norm_forward(float *out, float *norm, const float *in, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += x[c] * x[c];
        float nr = sqrtf(s);
        nr = nr > L2_EPS ? nr : L2_EPS;
        norm[n] = nr;
#pragma omp simd
        for (int c = 0; c < C; c++) y[c] = x[c] / nr;
    }
}

// y = x / n with n = ||x||: din += (dout - y (y . dout)) / n. When the norm was
// clamped to eps, n is a constant and din += dout / eps.
void cpu_op_l2norm_backward(float *din, const float *dout, const float *out, const float *norm,
                        int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *y = out + (size_t)n * C;
        const float *dy = dout + (size_t)n * C;
        float *dx = din + (size_t)n * C;
        float nr = norm[n];
        float dot = 0.0f;
        if (nr > L2_EPS) {
#pragma omp simd reduction(+ : dot)
            for (int c = 0; c < C; c++) dot += y[c] * dy[c];
        }
#pragma omp simd
        for (int c = 0; c < C; c++) dx[c] += (dy[c] - y[c] * dot) / nr;
    }
}
