// The vote target of a batch: see vote_batch.h.
#include "train/vote_batch.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/ops.h"

void vote_batch_init(VoteBatch *v, const VoteSchema *schema, int max_local) {
    memset(v, 0, sizeof *v);
    v->max_local = max_local;
    dirichlet_loss_init(&v->loss, schema, max_local);
    const size_t n = (size_t)max_local * (size_t)schema->answers;
    v->dalpha = ops_alloc(n * sizeof(float), "vote target");
    v->host_alpha = am_malloc(n * sizeof(float), "vote target");
    v->valid_votes = am_malloc(n * sizeof(float), "vote target");
    if (ops_device() != OPS_CPU) v->dev_votes = ops_alloc(n * sizeof(float), "vote target");
}

void vote_batch_free(VoteBatch *v) {
    if (!v->dalpha) return;
    dirichlet_loss_free(&v->loss);
    ops_free(v->dalpha);
    if (v->dev_votes) ops_free(v->dev_votes);
    free(v->host_alpha);
    free(v->valid_votes);
    memset(v, 0, sizeof *v);
}

int vote_batch_stats_len(const VoteBatch *v) { return 2 + 2 * v->loss.schema.n_questions + 2; }

const float *vote_batch_votes(VoteBatch *v, const float *host_votes, const uint8_t *valid, int B) {
    const int A = v->loss.schema.answers;
    CHECK(B >= 0 && B <= v->max_local, "vote target: %d rows (at most %d)", B, v->max_local);
    for (int b = 0; b < B; b++)
        for (int a = 0; a < A; a++)
            v->valid_votes[(size_t)b * A + a] = !valid || valid[b] ? host_votes[(size_t)b * A + a] : 0.0f;
    if (!v->dev_votes) return v->valid_votes;
    ops_to_device(v->dev_votes, v->valid_votes, (size_t)B * A * sizeof(float));
    return v->dev_votes;
}

void vote_batch_stats(VoteBatch *v, const float *alpha, const float *votes, int B, double *st) {
    const VoteSchema *sc = &v->loss.schema;
    const int A = sc->answers, Q = sc->n_questions;
    st[2 + 2 * Q] += dirichlet_loss_forward(&v->loss, alpha, votes, B);
    ops_to_host(v->host_alpha, alpha, (size_t)B * A * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *al = v->host_alpha + (size_t)b * A, *k = v->valid_votes + (size_t)b * A;
        float total = 0.0f;
        for (int a = 0; a < A; a++) total += k[a];
        st[2 + 2 * Q + 1] += total > 0.0f;
        for (int q = 0; q < Q; q++) {
            double N, e;
            int right;
            if (!vote_question_errors(sc, q, al, k, &N, &e, &right)) continue;
            st[2 + q] += e;
            st[2 + Q + q] += sc->last[q] - sc->first[q] + 1;
            if (N >= vote_majority_min(sc)) st[0] += right, st[1] += 1.0;
        }
    }
}

float *vote_batch_backward(VoteBatch *v, const float *alpha, const float *votes, int B, float scale) {
    ops_zero(v->dalpha, (size_t)B * v->loss.schema.answers);
    dirichlet_loss_backward(&v->loss, v->dalpha, alpha, votes, B, scale);
    return v->dalpha;
}

VoteStepResult vote_batch_result(const VoteBatch *v, const double *st, double comm_seconds) {
    const int Q = v->loss.schema.n_questions;
    const double rows = st[2 + 2 * Q + 1];
    VoteStepResult r = {.loss = rows > 0 ? (float)(st[2 + 2 * Q] / rows) : 0.0f, .correct = (int64_t)st[0],
                        .n = (int64_t)st[1], .rows = (int64_t)rows, .comm_seconds = comm_seconds};
    for (int q = 0; q < Q; q++) r.mae_sum[q] = st[2 + q], r.mae_n[q] = st[2 + Q + q];
    return r;
}
