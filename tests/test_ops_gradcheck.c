// Finite-difference gradient check of every CPU op with a backward.
//
// For each op: small random shapes (am_rng, RNG_SYNTH), a random upstream
// gradient dout, and the scalar L = sum(out * dout) evaluated in double from
// float forward calls. For every element x_i of every differentiable input:
//   fd_i = (L(x_i + h) - L(x_i - h)) / (actual float step),  h = eps * max(1, |x_i|)
// Analytic gradients come from backward into zeroed buffers.
//
// Tolerance (stated once, used for every op): max |analytic - fd| divided by
// max(max |fd|, 1e-3) must be <= GC_TOL = 1e-3. With eps = 1e-2 the truncation
// error is O(eps^2) ~ 1e-5 and the float rounding of L contributes ~1e-5, so the
// measured errors sit between 0 and ~1.3e-4 (printed per input; the largest
// are ProbSparse dq/dk); a missing or wrong term is an O(1e-2..1) error. Exact
// semantics (values, not just consistency) are checked in test_ops_forward.c.
// Also checked for every op:
//  * accumulation: a second backward into the same buffers gives exactly 2x
//    (relative 1e-6);
//  * NULL gradients: backward with only one gradient pointer non-NULL gives
//    that gradient unchanged (relative 1e-6).
// Piecewise ops (ReLU, max-pool, ProbSparse top-k) get a branch hook: a
// perturbation that changes the discrete choice (sign pattern, argmax, top_idx)
// is retried with h / 4 (up to 3 times) and otherwise skipped; at most 10% of
// the elements of an input may be skipped.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/ops.h"
#include "testdata.h"
#include "testutil.h"

#define GC_TOL 1e-3
#define GC_EPS 1e-2
#define ACC_TOL 1e-6
#define MAX_IN 4

// ---------------------------------------------------------------- data helpers
// ---------------------------------------------------------------- the harness
typedef struct Case Case;
typedef struct {
    const char *name;
    float *x, *g;
    size_t n;
} Input;

struct Case {
    const char *name;
    void (*fwd)(Case *c);
    void (*bwd)(Case *c);
    // Optional: save (save = 1) or compare with the saved (save = 0) discrete
    // choices of the last forward; returns 1 when they are the same.
    int (*branch)(Case *c, int save);
    float *out, *dout;
    size_t n_out;
    Input in[MAX_IN];
    int n_in;
    unsigned null_mask;  // bit k set: backward passes NULL for input k's gradient
    void *st;            // op-specific state
};

// Gradient pointer of input k as backward should receive it.
static float *G(Case *c, int k) {
    if (k >= c->n_in || (c->null_mask >> k & 1u)) return NULL;
    return c->in[k].g;
}

static double loss_of(Case *c) {
    c->fwd(c);
    double s = 0.0;
    for (size_t i = 0; i < c->n_out; i++) s += (double)c->out[i] * (double)c->dout[i];
    return s;
}

static void add_input(Case *c, const char *name, float *x, size_t n) {
    REQUIRE(c->n_in < MAX_IN, "too many inputs");
    c->in[c->n_in++] = (Input){name, x, zeros(n), n};
}

static void gradcheck(Case *c) {
    c->null_mask = 0;
    c->fwd(c);
    if (c->branch) c->branch(c, 1);
    for (int k = 0; k < c->n_in; k++) memset(c->in[k].g, 0, c->in[k].n * sizeof(float));
    c->bwd(c);
    float *an[MAX_IN];
    for (int k = 0; k < c->n_in; k++) an[k] = copy_of(c->in[k].g, c->in[k].n);

    // Backward accumulates: a second call doubles every gradient.
    c->bwd(c);
    for (int k = 0; k < c->n_in; k++) {
        float *twice = copy_of(an[k], c->in[k].n);
        for (size_t i = 0; i < c->in[k].n; i++) twice[i] *= 2.0f;
        double e = tu_max_rel_err(c->in[k].g, twice, c->in[k].n, 1e-30);
        EXPECT(e <= ACC_TOL, "%s d%s: second backward is not 2x (rel err %.3g)", c->name,
               c->in[k].name, e);
        free(twice);
    }
    // NULL gradients: only input k's gradient requested.
    if (c->n_in > 1) {
        for (int k = 0; k < c->n_in; k++) {
            c->null_mask = ~(1u << k);
            memset(c->in[k].g, 0, c->in[k].n * sizeof(float));
            c->bwd(c);
            double e = tu_max_rel_err(c->in[k].g, an[k], c->in[k].n, 1e-30);
            EXPECT(e <= ACC_TOL, "%s d%s: alone (others NULL) differs (rel err %.3g)", c->name,
                   c->in[k].name, e);
        }
        c->null_mask = 0;
    }

    // Central differences.
    for (int k = 0; k < c->n_in; k++) {
        Input *in = &c->in[k];
        float *fd = zeros(in->n);
        size_t skipped = 0;
        for (size_t i = 0; i < in->n; i++) {
            float x0 = in->x[i];
            double h = GC_EPS * fmax(1.0, fabs((double)x0));
            int ok = 0;
            for (int attempt = 0; attempt < 4 && !ok; attempt++, h /= 4) {
                float xp = (float)(x0 + h), xm = (float)(x0 - h);
                in->x[i] = xp;
                double lp = loss_of(c);
                int same = c->branch ? c->branch(c, 0) : 1;
                in->x[i] = xm;
                double lm = loss_of(c);
                same = same && (c->branch ? c->branch(c, 0) : 1);
                in->x[i] = x0;
                if (same) {
                    fd[i] = (float)((lp - lm) / ((double)xp - (double)xm));
                    ok = 1;
                }
            }
            if (!ok) {
                fd[i] = an[k][i];
                skipped++;
            }
        }
        double e = tu_max_rel_err(an[k], fd, in->n, 1e-3);
        printf("  %-28s d%-6s n=%-5zu max rel err %.2e%s\n", c->name, in->name, in->n, e,
               skipped ? " (some skipped)" : "");
        EXPECT(e <= GC_TOL, "%s d%s: analytic vs finite differences rel err %.3g > %g", c->name,
               in->name, e, GC_TOL);
        EXPECT(skipped * 10 <= in->n, "%s d%s: %zu of %zu elements sat on a branch switch",
               c->name, in->name, skipped, in->n);
        free(fd);
    }
    c->fwd(c);  // leave the saved state of the unperturbed inputs
    for (int k = 0; k < c->n_in; k++) free(an[k]);
}

