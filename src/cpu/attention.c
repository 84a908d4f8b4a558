// Multi-head attention without masks: full softmax attention and Informer's
// ProbSparse attention. q, k, v, out are [B, L, H*D]; head h of row (b, i)
// starts at ((b*L + i)*H + h)*D, so one head's rows are D floats apart by H*D.
// Work is split over (batch, head) pairs, which own disjoint slices of every
// output and gradient (no races, no atomics); the inner loops are short
// dot products and axpys over D.
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops.h"

#define PAR_BH(B, H, L, D) \
    if ((size_t)(B) * (H) * (L) * (L) * (D) >= (size_t)CPU_PAR_MIN && (size_t)(B) * (H) > 1)

// PyTorch multiplies float scores by the Python double 1/sqrt(D) rounded to float.
static inline float attn_scale(int D) { return (float)(1.0 / sqrt((double)D)); }

static void check_shape(const char *what, int B, int L, int H, int D) {
    CHECK(B >= 0 && L > 0 && H > 0 && D > 0, "%s: bad shape B %d L %d H %d D %d", what, B, L, H,
          D);
}

// o = sum_j p[j] v_j over the L rows of one head.
static inline void weighted_rows(float *o, const float *p, const float *vb, int L, int D,
                                 size_t HD) {
    for (int d = 0; d < D; d++) o[d] = 0.0f;
    for (int j = 0; j < L; j++) {
        const float *vj = vb + (size_t)j * HD;
        float pj = p[j];
#pragma omp simd
        for (int d = 0; d < D; d++) o[d] += pj * vj[d];
    }
}

// p = softmax(scale q_i . k_j over j), o_i = p V for one query of one head.
static inline void attend_row(float *o, float *p, const float *qi, const float *kb,
                              const float *vb, int L, int D, size_t HD, float scale) {
    for (int j = 0; j < L; j++) p[j] = cpu_dot(qi, kb + (size_t)j * HD, D) * scale;
    cpu_softmax_row(p, L);
    weighted_rows(o, p, vb, L, D, HD);
}

// Backward of attend_row for query row i; dp is L floats of workspace.
static inline void attend_row_backward(float *dqi, float *dkb, float *dvb, const float *dyi,
                                       const float *qi, const float *kb, const float *vb,
                                       const float *p, float *dp, int L, int D, size_t HD,
                                       float scale) {
    float s = 0.0f;
    for (int j = 0; j < L; j++) {
        dp[j] = cpu_dot(dyi, vb + (size_t)j * HD, D);
        s += p[j] * dp[j];
    }
    for (int j = 0; j < L; j++) {
        float ds = p[j] * (dp[j] - s) * scale;  // d loss / d (q_i . k_j)
        const float *kj = kb + (size_t)j * HD;
        if (dqi) {
#pragma omp simd
            for (int d = 0; d < D; d++) dqi[d] += ds * kj[d];
        }
        if (dkb) {
            float *dkj = dkb + (size_t)j * HD;
#pragma omp simd
            for (int d = 0; d < D; d++) dkj[d] += ds * qi[d];
        }
        if (dvb) {
            float *dvj = dvb + (size_t)j * HD;
            float pj = p[j];
#pragma omp simd
            for (int d = 0; d < D; d++) dvj[d] += pj * dyi[d];
        }
    }
}

// ---------------------------------------------------------------- full attention

void op_attention_forward(float *out, float *probs, const float *q, const float *k,
                          const float *v, int B, int L, int H, int D) {
    check_shape("attention", B, L, H, D);
    size_t HD = (size_t)H * D;
    float scale = attn_scale(D);
#pragma omp parallel for collapse(2) schedule(static) PAR_BH(B, H, L, D)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            size_t base = (size_t)b * L * HD + (size_t)h * D;
            float *pb = probs + ((size_t)b * H + h) * L * L;
            for (int i = 0; i < L; i++)
                attend_row(out + base + i * HD, pb + (size_t)i * L, q + base + i * HD, k + base,
                           v + base, L, D, HD, scale);
        }
    }
}

void op_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                           const float *q, const float *k, const float *v, const float *probs,
                           int B, int L, int H, int D) {
    check_shape("attention", B, L, H, D);
    if (!dq && !dk && !dv) return;
    size_t HD = (size_t)H * D, stride;
    float scale = attn_scale(D);
    float *work = cpu_thread_scratch(0, (size_t)L, &stride);
#pragma omp parallel for collapse(2) schedule(static) PAR_BH(B, H, L, D)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            float *dp = work + (size_t)omp_get_thread_num() * stride;
            size_t base = (size_t)b * L * HD + (size_t)h * D;
            const float *pb = probs + ((size_t)b * H + h) * L * L;
            for (int i = 0; i < L; i++)
                attend_row_backward(dq ? dq + base + i * HD : NULL, dk ? dk + base : NULL,
                                    dv ? dv + base : NULL, dout + base + i * HD,
                                    q + base + i * HD, k + base, v + base, pb + (size_t)i * L,
                                    dp, L, D, HD, scale);
        }
    }
}

// ---------------------------------------------------------------- ProbSparse attention

// Indices of the n_top largest m[0..L) into top[], largest first; on ties the
// lower index comes first (insertion with strict comparisons).
static void select_top(int32_t *top, const double *m, int L, int n_top) {
    int cnt = 0;
    for (int i = 0; i < L; i++) {
        double mi = m[i];
        int pos;
        if (cnt < n_top) {
            pos = cnt++;
        } else if (mi > m[top[n_top - 1]]) {
            pos = n_top - 1;
        } else {
            continue;
        }
        while (pos > 0 && m[top[pos - 1]] < mi) {
            top[pos] = top[pos - 1];
            pos--;
        }
        top[pos] = i;
    }
}

