// Trimodal CLIP loss of AstroM3, computed for this rank's rows of the global
// similarity matrices ("local loss with gathered features").
//
// Inputs are the L2-normalised embeddings of the whole global batch
// P, S, M [n_global, dim]; this rank owns rows row0 .. row0+b-1. For each pair
// (ps: P,S), (sm: S,M), (mp: M,P) with scale s = clamp(exp(log_scale), 1, 100):
//   dir 1: logits = s * A_own B^T  [b, n_global], CE against labels row0 + i
//   dir 2: logits = s * B_own A^T  [b, n_global], CE against labels row0 + i
// pair loss = mean CE dir 1 + mean CE dir 2 (means over the b own rows), total =
// sum of the pairs. Pre-training on fewer modalities (a survey without spectra)
// keeps only the pairs whose two modalities are in mod_mask (clip_loss_set_modalities;
// default all three): the others add no loss, no gradient and no vote to the
// accuracy. With one rank (row0 = 0, b = n_global) this is exactly
// the reference loss. With W ranks, the gradients for *all* rows are returned:
// summing them over ranks (reduce-scatter) and averaging parameter gradients
// (all-reduce mean) reproduces the single-process gradient.
#ifndef ASTROMM_CLIP_H
#define ASTROMM_CLIP_H

#include <stdint.h>

enum { CLIP_PS = 0, CLIP_SM = 1, CLIP_MP = 2 };

typedef struct {
    int max_local, max_global, dim;
    int n_global, row0, b;
    float *dots[3][2];   // unscaled A_own . B^T per pair and direction [b, n_global]
    float *probs[3][2];  // softmax rows
    float *work;         // [b, n_global]
    int32_t *labels;     // [b] on the op device
    int32_t *host_labels;
    float scale[3];      // clamped exp(log_scale)
    int scale_live[3];   // 1 when the clamp is inactive (gradient flows)
    const float *emb[3]; // P, S, M of the last forward
    float loss_pair[3], loss;
    int mod_mask;        // modalities (bits 1 << MOD_*: P 1, S 2, M 4) whose pairs count
} ClipLoss;

void clip_loss_init(ClipLoss *c, int max_local, int max_global, int dim);
void clip_loss_free(ClipLoss *c);
// Only the pairs among the modalities of mask (at least two of P 1, S 2, M 4).
void clip_loss_set_modalities(ClipLoss *c, int mask);
// 1 when pair p (CLIP_PS, CLIP_SM, CLIP_MP) counts.
int clip_pair_active(const ClipLoss *c, int p);
// Returns the total loss of the own rows.
float clip_loss_forward(ClipLoss *c, const float *P, const float *S, const float *M,
                        int n_global, int row0, int b, const float log_scale[3]);
// Accumulates dP, dS, dM [n_global, dim] and dlog_scale[3] (any may be NULL).
void clip_loss_backward(ClipLoss *c, float *dP, float *dS, float *dM, float *dlog_scale);
// Number of own rows whose averaged (over directions and pairs) softmax row
// peaks on the diagonal: AstroM3's "CLIP accuracy" numerator.
int clip_loss_correct(const ClipLoss *c);

// clamp(exp(s), 1, 100) as the reference; *live = 1 where the gradient passes
// (PyTorch clamp passes gradient on the closed interval).
float clip_logit_scale(float log_scale, int *live);

#endif
