// CUDA device discovery: what `astromm devices` reports and what the CUDA
// backend (issue 3) will bind ranks to. Compiled whenever nvcc exists; on a
// machine without a GPU it reports that cleanly instead of failing.
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" int astromm_cuda_report(FILE *out) {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        fprintf(out, "cuda: no usable device (%s)\n", cudaGetErrorString(err));
        return 0;
    }
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    fprintf(out, "cuda: %d device(s), driver %d, runtime %d\n", n, driver, runtime);
    for (int i = 0; i < n; i++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
        fprintf(out, "  [%d] %s, sm_%d%d, %.1f GiB, %d SMs\n", i, p.name, p.major, p.minor,
                (double)p.totalGlobalMem / (1u << 30), p.multiProcessorCount);
    }
    return n;
}
