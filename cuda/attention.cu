// CUDA multi-head attention without masks: full softmax attention and Informer's
// ProbSparse attention (reference: src/cpu/attention.c). q, k, v, out are
// [B, L, H*D]; head h of row (b, i) starts at ((b*L + i)*H + h)*D.
//
// Every kernel runs one block (ATT_THREADS threads, ATT_WARPS warps) per
// (batch, head) pair -- the full-attention forward may split a head's queries
// over gridDim.y blocks -- and that block owns the head's slice of every output
// and gradient, so there are no atomics and results are deterministic.
// A head's K/V (and Q/dO) slices are staged in dynamic shared memory with an odd
// row pitch DP (conflict-free both across rows and across columns) when they
// fit under the device's opt-in limit; otherwise the SMEM=false instantiations
// read them from global memory (only the small per-warp buffers stay shared).
//
// Numerics follow the CPU where it is cheap to do so exactly: score dot products
// use cpu_dot's summation order with non-fused float ops (dot_cpu), so the
// ProbSparse sparsity measure M -- and hence top_idx -- is bit-identical to the
// CPU; the lazy-query mean uses weighted_rows' order; softmax uses a port of
// cpu_expf. Softmax sums and the backward reductions run in warp-tree order and
// differ from the CPU in the last bits.
#include <math.h>
#include <stdint.h>

#include "cuda/common.cuh"

#define ATT_THREADS 256
#define ATT_WARPS (ATT_THREADS / 32)

// ---------------------------------------------------------------- device helpers

// cpu_dot (src/cpu/cpu_util.h) exactly: 16 lane accumulators over full 16-blocks,
// the halving horizontal sum, then the scalar tail; separate (unfused) float
// multiply and add as the CPU build does (ISO C, -ffp-contract=off).
static __device__ __forceinline__ float dot_cpu(const float *a, const float *b, int n) {
    int i = 0;
    float s = 0.0f;
    if (n >= 16) {
        float acc[16];
#pragma unroll
        for (int l = 0; l < 16; l++) acc[l] = __fmul_rn(a[l], b[l]);
        for (i = 16; i + 16 <= n; i += 16) {
#pragma unroll
            for (int l = 0; l < 16; l++) acc[l] = __fadd_rn(acc[l], __fmul_rn(a[i + l], b[i + l]));
        }
        float s8[8], s4[4];
#pragma unroll
        for (int l = 0; l < 8; l++) s8[l] = __fadd_rn(acc[l], acc[l + 8]);
#pragma unroll
        for (int l = 0; l < 4; l++) s4[l] = __fadd_rn(s8[l], s8[l + 4]);
        s = __fadd_rn(__fadd_rn(s4[0], s4[2]), __fadd_rn(s4[1], s4[3]));
    }
    for (; i < n; i++) s = __fadd_rn(s, __fmul_rn(a[i], b[i]));
    return s;
}

// cpu_expf ported operation for operation (all IEEE fmaf / exact conversions).
static __device__ __forceinline__ float expf_cpu(float x) {
    const float log2e = 1.44269504088896341f;
    const float shifter = 12582912.0f;
    float xc = x < -87.5f ? -87.5f : (x > 88.0f ? 88.0f : x);
    float n = __fsub_rn(fmaf(xc, log2e, shifter), shifter);
    float r = fmaf(n, -0.693145751953125f, xc);
    r = fmaf(n, -1.428606765330187045e-06f, r);
    float p = 1.0f / 5040.0f;
    p = fmaf(p, r, 1.0f / 720.0f);
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    float s = __int_as_float(((int)n + 127) << 23);
    return x < -87.3f ? 0.0f : __fmul_rn(p, s);
}

