#include "loss/clip.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/modality.h"
#include "nn/ops.h"

static const int pair_a[3] = {0, 1, 2};  // ps: P,S  sm: S,M  mp: M,P
static const int pair_b[3] = {1, 2, 0};

float clip_logit_scale(float log_scale, int *live) {
    const float s = expf(log_scale);
    if (live) *live = s >= 1.0f && s <= 100.0f;
    return s < 1.0f ? 1.0f : (s > 100.0f ? 100.0f : s);
}

void clip_loss_init(ClipLoss *c, int max_local, int max_global, int dim) {
    CHECK(max_local >= 1 && max_global >= max_local && dim >= 1,
          "clip loss sizes: local %d, global %d, dim %d", max_local, max_global, dim);
    *c = (ClipLoss){.max_local = max_local, .max_global = max_global, .dim = dim, .mod_mask = MOD_MASK_ALL};
    const size_t n = (size_t)max_local * (size_t)max_global;
    for (int p = 0; p < 3; p++)
        for (int d = 0; d < 2; d++) {
            c->dots[p][d] = ops_alloc(n * sizeof(float), "clip logits");
            c->probs[p][d] = ops_alloc(n * sizeof(float), "clip probabilities");
        }
    c->work = ops_alloc(n * sizeof(float), "clip gradient");
    c->labels = ops_alloc((size_t)max_local * sizeof(int32_t), "clip labels");
    c->host_labels = am_malloc((size_t)max_local * sizeof(int32_t), "clip labels (host)");
}

void clip_loss_free(ClipLoss *c) {
    for (int p = 0; p < 3; p++)
        for (int d = 0; d < 2; d++) {
            ops_free(c->dots[p][d]);
            ops_free(c->probs[p][d]);
        }
    ops_free(c->work);
    ops_free(c->labels);
    free(c->host_labels);
    *c = (ClipLoss){0};
}

void clip_loss_set_modalities(ClipLoss *c, int mask) {
    const int bits = (mask & 1) + (mask >> 1 & 1) + (mask >> 2 & 1);
    CHECK(mask >= 0 && mask <= MOD_MASK_ALL && bits >= 2, "clip loss: modalities 0x%x: need at least two of P, S, M", mask);
    c->mod_mask = mask;
}

int clip_pair_active(const ClipLoss *c, int p) {
    return (c->mod_mask >> pair_a[p] & 1) && (c->mod_mask >> pair_b[p] & 1);
}

float clip_loss_forward(ClipLoss *c, const float *P, const float *S, const float *M,
                        int n_global, int row0, int b, const float log_scale[3]) {
    CHECK(b >= 1 && b <= c->max_local && n_global <= c->max_global && row0 >= 0 &&
              row0 + b <= n_global,
          "clip loss rows %d..%d of %d exceed its sizes (local %d, global %d)", row0, row0 + b,
          n_global, c->max_local, c->max_global);
    c->n_global = n_global;
    c->row0 = row0;
    c->b = b;
    c->emb[0] = P;
    c->emb[1] = S;
    c->emb[2] = M;
    for (int i = 0; i < b; i++) c->host_labels[i] = row0 + i;
    ops_to_device(c->labels, c->host_labels, (size_t)b * sizeof(int32_t));
    const size_t nb = (size_t)b * (size_t)n_global, D = (size_t)c->dim;
    c->loss = 0.0f;
    for (int p = 0; p < 3; p++) {
        c->scale[p] = clip_logit_scale(log_scale[p], &c->scale_live[p]);
        c->loss_pair[p] = 0.0f;
        if (!clip_pair_active(c, p)) continue;
        for (int dir = 0; dir < 2; dir++) {
            const float *own = c->emb[dir ? pair_b[p] : pair_a[p]] + (size_t)row0 * D;
            const float *all = c->emb[dir ? pair_a[p] : pair_b[p]];
            op_linear_forward(c->dots[p][dir], own, all, NULL, b, c->dim, n_global);
            op_copy(c->work, c->dots[p][dir], nb);
            op_scale(c->work, c->scale[p], nb);
            c->loss_pair[p] +=
                op_cross_entropy_forward(c->probs[p][dir], c->work, c->labels, b, n_global);
        }
        c->loss += c->loss_pair[p];
    }
    return c->loss;
}

void clip_loss_backward(ClipLoss *c, float *dP, float *dS, float *dM, float *dlog_scale) {
    float *grads[3] = {dP, dS, dM};
    const int b = c->b, n = c->n_global;
    const size_t nb = (size_t)b * (size_t)n, D = (size_t)c->dim;
    for (int p = 0; p < 3; p++) {
        if (!clip_pair_active(c, p)) continue;
        double dscale = 0.0;
        for (int dir = 0; dir < 2; dir++) {
            const int ia = dir ? pair_b[p] : pair_a[p], ib = dir ? pair_a[p] : pair_b[p];
            float *g = c->work;  // dloss/dlogits
            ops_zero(g, nb);
            op_cross_entropy_backward(g, c->probs[p][dir], c->labels, b, n, 1.0f);
            dscale += op_dot(g, c->dots[p][dir], nb);
            // logits = s * own . all^T: a linear layer with input own and weight all.
            op_scale(g, c->scale[p], nb);
            float *d_own = grads[ia] ? grads[ia] + (size_t)c->row0 * D : NULL;
            op_linear_backward(d_own, grads[ib], NULL, g, c->emb[ia] + (size_t)c->row0 * D,
                               c->emb[ib], b, c->dim, n);
        }
        // d/d log_scale of clamp(exp(ls)) = exp(ls) on the live interval = s there.
        if (dlog_scale && c->scale_live[p]) dlog_scale[p] += (float)(dscale * c->scale[p]);
    }
}

int clip_loss_correct(const ClipLoss *c) {
    const int b = c->b, n = c->n_global;
    const size_t nb = (size_t)b * (size_t)n;
    // Sum of the (six) probability matrices of the counted pairs, on the host (evaluation only).
    float *sum = am_calloc(nb, sizeof(float), "clip accuracy"), *tmp = am_malloc(nb * sizeof(float), "clip accuracy");
    for (int p = 0; p < 3; p++) {
        if (!clip_pair_active(c, p)) continue;
        for (int d = 0; d < 2; d++) {
            ops_to_host(tmp, c->probs[p][d], nb * sizeof(float));
            for (size_t k = 0; k < nb; k++) sum[k] += tmp[k];
        }
    }
    int correct = 0;
    for (int i = 0; i < b; i++) {
        int best = 0;
        for (int j = 1; j < n; j++)
            if (sum[(size_t)i * n + j] > sum[(size_t)i * n + best]) best = j;
        correct += best == c->row0 + i;
    }
    free(sum);
    free(tmp);
    return correct;
}
