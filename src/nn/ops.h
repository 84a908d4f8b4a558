// The op interface: every model is written once against these functions.
//
// Conventions (all ops):
//  * Tensors are plain float arrays, row-major, shapes given by the arguments.
//  * Forward writes (=) its outputs.
//  * Backward ACCUMULATES (+=) into every gradient it produces, so tensors used
//    twice (residuals, shared inputs) just work; callers zero gradient buffers
//    once per step. Any gradient pointer may be NULL when it is not wanted.
//  * Ops never allocate in steady state: temporary space comes from
//    ops_scratch(), a grow-only per-slot workspace.
//  * Every op_* here is implemented twice: cpu_op_* in src/cpu/ (OpenBLAS +
//    OpenMP) and cuda_op_* in cuda/ (device pointers). src/nn/ops_dispatch.c
//    routes each call to the current device; ops_cpu.h, cuda/ops_cuda.h and the
//    dispatch are generated from this file by scripts/gen_ops_dispatch.py.
//  * Pointers, index arrays included, live on the current device (ops_alloc);
//    use ops_to_device / ops_to_host to move data.
#ifndef ASTROMM_OPS_H
#define ASTROMM_OPS_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "core/rng.h"

// ---------------------------------------------------------------- runtime (ops_runtime.c)
// threads <= 0 keeps OpenMP/OpenBLAS defaults. Selects the CPU device.
void ops_init(int threads);
int ops_num_threads(void);
typedef enum { OPS_CPU = 0, OPS_CUDA = 1 } OpsDevice;
// Where tensors live and ops run, chosen once before anything is allocated.
// Asking for CUDA in a build without it, or without a usable GPU, is a fatal
// error that says so.
void ops_set_device(OpsDevice dev, int gpu_index);
OpsDevice ops_device(void);
const char *ops_device_name(void);
int ops_cuda_available(void);  // 1 when this build has CUDA and a GPU is usable
int ops_cuda_device_count(void);  // GPUs this process can see (0 without CUDA or a GPU)
// The 16-byte UUID of the current CUDA device (tells GPUs apart across
// processes whatever CUDA_VISIBLE_DEVICES says); 0 on success, -1 off CUDA.
int ops_cuda_device_uuid(unsigned char uuid[16]);
// 1 when p points into memory of the CUDA device (the communication layer
// routes device buffers to NCCL, host buffers to MPI); 0 for host memory and
// always 0 on the CPU device.
int ops_is_device_ptr(const void *p);
// Arithmetic of the GEMMs (linear, conv1d) on the CUDA device: FP32 (default;
// matches the CPU path to float rounding), TF32 tensor cores (fp32 in and out,
// 10-bit mantissa products), or BF16 (inputs rounded to bfloat16, fp32
// accumulation and output; weights, activations and optimizer stay fp32).
// The CPU device always computes in FP32: asking it for TF32/BF16 is a fatal
// error. ASTROMM_TF32=1 in the environment starts CUDA in TF32.
typedef enum { OPS_FP32 = 0, OPS_TF32 = 1, OPS_BF16 = 2 } OpsPrecision;
void ops_set_precision(OpsPrecision p);
OpsPrecision ops_precision(void);
const char *ops_precision_name(OpsPrecision p);
// Zeroed memory on the current device (never NULL: dies naming `what`).
void *ops_alloc(size_t bytes, const char *what);
void ops_free(void *p);
void ops_to_device(void *dst, const void *src_host, size_t bytes);
void ops_to_host(void *dst_host, const void *src, size_t bytes);
void ops_synchronize(void);
// Workspace slot `slot` (0..7) holding at least n floats; contents undefined.
// Valid until the next ops_scratch call on the same slot. Ops use slots 0..3;
// models and losses use 4..7.
float *ops_scratch(int slot, size_t n);
void ops_zero(float *x, size_t n);
// Per-op profile (src/nn/ops_profile.c), off by default: while enabled, every
// op_* call is timed alone, the device synchronised before and after it, and
// host<->device copies are counted, so the table says where a step's time
// goes (it slows the step: profile separate steps from timed ones).
extern int ops_profiling;
void ops_profile_enable(int on);
void ops_profile_reset(void);
double ops_profile_begin(void);
void ops_profile_end(int op_id, const char *name, double t0);
void ops_profile_copy(size_t bytes);
int ops_profile_slots(void);  // number of op_* entry points (generated)
// Prints the table (ops by total time, calls, share; copies) over `steps` steps.
void ops_profile_report(FILE *out, int steps);