static void case_free(Case *c) {
    for (int k = 0; k < c->n_in; k++) {
        free(c->in[k].x);
        free(c->in[k].g);
    }
    free(c->out);
    free(c->dout);
}

static void case_init(Case *c, const char *name, size_t n_out, void *st) {
    memset(c, 0, sizeof *c);
    c->name = name;
    c->n_out = n_out;
    c->out = zeros(n_out);
    c->dout = randn(n_out, 1.0f);
    c->st = st;
}

// Values of an input by index (inputs are registered in a fixed order per op).
#define X(c, k) ((c)->in[k].x)

// ---------------------------------------------------------------- linear
typedef struct {
    int n, i, o;
} LinearSt;

static void linear_fwd(Case *c) {
    LinearSt *s = c->st;
    op_linear_forward(c->out, X(c, 0), X(c, 1), c->n_in > 2 ? X(c, 2) : NULL, s->n, s->i, s->o);
}
static void linear_bwd(Case *c) {
    LinearSt *s = c->st;
    op_linear_backward(G(c, 0), G(c, 1), G(c, 2), c->dout, X(c, 0), X(c, 1), s->n, s->i, s->o);
}

static void test_linear(int bias) {
    LinearSt s = {5, 4, 3};
    Case c;
    case_init(&c, bias ? "linear+bias" : "linear", (size_t)s.n * s.o, &s);
    c.fwd = linear_fwd;
    c.bwd = linear_bwd;
    add_input(&c, "in", randn((size_t)s.n * s.i, 1.0f), (size_t)s.n * s.i);
    add_input(&c, "w", randn((size_t)s.o * s.i, 0.5f), (size_t)s.o * s.i);
    if (bias) add_input(&c, "b", randn((size_t)s.o, 0.5f), (size_t)s.o);
    gradcheck(&c);
    case_free(&c);
}

// ---------------------------------------------------------------- conv1d
typedef struct {
    int B, C_in, L, C_out, K, pad;
    PadMode mode;
} ConvSt;

static void conv_fwd(Case *c) {
    ConvSt *s = c->st;
    op_conv1d_forward(c->out, X(c, 0), X(c, 1), c->n_in > 2 ? X(c, 2) : NULL, s->B, s->C_in,
                      s->L, s->C_out, s->K, s->pad, s->mode);
}
static void conv_bwd(Case *c) {
    ConvSt *s = c->st;
    op_conv1d_backward(G(c, 0), G(c, 1), G(c, 2), c->dout, X(c, 0), X(c, 1), s->B, s->C_in, s->L,
                       s->C_out, s->K, s->pad, s->mode);
}

static void test_conv1d(const char *name, ConvSt s, int bias) {
    Case c;
    int Lo = conv1d_out_len(s.L, s.K, s.pad);
    case_init(&c, name, (size_t)s.B * s.C_out * Lo, &s);
    c.fwd = conv_fwd;
    c.bwd = conv_bwd;
    size_t nx = (size_t)s.B * s.C_in * s.L, nw = (size_t)s.C_out * s.C_in * s.K;
    add_input(&c, "in", randn(nx, 1.0f), nx);
    add_input(&c, "w", randn(nw, 0.5f), nw);
    if (bias) add_input(&c, "b", randn((size_t)s.C_out, 0.5f), (size_t)s.C_out);
    gradcheck(&c);
    case_free(&c);
}

