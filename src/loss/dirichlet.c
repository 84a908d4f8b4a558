#include "loss/dirichlet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/ops.h"

void dirichlet_loss_init(DirichletLoss *l, const VoteSchema *s, int max_batch) {
    memset(l, 0, sizeof *l);
    l->schema = *s;
    l->max_batch = max_batch;
    const size_t qb = (size_t)s->n_questions * sizeof(int32_t);
    l->first = ops_alloc(qb, "vote schema");
    l->last = ops_alloc(qb, "vote schema");
    ops_to_device(l->first, s->first, qb);
    ops_to_device(l->last, s->last, qb);
    l->nll = ops_alloc((size_t)max_batch * sizeof(float), "dirichlet loss");
    l->nll_host = am_aligned_alloc((size_t)max_batch * sizeof(float), "dirichlet loss");
}

void dirichlet_loss_free(DirichletLoss *l) {
    ops_free(l->first);
    ops_free(l->last);
    ops_free(l->nll);
    free(l->nll_host);
    memset(l, 0, sizeof *l);
}

double dirichlet_loss_forward(DirichletLoss *l, const float *alpha, const float *counts, int B) {
    CHECK(B >= 0 && B <= l->max_batch, "dirichlet loss: batch %d outside 0..%d", B, l->max_batch);
    if (B == 0) return 0.0;
    op_dirichlet_multinomial_forward(l->nll, alpha, counts, l->first, l->last, B, l->schema.answers,
                                     l->schema.n_questions);
    // Summed in double in sample order on the host: B floats, and the step
    // brings the loss to the host for its metrics anyway.
    ops_to_host(l->nll_host, l->nll, (size_t)B * sizeof *l->nll_host);
    double s = 0.0;
    for (int b = 0; b < B; b++) s += l->nll_host[b];
    return s;
}

void dirichlet_loss_backward(DirichletLoss *l, float *dalpha, const float *alpha, const float *counts, int B,
                             float scale) {
    if (B == 0) return;
    op_dirichlet_multinomial_backward(dalpha, alpha, counts, l->first, l->last, B, l->schema.answers,
                                      l->schema.n_questions, scale);
}

int vote_question_errors(const VoteSchema *s, int q, const float *alpha, const float *k, double *n_votes,
                         double *abs_err_sum, int *majority_right) {
    double N = 0.0, a0 = 0.0;
    int best_k = s->first[q], best_a = s->first[q];
    for (int a = s->first[q]; a <= s->last[q]; a++) {
        N += k[a];
        a0 += alpha[a];
        if (k[a] > k[best_k]) best_k = a;
        if (alpha[a] > alpha[best_a]) best_a = a;
    }
    *n_votes = N;
    if (N <= 0.0) return 0;
    double e = 0.0;
    for (int a = s->first[q]; a <= s->last[q]; a++) e += fabs(alpha[a] / a0 - k[a] / N);
    *abs_err_sum = e;
    *majority_right = best_a == best_k;
    return 1;
}

int vote_majority_min(const VoteSchema *s) { return s->majority_min > 0 ? s->majority_min : VOTE_MAJORITY_MIN; }
