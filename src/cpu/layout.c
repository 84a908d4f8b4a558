// Layout ops: batched 2-D transpose [B, M, N] -> [B, N, M] in 32x32 tiles (both
// the reads and the writes stay within a few cache lines per tile), and row
// gather / scatter-add.
#include <string.h>

#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

enum { TILE = 32 };

void cpu_op_transpose_forward(float *out, const float *in, int B, int M, int N) {
    int ti = (M + TILE - 1) / TILE, tj = (N + TILE - 1) / TILE;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * M * N >= CPU_PAR_MIN)
    for (int b = 0; b < B; b++) {
        for (int bi = 0; bi < ti; bi++) {
            const float *src = in + (size_t)b * M * N;
            float *dst = out + (size_t)b * M * N;
            int i0 = bi * TILE, i1 = i0 + TILE < M ? i0 + TILE : M;
            for (int bj = 0; bj < tj; bj++) {
                int j0 = bj * TILE, j1 = j0 + TILE < N ? j0 + TILE : N;
                for (int j = j0; j < j1; j++)
                    for (int i = i0; i < i1; i++) dst[(size_t)j * M + i] = src[(size_t)i * N + j];
            }
        }
    }
}

void cpu_op_transpose_backward(float *din, const float *dout, int B, int M, int N) {
    // din [B, M, N] += dout [B, N, M] transposed.
    int ti = (M + TILE - 1) / TILE, tj = (N + TILE - 1) / TILE;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * M * N >= CPU_PAR_MIN)
    for (int b = 0; b < B; b++) {
        for (int bi = 0; bi < ti; bi++) {
            const float *src = dout + (size_t)b * M * N;
            float *dst = din + (size_t)b * M * N;
            int i0 = bi * TILE, i1 = i0 + TILE < M ? i0 + TILE : M;
            for (int bj = 0; bj < tj; bj++) {
                int j0 = bj * TILE, j1 = j0 + TILE < N ? j0 + TILE : N;
                for (int i = i0; i < i1; i++)
                    for (int j = j0; j < j1; j++) dst[(size_t)i * N + j] += src[(size_t)j * M + i];
            }
        }
    }
}

void cpu_op_gather_rows(float *out, const float *in, const int32_t *rows, int n_rows, int C) {
#pragma omp parallel for schedule(static) if ((size_t)n_rows * C >= CPU_PAR_MIN)
    for (int r = 0; r < n_rows; r++)
        memcpy(out + (size_t)r * C, in + (size_t)rows[r] * C, (size_t)C * sizeof *out);
}

void cpu_op_scatter_add_rows(float *out, const float *in, const int32_t *rows, int n_rows, int C) {
    // Threads own column slices, so repeated destination rows never race.
    const int nt = (size_t)n_rows * C >= CPU_PAR_MIN ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), p = omp_get_num_threads();
        const int c0 = (int)((long)C * t / p), c1 = (int)((long)C * (t + 1) / p);
        for (int r = 0; r < n_rows; r++) {
            float *dst = out + (size_t)rows[r] * C;
            const float *src = in + (size_t)r * C;
#pragma omp simd
            for (int c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}

void cpu_op_zero_rows(float *x, const int32_t *rows, int n_rows, int C) {
    for (int r = 0; r < n_rows; r++) memset(x + (size_t)rows[r] * C, 0, (size_t)C * sizeof *x);
}