// ---------------------------------------------------------------- transpose
typedef struct {
    int B, M, N;
} TransSt;

static void trans_fwd(Case *c) {
    TransSt *s = c->st;
    op_transpose_forward(c->out, X(c, 0), s->B, s->M, s->N);
}
static void trans_bwd(Case *c) {
    TransSt *s = c->st;
    if (G(c, 0)) op_transpose_backward(G(c, 0), c->dout, s->B, s->M, s->N);
}

static void test_transpose(void) {
    TransSt s = {2, 5, 37};  // N crosses a 32-wide tile
    size_t n = (size_t)s.B * s.M * s.N;
    Case c;
    case_init(&c, "transpose", n, &s);
    c.fwd = trans_fwd;
    c.bwd = trans_bwd;
    add_input(&c, "in", randn(n, 1.0f), n);
    gradcheck(&c);
    case_free(&c);
}

// ---------------------------------------------------------------- max-pool
typedef struct {
    int R, L, k;
    int32_t *argmax, *argmax0;
} PoolSt;

static void pool_fwd(Case *c) {
    PoolSt *s = c->st;
    op_maxpool1d_forward(c->out, s->argmax, X(c, 0), s->R, s->L, s->k);
}
static void pool_bwd(Case *c) {
    PoolSt *s = c->st;
    if (G(c, 0)) op_maxpool1d_backward(G(c, 0), c->dout, s->argmax, s->R, s->L, s->k);
}
static int pool_branch(Case *c, int save) {
    PoolSt *s = c->st;
    size_t n = (size_t)s->R * (s->L / s->k) * sizeof(int32_t);
    if (save) memcpy(s->argmax0, s->argmax, n);
    return memcmp(s->argmax0, s->argmax, n) == 0;
}

static void test_maxpool(void) {
    PoolSt s = {3, 11, 4, NULL, NULL};  // L % k != 0: floor mode drops the tail
    size_t n = (size_t)s.R * s.L, no = (size_t)s.R * (s.L / s.k);
    s.argmax = malloc(no * sizeof(int32_t));
    s.argmax0 = malloc(no * sizeof(int32_t));
    // Distinct values 0.05 apart (a shuffled ramp): no window is near a tie.
    float *x = malloc(n * sizeof *x);
    AmRng r = am_rng(7, 0, RNG_SYNTH, 999);
    for (size_t i = 0; i < n; i++) x[i] = 0.05f * (float)i - 0.8f;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = am_rng_below(&r, i, (uint32_t)(i + 1));
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    Case c;
    case_init(&c, "maxpool1d", no, &s);
    c.fwd = pool_fwd;
    c.bwd = pool_bwd;
    c.branch = pool_branch;
    add_input(&c, "in", x, n);
    gradcheck(&c);
    case_free(&c);
    free(s.argmax);
    free(s.argmax0);
}

// ---------------------------------------------------------------- layernorm
typedef struct {
    int N, C;
    float *mean, *rstd;
} LnSt;

static void ln_fwd(Case *c) {
    LnSt *s = c->st;
    op_layernorm_forward(c->out, s->mean, s->rstd, X(c, 0), X(c, 1), X(c, 2), s->N, s->C, 1e-5f);
}
static void ln_bwd(Case *c) {
    LnSt *s = c->st;
    op_layernorm_backward(G(c, 0), G(c, 1), G(c, 2), c->dout, X(c, 0), s->mean, s->rstd, X(c, 1),
                          s->N, s->C);
}

static void test_layernorm(void) {
    LnSt s = {4, 9, NULL, NULL};
    s.mean = zeros((size_t)s.N);
    s.rstd = zeros((size_t)s.N);
    size_t n = (size_t)s.N * s.C;
    Case c;
    case_init(&c, "layernorm", n, &s);
    c.fwd = ln_fwd;
    c.bwd = ln_bwd;
    float *x = randn(n, 1.0f);
    for (size_t i = 0; i < n; i++) x[i] += 0.5f;  // non-zero mean
    float *w = randn((size_t)s.C, 0.3f);
    for (int i = 0; i < s.C; i++) w[i] += 1.0f;
    add_input(&c, "in", x, n);
    add_input(&c, "w", w, (size_t)s.C);
    add_input(&c, "b", randn((size_t)s.C, 0.5f), (size_t)s.C);
    gradcheck(&c);
    case_free(&c);
    free(s.mean);
    free(s.rstd);
}

// ---------------------------------------------------------------- l2norm
typedef struct {
    int N, C;
    float *norm;
} L2St;

static void l2_fwd(Case *c) {
    L2St *s = c->st;
    op_l2norm_forward(c->out, s->norm, X(c, 0), s->N, s->C);
}
static void l2_bwd(Case *c) {
    L2St *s = c->st;
    if (G(c, 0)) op_l2norm_backward(G(c, 0), c->dout, c->out, s->norm, s->N, s->C);
}