// Column d of sum_j w[j] row_j (w NULL: all ones), rows at base + j*stride, in
// weighted_rows' order: columns below D32 = 32*(D/32) use two alternating
// chains (even / odd j) added at the end, the tail columns one chain.
static __device__ float colsum_cpu(const float *base, size_t stride, const float *w, int L, int d,
                                   int D32) {
    if (d < D32) {
        float a = 0.0f, c = 0.0f;
        int j = 0;
        for (; j + 2 <= L; j += 2) {
            float x0 = base[(size_t)j * stride + d], x1 = base[(size_t)(j + 1) * stride + d];
            a = __fadd_rn(a, w ? __fmul_rn(w[j], x0) : x0);
            c = __fadd_rn(c, w ? __fmul_rn(w[j + 1], x1) : x1);
        }
        if (j < L) {
            float x0 = base[(size_t)j * stride + d];
            a = __fadd_rn(a, w ? __fmul_rn(w[j], x0) : x0);
        }
        return __fadd_rn(a, c);
    }
    float a = 0.0f;
    for (int j = 0; j < L; j++) {
        float x = base[(size_t)j * stride + d];
        a = __fadd_rn(a, w ? __fmul_rn(w[j], x) : x);
    }
    return a;
}

// dst[j*DP + d] = src[j*stride + d] for one head's L x D slice (whole block).
static __device__ __forceinline__ void stage_rows(float *dst, const float *src, int L, int D,
                                                  size_t stride, int DP) {
    for (int e = threadIdx.x; e < L * D; e += blockDim.x) {
        int j = e / D, d = e - j * D;
        dst[(size_t)j * DP + d] = src[(size_t)j * stride + d];
    }
}

// One warp: p = softmax(scale * q_i . k_j over j < L) into prow (global) and
// o = p V. K/V rows are ks floats apart. qbuf [D] and pbuf [L] are this warp's
// shared buffers. Every lane must call it (warp-uniform control flow).
static __device__ void attend_row_warp(float *o, float *prow, const float *qi, const float *Kp,
                                       const float *Vp, size_t ks, int L, int D, float scale,
                                       float *qbuf, float *pbuf, int lane) {
    for (int d = lane; d < D; d += 32) qbuf[d] = qi[d];
    __syncwarp();
    float mx = -INFINITY;
    for (int j = lane; j < L; j += 32) {
        float s = __fmul_rn(dot_cpu(qbuf, Kp + (size_t)j * ks, D), scale);
        pbuf[j] = s;
        mx = s > mx ? s : mx;
    }
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j < L; j += 32) {
        float e = expf_cpu(pbuf[j] - mx);
        pbuf[j] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    const float inv = 1.0f / sum;
    for (int j = lane; j < L; j += 32) {
        float p = pbuf[j] * inv;
        pbuf[j] = p;
        prow[j] = p;
    }
    __syncwarp();
    for (int d = lane; d < D; d += 32) {
        float a = 0.0f, c = 0.0f;
        int j = 0;
        for (; j + 2 <= L; j += 2) {
            a += pbuf[j] * Vp[(size_t)j * ks + d];
            c += pbuf[j + 1] * Vp[(size_t)(j + 1) * ks + d];
        }
        if (j < L) a += pbuf[j] * Vp[(size_t)j * ks + d];
        o[d] = a + c;
    }
    __syncwarp();  // qbuf / pbuf are reused by the warp's next row
}

// ---------------------------------------------------------------- full attention

// Shared: qbuf [ATT_WARPS][D], pbuf [ATT_WARPS][L], then (SMEM) K, V [L][DP].
template <bool SMEM>
static __global__ void __launch_bounds__(ATT_THREADS)
attn_fwd_kernel(float *__restrict__ out, float *__restrict__ probs, const float *__restrict__ q,
                const float *__restrict__ k, const float *__restrict__ v, int L, int H, int D,
                int DP, float scale) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float *sm = (float *)smem_raw;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int bh = blockIdx.x, b = bh / H, h = bh - b * H;
    const size_t HD = (size_t)H * D, base = (size_t)b * L * HD + (size_t)h * D;
    float *qbuf = sm + (size_t)warp * D;
    float *pbuf = sm + (size_t)ATT_WARPS * D + (size_t)warp * L;
    const float *Kp = k + base, *Vp = v + base;
    size_t ks = HD;
    if (SMEM) {
        float *sK = sm + (size_t)ATT_WARPS * (D + L), *sV = sK + (size_t)L * DP;
        stage_rows(sK, Kp, L, D, HD, DP);
        stage_rows(sV, Vp, L, D, HD, DP);
        __syncthreads();
        Kp = sK;
        Vp = sV;
        ks = (size_t)DP;
    }
    float *pb = probs + (size_t)bh * L * L;
    for (int i = blockIdx.y * ATT_WARPS + warp; i < L; i += gridDim.y * ATT_WARPS)
        attend_row_warp(out + base + (size_t)i * HD, pb + (size_t)i * L, q + base + (size_t)i * HD,
                        Kp, Vp, ks, L, D, scale, qbuf, pbuf, lane);
}

