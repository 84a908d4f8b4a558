// Row-major SGEMM for the ops: C = alpha op(A) op(B) + beta C.
//
// One thread pool. When OpenBLAS runs single-threaded (ops_init(n > 0) sets
// that up, as does OPENBLAS_NUM_THREADS=1) and OpenMP has several threads, the
// larger of M and N is cut into one slab per OpenMP thread and each thread
// calls single-threaded cblas_sgemm on its slab (the "multi-threaded
// application" mode the OpenBLAS FAQ prescribes; the pthread build locks its
// buffer pool). Otherwise OpenBLAS threads itself and is called from serial
// code only, never inside a parallel region.
//
// Why: with two pools on the same cores, OpenMP workers spin-wait (libgomp's
// default policy) right after each elementwise op while OpenBLAS needs the
// cores, and OpenBLAS workers spin after each GEMM while OpenMP needs them. On
// the 2-core dev box one Informer layer forward+backward at batch 64 took
// 236 ms that way and 114 ms with one pool.
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
    if (nt <= 1 || work < GEMM_SPLIT_MIN || openblas_get_num_threads() != 1 ||
        omp_in_parallel()) {
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