static void test_l2norm(void) {
    L2St s = {4, 6, NULL};
    s.norm = zeros((size_t)s.N);
    size_t n = (size_t)s.N * s.C;
    Case c;
    case_init(&c, "l2norm", n, &s);
    c.fwd = l2_fwd;
    c.bwd = l2_bwd;
    add_input(&c, "in", randn(n, 1.0f), n);
    gradcheck(&c);
    case_free(&c);
    free(s.norm);
}

// ---------------------------------------------------------------- elementwise
typedef struct {
    size_t n;
    int B, L, C;
    float p;
    AmRng rng;
    uint64_t offset;
    float *mask;
    unsigned char *sign0;
} EwSt;

static void gelu_fwd(Case *c) { op_gelu_forward(c->out, X(c, 0), ((EwSt *)c->st)->n); }
static void gelu_bwd(Case *c) {
    if (G(c, 0)) op_gelu_backward(G(c, 0), c->dout, X(c, 0), ((EwSt *)c->st)->n);
}
static void relu_fwd(Case *c) { op_relu_forward(c->out, X(c, 0), ((EwSt *)c->st)->n); }
static void relu_bwd(Case *c) {
    if (G(c, 0)) op_relu_backward(G(c, 0), c->dout, X(c, 0), ((EwSt *)c->st)->n);
}
static int relu_branch(Case *c, int save) {
    EwSt *s = c->st;
    int same = 1;
    for (size_t i = 0; i < s->n; i++) {
        unsigned char pos = X(c, 0)[i] > 0.0f;
        if (save) s->sign0[i] = pos;
        same = same && s->sign0[i] == pos;
    }
    return same;
}
static void drop_fwd(Case *c) {
    EwSt *s = c->st;
    op_dropout_forward(c->out, X(c, 0), s->n, s->p, &s->rng, s->offset, NULL);
}
static void drop_bwd(Case *c) {
    EwSt *s = c->st;
    if (G(c, 0)) op_dropout_backward(G(c, 0), c->dout, s->n, s->p, &s->rng, s->offset, NULL);
}
static void mask_fwd(Case *c) {
    EwSt *s = c->st;
    op_mask_rows_forward(c->out, X(c, 0), s->mask, s->B, s->L, s->C);
}
static void mask_bwd(Case *c) {
    EwSt *s = c->st;
    if (G(c, 0)) op_mask_rows_backward(G(c, 0), c->dout, s->mask, s->B, s->L, s->C);
}

static void test_elementwise(void) {
    EwSt s;
    memset(&s, 0, sizeof s);
    Case c;

    s.n = 64;
    case_init(&c, "gelu", s.n, &s);
    c.fwd = gelu_fwd;
    c.bwd = gelu_bwd;
    add_input(&c, "in", randn(s.n, 2.0f), s.n);
    gradcheck(&c);
    case_free(&c);

    s.n = 64;
    s.sign0 = malloc(s.n);
    case_init(&c, "relu", s.n, &s);
    c.fwd = relu_fwd;
    c.bwd = relu_bwd;
    c.branch = relu_branch;
    float *x = randn(s.n, 1.0f);
    for (size_t i = 0; i < s.n; i++)  // keep clear of the kink
        if (fabsf(x[i]) < 0.05f) x[i] += x[i] < 0.0f ? -0.1f : 0.1f;
    add_input(&c, "in", x, s.n);
    gradcheck(&c);
    case_free(&c);
    free(s.sign0);

    s.n = 50;
    s.p = 0.3f;
    s.rng = am_rng(42, 3, RNG_DROPOUT, 5);
    s.offset = 7;  // not a multiple of 4: starts mid Philox block
    case_init(&c, "dropout", s.n, &s);
    c.fwd = drop_fwd;
    c.bwd = drop_bwd;
    add_input(&c, "in", randn(s.n, 1.0f), s.n);
    gradcheck(&c);
    case_free(&c);

    s.B = 2;
    s.L = 3;
    s.C = 4;
    s.n = (size_t)s.B * s.L * s.C;
    float mask[6] = {1.0f, 0.0f, 1.0f, 0.5f, 1.0f, 0.0f};
    s.mask = mask;
    case_init(&c, "mask_rows", s.n, &s);
    c.fwd = mask_fwd;
    c.bwd = mask_bwd;
    add_input(&c, "in", randn(s.n, 1.0f), s.n);
    gradcheck(&c);
    case_free(&c);
}

// ---------------------------------------------------------------- softmax / CE
typedef struct {
    int N, C;
    float *probs;
    int32_t *labels;
} SmSt;