// Backward of one head (block), P = probs [L, L]:
//   phase 1 (warp per query i): dp_j = dO_i . v_j, delta_i = sum_j P_ij dp_j,
//     ds_ij = P_ij (dp_j - delta_i) scale, dq_i += sum_j ds_ij k_j;
//   phase 2 (warp per key j, lanes over query chunks of 32, ds recomputed from
//     delta): dk_j += sum_i ds_ij q_i, dv_j += sum_i P_ij dO_i; lanes own columns
//     (NC per lane per pass, passes of 32*NC columns).
// Shared: delta [L], rowbuf [ATT_WARPS][D], dsbuf [ATT_WARPS][L], then (SMEM)
// Q, K, V, dO [L][DP].
// (Two blocks per SM fit the L=200, D=32 staging; the bound also keeps ptxas
// from spilling at its default register target.)
template <bool SMEM, int NC>
static __global__ void __launch_bounds__(ATT_THREADS, 2)
attn_bwd_kernel(float *__restrict__ dq, float *__restrict__ dk, float *__restrict__ dv,
                const float *__restrict__ dout, const float *__restrict__ q,
                const float *__restrict__ k, const float *__restrict__ v,
                const float *__restrict__ probs, int L, int H, int D, int DP, float scale) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float *sm = (float *)smem_raw;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int bh = blockIdx.x, b = bh / H, h = bh - b * H;
    const size_t HD = (size_t)H * D, base = (size_t)b * L * HD + (size_t)h * D;
    float *delta = sm;
    float *rowbuf = sm + L + (size_t)warp * D;
    float *dsbuf = sm + L + (size_t)ATT_WARPS * D + (size_t)warp * L;
    const float *Qp = q + base, *Kp = k + base, *Vp = v + base, *Op = dout + base;
    size_t ks = HD;
    if (SMEM) {
        float *sQ = sm + L + (size_t)ATT_WARPS * (D + L);
        float *sK = sQ + (size_t)L * DP, *sV = sK + (size_t)L * DP, *sO = sV + (size_t)L * DP;
        stage_rows(sQ, Qp, L, D, HD, DP);
        stage_rows(sK, Kp, L, D, HD, DP);
        stage_rows(sV, Vp, L, D, HD, DP);
        stage_rows(sO, Op, L, D, HD, DP);
        __syncthreads();
        Qp = sQ;
        Kp = sK;
        Vp = sV;
        Op = sO;
        ks = (size_t)DP;
    }
    const float *P = probs + (size_t)bh * L * L;

    // Phase 1: rows.
    if (dq || dk) {
        for (int i = warp; i < L; i += ATT_WARPS) {
            const float *pi = P + (size_t)i * L;
            for (int d = lane; d < D; d += 32) rowbuf[d] = Op[(size_t)i * ks + d];
            __syncwarp();
            float s = 0.0f;
            for (int j = lane; j < L; j += 32) {
                float dp = dot_cpu(rowbuf, Vp + (size_t)j * ks, D);
                dsbuf[j] = dp;
                s += pi[j] * dp;
            }
            s = warp_sum(s);
            if (lane == 0) delta[i] = s;
            if (dq) {
                for (int j = lane; j < L; j += 32) dsbuf[j] = pi[j] * (dsbuf[j] - s) * scale;
                __syncwarp();
                float *dqi = dq + base + (size_t)i * HD;
                for (int d = lane; d < D; d += 32) {
                    float a = 0.0f, c = 0.0f;
                    int j = 0;
                    for (; j + 2 <= L; j += 2) {
                        a += dsbuf[j] * Kp[(size_t)j * ks + d];
                        c += dsbuf[j + 1] * Kp[(size_t)(j + 1) * ks + d];
                    }
                    if (j < L) a += dsbuf[j] * Kp[(size_t)j * ks + d];
                    dqi[d] += a + c;
                }
            }
            __syncwarp();  // rowbuf / dsbuf reused by the next row
        }
    }
    if (!dk && !dv) return;  // block-uniform
    __syncthreads();         // delta complete

    // Phase 2: keys.
    for (int j = warp; j < L; j += ATT_WARPS) {
        for (int d = lane; d < D; d += 32) rowbuf[d] = Vp[(size_t)j * ks + d];
        __syncwarp();
        for (int c0 = 0; c0 < D; c0 += 32 * NC) {
            float ak[NC], av[NC];
#pragma unroll
            for (int c = 0; c < NC; c++) ak[c] = av[c] = 0.0f;
            for (int i0 = 0; i0 < L; i0 += 32) {
                const int i = i0 + lane;
                float ds = 0.0f, p = 0.0f;
                if (i < L) {
                    p = P[(size_t)i * L + j];
                    if (dk) {
                        float dp = dot_cpu(rowbuf, Op + (size_t)i * ks, D);
                        ds = p * (dp - delta[i]) * scale;
                    }
                }
                const int n = L - i0 < 32 ? L - i0 : 32;
                for (int t = 0; t < n; t++) {
                    const float dst = __shfl_sync(0xffffffffu, ds, t);
                    const float pt = __shfl_sync(0xffffffffu, p, t);
                    const float *qr = Qp + (size_t)(i0 + t) * ks, *orow = Op + (size_t)(i0 + t) * ks;
#pragma unroll
                    for (int c = 0; c < NC; c++) {
                        const int d = c0 + c * 32 + lane;
                        if (d < D) {
                            ak[c] += dst * qr[d];
                            av[c] += pt * orow[d];
                        }
                    }
                }
            }
#pragma unroll
            for (int c = 0; c < NC; c++) {
                const int d = c0 + c * 32 + lane;
                if (d < D) {
                    const size_t o = base + (size_t)j * HD + d;
                    if (dk) dk[o] += ak[c];
                    if (dv) dv[o] += av[c];
                }
            }
        }
        __syncwarp();  // rowbuf reused by the next key
    }
}

