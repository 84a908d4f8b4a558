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
#include "nn/ops_cpu.h"

#define PAR_BH(B, H, L, D) \
    if ((size_t)(B) * (H) * (L) * (L) * (D) >= (size_t)CPU_PAR_MIN && (size_t)(B) * (H) > 1)

// PyTorch multiplies float scores by the Python double 1/sqrt(D) rounded to float.
static inline float attn_scale(int D) { return (float)(1.0 / sqrt((double)D)); }

static void check_shape(const char *what, int B, int L, int H, int D) {
    CHECK(B >= 0 && L > 0 && H > 0 && D > 0, "%s: bad shape B %d L %d H %d D %d", what, B, L, H,
          D);
}

// o[0..D) = sum_j w[j] row_j with row_j at base + j*stride. 32-wide column
// chunks accumulate in vector registers (two alternating j chains); summing
// into o itself would serialise on store-to-load forwarding.
static inline void weighted_rows(float *o, const float *w, const float *base, int L, int D,
                                 size_t stride) {
    int d0 = 0;
    for (; d0 + 32 <= D; d0 += 32) {
        cpu_v16 a0 = {0}, a1 = {0}, c0 = {0}, c1 = {0};
        int j = 0;
        for (; j + 2 <= L; j += 2) {
            const float *r0 = base + (size_t)j * stride + d0, *r1 = r0 + stride;
            a0 += w[j] * cpu_ld16(r0);
            a1 += w[j] * cpu_ld16(r0 + 16);
            c0 += w[j + 1] * cpu_ld16(r1);
            c1 += w[j + 1] * cpu_ld16(r1 + 16);
        }
        if (j < L) {
            const float *r0 = base + (size_t)j * stride + d0;
            a0 += w[j] * cpu_ld16(r0);
            a1 += w[j] * cpu_ld16(r0 + 16);
        }
        cpu_st16(o + d0, a0 + c0);
        cpu_st16(o + d0 + 16, a1 + c1);
    }
    for (; d0 < D; d0++) {
        float a = 0.0f;
        for (int j = 0; j < L; j++) a += w[j] * base[(size_t)j * stride + d0];
        o[d0] = a;
    }
}

// p = softmax(scale q_i . k_j over j), o_i = p V for one query of one head.
static inline void attend_row(float *o, float *p, const float *qi, const float *kb,
                              const float *vb, int L, int D, size_t HD, float scale) {
    for (int j = 0; j < L; j++) p[j] = cpu_dot(qi, kb + (size_t)j * HD, D) * scale;
    cpu_softmax_row(p, L);
    weighted_rows(o, p, vb, L, D, HD);
}

// Backward of softmax attention of one head for nq query rows: row t is query
// rows[t] (or t when rows is NULL) with probabilities P[t, 0..L).
//   ds[t, j] = P[t, j] (dO_t . v_j - sum_j' P[t, j'] dO_t . v_j') * scale
//   dq_t += sum_j ds[t, j] k_j;  dk_j += sum_t ds[t, j] q_t;
//   dv_j += sum_t P[t, j] dO_t (+ extra[0..D) when extra is not NULL)
// Workspace: DS [nq, L], acc [D]. The dk/dv sums run per key row j with the
// row in vector registers (one read-modify-write of dk_j and dv_j in all).
static void head_backward(float *dqb, float *dkb, float *dvb, const float *dyb, const float *qb,
                          const float *kb, const float *vb, const float *P, const int32_t *rows,
                          int nq, const float *extra, float *DS, float *acc, int L, int D,
                          size_t HD, float scale) {
    for (int t = 0; t < nq; t++) {
        size_t io = (size_t)(rows ? rows[t] : t) * HD;
        const float *p = P + (size_t)t * L, *dyi = dyb + io;
        float *ds = DS + (size_t)t * L, s = 0.0f;
        for (int j = 0; j < L; j++) {
            ds[j] = cpu_dot(dyi, vb + (size_t)j * HD, D);
            s += p[j] * ds[j];
        }
        for (int j = 0; j < L; j++) ds[j] = p[j] * (ds[j] - s) * scale;
        if (dqb) {
            float *dqi = dqb + io;
            weighted_rows(acc, ds, kb, L, D, HD);
            for (int d = 0; d < D; d++) dqi[d] += acc[d];
        }
    }
    if (!dkb && !dvb) return;
    for (int j = 0; j < L; j++) {
        float *dkj = dkb ? dkb + (size_t)j * HD : NULL, *dvj = dvb ? dvb + (size_t)j * HD : NULL;
        int d0 = 0;
        for (; d0 + 16 <= D; d0 += 16) {
            if (dkj) {
                cpu_v16 a = cpu_ld16(dkj + d0);
                for (int t = 0; t < nq; t++)
                    a += DS[(size_t)t * L + j] * cpu_ld16(qb + (size_t)(rows ? rows[t] : t) * HD + d0);
                cpu_st16(dkj + d0, a);
            }
            if (dvj) {
                cpu_v16 a = cpu_ld16(dvj + d0);
                if (extra) a += cpu_ld16(extra + d0);
                for (int t = 0; t < nq; t++)
                    a += P[(size_t)t * L + j] * cpu_ld16(dyb + (size_t)(rows ? rows[t] : t) * HD + d0);
                cpu_st16(dvj + d0, a);
            }
        }
        for (; d0 < D; d0++) {
            float ak = 0.0f, av = extra ? extra[d0] : 0.0f;
            for (int t = 0; t < nq; t++) {
                size_t io = (size_t)(rows ? rows[t] : t) * HD + d0;
                ak += DS[(size_t)t * L + j] * qb[io];
                av += P[(size_t)t * L + j] * dyb[io];
            }
            if (dkj) dkj[d0] += ak;
            if (dvj) dvj[d0] += av;
        }
    }
}

