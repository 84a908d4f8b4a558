// Image fine-tuning (models/image_classifier.h, train/image_ft_step.h): the
// step's gradients against central finite differences of its own loss, for
// the linear and the paper head, binary (sigmoid + BCE), class (softmax + CE)
// and vote (Dirichlet-multinomial over a new schema) targets, with padding
// rows and (votes) a question nobody was asked; what trains: a frozen encoder gets no
// gradient and the ranges carry lr * decay^i per block from the top.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/image_classifier.h"
#include "mpi/comm.h"
#include "nn/ops.h"
#include "train/image_ft_step.h"
#include "testutil.h"

enum { B = 5, S = 32, C = 1 };

static void tiny_config(ConvNextConfig *c) {
    convnext_config_nano(c);
    c->in_chans = C;
    c->image_size = S;
    int d[4] = {1, 1, 1, 1}, w[4] = {4, 8, 8, 8};
    memcpy(c->depths, d, sizeof d);
    memcpy(c->dims, w, sizeof w);
    c->drop_path = 0.0f;
    c->layer_scale = 0.5f;
}

// Adds e * d to every element of parameter group grp (d = +-1 from a fixed
// sequence); returns the gradient's derivative along d, sum g * d.
static double nudge_group(ParamStore *ps, int grp, float e) {
    uint64_t r = 77 + (uint64_t)grp;
    double gd = 0;
    for (int t = 0; t < ps->n; t++) {
        if (ps->info[t].group != grp) continue;
        float *p = params_data(ps, t);
        const float *g = params_grad(ps, t);
        for (size_t k = 0; k < ps->info[t].numel; k++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            const float d = (r >> 63) ? 1.0f : -1.0f;
            gd += (double)g[k] * d;
            p[k] += e * d;
        }
    }
    return gd;
}

// The step's loss at the current parameters (evaluation: no dropout).
static double loss_at(ImageFtStep *s, const Batch *b, const ImageFtTargets *y) {
    StepCtx ctx = {.seed = 3, .step = 1, .sample_offset = 0, .training = 0};
    return image_ft_step_evaluate(s, b, y, &ctx, NULL).loss;
}

// A new vote schema (not Zoobot's): two questions of 2 and 3 answers.
static void tiny_schema(VoteSchema *vs) {
    static const char *const q1[] = {"smooth", "featured"}, *const q2[] = {"none", "weak", "strong"};
    memset(vs, 0, sizeof *vs);
    vote_schema_add(vs, "shape", q1, 2);
    vote_schema_add(vs, "bar", q2, 3);
}