// ---------------------------------------------------------------- ProbSparse attention

// Shared: M [L] (double), sel [L] (int, 1 = active query), top [n_top] (int),
// mean [D], qbuf [ATT_WARPS][D], pbuf [ATT_WARPS][L], then (SMEM) Q, K, V [L][DP].
template <bool SMEM>
static __global__ void __launch_bounds__(ATT_THREADS)
probsparse_fwd_kernel(float *__restrict__ out, float *__restrict__ probs,
                      int32_t *__restrict__ top_idx, const float *__restrict__ q,
                      const float *__restrict__ k, const float *__restrict__ v,
                      const int32_t *__restrict__ sample_idx, int n_sample, int n_top, int L,
                      int H, int D, int DP, float scale, double inv_L) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    __shared__ int has_nan;
    double *m = (double *)smem_raw;
    int *sel = (int *)(m + L);
    int *top = sel + L;
    float *mean = (float *)(top + n_top);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    float *qbuf = mean + D + (size_t)warp * D;
    float *pbuf = mean + D + (size_t)ATT_WARPS * D + (size_t)warp * L;
    const int bh = blockIdx.x, b = bh / H, h = bh - b * H;
    const size_t HD = (size_t)H * D, base = (size_t)b * L * HD + (size_t)h * D;
    const float *Qp = q + base, *Kp = k + base, *Vp = v + base;
    size_t ks = HD;
    if (SMEM) {
        float *sQ = mean + D + (size_t)ATT_WARPS * (D + L);
        float *sK = sQ + (size_t)L * DP, *sV = sK + (size_t)L * DP;
        stage_rows(sQ, Qp, L, D, HD, DP);
        stage_rows(sK, Kp, L, D, HD, DP);
        stage_rows(sV, Vp, L, D, HD, DP);
        Qp = sQ;
        Kp = sK;
        Vp = sV;
        ks = (size_t)DP;
    }
    for (int i = tid; i < L; i += blockDim.x) sel[i] = 0;
    if (tid == 0) has_nan = 0;
    __syncthreads();

    if (n_top > 0) {
        // Sparsity measure (thread per query): unscaled float scores of the
        // sampled keys, max and sum combined in double exactly as the CPU.
        for (int i = tid; i < L; i += blockDim.x) {
            const float *qi = Qp + (size_t)i * ks;
            const int32_t *si = sample_idx + (size_t)i * n_sample;
            double mx = -INFINITY, sum = 0.0;
            for (int j = 0; j < n_sample; j++) {
                const int s = si[j];
                if ((unsigned)s >= (unsigned)L) __trap();  // the CPU CHECKs this
                const double sc = (double)dot_cpu(qi, Kp + (size_t)s * ks, D);
                mx = sc > mx ? sc : mx;
                sum = __dadd_rn(sum, sc);
            }
            const double mi = __dsub_rn(mx, __dmul_rn(sum, inv_L));
            m[i] = mi;
            if (mi != mi) has_nan = 1;
        }
        __syncthreads();
        if (!has_nan) {
            // Rank in the order (M descending, index ascending): exactly the CPU's
            // insertion result when no M is NaN.
            for (int i = tid; i < L; i += blockDim.x) {
                const double mi = m[i];
                int r = 0;
                for (int j = 0; j < L && r < n_top; j++) {
                    const double mj = m[j];
                    r += (mj > mi) || (mj == mi && j < i);
                }
                if (r < n_top) {
                    top[r] = i;
                    sel[i] = 1;
                }
            }
        } else if (tid == 0) {
            // NaN somewhere: the CPU's insertion (select_top) verbatim.
            int cnt = 0;
            for (int i = 0; i < L; i++) {
                const double mi = m[i];
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
            for (int t = 0; t < n_top; t++) sel[top[t]] = 1;
        }
    }
    // Lazy queries: mean of V (float sum in weighted_rows' order, then / L).
    const int D32 = D / 32 * 32;
    for (int d = tid; d < D; d += blockDim.x)
        mean[d] = __fdiv_rn(colsum_cpu(Vp, ks, nullptr, L, d, D32), (float)L);
    __syncthreads();

    int32_t *tg = top_idx + (size_t)bh * n_top;
    for (int t = tid; t < n_top; t += blockDim.x) tg[t] = top[t];
    float *ob = out + base;
    for (int e = tid; e < L * D; e += blockDim.x) {
        const int i = e / D, d = e - i * D;
        if (!sel[i]) ob[(size_t)i * HD + d] = mean[d];
    }
    // Active queries: full softmax attention over all keys.
    float *pb = probs + (size_t)bh * n_top * L;
    for (int t = warp; t < n_top; t += ATT_WARPS) {
        const size_t io = (size_t)top[t];
        attend_row_warp(ob + io * HD, pb + (size_t)t * L, Qp + io * ks, Kp, Vp, ks, L, D, scale,
                        qbuf, pbuf, lane);
    }
}

