// The device-level runtime behind ops.h: which device is current, memory on
// it, and the few helpers whose work is done on the host and then copied
// (tables and index samples that are tiny and built once per step or model).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/ops.h"
#include "nn/ops_cpu.h"
#ifdef ASTROMM_HAVE_CUDA
#include "cuda/ops_cuda.h"
#endif

static OpsDevice g_device = OPS_CPU;

void ops_init(int threads) {
    cpu_ops_init(threads);
    g_device = OPS_CPU;
}

int ops_cuda_available(void) {
#ifdef ASTROMM_HAVE_CUDA
    return cuda_ops_available();
#else
    return 0;
#endif
}

int ops_cuda_device_count(void) {
#ifdef ASTROMM_HAVE_CUDA
    return cuda_ops_device_count();
#else
    return 0;
#endif
}

int ops_cuda_device_uuid(unsigned char uuid[16]) {
#ifdef ASTROMM_HAVE_CUDA
    if (g_device == OPS_CUDA) return cuda_ops_device_uuid(uuid);
#endif
    (void)uuid;
    return -1;
}

int ops_is_device_ptr(const void *p) {
#ifdef ASTROMM_HAVE_CUDA
    return g_device == OPS_CUDA && p && cuda_ops_is_device_ptr(p);
#else
    (void)p;
    return 0;
#endif
}

static OpsPrecision g_precision = OPS_FP32;

void ops_set_device(OpsDevice dev, int gpu_index) {
    if (dev == OPS_CPU) {
        g_device = OPS_CPU;
        g_precision = OPS_FP32;
        return;
    }
#ifdef ASTROMM_HAVE_CUDA
    CHECK(cuda_ops_available(), "device 'cuda' requested but no usable GPU was found "
                                "(check nvidia-smi and CUDA_VISIBLE_DEVICES, or use device = \"cpu\")");
    cuda_ops_init(gpu_index);
    g_device = OPS_CUDA;
    const char *tf32 = getenv("ASTROMM_TF32");  // the historical switch; run.precision supersedes it
    ops_set_precision(tf32 && strcmp(tf32, "1") == 0 ? OPS_TF32 : OPS_FP32);
#else
    (void)gpu_index;
    DIE("device 'cuda' requested but this astromm was built without CUDA "
        "(rebuild where nvcc exists, or use device = \"cpu\")");
#endif
}

OpsDevice ops_device(void) { return g_device; }

void ops_set_precision(OpsPrecision p) {
    CHECK(p == OPS_FP32 || p == OPS_TF32 || p == OPS_BF16, "ops_set_precision: unknown precision %d", (int)p);
    CHECK(p == OPS_FP32 || g_device == OPS_CUDA,
          "precision %s needs the CUDA device (the CPU path computes in fp32; set run.precision = \"fp32\")",
          ops_precision_name(p));
#ifdef ASTROMM_HAVE_CUDA
    if (g_device == OPS_CUDA) cuda_ops_set_precision((int)p);
#endif
    g_precision = p;
}

OpsPrecision ops_precision(void) { return g_precision; }

const char *ops_precision_name(OpsPrecision p) {
    return p == OPS_TF32 ? "tf32" : p == OPS_BF16 ? "bf16" : "fp32";
}

const char *ops_device_name(void) { return g_device == OPS_CUDA ? "cuda" : "cpu"; }

#ifdef ASTROMM_HAVE_CUDA
#define ON_CUDA(call)                 \
    if (g_device == OPS_CUDA) {       \
        call;                         \
        return;                       \
    }
#else
#define ON_CUDA(call)
#endif

void *ops_alloc(size_t bytes, const char *what) {
#ifdef ASTROMM_HAVE_CUDA
    if (g_device == OPS_CUDA) return cuda_ops_alloc(bytes, what);
#endif
    return am_aligned_alloc(bytes, what);
}

void ops_free(void *p) {
    ON_CUDA(cuda_ops_free(p));
    free(p);
}

void ops_to_device(void *dst, const void *src_host, size_t bytes) {
    ops_profile_copy(bytes);
    ON_CUDA(cuda_ops_to_device(dst, src_host, bytes));
    if (dst != src_host) memcpy(dst, src_host, bytes);
}

void ops_to_host(void *dst_host, const void *src, size_t bytes) {
    ops_profile_copy(bytes);
    ON_CUDA(cuda_ops_to_host(dst_host, src, bytes));
    if (dst_host != src) memcpy(dst_host, src, bytes);
}

void ops_synchronize(void) { ON_CUDA(cuda_ops_synchronize()); }

float *ops_scratch(int slot, size_t n) {
#ifdef ASTROMM_HAVE_CUDA
    if (g_device == OPS_CUDA) return cuda_ops_scratch(slot, n);
#endif
    return cpu_ops_scratch(slot, n);
}

void ops_zero(float *x, size_t n) {
    ON_CUDA(cuda_ops_zero(x, n));
    cpu_ops_zero(x, n);
}

// Built on the host (once per model / per step, a few KB) and copied.
void op_sinusoid_table(float *pe, int max_len, int d) {
    if (g_device == OPS_CPU) {
        cpu_op_sinusoid_table(pe, max_len, d);
        return;
    }
    const size_t bytes = (size_t)max_len * (size_t)d * sizeof(float);
    float *host = am_malloc(bytes, "position table");
    cpu_op_sinusoid_table(host, max_len, d);
    ops_to_device(pe, host, bytes);
    free(host);
}

void probsparse_sample_keys(int32_t *sample_idx, int L_Q, int L_K, int n_sample, const AmRng *rng) {
    if (g_device == OPS_CPU) {
        cpu_probsparse_sample_keys(sample_idx, L_Q, L_K, n_sample, rng);
        return;
    }
#ifdef ASTROMM_HAVE_CUDA
    cuda_probsparse_sample_keys(sample_idx, L_Q, L_K, n_sample, rng);
#endif
}