static void check_case(Comm *comm, int head, int target, int K) {
    ConvNextConfig cfg;
    tiny_config(&cfg);
    VoteSchema vs;
    tiny_schema(&vs);
    const int votes = target == IMAGE_TARGET_VOTES, outputs = votes ? vs.answers : target == IMAGE_TARGET_BINARY ? 1 : K;
    ImageClassifier m;
    image_classifier_create(&m, &cfg, head, outputs, 0.0f, B);  // no dropout: FD-able
    image_classifier_init(&m, 7);
    ImageFtStep s;
    image_ft_step_init(&s, &m, comm, B, target, K, votes ? &vs : NULL, 5, 0.75f);
    float *img = malloc(sizeof(float) * B * S * S * C);
    uint64_t st = 5;
    for (int i = 0; i < B * S * S * C; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        img[i] = (float)((double)(st >> 11) / 9007199254740992.0 - 0.5);
    }
    Batch b = {.images = img, .n = B, .image_size = S, .image_channels = C};
    int32_t y[B] = {1, 0, K - 1, 1, 0};
    uint8_t valid[B] = {1, 1, 1, 1, 0};  // a padding row: no loss, no gradient
    // votes per row: shape (2), bar (3); row 2 was never asked about the bar
    float kv[B * 5] = {3, 1, 0, 2, 1, 0, 4, 1, 1, 0, 2, 2, 0, 0, 0, 1, 5, 3, 0, 1, 6, 0, 2, 2, 2};
    const ImageFtTargets yt = {votes ? NULL : y, votes ? kv : NULL, valid};
    StepCtx ctx = {.seed = 3, .step = 1, .sample_offset = 0, .training = 1};
    image_ft_step_forward_backward(&s, &b, &yt, &ctx);
    const ParamStore *ps = &m.params;
    // The head is piecewise linear in its tensors: element-wise central
    // differences. The encoder (LayerNorm, GELU) in float32 is not: the
    // derivative along a random direction of each parameter group (stem,
    // stages, head norm), a sum over many elements that float noise cannot hide.
    int checked = 0, bad = 0;
    double worst = 0;
    for (int t = 0; t < ps->n; t++) {
        if (ps->info[t].group != IMAGE_GROUP_HEAD) continue;
        const size_t n = ps->info[t].numel;
        for (size_t k = 0; k < n; k += n / 7 + 1) {
            float *p = params_data((ParamStore *)ps, t) + k;
            const float g = params_grad((ParamStore *)ps, t)[k], p0 = *p;
            const float e = 1e-2f;
            *p = p0 + e;
            const double lp = loss_at(&s, &b, &yt);
            *p = p0 - e;
            const double lm = loss_at(&s, &b, &yt);
            *p = p0;
            const double fd = (lp - lm) / (2.0 * e), err = fabs(g - fd) / (1e-2 + fabs(fd));
            worst = fmax(worst, err);
            checked++;
            if (err > 1e-2) {
                bad++;
                fprintf(stderr, "  %s[%zu]: grad %.6g, finite difference %.6g\n", ps->info[t].name, k, (double)g, fd);
            }
        }
    }
    for (int grp = 0; grp < IMAGE_GROUP_HEAD; grp++) {
        const float e = 1e-5f;
        const double gd = nudge_group((ParamStore *)ps, grp, e);
        const double lp = loss_at(&s, &b, &yt);
        nudge_group((ParamStore *)ps, grp, -2 * e);
        const double lm = loss_at(&s, &b, &yt);
        nudge_group((ParamStore *)ps, grp, e);
        // float32 losses: the difference carries about 8 ulp(loss) / e of noise
        const double fd = (lp - lm) / (2.0 * e), noise = 8 * 6e-8 * fabs(lp) / e;
        const double err = fabs(gd - fd) / (3e-2 * fabs(fd) + noise);
        worst = fmax(worst, err);
        checked++;
        if (err > 1.0) {
            bad++;
            fprintf(stderr, "  encoder group %d: directional derivative %.6g, finite difference %.6g\n", grp, gd, fd);
        }
    }
    EXPECT(bad == 0, "%s head, %s target: %d of %d gradients off (worst error / tolerance %.3g)", image_head_name(head),
           votes ? "vote" : target == IMAGE_TARGET_BINARY ? "binary" : "class", bad, checked, worst);
    // the padding row's label or votes may be anything: other ones change nothing
    const double l0 = loss_at(&s, &b, &yt);
    y[4] = K - 1;
    kv[4 * 5 + 1] = 9;
    EXPECT(loss_at(&s, &b, &yt) == l0, "padding rows do not count");
    image_ft_step_free(&s);
    image_classifier_free(&m);
    free(img);
}

