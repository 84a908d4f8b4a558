// Layout ops: batched 2-D transpose [B, M, N] -> [B, N, M] in 32x32 tiles (both
// the reads and the writes stay within a few cache lines per tile), and row
// gather / scatter-add.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"
#include "nn/probsparse_tables.h"

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

// ProbSparse row tables (ops.h). row_map doubles as the per-row flags while a
// sample is built (probsparse_sample_tables reads flag i before writing entry
// i), so no scratch is needed; without a row_map output the flags live in a
// heap buffer.
void cpu_op_probsparse_row_tables(int32_t *tab_rows, int32_t *row_map, int32_t *q_rows,
                                  const int32_t *top_idx, int B, int L, int H, int u) {
    const int S = probsparse_table_stride(L, H, u), Q = probsparse_query_stride(L, H, u);
    int32_t *flags = row_map ? row_map : am_malloc((size_t)B * (size_t)L * sizeof(int32_t), "ProbSparse row flags");
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        int32_t *f = flags + (size_t)b * L;
        for (int i = 0; i < L; i++) f[i] = -1;
        const int32_t *top = top_idx + (size_t)b * H * u;
        for (int k = 0; k < H * u; k++) f[top[k]] = PST_SELECTED;
        probsparse_sample_tables(tab_rows ? tab_rows + (size_t)b * S : NULL, row_map ? row_map + (size_t)b * L : NULL,
                                 q_rows ? q_rows + (size_t)b * Q : NULL, f, b, L, S, Q);
    }
    if (!row_map) free(flags);
}
