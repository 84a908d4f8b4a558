// CUDA runtime behind ops.h: the device, one non-blocking compute stream with a
// cuBLAS handle bound to it, device memory, host<->device copies and the
// grow-only scratch slots (the device twin of src/cpu/runtime.c).
//
// Every op is enqueued on cuda_stream(); the host only waits where a value must
// come back (copies to the host, reductions returned to the caller) or where
// memory is released while kernels may still read it (scratch growth).
//
// cuBLAS starts in full FP32 (CUBLAS_DEFAULT_MATH: no TF32) so CUDA training
// matches the CPU reference to FP32 rounding; ops_set_precision (run.precision,
// or ASTROMM_TF32=1) selects TF32 or BF16 GEMMs (cuda/gemm.cu). Atomics stay disallowed so GEMMs are
// bit-reproducible run to run on the same GPU.
#include <stdlib.h>
#include <string.h>

#include "cuda/common.cuh"

#define CUDA_OPS_SLOTS 8

static int g_inited;
static int g_gpu = -1;
static cudaStream_t g_stream;
static cublasHandle_t g_cublas;
static float *g_scratch[CUDA_OPS_SLOTS];
static size_t g_scratch_cap[CUDA_OPS_SLOTS];

cudaStream_t cuda_stream(void) {
    CHECK(g_inited, "CUDA op called before the CUDA device was selected (ops_set_device)");
    return g_stream;
}

cublasHandle_t cuda_cublas(void) {
    CHECK(g_inited, "cuBLAS used before the CUDA device was selected (ops_set_device)");
    return g_cublas;
}

extern "C" int cuda_ops_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();  // clear it: "no device" must not poison later calls
        return 0;
    }
    return n;
}

extern "C" int cuda_ops_available(void) { return cuda_ops_device_count() > 0; }

extern "C" int cuda_ops_device_uuid(unsigned char uuid[16]) {
    CHECK(g_inited, "CUDA device UUID asked before the device was selected (ops_set_device)");
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, g_gpu));
    memcpy(uuid, p.uuid.bytes, 16);
    return 0;
}

// Plain host memory reports cudaMemoryTypeUnregistered (CUDA >= 11), which is
// not an error; pinned host memory is cudaMemoryTypeHost. Only device (and
// managed) memory goes to NCCL.
extern "C" int cuda_ops_is_device_ptr(const void *p) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

static void release_all(void) {
    for (int s = 0; s < CUDA_OPS_SLOTS; s++) {
        if (g_scratch[s]) CUDA_CHECK(cudaFree(g_scratch[s]));
        g_scratch[s] = NULL;
        g_scratch_cap[s] = 0;
    }
    CUBLAS_CHECK(cublasDestroy(g_cublas));
    CUDA_CHECK(cudaStreamDestroy(g_stream));
    g_inited = 0;
    g_gpu = -1;
}

extern "C" void cuda_ops_init(int gpu_index) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        DIE("CUDA: no usable device (%s)", cudaGetErrorString(e));
    }
    CHECK(gpu_index >= 0 && gpu_index < n,
          "CUDA: GPU index %d outside the %d visible device(s) (check CUDA_VISIBLE_DEVICES)",
          gpu_index, n);
    if (g_inited) {
        if (g_gpu == gpu_index) return;  // selecting the same device again is a no-op
        CUDA_CHECK(cudaStreamSynchronize(g_stream));
        release_all();
    }
    CUDA_CHECK(cudaSetDevice(gpu_index));
    CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&g_cublas));
    CUBLAS_CHECK(cublasSetStream(g_cublas, g_stream));
    CUBLAS_CHECK(cublasSetPointerMode(g_cublas, CUBLAS_POINTER_MODE_HOST));
    CUBLAS_CHECK(cublasSetAtomicsMode(g_cublas, CUBLAS_ATOMICS_NOT_ALLOWED));
    CUBLAS_CHECK(cublasSetMathMode(g_cublas, CUBLAS_DEFAULT_MATH));  // ops_set_precision may change it
    g_gpu = gpu_index;
    g_inited = 1;
}

// Device memory, zeroed. Never NULL: a 0-byte request still gets a (1-byte)
// allocation, as am_aligned_alloc does on the CPU.
static void *device_alloc(size_t bytes, const char *what) {
    size_t req = bytes ? bytes : 1;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, req);
    if (e != cudaSuccess || !p) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
        DIE("CUDA: cannot allocate %zu bytes (%.1f MiB) for %s on GPU %d: %s "
            "(%.1f of %.1f MiB free; reduce the batch size or the model)",
            bytes, (double)bytes / 1048576.0, what ? what : "?", g_gpu, cudaGetErrorString(e),
            (double)free_b / 1048576.0, (double)total_b / 1048576.0);
    }
    return p;
}

extern "C" void *cuda_ops_alloc(size_t bytes, const char *what) {
    cudaStream_t s = cuda_stream();
    void *p = device_alloc(bytes, what);
    if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    return p;
}

extern "C" void cuda_ops_free(void *p) {
    if (!p) return;
    cudaError_t e = cudaFree(p);  // synchronises the device: pending kernels finish first
    // At process exit the runtime may already be unloading: nothing left to free.
    if (e == cudaErrorCudartUnloading) {
        (void)cudaGetLastError();
        return;
    }
    CUDA_CHECK(e);
}

// The copies are stream-ordered after every queued op, and synchronous for the
// host: the host buffer may be reused (or read) as soon as they return.
extern "C" void cuda_ops_to_device(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    cudaStream_t s = cuda_stream();
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
}

extern "C" void cuda_ops_to_host(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    cudaStream_t s = cuda_stream();
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
}

extern "C" void cuda_ops_synchronize(void) {
    if (!g_inited) return;
    CUDA_CHECK(cudaStreamSynchronize(g_stream));
}

// Grow-only, like cpu_ops_scratch: a quarter of headroom, multiples of 16
// floats. Growing waits for the stream first, since queued kernels may still
// use the old buffer (cudaFree would also wait, but only device-wide).
extern "C" float *cuda_ops_scratch(int slot, size_t n) {
    CHECK(slot >= 0 && slot < CUDA_OPS_SLOTS, "ops_scratch: slot %d outside 0..%d", slot,
          CUDA_OPS_SLOTS - 1);
    if (n > g_scratch_cap[slot] || !g_scratch[slot]) {
        cudaStream_t s = cuda_stream();
        size_t cap = n + n / 4;
        cap = (cap + 15) / 16 * 16;
        if (cap < 16) cap = 16;
        CUDA_CHECK(cudaStreamSynchronize(s));
        if (g_scratch[slot]) CUDA_CHECK(cudaFree(g_scratch[slot]));
        g_scratch[slot] = NULL;
        g_scratch_cap[slot] = 0;
        g_scratch[slot] = (float *)device_alloc(cap * sizeof(float), "ops scratch");
        g_scratch_cap[slot] = cap;
    }
    return g_scratch[slot];
}

extern "C" void cuda_ops_zero(float *x, size_t n) {
    if (!n) return;
    CUDA_CHECK(cudaMemsetAsync(x, 0, n * sizeof *x, cuda_stream()));
}