// Backward of one head (block) with top_idx fixed. Shared: top [n_top] (int),
// lazy [L] (1 = lazy query), gm [D] (mean-path gradient), qt / dyt [n_top][D]
// (the active rows of q and dout), then DS [n_top][L] unless ds_glob is given.
//   phase A: warps 0..ATT_WARPS-2 take active rows t: ds = P (dO_t.v_j - delta) scale,
//            dq_top[t] += ds K; the last warp computes gm = sum of lazy dO rows / L;
//   phase B: thread per (key j, column d): dk_j += sum_t ds[t,j] q_top[t],
//            dv_j += gm + sum_t P[t,j] dO_top[t].
static __global__ void __launch_bounds__(ATT_THREADS)
probsparse_bwd_kernel(float *__restrict__ dq, float *__restrict__ dk, float *__restrict__ dv,
                      const float *__restrict__ dout, const float *__restrict__ q,
                      const float *__restrict__ k, const float *__restrict__ v,
                      const float *__restrict__ probs, const int32_t *__restrict__ top_idx,
                      int n_top, int L, int H, int D, float scale, float *__restrict__ ds_glob) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    int *top = (int *)smem_raw;
    float *lazy = (float *)(top + n_top);
    float *gm = lazy + L;
    float *qt = gm + D;
    float *dyt = qt + (size_t)n_top * D;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int bh = blockIdx.x, b = bh / H, h = bh - b * H;
    const size_t HD = (size_t)H * D, base = (size_t)b * L * HD + (size_t)h * D;
    float *DS = ds_glob ? ds_glob + (size_t)bh * n_top * L : dyt + (size_t)n_top * D;
    const float *qb = q + base, *kb = k + base, *vb = v + base, *dyb = dout + base;
    const float *P = probs + (size_t)bh * n_top * L;

    for (int t = tid; t < n_top; t += blockDim.x) {
        const int i = top_idx[(size_t)bh * n_top + t];
        if ((unsigned)i >= (unsigned)L) __trap();
        top[t] = i;
    }
    for (int i = tid; i < L; i += blockDim.x) lazy[i] = 1.0f;
    __syncthreads();
    for (int t = tid; t < n_top; t += blockDim.x) lazy[top[t]] = 0.0f;
    for (int e = tid; e < n_top * D; e += blockDim.x) {
        const int t = e / D, d = e - t * D;
        const size_t o = (size_t)top[t] * HD + d;
        qt[e] = qb[o];
        dyt[e] = dyb[o];
    }
    __syncthreads();

    if (warp == ATT_WARPS - 1) {
        if (dv) {
            const int D32 = D / 32 * 32;
            for (int d = lane; d < D; d += 32)
                gm[d] = __fdiv_rn(colsum_cpu(dyb, HD, lazy, L, d, D32), (float)L);
        }
    } else {
        for (int t = warp; t < n_top; t += ATT_WARPS - 1) {
            const float *pt = P + (size_t)t * L, *dyr = dyt + (size_t)t * D;
            float *ds = DS + (size_t)t * L;
            float s = 0.0f;
            for (int j = lane; j < L; j += 32) {
                const float dp = dot_cpu(dyr, vb + (size_t)j * HD, D);
                ds[j] = dp;
                s += pt[j] * dp;
            }
            s = warp_sum(s);
            for (int j = lane; j < L; j += 32) ds[j] = pt[j] * (ds[j] - s) * scale;
            __syncwarp();
            if (dq) {
                float *dqi = dq + base + (size_t)top[t] * HD;
                for (int d = lane; d < D; d += 32) {
                    float a = 0.0f, c = 0.0f;
                    int j = 0;
                    for (; j + 2 <= L; j += 2) {
                        a += ds[j] * kb[(size_t)j * HD + d];
                        c += ds[j + 1] * kb[(size_t)(j + 1) * HD + d];
                    }
                    if (j < L) a += ds[j] * kb[(size_t)j * HD + d];
                    dqi[d] += a + c;
                }
            }
        }
    }
    if (!dk && !dv) return;  // block-uniform
    __syncthreads();

    for (int e = tid; e < L * D; e += blockDim.x) {
        const int j = e / D, d = e - j * D;
        const size_t o = base + (size_t)j * HD + d;
        if (dk) {
            float a = dk[o];
            for (int t = 0; t < n_top; t++) a += DS[(size_t)t * L + j] * qt[(size_t)t * D + d];
            dk[o] = a;
        }
        if (dv) {
            float a = dv[o] + gm[d];
            for (int t = 0; t < n_top; t++) a += P[(size_t)t * L + j] * dyt[(size_t)t * D + d];
            dv[o] = a;
        }
    }
}

