// Row-major SGEMM for the ops: C = alpha op(A) op(B) + beta C.
//
// One thread pool for GEMMs and the OpenMP loops of the other ops:
//  * OpenMP build of OpenBLAS (preferred by CMake): OpenBLAS runs on the
//    OpenMP team; cblas is called directly from serial code.
//  * pthread build made single-threaded (cpu_ops_init(n > 0) does that, as does
//    OPENBLAS_NUM_THREADS=1): the larger of M and N is cut into one slab per
//    OpenMP thread and each thread calls cblas_sgemm on its slab (the
//    "multi-threaded application" mode of the OpenBLAS FAQ; the pthread build
//    locks its buffer pool).
//  * pthread build with its own threads, or a sequential build (not safe to
//    call concurrently unless built with USE_LOCKING): called directly from
//    serial code, never inside a parallel region.
//
// Why it matters: with two pools on the same cores, libgomp workers spin-wait
// after each elementwise op while OpenBLAS needs the cores, and OpenBLAS
// workers spin after each GEMM. On the 2-core dev box one Informer layer
// forward+backward at batch 64 took 205 ms that way and 106 ms with one pool.
#include <cblas.h>
#include <omp.h>

#include "cpu/cpu_util.h"

// Below this many multiply-adds a GEMM runs on the calling thread alone.
#define GEMM_SPLIT_MIN (1 << 20)

static inline enum CBLAS_TRANSPOSE tr(int t) { return t ? CblasTrans : CblasNoTrans; }

void cpu_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    int nt = omp_get_max_threads();
    double work = (double)M * (double)N * (double)K;
    int split = openblas_get_parallel() == OPENBLAS_THREAD && openblas_get_num_threads() == 1;
    if (!split || nt <= 1 || work < GEMM_SPLIT_MIN || omp_in_parallel()) {
        cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int split_m = M >= N;
    int total = split_m ? M : N;
    // Slabs in multiples of 16 rows/columns (whole micro-kernel tiles).
    int units = (total + 15) / 16;
    if (nt > units) nt = units;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), p = omp_get_num_threads();
        int lo = (int)((long)units * t / p) * 16, hi = (int)((long)units * (t + 1) / p) * 16;
        if (hi > total) hi = total;
        if (hi > lo) {
            if (split_m) {
                // Rows lo..hi of op(A) and C.
                const float *a = ta ? A + lo : A + (size_t)lo * lda;
                cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), hi - lo, N, K, alpha, a, lda, B, ldb,
                            beta, C + (size_t)lo * ldc, ldc);
            } else {
                // Columns lo..hi of op(B) and C.
                const float *b = tb ? B + (size_t)lo * ldb : B + lo;
                cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), M, hi - lo, K, alpha, A, lda, b, ldb,
                            beta, C + lo, ldc);
            }
        }
    }
}