static void sm_fwd(Case *c) {
    SmSt *s = c->st;
    op_softmax_forward(c->out, X(c, 0), s->N, s->C);
}
static void sm_bwd(Case *c) {
    SmSt *s = c->st;
    if (G(c, 0)) op_softmax_backward(G(c, 0), c->dout, c->out, s->N, s->C);
}
static void ce_fwd(Case *c) {
    SmSt *s = c->st;
    c->out[0] = op_cross_entropy_forward(s->probs, X(c, 0), s->labels, s->N, s->C);
}
static void ce_bwd(Case *c) {
    SmSt *s = c->st;
    if (G(c, 0)) op_cross_entropy_backward(G(c, 0), s->probs, s->labels, s->N, s->C, c->dout[0]);
}

static void test_softmax_ce(void) {
    SmSt s = {4, 7, NULL, NULL};
    size_t n = (size_t)s.N * s.C;
    Case c;
    case_init(&c, "softmax", n, &s);
    c.fwd = sm_fwd;
    c.bwd = sm_bwd;
    add_input(&c, "in", randn(n, 2.0f), n);
    gradcheck(&c);
    case_free(&c);

    s.N = 5;
    s.C = 6;
    n = (size_t)s.N * s.C;
    s.probs = zeros(n);
    int32_t labels[5] = {0, 5, 2, 2, 3};
    s.labels = labels;
    case_init(&c, "cross_entropy", 1, &s);
    c.fwd = ce_fwd;
    c.bwd = ce_bwd;
    add_input(&c, "logits", randn(n, 2.0f), n);
    gradcheck(&c);
    case_free(&c);
    free(s.probs);
}

// ---------------------------------------------------------------- attention
typedef struct {
    int B, L, H, D, n_sample, n_top;
    float *probs;
    int32_t *sample_idx, *top, *top0;
} AttnSt;

static void attn_fwd(Case *c) {
    AttnSt *s = c->st;
    op_attention_forward(c->out, s->probs, X(c, 0), X(c, 1), X(c, 2), s->B, s->L, s->H, s->D);
}
static void attn_bwd(Case *c) {
    AttnSt *s = c->st;
    op_attention_backward(G(c, 0), G(c, 1), G(c, 2), c->dout, X(c, 0), X(c, 1), X(c, 2),
                          s->probs, s->B, s->L, s->H, s->D);
}
static void ps_fwd(Case *c) {
    AttnSt *s = c->st;
    op_probsparse_attention_forward(c->out, s->probs, s->top, X(c, 0), X(c, 1), X(c, 2),
                                    s->sample_idx, s->n_sample, s->n_top, s->B, s->L, s->H, s->D);
}
static void ps_bwd(Case *c) {
    AttnSt *s = c->st;
    op_probsparse_attention_backward(G(c, 0), G(c, 1), G(c, 2), c->dout, X(c, 0), X(c, 1),
                                     X(c, 2), s->probs, s->top, s->n_top, s->B, s->L, s->H, s->D);
}
static int ps_branch(Case *c, int save) {
    AttnSt *s = c->st;
    size_t n = (size_t)s->B * s->H * s->n_top * sizeof(int32_t);
    if (save) memcpy(s->top0, s->top, n);
    return memcmp(s->top0, s->top, n) == 0;
}

static void add_qkv(Case *c, const AttnSt *s) {
    size_t n = (size_t)s->B * s->L * s->H * s->D;
    add_input(c, "q", randn(n, 1.0f), n);
    add_input(c, "k", randn(n, 1.0f), n);
    add_input(c, "v", randn(n, 1.0f), n);
}

// D = 3 runs the scalar tails of the kernels; D = 33 also their 16/32-wide vector chunks.
static void test_attention(int B, int L, int H, int D, const char *name) {
    AttnSt s;
    memset(&s, 0, sizeof s);
    s.B = B;
    s.L = L;
    s.H = H;
    s.D = D;
    s.probs = zeros((size_t)s.B * s.H * s.L * s.L);
    Case c;
    case_init(&c, name, (size_t)s.B * s.L * s.H * s.D, &s);
    c.fwd = attn_fwd;
    c.bwd = attn_bwd;
    add_qkv(&c, &s);
    gradcheck(&c);
    case_free(&c);
    free(s.probs);
}