// ---------------------------------------------------------------- host side

// PyTorch multiplies float scores by the Python double 1/sqrt(D) rounded to float.
static float attn_scale(int D) { return (float)(1.0 / sqrt((double)D)); }

static void check_shape(const char *what, int B, int L, int H, int D) {
    CHECK(B >= 0 && L > 0 && H > 0 && D > 0, "%s: bad shape B %d L %d H %d D %d", what, B, L, H,
          D);
    CHECK((size_t)B * (size_t)H <= 0x7fffffffu, "%s: B*H = %zu blocks is too many", what,
          (size_t)B * (size_t)H);
}

// Largest dynamic shared memory a block may opt in to, and the SM count
// (queried once: one device per process).
static size_t smem_limit(void) {
    static int lim = -1;
    if (lim < 0) {
        int dev = 0, val = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&val, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
        // Keep 1 KiB back for the kernels' static shared variables (the cap
        // applies to static + dynamic).
        lim = val > 2048 ? val - 1024 : val;
    }
    return (size_t)lim;
}

static int num_sms(void) {
    static int n = -1;
    if (n < 0) {
        int dev = 0, val = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&val, cudaDevAttrMultiProcessorCount, dev));
        n = val > 0 ? val : 1;
    }
    return n;
}

// Raise a kernel's dynamic shared-memory cap when it needs more than the
// default 48 KiB (*have caches the cap already set for that kernel).
static void smem_optin(const void *kernel, size_t bytes, size_t *have) {
    if (bytes > 48u * 1024u && bytes > *have) {
        CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)bytes));
        *have = bytes;
    }
}

