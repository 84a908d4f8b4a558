#include "adam.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "nn/ops.h"

void adam_init(Adam *a, size_t n, float lr, float beta1, float beta2, float eps, float weight_decay) {
    *a = (Adam){.lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay, .n = n};
    a->m = am_aligned_alloc(n * sizeof(float), "adam first moment");
    a->v = am_aligned_alloc(n * sizeof(float), "adam second moment");
}

void adam_free(Adam *a) {
    free(a->m);
    free(a->v);
    *a = (Adam){0};
}

void adam_step(Adam *a, float *param, const float *grad) {
    a->t++;
    const float b1 = a->beta1, b2 = a->beta2, wd = a->weight_decay, eps = a->eps;
    const float bc1 = 1.0f - powf(b1, (float)a->t);
    const float bc2_sqrt = sqrtf(1.0f - powf(b2, (float)a->t));
    const float step_size = a->lr / bc1;
    float *m = a->m, *v = a->v;
    const ptrdiff_t n = (ptrdiff_t)a->n;
#pragma omp parallel for simd schedule(static)
    for (ptrdiff_t i = 0; i < n; i++) {
        const float g = grad[i] + wd * param[i];
        m[i] = m[i] * b1 + (1.0f - b1) * g;
        v[i] = v[i] * b2 + (1.0f - b2) * g * g;
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] -= step_size * (m[i] / denom);
    }
}

float clip_grad_norm(float *grad, size_t n, float max_norm) {
    const float norm = (float)sqrt(op_sumsq(grad, n));
    const float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f) op_scale(grad, coef, n);
    return norm;
}
