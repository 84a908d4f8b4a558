// Conv1d (channels first, stride 1, zeros or circular padding) on GEMMs over an
// im2col of the whole batch: col [C_in*K, B*L_out] (row (ci, k), column (b, t)
// holds x[b, ci, t + k - pad]), then
//   forward   Y [C_out, B*L_out]  = W [C_out, C_in*K] · col
//   backward  dW                 += dY · colᵀ
//             dcol               = Wᵀ · dY,  folded back onto din (col2im)
// Short outputs (the photometry embedding, L_out = 200): one GEMM for the batch,
// with Y / dY permuted to / from the [B, C_out, L_out] layout in one streaming
// pass (bias folded in). Long outputs (spectra, L_out >= 512): one GEMM per
// sample on column slices of col, directly in the tensor layout.
// Scratch: slot 0 col, slot 1 Y / dY, slot 2 dcol.
#include <string.h>

#include "core/error.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

static void check_shape(int B, int C_in, int L, int C_out, int K, int pad, PadMode mode) {
    CHECK(B >= 0 && C_in > 0 && L > 0 && C_out > 0 && K > 0 && pad >= 0,
          "conv1d: bad shape B %d C_in %d L %d C_out %d K %d pad %d", B, C_in, L, C_out, K, pad);
    CHECK(conv1d_out_len(L, K, pad) > 0, "conv1d: kernel %d longer than padded input %d + 2*%d",
          K, L, pad);
    CHECK(mode == PAD_ZEROS || (mode == PAD_CIRCULAR && pad <= L),
          "conv1d: circular padding %d needs pad <= L (%d)", pad, L);
}

// Position p of a row of length L under the padding: index into the row, or -1 for a zero.
static inline int pad_index(int p, int L, PadMode mode) {
    if (p >= 0 && p < L) return p;
    if (mode == PAD_ZEROS) return -1;
    p %= L;
    return p < 0 ? p + L : p;
}

// For tap offset off = k - pad, output positions t in [*t0, *t1) read x[t + off] in range.
static inline void valid_range(int off, int L, int Lo, int *t0, int *t1) {
    int a = off < 0 ? -off : 0, e = L - off < Lo ? L - off : Lo;
    if (a > Lo) a = Lo;
    if (e < a) e = a;
    *t0 = a;
    *t1 = e;
}

static void im2col(float *col, const float *in, int B, int C_in, int L, int K, int pad,
                   PadMode mode) {
    int Lo = conv1d_out_len(L, K, pad);
    size_t NL = (size_t)B * Lo;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)C_in * K * NL >= CPU_PAR_MIN)
    for (int ci = 0; ci < C_in; ci++) {
        for (int b = 0; b < B; b++) {
            const float *x = in + ((size_t)b * C_in + ci) * L;
            for (int k = 0; k < K; k++) {
                float *dst = col + (size_t)(ci * K + k) * NL + (size_t)b * Lo;
                int off = k - pad, t0, t1;
                valid_range(off, L, Lo, &t0, &t1);
                for (int t = 0; t < t0; t++) {
                    int p = pad_index(t + off, L, mode);
                    dst[t] = p < 0 ? 0.0f : x[p];
                }
                if (t1 > t0) memcpy(dst + t0, x + t0 + off, (size_t)(t1 - t0) * sizeof *dst);
                for (int t = t1; t < Lo; t++) {
                    int p = pad_index(t + off, L, mode);
                    dst[t] = p < 0 ? 0.0f : x[p];
                }
            }
        }
    }
}

// din[b, ci, t + k - pad] += dcol[(ci, k), (b, t)]; padded taps wrap (circular) or vanish.
static void col2im_acc(float *din, const float *dcol, int B, int C_in, int L, int K, int pad,
                       PadMode mode) {
    int Lo = conv1d_out_len(L, K, pad);
    size_t NL = (size_t)B * Lo;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)C_in * K * NL >= CPU_PAR_MIN)
    for (int ci = 0; ci < C_in; ci++) {
        for (int b = 0; b < B; b++) {
            float *dx = din + ((size_t)b * C_in + ci) * L;
            for (int k = 0; k < K; k++) {
                const float *src = dcol + (size_t)(ci * K + k) * NL + (size_t)b * Lo;
                int off = k - pad, t0, t1;
                valid_range(off, L, Lo, &t0, &t1);
                for (int t = 0; t < t0; t++) {
                    int p = pad_index(t + off, L, mode);
                    if (p >= 0) dx[p] += src[t];
                }
#pragma omp simd
                for (int t = t0; t < t1; t++) dx[t + off] += src[t];
                for (int t = t1; t < Lo; t++) {
                    int p = pad_index(t + off, L, mode);
                    if (p >= 0) dx[p] += src[t];
                }
            }
        }
    }
}

// Outputs at least this long use one GEMM per sample, straight into the
// [B, C_out, L_out] layout: each GEMM is already large and the permutation
// pass (a full read and write of Y / dY) would cost more than it saves.
#define CONV_PER_SAMPLE_LO 512