static void check_small_smem(const char *what, size_t bytes, int L, int D) {
    CHECK(bytes <= smem_limit(),
          "%s: L %d D %d needs %zu bytes of shared memory per block even without staging "
          "K/V, above the device limit %zu",
          what, L, D, bytes, smem_limit());
}

extern "C" void cuda_op_attention_forward(float *out, float *probs, const float *q,
                                          const float *k, const float *v, int B, int L, int H,
                                          int D) {
    check_shape("attention", B, L, H, D);
    if (B == 0) return;
    const int DP = D | 1;
    const float scale = attn_scale(D);
    const size_t small = (size_t)ATT_WARPS * ((size_t)L + D) * sizeof(float);
    const size_t big = small + 2 * (size_t)L * DP * sizeof(float);
    const size_t bh = (size_t)B * H;
    // Split a head's queries over more blocks when there are too few heads to fill the GPU.
    const size_t target = 4 * (size_t)num_sms(), max_split = ((size_t)L + ATT_WARPS - 1) / ATT_WARPS;
    size_t split = bh < target ? (target + bh - 1) / bh : 1;
    if (split > max_split) split = max_split;
    if (split > 65535) split = 65535;
    const dim3 grid((unsigned)bh, (unsigned)split);
    if (big <= smem_limit()) {
        static size_t have = 0;
        smem_optin((const void *)attn_fwd_kernel<true>, big, &have);
        attn_fwd_kernel<true><<<grid, ATT_THREADS, big, cuda_stream()>>>(out, probs, q, k, v, L, H,
                                                                         D, DP, scale);
    } else {
        static size_t have = 0;
        check_small_smem("attention", small, L, D);
        smem_optin((const void *)attn_fwd_kernel<false>, small, &have);
        attn_fwd_kernel<false><<<grid, ATT_THREADS, small, cuda_stream()>>>(out, probs, q, k, v, L,
                                                                           H, D, DP, scale);
    }
    CUDA_LAUNCH_CHECK();
}

template <bool SMEM, int NC>
static void launch_attn_bwd(size_t bytes, float *dq, float *dk, float *dv, const float *dout,
                            const float *q, const float *k, const float *v, const float *probs,
                            int B, int L, int H, int D, int DP, float scale) {
    static size_t have = 0;
    smem_optin((const void *)attn_bwd_kernel<SMEM, NC>, bytes, &have);
    attn_bwd_kernel<SMEM, NC><<<(unsigned)((size_t)B * H), ATT_THREADS, bytes, cuda_stream()>>>(
        dq, dk, dv, dout, q, k, v, probs, L, H, D, DP, scale);
    CUDA_LAUNCH_CHECK();
}

template <bool SMEM>
static void launch_attn_bwd_nc(size_t bytes, float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v,
                               const float *probs, int B, int L, int H, int D, int DP,
                               float scale) {
    if (D <= 32)
        launch_attn_bwd<SMEM, 1>(bytes, dq, dk, dv, dout, q, k, v, probs, B, L, H, D, DP, scale);
    else if (D <= 64)
        launch_attn_bwd<SMEM, 2>(bytes, dq, dk, dv, dout, q, k, v, probs, B, L, H, D, DP, scale);
    else
        launch_attn_bwd<SMEM, 4>(bytes, dq, dk, dv, dout, q, k, v, probs, B, L, H, D, DP, scale);
}