// ---------------------------------------------------------------- linear
// out[n,o] = sum_i in[n,i] * w[o,i] + b[o]          (b may be NULL)
// w is [out_dim, in_dim] exactly as torch.nn.Linear stores it.
void op_linear_forward(float *out, const float *in, const float *w, const float *b,
                       int n, int in_dim, int out_dim);
// din[n,i] += sum_o dout[n,o] w[o,i];  dw[o,i] += sum_n dout[n,o] in[n,i];
// db[o] += sum_n dout[n,o]
void op_linear_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int n, int in_dim, int out_dim);

// ---------------------------------------------------------------- conv1d
// Channels-first like torch.nn.Conv1d: in [B, C_in, L], w [C_out, C_in, K],
// b [C_out] (may be NULL), out [B, C_out, L_out], stride 1,
// L_out = L + 2*pad - K + 1. PAD_CIRCULAR wraps (x[-1] = x[L-1]) as
// padding_mode='circular'; PAD_ZEROS pads with zeros.
typedef enum { PAD_ZEROS = 0, PAD_CIRCULAR = 1 } PadMode;
static inline int conv1d_out_len(int L, int K, int pad) { return L + 2 * pad - K + 1; }
void op_conv1d_forward(float *out, const float *in, const float *w, const float *b,
                       int B, int C_in, int L, int C_out, int K, int pad, PadMode mode);
void op_conv1d_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w,
                        int B, int C_in, int L, int C_out, int K, int pad, PadMode mode);

// ---------------------------------------------------------------- conv2d (images)
// Images and feature maps are channels-last, x[b, y, x, c] as [B, H, W, C], so
// that ConvNeXt's LayerNorm and pointwise MLP are plain row ops over C. Weights
// keep torch.nn.Conv2d's layout [C_out, C_in / groups, K, K], so state dicts
// load unchanged. The CUDA backend runs both convolutions through cuDNN.
//
// Patch convolution, kernel = stride = p, no padding (ConvNeXt's stem and its
// downsampling layers): in [B, H, W, C_in] -> out [B, H/p, W/p, C_out]; H and W
// are multiples of p. w [C_out, C_in, p, p], b [C_out] (may be NULL).
void op_patch_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                             int B, int H, int W, int C_in, int C_out, int p);
void op_patch_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                              const float *in, const float *w, int B, int H, int W, int C_in,
                              int C_out, int p);
// Depthwise convolution (groups = C), K x K (K odd), stride 1, zero padding
// K/2 (same size): in, out [B, H, W, C], w [C, 1, K, K], b [C] (may be NULL).
void op_dwconv2d_forward(float *out, const float *in, const float *w, const float *b, int B,
                         int H, int W, int C, int K);
void op_dwconv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                          const float *w, int B, int H, int W, int C, int K);
// Per-channel scale (ConvNeXt's layer scale): out[n, c] = in[n, c] * g[c];
// backward din += dout * g, dg += sum_n dout * in.
void op_channel_scale_forward(float *out, const float *in, const float *g, int N, int C);
void op_channel_scale_backward(float *din, float *dg, const float *dout, const float *in,
                               const float *g, int N, int C);
// Mean over the middle dimension (global average pooling of [B, H*W, C]):
// out [B, C] = mean_l in[b, l, c]; backward din[b, l, c] += dout[b, c] / L.
void op_mean_pool_forward(float *out, const float *in, int B, int L, int C);
void op_mean_pool_backward(float *din, const float *dout, int B, int L, int C);
// Drop path (stochastic depth, torchvision mode "row"): sample b's n_per
// values are all kept and scaled by 1/(1-p) when am_rng_uniform(rng, offset+b)
// >= p, else zeroed. p == 0 copies. out == in is allowed.
void op_drop_path_forward(float *out, const float *in, int B, size_t n_per, float p,
                          const AmRng *rng, uint64_t offset);