static void check_ranges(Comm *comm) {
    ConvNextConfig cfg;
    tiny_config(&cfg);
    ImageClassifier m;
    image_classifier_create(&m, &cfg, IMAGE_HEAD_LINEAR, 3, 0.5f, B);
    image_classifier_init(&m, 1);
    ImageFtStep s;
    image_ft_step_init(&s, &m, comm, B, IMAGE_TARGET_CLASSES, 3, NULL, 0, 0.75f);
    size_t head = 0;
    for (int t = 0; t < m.params.n; t++)
        if (m.params.info[t].group == IMAGE_GROUP_HEAD) head += (size_t)m.params.info[t].numel;
    EXPECT(s.n_ranges == 1 && s.ranges[0][1] == head && s.lr_scale[0] == 1.0f, "frozen: the head only (%d ranges)",
           s.n_ranges);
    // frozen: the backward leaves the encoder's gradients at zero
    float *img = calloc((size_t)B * S * S * C, sizeof(float));
    for (int i = 0; i < B * S * S * C; i += 7) img[i] = 0.3f;
    Batch b = {.images = img, .n = B, .image_size = S, .image_channels = C};
    int32_t y[B] = {0, 1, 2, 0, 1};
    StepCtx ctx = {.seed = 3, .step = 1, .training = 1};
    const ImageFtTargets yt = {.labels = y};
    image_ft_step_forward_backward(&s, &b, &yt, &ctx);
    double enc = 0;
    for (int t = 0; t < m.params.n; t++)
        if (m.params.info[t].group != IMAGE_GROUP_HEAD)
            for (size_t k = 0; k < m.params.info[t].numel; k++) enc += fabs(params_grad(&m.params, t)[k]);
    EXPECT(enc == 0.0, "a frozen encoder has no gradient (%g)", enc);
    image_ft_step_free(&s);
    image_ft_step_init(&s, &m, comm, B, IMAGE_TARGET_CLASSES, 3, NULL, 3, 0.75f);
    // head (1), block 0 = stage 4 + head norm (0.75^0), block 1 = stage 3 (0.75), block 2 = stage 2 (0.5625)
    float scales[8];
    int n = 0;
    for (int r = 0; r < s.n_ranges; r++)
        if (!n || scales[n - 1] != s.lr_scale[r]) scales[n++] = s.lr_scale[r];
    EXPECT(s.n_ranges >= 4 && n == 3 && scales[0] == 1.0f && fabsf(scales[1] - 0.75f) < 1e-7f &&
               fabsf(scales[2] - 0.5625f) < 1e-7f, "layer-wise decay: %d ranges, %d distinct scales", s.n_ranges, n);
    EXPECT(s.ranges[0][0] >= s.ranges[1][0], "the head comes first, then blocks from the top");
    // below the unfrozen blocks the gradient is zero (no local, rank-dependent values)
    image_ft_step_forward_backward(&s, &b, &yt, &ctx);
    double below = 0, top = 0;
    for (int t = 0; t < m.params.n; t++) {
        const int g = m.params.info[t].group;
        for (size_t k = 0; k < m.params.info[t].numel; k++) {
            const double a = fabs(params_grad(&m.params, t)[k]);
            if (g <= 1) below += a;  // the stem and stage 1: blocks 4 and 3
            if (g == 4) top += a;    // stage 4: block 0
        }
    }
    EXPECT(below == 0.0 && top > 0.0, "unfreeze 3: stem and stage 1 without gradient (%g), stage 4 with (%g)", below, top);
    image_ft_step_free(&s);
    image_classifier_free(&m);
    free(img);
}

int main(int argc, char **argv) {
    ops_init(0);
    Comm *comm = comm_init(&argc, &argv);
    check_case(comm, IMAGE_HEAD_LINEAR, IMAGE_TARGET_BINARY, 2);
    check_case(comm, IMAGE_HEAD_LINEAR, IMAGE_TARGET_CLASSES, 4);
    check_case(comm, IMAGE_HEAD_PAPER, IMAGE_TARGET_BINARY, 2);
    check_case(comm, IMAGE_HEAD_PAPER, IMAGE_TARGET_CLASSES, 3);
    check_case(comm, IMAGE_HEAD_LINEAR, IMAGE_TARGET_VOTES, 0);
    check_case(comm, IMAGE_HEAD_PAPER, IMAGE_TARGET_VOTES, 0);
    check_ranges(comm);
    comm_finalize(comm);
    return tu_finish("test_image_ft");
}