extern "C" void cuda_op_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                           const float *q, const float *k, const float *v,
                                           const float *probs, int B, int L, int H, int D) {
    check_shape("attention", B, L, H, D);
    if (!dq && !dk && !dv) return;
    if (B == 0) return;
    const int DP = D | 1;
    const float scale = attn_scale(D);
    const size_t small = ((size_t)L + (size_t)ATT_WARPS * ((size_t)L + D)) * sizeof(float);
    const size_t big = small + 4 * (size_t)L * DP * sizeof(float);
    if (big <= smem_limit()) {
        launch_attn_bwd_nc<true>(big, dq, dk, dv, dout, q, k, v, probs, B, L, H, D, DP, scale);
    } else {
        check_small_smem("attention backward", small, L, D);
        launch_attn_bwd_nc<false>(small, dq, dk, dv, dout, q, k, v, probs, B, L, H, D, DP, scale);
    }
}

extern "C" void cuda_op_probsparse_attention_forward(float *out, float *probs, int32_t *top_idx,
                                                     const float *q, const float *k,
                                                     const float *v, const int32_t *sample_idx,
                                                     int n_sample, int n_top, int B, int L, int H,
                                                     int D) {
    check_shape("probsparse attention", B, L, H, D);
    CHECK(n_top >= 0 && n_top <= L, "probsparse attention: n_top %d outside [0, L=%d]", n_top, L);
    CHECK(n_top == 0 || n_sample > 0, "probsparse attention: n_sample %d must be positive",
          n_sample);
    if (B == 0) return;
    const int DP = D | 1;
    const float scale = attn_scale(D);
    const double inv_L = 1.0 / (double)L;
    const size_t small = (size_t)L * sizeof(double) +
                         ((size_t)L + n_top) * sizeof(int) +
                         ((size_t)D + (size_t)ATT_WARPS * ((size_t)D + L)) * sizeof(float);
    const size_t big = small + 3 * (size_t)L * DP * sizeof(float);
    const unsigned grid = (unsigned)((size_t)B * H);
    if (big <= smem_limit()) {
        static size_t have = 0;
        smem_optin((const void *)probsparse_fwd_kernel<true>, big, &have);
        probsparse_fwd_kernel<true><<<grid, ATT_THREADS, big, cuda_stream()>>>(
            out, probs, top_idx, q, k, v, sample_idx, n_sample, n_top, L, H, D, DP, scale, inv_L);
    } else {
        static size_t have = 0;
        check_small_smem("probsparse attention", small, L, D);
        smem_optin((const void *)probsparse_fwd_kernel<false>, small, &have);
        probsparse_fwd_kernel<false><<<grid, ATT_THREADS, small, cuda_stream()>>>(
            out, probs, top_idx, q, k, v, sample_idx, n_sample, n_top, L, H, D, DP, scale, inv_L);
    }
    CUDA_LAUNCH_CHECK();
}

extern "C" void cuda_op_probsparse_attention_backward(float *dq, float *dk, float *dv,
                                                      const float *dout, const float *q,
                                                      const float *k, const float *v,
                                                      const float *probs,
                                                      const int32_t *top_idx, int n_top, int B,
                                                      int L, int H, int D) {
    check_shape("probsparse attention", B, L, H, D);
    if (!dq && !dk && !dv) return;
    CHECK(n_top >= 0 && n_top <= L, "probsparse attention: n_top %d outside [0, L=%d]", n_top, L);
    if (B == 0) return;
    const float scale = attn_scale(D);
    const size_t small = (size_t)n_top * sizeof(int) +
                         ((size_t)L + D + 2 * (size_t)n_top * D) * sizeof(float);
    size_t bytes = small + (size_t)n_top * L * sizeof(float);
    float *ds_glob = NULL;
    if (bytes > smem_limit()) {
        check_small_smem("probsparse attention backward", small, L, D);
        ds_glob = cuda_ops_scratch(0, (size_t)B * H * n_top * L);
        bytes = small;
    }
    static size_t have = 0;
    smem_optin((const void *)probsparse_bwd_kernel, bytes, &have);
    probsparse_bwd_kernel<<<(unsigned)((size_t)B * H), ATT_THREADS, bytes, cuda_stream()>>>(
        dq, dk, dv, dout, q, k, v, probs, top_idx, n_top, L, H, D, scale, ds_glob);
    CUDA_LAUNCH_CHECK();
}