void op_drop_path_backward(float *din, const float *dout, int B, size_t n_per, float p,
                           const AmRng *rng, uint64_t offset);

// ---------------------------------------------------------------- layout
// out[b,j,i] = in[b,i,j]  for in [B, M, N]; backward: din[b,i,j] += dout[b,j,i]
void op_transpose_forward(float *out, const float *in, int B, int M, int N);
void op_transpose_backward(float *din, const float *dout, int B, int M, int N);

// Row gather/scatter for sparse work: out[r, :] = in[rows[r], :] for r < n_rows;
// scatter-add: out[rows[r], :] += in[r, :], repeated rows allowed (summed in r
// order, so the result does not depend on the thread count).
void op_gather_rows(float *out, const float *in, const int32_t *rows, int n_rows, int C);
void op_scatter_add_rows(float *out, const float *in, const int32_t *rows, int n_rows, int C);
// x[rows[r], :] = 0
void op_zero_rows(float *x, const int32_t *rows, int n_rows, int C);

// ---------------------------------------------------------------- pooling
// Rows of length L pooled with kernel = stride = k (floor, like MaxPool1d(k)):
// in [R, L] -> out [R, L/k]; argmax [R, L/k] records the winning position in
// the row (first maximum on ties, as PyTorch).
void op_maxpool1d_forward(float *out, int32_t *argmax, const float *in, int R, int L, int k);
void op_maxpool1d_backward(float *din, const float *dout, const int32_t *argmax,
                           int R, int L, int k);

// ---------------------------------------------------------------- normalisation
// LayerNorm over the last dim C (biased variance as PyTorch; eps 1e-5 is
// nn.LayerNorm's default, ConvNeXt uses 1e-6). mean and rstd [N] are saved for
// backward.
void op_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                          const float *w, const float *b, int N, int C, float eps);
void op_layernorm_backward(float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *mean, const float *rstd,
                           const float *w, int N, int C);
// Row-wise L2 normalisation like F.normalize(dim=-1, eps=1e-12):
// out = in / max(||in||, eps); norm [N] saved (the clamped norm).
void op_l2norm_forward(float *out, float *norm, const float *in, int N, int C);
void op_l2norm_backward(float *din, const float *dout, const float *out, const float *norm,
                        int N, int C);

// ---------------------------------------------------------------- elementwise
// GELU, exact erf form: 0.5 x (1 + erf(x / sqrt 2)), as nn.GELU().
void op_gelu_forward(float *out, const float *in, size_t n);
void op_gelu_backward(float *din, const float *dout, const float *in, size_t n);
// g[i] *= GELU'(in[i]) in place: the backward for a gradient buffer that may be
// overwritten (no zeroed destination, one pass).
void op_gelu_backward_inplace(float *g, const float *in, size_t n);
void op_relu_forward(float *out, const float *in, size_t n);
// Uses the forward input (or output: same sign pattern).
void op_relu_backward(float *din, const float *dout, const float *in, size_t n);
// g[i] = 0 where a[i] <= 0 (ReLU backward in place, a = the ReLU output).
void op_relu_mask_inplace(float *g, const float *a, size_t n);
// Inverted dropout. Element i (0..n) is kept when am_rng_uniform(rng, offset+i) >= p
// and then scaled by 1/(1-p). p == 0 copies. out == in is allowed.
// keep_bits (may be NULL): forward stores the mask, bit i%8 of byte i/8 (n/8
// rounded up bytes); backward reads it instead of regenerating the mask from
// (rng, offset), which gives the same bits, only slower.
void op_dropout_forward(float *out, const float *in, size_t n, float p,
                        const AmRng *rng, uint64_t offset, uint8_t *keep_bits);
