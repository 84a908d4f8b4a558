// Zoobot's vote head and loss: Dirichlet concentrations from logits and the
// Dirichlet-multinomial negative log-likelihood per question (nn/ops.h has the
// formulas). The likelihood is a difference of large log-gamma values (counts
// up to 10^4), so every sample is computed in double; each sample is one
// independent row, so the result does not depend on the thread count.
#include <math.h>

#include "core/error.h"
#include "core/special.h"
#include "cpu/cpu_util.h"
#include "nn/ops_cpu.h"

void cpu_op_dirichlet_concentration_forward(float *alpha, const float *logits, size_t n) {
#pragma omp parallel for schedule(static) if (n >= (size_t)CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) alpha[i] = (float)(1.0 + 100.0 / (1.0 + exp(-(double)logits[i])));
}

void cpu_op_dirichlet_concentration_backward(float *dlogits, const float *dalpha,
                                             const float *logits, size_t n) {
#pragma omp parallel for schedule(static) if (n >= (size_t)CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        const double s = 1.0 / (1.0 + exp(-(double)logits[i]));
        dlogits[i] += (float)((double)dalpha[i] * 100.0 * s * (1.0 - s));
    }
}

static void check_schema(const int32_t *first, const int32_t *last, int B, int A, int Q) {
    CHECK(B >= 0 && A > 0 && Q > 0, "dirichlet_multinomial: bad shape B %d A %d Q %d", B, A, Q);
    for (int q = 0; q < Q; q++)
        CHECK(first[q] >= 0 && first[q] <= last[q] && last[q] < A,
              "dirichlet_multinomial: question %d answers %d..%d outside 0..%d", q, first[q],
              last[q], A - 1);
}

// Votes of one question, checked: finite and >= 0 (a NaN count would make
// every later number NaN without saying where it came from).
static double question_total(const float *k, int a0, int a1, int b, int q) {
    double N = 0.0;
    for (int a = a0; a <= a1; a++) {
        CHECK(isfinite(k[a]) && k[a] >= 0.0f,
              "dirichlet_multinomial: sample %d question %d answer %d has vote count %g (need a finite count >= 0)",
              b, q, a, (double)k[a]);
        N += k[a];
    }
    return N;
}

void cpu_op_dirichlet_multinomial_forward(float *nll, const float *alpha, const float *counts,
                                          const int32_t *first, const int32_t *last, int B,
                                          int A, int Q) {
    check_schema(first, last, B, A, Q);
#pragma omp parallel for schedule(static) if (B >= 64)
    for (int b = 0; b < B; b++) {
        const float *al = alpha + (size_t)b * A, *k = counts + (size_t)b * A;
        double s = 0.0;
        for (int q = 0; q < Q; q++) {
            const double N = question_total(k, first[q], last[q], b, q);
            if (N == 0.0) continue;  // nobody was asked: exactly no loss
            double a0 = 0.0, t = lgamma(N + 1.0);
            for (int a = first[q]; a <= last[q]; a++) {
                a0 += al[a];
                t += lgamma((double)k[a] + al[a]) - lgamma((double)al[a]) - lgamma((double)k[a] + 1.0);
            }
            t += lgamma(a0) - lgamma(N + a0);
            s -= t;
        }
        nll[b] = (float)s;
    }
}

void cpu_op_dirichlet_multinomial_backward(float *dalpha, const float *alpha, const float *counts,
                                           const int32_t *first, const int32_t *last, int B,
                                           int A, int Q, float dloss) {
    check_schema(first, last, B, A, Q);
#pragma omp parallel for schedule(static) if (B >= 64)
    for (int b = 0; b < B; b++) {
        const float *al = alpha + (size_t)b * A, *k = counts + (size_t)b * A;
        float *g = dalpha + (size_t)b * A;
        for (int q = 0; q < Q; q++) {
            const double N = question_total(k, first[q], last[q], b, q);
            if (N == 0.0) continue;
            double a0 = 0.0;
            for (int a = first[q]; a <= last[q]; a++) a0 += al[a];
            const double common = am_digamma(N + a0) - am_digamma(a0);
            for (int a = first[q]; a <= last[q]; a++)
                g[a] += (float)((double)dloss * (common - am_digamma((double)k[a] + al[a]) + am_digamma((double)al[a])));
        }
    }
}