void op_probsparse_attention_forward(float *out, float *probs, int32_t *top_idx,
                                     const float *q, const float *k, const float *v,
                                     const int32_t *sample_idx, int n_sample, int n_top,
                                     int B, int L, int H, int D) {
    check_shape("probsparse attention", B, L, H, D);
    CHECK(n_top >= 0 && n_top <= L, "probsparse attention: n_top %d outside [0, L=%d]", n_top, L);
    CHECK(n_top == 0 || n_sample > 0, "probsparse attention: n_sample %d must be positive",
          n_sample);
    for (size_t e = 0; e < (size_t)L * (size_t)n_sample; e++)
        CHECK(sample_idx[e] >= 0 && sample_idx[e] < L,
              "probsparse attention: sample_idx[%zu] = %d outside [0, %d)", e, (int)sample_idx[e],
              L);
    size_t HD = (size_t)H * D, stride;
    float scale = attn_scale(D);
    double inv_L = 1.0 / (double)L;
    // Per thread: M [L] and the column sums [D] in double.
    float *work = cpu_thread_scratch(0, 2 * ((size_t)L + (size_t)D), &stride);
#pragma omp parallel for collapse(2) schedule(static) PAR_BH(B, H, L, D)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            double *m = (double *)(work + (size_t)omp_get_thread_num() * stride);
            double *acc = m + L;
            size_t base = (size_t)b * L * HD + (size_t)h * D;
            const float *qb = q + base, *kb = k + base, *vb = v + base;
            float *ob = out + base;
            int32_t *top = top_idx + ((size_t)b * H + h) * n_top;

            // Sparsity measure from the sampled (unscaled) scores.
            if (n_top > 0) {
                for (int i = 0; i < L; i++) {
                    const float *qi = qb + (size_t)i * HD;
                    const int32_t *si = sample_idx + (size_t)i * n_sample;
                    double mx = -INFINITY, sum = 0.0;
                    for (int j = 0; j < n_sample; j++) {
                        double s = cpu_dot_d(qi, kb + (size_t)si[j] * HD, D);
                        mx = s > mx ? s : mx;
                        sum += s;
                    }
                    m[i] = mx - sum * inv_L;
                }
                select_top(top, m, L, n_top);
            }

            // Lazy queries: the mean of V over all positions.
            for (int d = 0; d < D; d++) acc[d] = 0.0;
            for (int j = 0; j < L; j++) {
                const float *vj = vb + (size_t)j * HD;
#pragma omp simd
                for (int d = 0; d < D; d++) acc[d] += vj[d];
            }
            float *o0 = ob;
            for (int d = 0; d < D; d++) o0[d] = (float)(acc[d] * inv_L);
            for (int i = 1; i < L; i++) memcpy(ob + (size_t)i * HD, o0, (size_t)D * sizeof *o0);

            // Active queries: full attention over all keys.
            float *pb = probs + ((size_t)b * H + h) * (size_t)n_top * L;
            for (int t = 0; t < n_top; t++) {
                size_t io = (size_t)top[t] * HD;
                attend_row(ob + io, pb + (size_t)t * L, qb + io, kb, vb, L, D, HD, scale);
            }
        }
    }
}

void op_probsparse_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                      const float *q, const float *k, const float *v,
                                      const float *probs, const int32_t *top_idx, int n_top,
                                      int B, int L, int H, int D) {
    check_shape("probsparse attention", B, L, H, D);
    if (!dq && !dk && !dv) return;
    size_t HD = (size_t)H * D, stride;
    float scale = attn_scale(D);
    double inv_L = 1.0 / (double)L;
    // Per thread: column sums g [D] (double, first so it is aligned), then
    // dp [L], top flags [L] and g / L [D] as floats.
    float *work = cpu_thread_scratch(0, 3 * (size_t)D + 2 * (size_t)L, &stride);
#pragma omp parallel for collapse(2) schedule(static) PAR_BH(B, H, L, D)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            double *g = (double *)(work + (size_t)omp_get_thread_num() * stride);
            float *dp = (float *)(g + D), *is_top = dp + L, *gm = is_top + L;
            size_t base = (size_t)b * L * HD + (size_t)h * D;
            const float *qb = q + base, *kb = k + base, *vb = v + base, *dyb = dout + base;
            const int32_t *top = top_idx + ((size_t)b * H + h) * n_top;
            const float *pb = probs + ((size_t)b * H + h) * (size_t)n_top * L;

            // Mean path: every lazy query's gradient reaches each v_j with weight 1/L.
            if (dv) {
                for (int i = 0; i < L; i++) is_top[i] = 0.0f;
                for (int t = 0; t < n_top; t++) is_top[top[t]] = 1.0f;
                for (int d = 0; d < D; d++) g[d] = 0.0;
                for (int i = 0; i < L; i++) {
                    if (is_top[i] != 0.0f) continue;
                    const float *dyi = dyb + (size_t)i * HD;
#pragma omp simd
                    for (int d = 0; d < D; d++) g[d] += dyi[d];
                }
                for (int d = 0; d < D; d++) gm[d] = (float)(g[d] * inv_L);
                for (int j = 0; j < L; j++) {
                    float *dvj = dv + base + (size_t)j * HD;
#pragma omp simd
                    for (int d = 0; d < D; d++) dvj[d] += gm[d];
                }
            }

            // Active queries: softmax attention backward, top_idx held fixed.
            for (int t = 0; t < n_top; t++) {
                size_t io = (size_t)top[t] * HD;
                attend_row_backward(dq ? dq + base + io : NULL, dk ? dk + base : NULL,
                                    dv ? dv + base : NULL, dyb + io, qb + io, kb, vb,
                                    pb + (size_t)t * L, dp, L, D, HD, scale);
            }
        }
    }
}
