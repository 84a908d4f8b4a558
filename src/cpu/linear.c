// Linear layer (torch.nn.Linear layout, w [out, in]) on SGEMM (cpu_sgemm).
#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

void cpu_op_linear_forward(float *out, const float *in, const float *w, const float *b,
                       int n, int in_dim, int out_dim) {
    CHECK(n >= 0 && in_dim >= 0 && out_dim >= 0, "linear: bad shape n %d in %d out %d", n,
          in_dim, out_dim);
    if (n == 0 || out_dim == 0) return;
    float beta = 0.0f;
    if (b) {
        // Rows start as the bias and the GEMM accumulates onto them (beta = 1):
        // one pass over `out` either way, since beta = 0 also clears it first.
#pragma omp parallel for schedule(static) if ((size_t)n * out_dim >= CPU_PAR_MIN)
        for (int r = 0; r < n; r++) memcpy(out + (size_t)r * out_dim, b, (size_t)out_dim * sizeof *b);
        beta = 1.0f;
    }
    if (in_dim == 0) {
        if (!b) memset(out, 0, (size_t)n * out_dim * sizeof *out);
        return;
    }
    cpu_sgemm(0, 1, n, out_dim, in_dim, 1.0f, in, in_dim, w, in_dim, beta, out, out_dim);
}

// db[j] += sum_i x[i, j] for x [n, m]: fixed row chunks (not per-thread
// ranges) stream through x contiguously, each summing into its own row of
// double partials (scratch slot 0); the partials are added in chunk order, so
// the result does not depend on the thread count.
static void colsum_acc(float *db, const float *x, int n, int m) {
    enum { MAX_CHUNKS = 16, MIN_ROWS = 256 };
    int rows = (n + MAX_CHUNKS - 1) / MAX_CHUNKS;
    if (rows < MIN_ROWS) rows = MIN_ROWS;
    int nchunks = (n + rows - 1) / rows;
    double *part = (double *)cpu_ops_scratch(0, 2 * (size_t)nchunks * (size_t)m);
#pragma omp parallel for schedule(static) if (nchunks > 1 && (size_t)n * m >= CPU_PAR_MIN)
    for (int c = 0; c < nchunks; c++) {
        double *acc = part + (size_t)c * m;
        int i0 = c * rows, i1 = i0 + rows < n ? i0 + rows : n;
        for (int j = 0; j < m; j++) acc[j] = 0.0;
        for (int i = i0; i < i1; i++) {
            const float *row = x + (size_t)i * m;
#pragma omp simd
            for (int j = 0; j < m; j++) acc[j] += row[j];
        }
    }
    for (int j = 0; j < m; j++) {
        double s = 0.0;
        for (int c = 0; c < nchunks; c++) s += part[(size_t)c * m + j];
        db[j] += (float)s;
    }
}

void cpu_op_linear_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int n, int in_dim, int out_dim) {
    if (n == 0 || out_dim == 0) return;
    if (din && in_dim > 0)
        cpu_sgemm(0, 0, n, in_dim, out_dim, 1.0f, dout, out_dim, w, in_dim, 1.0f, din, in_dim);
    if (dw && in_dim > 0)
        cpu_sgemm(1, 0, out_dim, in_dim, n, 1.0f, dout, out_dim, in, in_dim, 1.0f, dw, in_dim);
    if (db) colsum_acc(db, dout, n, out_dim);
}
