// CPU runtime: thread counts, the grow-only scratch slots, and the small
// ProbSparse helpers that are not tensor ops.
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

#define OPS_SLOTS 8

static float *g_scratch[OPS_SLOTS];
static size_t g_scratch_cap[OPS_SLOTS];

// threads > 0: one pool of `threads` OpenMP threads for everything. With the
// OpenMP build of OpenBLAS (what CMake links when it exists) GEMMs already run
// on that team. With the pthread build, OpenBLAS is made single-threaded and
// cpu_sgemm splits each GEMM over the OpenMP team instead: two pools
// spin-waiting against each other on the same cores halve the speed (gemm.c).
void cpu_ops_init(int threads) {
    if (threads > 0) {
        omp_set_num_threads(threads);
        if (openblas_get_parallel() == OPENBLAS_THREAD) openblas_set_num_threads(1);
    }
}

int ops_num_threads(void) { return omp_get_max_threads(); }

// Not thread-safe: call from serial code (ops take their slots before any
// parallel region).
float *cpu_ops_scratch(int slot, size_t n) {
    CHECK(slot >= 0 && slot < OPS_SLOTS, "ops_scratch: slot %d outside 0..%d", slot,
          OPS_SLOTS - 1);
    if (n > g_scratch_cap[slot] || !g_scratch[slot]) {
        // A quarter of headroom so slowly growing requests do not reallocate each time.
        size_t cap = n + n / 4;
        cap = (cap + 15) / 16 * 16;
        if (cap < 16) cap = 16;
        free(g_scratch[slot]);
        g_scratch[slot] = am_aligned_alloc(cap * sizeof(float), "ops scratch");
        g_scratch_cap[slot] = cap;
    }
    return g_scratch[slot];
}

void cpu_ops_zero(float *x, size_t n) {
    if (n < 4 * (size_t)CPU_PAR_MIN) {
        memset(x, 0, n * sizeof *x);
        return;
    }
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        size_t chunk = (n + (size_t)nt - 1) / (size_t)nt;
        size_t lo = (size_t)t * chunk;
        if (lo < n) memset(x + lo, 0, (lo + chunk > n ? n - lo : chunk) * sizeof *x);
    }
}

int probsparse_u(int factor, int L) {
    CHECK(factor > 0 && L > 0, "probsparse_u: factor %d and L %d must be positive", factor, L);
    int u = factor * (int)ceil(log((double)L));
    return u < L ? u : L;
}

void cpu_probsparse_sample_keys(int32_t *sample_idx, int L_Q, int L_K, int n_sample,
                            const AmRng *rng) {
    CHECK(L_K > 0, "probsparse_sample_keys: L_K %d must be positive", L_K);
    size_t n = (size_t)L_Q * (size_t)n_sample;
    for (size_t i = 0; i < n; i++) sample_idx[i] = (int32_t)am_rng_below(rng, i, (uint32_t)L_K);
}
