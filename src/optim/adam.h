// Adam exactly as torch.optim.Adam (L2 weight decay added to the gradient,
// bias-corrected moments), AdamW exactly as torch.optim.AdamW (decoupled weight
// decay), and global-norm gradient clipping as torch.nn.utils.clip_grad_norm_.
#ifndef ASTROMM_ADAM_H
#define ASTROMM_ADAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    size_t n;
    int64_t t;      // steps taken
    float *m, *v;   // first and second moments [n], on the current device (ops_alloc)
    int decoupled;  // 0: Adam (wd * param added to the gradient); 1: AdamW (see adamw_init)
} Adam;

// Adam with L2 weight decay (the AstroM3 reference recipe). Moments start at zero.
void adam_init(Adam *a, size_t n, float lr, float beta1, float beta2, float eps, float weight_decay);
// AdamW: each step first shrinks the parameters, p *= 1 - lr * weight_decay (the
// factor computed in double, like torch's Python-float arithmetic), then applies
// the Adam update with no weight decay in the gradient. Why separate: with
// adaptive moments, L2 decay is rescaled per parameter by 1/sqrt(v); decoupled
// decay shrinks every weight at the same rate (Loshchilov & Hutter 2019).
// lr may be changed between steps (schedules); the decay uses the current lr.
void adamw_init(Adam *a, size_t n, float lr, float beta1, float beta2, float eps, float weight_decay);
void adam_free(Adam *a);
// One step over n parameters; param, grad on the current device.
void adam_step(Adam *a, float *param, const float *grad);
// One step over the float ranges [off, off + len) only (the rest of param and of
// the moments untouched: frozen tensors, or tensors a classifier never uses).
void adam_step_ranges(Adam *a, float *param, const float *grad, const size_t (*ranges)[2], int n_ranges);
// The same with range r at lr * lr_scale[r] (layer-wise learning-rate decay;
// NULL: every range at lr); the decoupled decay uses the scaled lr too, as a
// torch parameter group with its own lr.
void adam_step_ranges_scaled(Adam *a, float *param, const float *grad, const size_t (*ranges)[2],
                             const float *lr_scale, int n_ranges);
// Scales grad in place when its global L2 norm exceeds max_norm; returns the norm
// before clipping.
float clip_grad_norm(float *grad, size_t n, float max_norm);

#endif