static void test_probsparse(int B, int L, int H, int D, int n_top, const char *name) {
    AttnSt s;
    memset(&s, 0, sizeof s);
    s.B = B;
    s.L = L;
    s.H = H;
    s.D = D;
    s.n_sample = probsparse_u(1, s.L);
    s.n_top = n_top;
    s.sample_idx = malloc((size_t)s.L * s.n_sample * sizeof(int32_t));
    AmRng r = am_rng(11, 0, RNG_PROBSPARSE, (uint32_t)D);
    probsparse_sample_keys(s.sample_idx, s.L, s.L, s.n_sample, &r);
    size_t nt = (size_t)s.B * s.H * s.n_top;
    s.top = malloc(nt * sizeof(int32_t));
    s.top0 = malloc(nt * sizeof(int32_t));
    s.probs = zeros(nt * s.L);
    Case c;
    case_init(&c, name, (size_t)s.B * s.L * s.H * s.D, &s);
    c.fwd = ps_fwd;
    c.bwd = ps_bwd;
    c.branch = ps_branch;
    add_qkv(&c, &s);
    gradcheck(&c);

    // dq is zero for every lazy (non-top) query.
    float *dq = zeros(c.in[0].n);
    ps_fwd(&c);
    op_probsparse_attention_backward(dq, NULL, NULL, c.dout, X(&c, 0), X(&c, 1), X(&c, 2),
                                     s.probs, s.top, s.n_top, s.B, s.L, s.H, s.D);
    int bad = 0;
    for (int b = 0; b < s.B; b++)
        for (int h = 0; h < s.H; h++)
            for (int i = 0; i < s.L; i++) {
                int is_top = 0;
                for (int t = 0; t < s.n_top; t++) is_top |= s.top[(b * s.H + h) * s.n_top + t] == i;
                for (int d = 0; d < s.D; d++) {
                    float g = dq[(((size_t)b * s.L + i) * s.H + h) * s.D + d];
                    if (!is_top && g != 0.0f) bad++;
                }
            }
    EXPECT(bad == 0, "probsparse: %d dq entries of lazy queries are non-zero", bad);
    free(dq);
    case_free(&c);
    free(s.sample_idx);
    free(s.top);
    free(s.top0);
    free(s.probs);
}

static void test_probsparse_helpers(void) {
    EXPECT(probsparse_u(1, 200) == 6, "probsparse_u(1, 200) = %d, want 6", probsparse_u(1, 200));
    EXPECT(probsparse_u(5, 10) == 10, "probsparse_u(5, 10) = %d, want 10 (capped at L)",
           probsparse_u(5, 10));
    EXPECT(probsparse_u(2, 20) == 6, "probsparse_u(2, 20) = %d, want 6", probsparse_u(2, 20));

    enum { LQ = 200, LK = 200, U = 6 };
    static int32_t a[LQ * U], b[LQ * U];
    AmRng r = am_rng(5, 17, RNG_PROBSPARSE, 3);
    probsparse_sample_keys(a, LQ, LK, U, &r);
    probsparse_sample_keys(b, LQ, LK, U, &r);
    int in_range = 1, same = 1, defn = 1;
    int hit[LK] = {0};
    for (int i = 0; i < LQ * U; i++) {
        in_range &= a[i] >= 0 && a[i] < LK;
        same &= a[i] == b[i];
        defn &= a[i] == (int32_t)am_rng_below(&r, (uint64_t)i, LK);
        if (a[i] >= 0 && a[i] < LK) hit[a[i]] = 1;
    }
    int distinct = 0;
    for (int i = 0; i < LK; i++) distinct += hit[i];
    EXPECT(in_range, "sample keys outside [0, %d)", LK);
    EXPECT(same, "probsparse_sample_keys is not deterministic");
    EXPECT(defn, "sample_idx[i, j] != am_rng_below(rng, i*n_sample + j, L_K)");
    EXPECT(distinct > LK / 2, "sample keys cover only %d of %d keys", distinct, LK);
    AmRng r2 = am_rng(5, 18, RNG_PROBSPARSE, 3);
    probsparse_sample_keys(b, LQ, LK, U, &r2);
    int differ = 0;
    for (int i = 0; i < LQ * U; i++) differ += a[i] != b[i];
    EXPECT(differ > LQ * U / 2, "another step gives nearly the same samples (%d differ)", differ);
}


// ---------------------------------------------------------------- conv2d and ConvNeXt pieces
typedef struct {
    int B, H, W, C_in, C_out, K;  // K: patch size (patch conv) or kernel (depthwise)
} Conv2dSt;

static void pconv_fwd(Case *c) {
    Conv2dSt *s = c->st;
    op_patch_conv2d_forward(c->out, X(c, 0), X(c, 1), X(c, 2), s->B, s->H, s->W, s->C_in, s->C_out, s->K);
}
static void pconv_bwd(Case *c) {
    Conv2dSt *s = c->st;
    op_patch_conv2d_backward(G(c, 0), G(c, 1), G(c, 2), c->dout, X(c, 0), X(c, 1), s->B, s->H, s->W,
                             s->C_in, s->C_out, s->K);
}
static void dwconv_fwd(Case *c) {
    Conv2dSt *s = c->st;
    op_dwconv2d_forward(c->out, X(c, 0), X(c, 1), X(c, 2), s->B, s->H, s->W, s->C_in, s->K);
}
static void dwconv_bwd(Case *c) {
    Conv2dSt *s = c->st;
    op_dwconv2d_backward(G(c, 0), G(c, 1), G(c, 2), c->dout, X(c, 0), X(c, 1), s->B, s->H, s->W, s->C_in,
                         s->K);
}