static int per_sample(int B, int Lo) { return B == 1 || Lo >= CONV_PER_SAMPLE_LO; }

void cpu_op_conv1d_forward(float *out, const float *in, const float *w, const float *b,
                       int B, int C_in, int L, int C_out, int K, int pad, PadMode mode) {
    check_shape(B, C_in, L, C_out, K, pad, mode);
    if (B == 0) return;
    int Lo = conv1d_out_len(L, K, pad), CK = C_in * K;
    size_t NL = (size_t)B * Lo;
    float *col = cpu_ops_scratch(0, (size_t)CK * NL);
    im2col(col, in, B, C_in, L, K, pad, mode);
    if (per_sample(B, Lo)) {
        float beta = 0.0f;
        if (b) {
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)C_out * NL >= CPU_PAR_MIN)
            for (int bb = 0; bb < B; bb++)
                for (int co = 0; co < C_out; co++) {
                    float *dst = out + ((size_t)bb * C_out + co) * Lo, bias = b[co];
                    for (int t = 0; t < Lo; t++) dst[t] = bias;
                }
            beta = 1.0f;
        }
        for (int bb = 0; bb < B; bb++)
            cpu_sgemm(0, 0, C_out, Lo, CK, 1.0f, w, CK, col + (size_t)bb * Lo, (int)NL, beta,
                      out + (size_t)bb * C_out * Lo, Lo);
        return;
    }
    float *y = cpu_ops_scratch(1, (size_t)C_out * NL);
    cpu_sgemm(0, 0, C_out, (int)NL, CK, 1.0f, w, CK, col, (int)NL, 0.0f, y, (int)NL);
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)C_out * NL >= CPU_PAR_MIN)
    for (int bb = 0; bb < B; bb++) {
        for (int co = 0; co < C_out; co++) {
            const float *src = y + (size_t)co * NL + (size_t)bb * Lo;
            float *dst = out + ((size_t)bb * C_out + co) * Lo;
            float bias = b ? b[co] : 0.0f;
#pragma omp simd
            for (int t = 0; t < Lo; t++) dst[t] = src[t] + bias;
        }
    }
}

void cpu_op_conv1d_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w,
                        int B, int C_in, int L, int C_out, int K, int pad, PadMode mode) {
    check_shape(B, C_in, L, C_out, K, pad, mode);
    if (B == 0 || (!din && !dw && !db)) return;
    int Lo = conv1d_out_len(L, K, pad), CK = C_in * K;
    size_t NL = (size_t)B * Lo;
    int ps = per_sample(B, Lo);

    // Batched path: dY in [C_out, B*L_out] layout.
    const float *dy = dout;
    if (!ps) {
        float *g = cpu_ops_scratch(1, (size_t)C_out * NL);
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)C_out * NL >= CPU_PAR_MIN)
        for (int bb = 0; bb < B; bb++)
            for (int co = 0; co < C_out; co++)
                memcpy(g + (size_t)co * NL + (size_t)bb * Lo,
                       dout + ((size_t)bb * C_out + co) * Lo, (size_t)Lo * sizeof *g);
        dy = g;
    }

    if (db) {
        // Row (b, co) of dout is row co, column block b of dY: same sums either way.
#pragma omp parallel for schedule(static) if ((size_t)C_out * NL >= CPU_PAR_MIN)
        for (int co = 0; co < C_out; co++) {
            double s = 0.0;
            for (int bb = 0; bb < B; bb++) {
                const float *row = ps ? dout + ((size_t)bb * C_out + co) * Lo
                                      : dy + (size_t)co * NL + (size_t)bb * Lo;
#pragma omp simd reduction(+ : s)
                for (int t = 0; t < Lo; t++) s += row[t];
            }
            db[co] += (float)s;
        }
    }
    if (dw) {
        float *col = cpu_ops_scratch(0, (size_t)CK * NL);
        im2col(col, in, B, C_in, L, K, pad, mode);
        if (ps) {
            for (int bb = 0; bb < B; bb++)
                cpu_sgemm(0, 1, C_out, CK, Lo, 1.0f, dout + (size_t)bb * C_out * Lo, Lo,
                          col + (size_t)bb * Lo, (int)NL, 1.0f, dw, CK);
        } else {
            cpu_sgemm(0, 1, C_out, CK, (int)NL, 1.0f, dy, (int)NL, col, (int)NL, 1.0f, dw, CK);
        }
    }
    if (din) {
        float *dcol = cpu_ops_scratch(2, (size_t)CK * NL);
        if (ps) {
            for (int bb = 0; bb < B; bb++)
                cpu_sgemm(1, 0, CK, Lo, C_out, 1.0f, w, CK, dout + (size_t)bb * C_out * Lo, Lo,
                          0.0f, dcol + (size_t)bb * Lo, (int)NL);
        } else {
            cpu_sgemm(1, 0, CK, (int)NL, C_out, 1.0f, w, CK, dy, (int)NL, 0.0f, dcol, (int)NL);
        }
        col2im_acc(din, dcol, B, C_in, L, K, pad, mode);
    }
}
