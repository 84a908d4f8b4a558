// Adam exactly as torch.optim.Adam (L2 weight decay added to the gradient,
// bias-corrected moments), and global-norm gradient clipping as
// torch.nn.utils.clip_grad_norm_.
#ifndef ASTROMM_ADAM_H
#define ASTROMM_ADAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    size_t n;
    int64_t t;     // steps taken
    float *m, *v;  // first and second moments [n]
} Adam;

void adam_init(Adam *a, size_t n, float lr, float beta1, float beta2, float eps, float weight_decay);
void adam_free(Adam *a);
void adam_step(Adam *a, float *param, const float *grad);
// Scales grad in place when its global L2 norm exceeds max_norm; returns the norm
// before clipping.
float clip_grad_norm(float *grad, size_t n, float max_norm);

#endif