static void test_conv2d(void) {
    Case c;
    Conv2dSt p = {2, 4, 6, 3, 5, 2};
    size_t nx = (size_t)p.B * p.H * p.W * p.C_in, nw = (size_t)p.C_out * p.C_in * p.K * p.K;
    case_init(&c, "patch_conv2d p2", (size_t)p.B * (p.H / 2) * (p.W / 2) * p.C_out, &p);
    c.fwd = pconv_fwd;
    c.bwd = pconv_bwd;
    add_input(&c, "in", randn(nx, 1.0f), nx);
    add_input(&c, "w", randn(nw, 0.5f), nw);
    add_input(&c, "b", randn((size_t)p.C_out, 0.5f), (size_t)p.C_out);
    gradcheck(&c);
    case_free(&c);

    // 7x7 on a 5x6 map: every output sees the zero padding on some side.
    Conv2dSt d = {2, 5, 6, 4, 4, 7};
    nx = (size_t)d.B * d.H * d.W * d.C_in;
    nw = (size_t)d.C_in * d.K * d.K;
    case_init(&c, "dwconv2d K7", nx, &d);
    c.fwd = dwconv_fwd;
    c.bwd = dwconv_bwd;
    add_input(&c, "in", randn(nx, 1.0f), nx);
    add_input(&c, "w", randn(nw, 0.5f), nw);
    add_input(&c, "b", randn((size_t)d.C_in, 0.5f), (size_t)d.C_in);
    gradcheck(&c);
    case_free(&c);
}

typedef struct {
    int B, L, C;
    float p;
    AmRng rng;
} ChanSt;

static void cscale_fwd(Case *c) {
    ChanSt *s = c->st;
    op_channel_scale_forward(c->out, X(c, 0), X(c, 1), s->B * s->L, s->C);
}
static void cscale_bwd(Case *c) {
    ChanSt *s = c->st;
    op_channel_scale_backward(G(c, 0), G(c, 1), c->dout, X(c, 0), X(c, 1), s->B * s->L, s->C);
}
static void mpool_fwd(Case *c) {
    ChanSt *s = c->st;
    op_mean_pool_forward(c->out, X(c, 0), s->B, s->L, s->C);
}
static void mpool_bwd(Case *c) {
    ChanSt *s = c->st;
    if (G(c, 0)) op_mean_pool_backward(G(c, 0), c->dout, s->B, s->L, s->C);
}
static void dpath_fwd(Case *c) {
    ChanSt *s = c->st;
    op_drop_path_forward(c->out, X(c, 0), s->B, (size_t)s->L * s->C, s->p, &s->rng, 3);
}
static void dpath_bwd(Case *c) {
    ChanSt *s = c->st;
    if (G(c, 0)) op_drop_path_backward(G(c, 0), c->dout, s->B, (size_t)s->L * s->C, s->p, &s->rng, 3);
}

static void test_convnext_pieces(void) {
    ChanSt s = {3, 5, 4, 0.0f, am_rng(9, 1, RNG_DROPOUT, 77)};
    const size_t n = (size_t)s.B * s.L * s.C;
    Case c;
    case_init(&c, "channel_scale", n, &s);
    c.fwd = cscale_fwd;
    c.bwd = cscale_bwd;
    add_input(&c, "in", randn(n, 1.0f), n);
    add_input(&c, "g", randn((size_t)s.C, 1.0f), (size_t)s.C);
    gradcheck(&c);
    case_free(&c);

    case_init(&c, "mean_pool", (size_t)s.B * s.C, &s);
    c.fwd = mpool_fwd;
    c.bwd = mpool_bwd;
    add_input(&c, "in", randn(n, 1.0f), n);
    gradcheck(&c);
    case_free(&c);

    // Drop path: with 8 samples at p = 0.5 some are dropped and some kept.
    ChanSt d = {8, 3, 2, 0.5f, am_rng(9, 1, RNG_DROPOUT, 77)};
    const size_t nd = (size_t)d.B * d.L * d.C;
    case_init(&c, "drop_path", nd, &d);
    c.fwd = dpath_fwd;
    c.bwd = dpath_bwd;
    add_input(&c, "in", randn(nd, 1.0f), nd);
    gradcheck(&c);
    int dropped = 0, kept = 0;
    for (int b = 0; b < d.B; b++) {
        const float *o = c.out + (size_t)b * d.L * d.C, *x = c.in[0].x + (size_t)b * d.L * d.C;
        int zero = 1, scaled = 1;
        for (int i = 0; i < d.L * d.C; i++) {
            zero &= o[i] == 0.0f;
            scaled &= fabsf(o[i] - 2.0f * x[i]) <= 1e-6f * fabsf(x[i]);
        }
        EXPECT(zero || scaled, "drop_path sample %d is neither dropped nor scaled by 1/(1-p)", b);
        dropped += zero;
        kept += scaled && !zero;
    }
    EXPECT(dropped > 0 && kept > 0, "drop_path p=0.5 over 8 samples: %d dropped, %d kept", dropped, kept);
    case_free(&c);
}

