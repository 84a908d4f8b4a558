// Linear layer (torch.nn.Linear layout, w [out, in]) on OpenBLAS sgemm.
#include <cblas.h>
#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops.h"

void op_linear_forward(float *out, const float *in, const float *w, const float *b,
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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out_dim, in_dim, 1.0f, in, in_dim,
                w, in_dim, beta, out, out_dim);
}

// db[j] += sum_i x[i, j] for x [n, m]: column blocks of 64 per task, summed in
// double (n reaches 12800 rows) in a fixed order, so the result does not depend
// on the thread count.
static void colsum_acc(float *db, const float *x, int n, int m) {
    enum { CB = 64 };
    int nblk = (m + CB - 1) / CB;
#pragma omp parallel for schedule(static) if ((size_t)n * m >= CPU_PAR_MIN && nblk > 1)
    for (int blk = 0; blk < nblk; blk++) {
        int j0 = blk * CB, w = m - j0 < CB ? m - j0 : CB;
        double acc[CB] = {0};
        for (int i = 0; i < n; i++) {
            const float *row = x + (size_t)i * m + j0;
#pragma omp simd
            for (int j = 0; j < w; j++) acc[j] += row[j];
        }
        for (int j = 0; j < w; j++) db[j0 + j] += (float)acc[j];
    }
}

void op_linear_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int n, int in_dim, int out_dim) {
    if (n == 0 || out_dim == 0) return;
    if (din && in_dim > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in_dim, out_dim, 1.0f, dout,
                    out_dim, w, in_dim, 1.0f, din, in_dim);
    if (dw && in_dim > 0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in_dim, n, 1.0f, dout,
                    out_dim, in, in_dim, 1.0f, dw, in_dim);
    if (db) colsum_acc(db, dout, n, out_dim);
}
