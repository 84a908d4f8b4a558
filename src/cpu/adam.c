// Fused Adam step (torch.optim.Adam semantics) over flat parameter memory.
#include <math.h>

#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

void cpu_op_adam_step(float *param, const float *grad, float *m, float *v, size_t n, float lr,
                      float beta1, float beta2, float eps, float weight_decay, int64_t t) {
    // torch: denom = sqrt(v) / sqrt(1 - b2^t) + eps; param -= lr / (1 - b1^t) * m / denom
    const float bc1 = 1.0f - powf(beta1, (float)t);
    const float bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)t));
    const float step_size = lr / bc1;
    const ptrdiff_t nn = (ptrdiff_t)n;
#pragma omp parallel for simd schedule(static) if (n >= (size_t)CPU_PAR_MIN)
    for (ptrdiff_t i = 0; i < nn; i++) {
        const float g = grad[i] + weight_decay * param[i];
        m[i] = m[i] * beta1 + (1.0f - beta1) * g;
        v[i] = v[i] * beta2 + (1.0f - beta2) * g * g;
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] -= step_size * (m[i] / denom);
    }
}