// ---------------------------------------------------------------- Dirichlet-multinomial
typedef struct {
    int B, A, Q;
    int32_t first[3], last[3];
    float *counts, *logits;
} DirSt;

static void dconc_fwd(Case *c) { op_dirichlet_concentration_forward(c->out, X(c, 0), c->n_out); }
static void dconc_bwd(Case *c) {
    if (G(c, 0)) op_dirichlet_concentration_backward(G(c, 0), c->dout, X(c, 0), c->n_out);
}
static void dm_fwd(Case *c) {
    DirSt *s = c->st;
    op_dirichlet_multinomial_forward(c->out, X(c, 0), s->counts, s->first, s->last, s->B, s->A, s->Q);
}
// dout is per sample here; the op takes one scale, so the check uses dout = 1.
static void dm_bwd(Case *c) {
    DirSt *s = c->st;
    if (G(c, 0))
        op_dirichlet_multinomial_backward(G(c, 0), X(c, 0), s->counts, s->first, s->last, s->B, s->A, s->Q, 1.0f);
}

static void test_dirichlet(void) {
    Case c;
    case_init(&c, "dirichlet_concentration", 40, NULL);
    c.fwd = dconc_fwd;
    c.bwd = dconc_bwd;
    add_input(&c, "logits", randn(40, 2.0f), 40);
    gradcheck(&c);
    case_free(&c);

    // Three questions of 3, 2 and 4 answers; sample 1 was never asked question 1 and
    // has 10^4 votes on one answer (the largest counts the loss promises to handle).
    DirSt s = {3, 9, 3, {0, 3, 5}, {2, 4, 8}, NULL, NULL};
    const float counts[27] = {10, 3, 1, 4, 0, 2, 0, 0, 1,     //
                              0,  7, 2, 0, 0, 1, 1, 1, 10000, //
                              1,  0, 0, 2, 2, 0, 3, 0, 0};
    s.counts = (float *)counts;
    case_init(&c, "dirichlet_multinomial", (size_t)s.B, &s);
    for (int b = 0; b < s.B; b++) c.dout[b] = 1.0f;
    c.fwd = dm_fwd;
    c.bwd = dm_bwd;
    float *alpha = malloc(27 * sizeof *alpha);
    for (int i = 0; i < 27; i++) alpha[i] = 1.5f + (float)(i * 37 % 97);  // in (1, 101)
    add_input(&c, "alpha", alpha, 27);
    gradcheck(&c);
    // Question 1 of sample 1 (answers 3..4) had no votes: zero gradient exactly.
    float g[27] = {0};
    op_dirichlet_multinomial_backward(g, alpha, counts, s.first, s.last, s.B, s.A, s.Q, 1.0f);
    EXPECT(g[9 + 3] == 0.0f && g[9 + 4] == 0.0f, "unasked question has gradient %g %g", (double)g[12],
           (double)g[13]);
    // A sample with no votes at all has exactly zero loss.
    const float none[9] = {0};
    float nll = -1.0f;
    op_dirichlet_multinomial_forward(&nll, alpha, none, s.first, s.last, 1, s.A, s.Q);
    EXPECT(nll == 0.0f, "a sample without votes has loss %g, want exactly 0", (double)nll);
    case_free(&c);
}

int main(void) {
    test_linear(0);
    test_linear(1);
    test_conv1d("conv1d circular K3 pad1", (ConvSt){2, 3, 7, 4, 3, 1, PAD_CIRCULAR}, 1);
    test_conv1d("conv1d zeros K3 pad1", (ConvSt){2, 3, 7, 4, 3, 1, PAD_ZEROS}, 1);
    test_conv1d("conv1d zeros K3 pad0", (ConvSt){2, 3, 7, 4, 3, 0, PAD_ZEROS}, 1);
    test_conv1d("conv1d circular K3 pad1 B1", (ConvSt){1, 2, 6, 3, 3, 1, PAD_CIRCULAR}, 0);
    test_conv1d("conv1d circular K5 pad2", (ConvSt){2, 2, 4, 3, 5, 2, PAD_CIRCULAR}, 0);
    test_transpose();
    test_maxpool();
    test_layernorm();
    test_l2norm();
    test_elementwise();
    test_softmax_ce();
    test_attention(2, 5, 2, 3, "attention D3");
    test_attention(1, 4, 2, 33, "attention D33");
    EXPECT(probsparse_u(1, 12) == 3, "probsparse_u(1, 12) = %d, want 3", probsparse_u(1, 12));
    test_probsparse(2, 12, 2, 4, 4, "probsparse_attention D4");
    test_probsparse(1, 8, 2, 33, 3, "probsparse_attention D33");
    test_probsparse_helpers();
    test_conv2d();
    test_convnext_pieces();
    test_dirichlet();
    return tu_finish("test_ops_gradcheck");
}
