#include "optim/adam.h"

#include <math.h>

#include "core/error.h"
#include "nn/ops.h"

void adam_init(Adam *a, size_t n, float lr, float beta1, float beta2, float eps, float weight_decay) {
    *a = (Adam){.lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay, .n = n};
    a->m = ops_alloc(n * sizeof(float), "adam first moment");
    a->v = ops_alloc(n * sizeof(float), "adam second moment");
}

void adamw_init(Adam *a, size_t n, float lr, float beta1, float beta2, float eps, float weight_decay) {
    adam_init(a, n, lr, beta1, beta2, eps, weight_decay);
    a->decoupled = 1;
}

void adam_free(Adam *a) {
    ops_free(a->m);
    ops_free(a->v);
    *a = (Adam){0};
}

void adam_step(Adam *a, float *param, const float *grad) {
    const size_t all[1][2] = {{0, a->n}};
    adam_step_ranges(a, param, grad, all, 1);
}

void adam_step_ranges(Adam *a, float *param, const float *grad, const size_t (*ranges)[2], int n_ranges) {
    adam_step_ranges_scaled(a, param, grad, ranges, NULL, n_ranges);
}

void adam_step_ranges_scaled(Adam *a, float *param, const float *grad, const size_t (*ranges)[2],
                             const float *lr_scale, int n_ranges) {
    a->t++;
    const float base_lr = a->lr;
    for (int r = 0; r < n_ranges; r++) {
        const size_t off = ranges[r][0], n = ranges[r][1];
        a->lr = lr_scale ? base_lr * lr_scale[r] : base_lr;
        CHECK(off + n <= a->n, "adam: range [%zu, %zu) outside the %zu parameters", off, off + n, a->n);
        float *p = param + off, *m = a->m + off, *v = a->v + off;
        const float *g = grad + off;
        if (a->decoupled) {
            // torch.optim.AdamW: param.mul_(1 - lr * weight_decay) before the moments,
            // with lr and weight_decay Python floats (double) and the product rounded to
            // float when applied to a float32 tensor.
            if (a->weight_decay != 0.0f) {
                const float shrink = (float)(1.0 - (double)a->lr * (double)a->weight_decay);
                op_scale(p, shrink, n);
            }
            op_adam_step(p, g, m, v, n, a->lr, a->beta1, a->beta2, a->eps, 0.0f, a->t);
        } else {
            op_adam_step(p, g, m, v, n, a->lr, a->beta1, a->beta2, a->eps, a->weight_decay, a->t);
        }
    }
    a->lr = base_lr;
}

float clip_grad_norm(float *grad, size_t n, float max_norm) {
    const float norm = (float)sqrt(op_sumsq(grad, n));
    const float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f) op_scale(grad, coef, n);
    return norm;
}