void op_dropout_backward(float *din, const float *dout, size_t n, float p,
                         const AmRng *rng, uint64_t offset, const uint8_t *keep_bits);
// x *= mask / (1-p) in place, the mask read from keep_bits when given, else
// regenerated: dropout's backward for a gradient buffer that may be overwritten
// (no zeroed destination, no extra pass).
void op_dropout_mask_inplace(float *x, size_t n, float p, const AmRng *rng, uint64_t offset,
                             const uint8_t *keep_bits);
// x[b, l, c] *= mask[b, l]  (x [B, L, C]); backward din += dout * mask
void op_mask_rows_forward(float *out, const float *in, const float *mask, int B, int L, int C);
void op_mask_rows_backward(float *din, const float *dout, const float *mask, int B, int L, int C);
// y += alpha * x
void op_axpy(float *y, float alpha, const float *x, size_t n);
// y = a + b
void op_add(float *y, const float *a, const float *b, size_t n);
// y = x
void op_copy(float *y, const float *x, size_t n);
// sum of squares and dot product, accumulated in double, returned to the host
double op_sumsq(const float *x, size_t n);
double op_dot(const float *a, const float *b, size_t n);
void op_scale(float *x, float alpha, size_t n);

// ---------------------------------------------------------------- softmax / CE
// Row softmax over C: in [N, C] -> out [N, C]
void op_softmax_forward(float *out, const float *in, int N, int C);
// din += out * (dout - sum_c dout*out)
void op_softmax_backward(float *din, const float *dout, const float *out, int N, int C);
// Mean cross-entropy of logits [N, C] against labels [N]; probs [N, C] saved.
// Returns the mean loss. Labels outside [0, C) are a fatal error.
float op_cross_entropy_forward(float *probs, const float *logits, const int32_t *labels,
                               int N, int C);
// dlogits += dloss * (probs - onehot(labels)) / N
void op_cross_entropy_backward(float *dlogits, const float *probs, const int32_t *labels,
                               int N, int C, float dloss);

// ---------------------------------------------------------------- Dirichlet-multinomial (votes)
// Zoobot's head and loss. Concentrations alpha = 1 + 100 * sigmoid(logits), in
// (1, 101); backward dlogits += dalpha * 100 * s (1 - s), s = sigmoid(logits)
// recomputed in double (alpha in float has lost s where s < 1e-7).
void op_dirichlet_concentration_forward(float *alpha, const float *logits, size_t n);
void op_dirichlet_concentration_backward(float *dlogits, const float *dalpha,
                                         const float *logits, size_t n);
// Negative log-likelihood of vote counts under a Dirichlet-multinomial per
// question, summed over the questions: alpha, counts [B, A]; question q owns the
// answer columns first[q]..last[q] (inclusive, contiguous). For counts k (N = sum
// k) and alpha (a0 = sum alpha) of one question:
//   -log p = -lnG(N+1) + sum lnG(k+1) - lnG(a0) + lnG(N+a0) - sum [lnG(k+a) - lnG(a)]
// computed in double. A question with N == 0 (nobody was asked) contributes
// exactly 0. nll [B] receives each sample's sum. Counts must be finite and >= 0.
void op_dirichlet_multinomial_forward(float *nll, const float *alpha, const float *counts,
                                      const int32_t *first, const int32_t *last, int B, int A,
                                      int Q);
// dalpha[b, a] += dloss * (psi(N + a0) - psi(a0) - psi(k + a) + psi(a)): the
// gradient of dloss * sum_b nll[b]; exactly 0 for a question with N == 0.
void op_dirichlet_multinomial_backward(float *dalpha, const float *alpha, const float *counts,
                                       const int32_t *first, const int32_t *last, int B, int A,
                                       int Q, float dloss);

// ---------------------------------------------------------------- optimizer
// One torch.optim.Adam step (L2 weight decay added to the gradient, bias
// correction with step t >= 1) over n parameters; m and v are the moments.
void op_adam_step(float *param, const float *grad, float *m, float *v, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t t);

