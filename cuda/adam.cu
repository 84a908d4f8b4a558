// Fused Adam step on the GPU (CUDA twin of src/cpu/adam.c, torch.optim.Adam
// semantics). The bias-correction constants are computed on the host with the
// same float expressions (and the same libm powf) as the CPU; the per-element
// formula keeps the CPU's operation order with __fmul_rn / __fadd_rn /
// __fdiv_rn / __fsqrt_rn (IEEE rounded, never contracted into an FMA), so a
// step gives the same bits on both devices.
#include <math.h>

#include "cuda/common.cuh"

enum { ADAM_THREADS = 256 };

static __global__ void adam_kernel(float *param, const float *grad, float *m, float *v, size_t n,
                                   float beta1, float beta2, float one_m_beta1,
                                   float one_m_beta2, float eps, float weight_decay,
                                   float bc2_sqrt, float step_size) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float p = param[i];
        const float g = __fadd_rn(grad[i], __fmul_rn(weight_decay, p));
        // m = m * beta1 + (1 - beta1) * g
        const float mi = __fadd_rn(__fmul_rn(m[i], beta1), __fmul_rn(one_m_beta1, g));
        // v = v * beta2 + ((1 - beta2) * g) * g
        const float vi = __fadd_rn(__fmul_rn(v[i], beta2), __fmul_rn(__fmul_rn(one_m_beta2, g), g));
        m[i] = mi;
        v[i] = vi;
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
        param[i] = __fsub_rn(p, __fmul_rn(step_size, __fdiv_rn(mi, denom)));
    }
}

extern "C" void cuda_op_adam_step(float *param, const float *grad, float *m, float *v, size_t n,
                                  float lr, float beta1, float beta2, float eps,
                                  float weight_decay, int64_t t) {
    if (n == 0) return;
    // torch: denom = sqrt(v) / sqrt(1 - b2^t) + eps; param -= lr / (1 - b1^t) * m / denom
    const float bc1 = 1.0f - powf(beta1, (float)t);
    const float bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)t));
    const float step_size = lr / bc1;
    adam_kernel<<<cuda_blocks(n, ADAM_THREADS), ADAM_THREADS, 0, cuda_stream()>>>(
        param, grad, m, v, n, beta1, beta2, 1.0f - beta1, 1.0f - beta2, eps, weight_decay, bc2_sqrt,
        step_size);
    CUDA_LAUNCH_CHECK();
}