// ---------------------------------------------------------------- full attention

void cpu_op_attention_forward(float *out, float *probs, const float *q, const float *k,
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

void cpu_op_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                           const float *q, const float *k, const float *v, const float *probs,
                           int B, int L, int H, int D) {
    check_shape("attention", B, L, H, D);
    if (!dq && !dk && !dv) return;
    size_t HD = (size_t)H * D, stride;
    float scale = attn_scale(D);
    // Per thread: DS [L, L], acc [D].
    float *work = cpu_thread_scratch(0, (size_t)L * L + (size_t)D, &stride);
#pragma omp parallel for collapse(2) schedule(static) PAR_BH(B, H, L, D)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            float *ds = work + (size_t)omp_get_thread_num() * stride, *acc = ds + (size_t)L * L;
            size_t base = (size_t)b * L * HD + (size_t)h * D;
            head_backward(dq ? dq + base : NULL, dk ? dk + base : NULL, dv ? dv + base : NULL,
                          dout + base, q + base, k + base, v + base,
                          probs + ((size_t)b * H + h) * L * L, NULL, L, NULL, ds, acc, L, D, HD,
                          scale);
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

void cpu_op_probsparse_attention_forward(float *out, float *probs, int32_t *top_idx,
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
    // Per thread: M [L] (double, first so it is aligned), then ones [L].
    float *work = cpu_thread_scratch(0, 3 * (size_t)L, &stride);
#pragma omp parallel for collapse(2) schedule(static) PAR_BH(B, H, L, D)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            double *m = (double *)(work + (size_t)omp_get_thread_num() * stride);
            float *ones = (float *)(m + L);
            size_t base = (size_t)b * L * HD + (size_t)h * D;
            const float *qb = q + base, *kb = k + base, *vb = v + base;
            float *ob = out + base;
            int32_t *top = top_idx + ((size_t)b * H + h) * n_top;

            // Sparsity measure from the sampled (unscaled) float scores, as torch's
            // float matmul; max and sum are combined in double.
            if (n_top > 0) {
                for (int i = 0; i < L; i++) {
                    const float *qi = qb + (size_t)i * HD;
                    const int32_t *si = sample_idx + (size_t)i * n_sample;
                    double mx = -INFINITY, sum = 0.0;
                    for (int j = 0; j < n_sample; j++) {
                        double s = cpu_dot(qi, kb + (size_t)si[j] * HD, D);
                        mx = s > mx ? s : mx;
                        sum += s;
                    }
                    m[i] = mx - sum * inv_L;
                }
                select_top(top, m, L, n_top);
            }

            // Lazy queries: the mean of V over all positions (float sum / L, as torch .mean).
            for (int j = 0; j < L; j++) ones[j] = 1.0f;
            weighted_rows(ob, ones, vb, L, D, HD);
            for (int d = 0; d < D; d++) ob[d] /= (float)L;
            for (int i = 1; i < L; i++) memcpy(ob + (size_t)i * HD, ob, (size_t)D * sizeof *ob);

            // Active queries: full attention over all keys.
            float *pb = probs + ((size_t)b * H + h) * (size_t)n_top * L;
            for (int t = 0; t < n_top; t++) {
                size_t io = (size_t)top[t] * HD;
                attend_row(ob + io, pb + (size_t)t * L, qb + io, kb, vb, L, D, HD, scale);
            }
        }
    }
}

void cpu_op_probsparse_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                      const float *q, const float *k, const float *v,
                                      const float *probs, const int32_t *top_idx, int n_top,
                                      int B, int L, int H, int D) {
    check_shape("probsparse attention", B, L, H, D);
    if (!dq && !dk && !dv) return;
    size_t HD = (size_t)H * D, stride;
    float scale = attn_scale(D);
    // Per thread: DS [n_top, L], lazy weights [L], acc [D], mean-path gradient [D].
    float *work = cpu_thread_scratch(0, ((size_t)n_top + 1) * L + 2 * (size_t)D, &stride);
#pragma omp parallel for collapse(2) schedule(static) PAR_BH(B, H, L, D)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            float *ds = work + (size_t)omp_get_thread_num() * stride;
            float *lazy = ds + (size_t)n_top * L, *acc = lazy + L, *gm = acc + D;
            size_t base = (size_t)b * L * HD + (size_t)h * D;
            const int32_t *top = top_idx + ((size_t)b * H + h) * n_top;

            // Mean path: each lazy query's gradient reaches every v_j with weight 1/L.
            if (dv) {
                for (int i = 0; i < L; i++) lazy[i] = 1.0f;
                for (int t = 0; t < n_top; t++) lazy[top[t]] = 0.0f;
                weighted_rows(gm, lazy, dout + base, L, D, HD);
                for (int d = 0; d < D; d++) gm[d] /= (float)L;
            }
            // Active queries: softmax attention backward with top_idx held fixed.
            head_backward(dq ? dq + base : NULL, dk ? dk + base : NULL, dv ? dv + base : NULL,
                          dout + base, q + base, k + base, v + base,
                          probs + ((size_t)b * H + h) * (size_t)n_top * L, top, n_top,
                          dv ? gm : NULL, ds, acc, L, D, HD, scale);
        }
    }
}