// ---------------------------------------------------------------- position encoding
// Fixed sinusoidal table pe [max_len, d] as Informer's PositionalEmbedding:
// pe[p, 2i] = sin(p * w_i), pe[p, 2i+1] = cos(p * w_i), w_i = exp(2i * -(ln 10000 / d)).
void op_sinusoid_table(float *pe, int max_len, int d);
// x[b, l, c] += pe[l, c] for x [B, L, C] (pe is fixed: no backward).
void op_add_position(float *x, const float *pe, int B, int L, int C);

// ---------------------------------------------------------------- attention
// q, k, v, out: [B, L, H*D] (heads interleaved as torch .view(B, L, H, D)).
// Scale 1/sqrt(D). No masking, no attention dropout.
//
// Full attention: probs [B, H, L, L] saved for backward.
void op_attention_forward(float *out, float *probs, const float *q, const float *k,
                          const float *v, int B, int L, int H, int D);
void op_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                           const float *q, const float *k, const float *v, const float *probs,
                           int B, int L, int H, int D);
//
// Informer ProbSparse attention (factor c, no mask), as ProbAttention:
//  * sample_idx [L, n_sample]: the sampled key indices per query, shared across
//    batch and heads (torch.randint(L_K, (L_Q, sample_k))).
//  * For each (b, h, query i): M = max_j(q_i . k_{s(i,j)}) - sum_j(q_i . k_{s(i,j)}) / L
//    (unscaled dot products).
//  * top_idx [B, H, n_top] receives the n_top queries with the largest M
//    (ties: lower index first). Those queries get softmax(q k^T / sqrt D) v over all
//    L keys; probs [B, H, n_top, L] saved. Every other query outputs mean(v) over L.
// The selection is piecewise constant, so backward treats top_idx as fixed.
void op_probsparse_attention_forward(float *out, float *probs, int32_t *top_idx,
                                     const float *q, const float *k, const float *v,
                                     const int32_t *sample_idx, int n_sample, int n_top,
                                     int B, int L, int H, int D);
void op_probsparse_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                      const float *q, const float *k, const float *v,
                                      const float *probs, const int32_t *top_idx, int n_top,
                                      int B, int L, int H, int D);
// u = factor * ceil(ln L), capped at L (both the sample count and n_top in Informer).
int probsparse_u(int factor, int L);
// sample_idx[i, j] = am_rng_below(rng, i*n_sample + j, L_K), drawn on the current
// device (the CUDA path runs the same Philox stream in a kernel: no host copy).
void probsparse_sample_keys(int32_t *sample_idx, int L_Q, int L_K, int n_sample,
                            const AmRng *rng);
// Row tables of a ProbSparse layer from its selected queries top_idx [B, H, u]
// (values in [0, L)). Every query no head selected gets the same context (the
// mean of V), so the out-projection needs one "stand-in" row per sample plus
// the selected rows, and only selected rows carry a query gradient. The layout
// is fixed per sample, so sizes never depend on the data and nothing goes
// through the host: sample b owns tab_rows[b*S .. b*S+S) and q_rows[b*Q .. b*Q+Q)
// with S = probsparse_table_stride(L, H, u), Q = probsparse_query_stride(L, H, u).
//   tab_rows: rows b*L+i in ascending i, each selected row and the first
//     unselected one (the stand-in); unused entries repeat the sample's first entry.
//   row_map[b*L + i]: the entry of tab_rows that row b*L+i reads (a selected row
//     its own, an unselected one the stand-in's).
//   q_rows: the selected rows b*L+i in ascending i; unused entries repeat the
//     stand-in row (whose query gradient is zero, so it adds exact zeros).
// Any output may be NULL (not computed).
void op_probsparse_row_tables(int32_t *tab_rows, int32_t *row_map, int32_t *q_rows,
                              const int32_t *top_idx, int B, int L, int H, int u);
static inline int probsparse_query_stride(int L, int H, int u) { return H * u < L ? H * u : L; }
static inline int probsparse_table_stride(int L, int H, int u) { return H * u + 1 < L ? H * u + 1 : L; }

#endif
