// The Zoobot model (ConvNeXt + Dirichlet head + Dirichlet-multinomial loss) on
// the CUDA device against the CPU: a small ConvNeXt (32 px, 1 channel) and
// ConvNeXt-nano's first stages at 64 px (3 channels), batch 4, training mode
// (head dropout and drop path on, the same counters on both devices).
// The GPU model gets the CPU's parameters; both get the same images and votes.
// Compared: the representation, the concentrations and the per-sample losses
// (max |gpu - cpu| / max |cpu| <= 1e-4), and every parameter gradient per
// tensor at 1e-4 relative (the convolutions run through cuDNN in strict FP32).
// A second GPU backward must give bit-identical gradients (cuDNN is asked for
// deterministic algorithms). Skips (77) without a GPU unless
// ASTROMM_GPU_TESTS_ON_CPU=1 (both sides on the CPU: a harness self-test).
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "loss/dirichlet.h"
#include "models/zoobot.h"
#include "nn/ops.h"
#include "testutil.h"

#define TOL 1e-4

static OpsDevice g_dev;

static void *fetch(const void *p, size_t bytes) {
    void *h = malloc(bytes ? bytes : 1);
    REQUIRE(h, "out of host memory");
    if (bytes) ops_to_host(h, p, bytes);
    return h;
}

static void compare(const char *tag, const char *what, const float *gpu_host, const float *cpu, size_t n) {
    const double e = tu_max_rel_err(gpu_host, cpu, n, 1e-6);
    EXPECT(e <= TOL, "%s: %s max rel err %.3g > %.0e", tag, what, e, TOL);
    if (getenv("ASTROMM_TEST_VERBOSE")) printf("  %s %-50s %.3g\n", tag, what, e);
}

typedef struct {
    ZoobotModel m;
    DirichletLoss loss;
    float *images, *votes, *dalpha;
} Side;

static void side_run(Side *s, const ConvNextConfig *cc, const VoteSchema *vs, int B, const float *h_img,
                     const float *h_votes, const float *params) {
    zoobot_create(&s->m, cc, vs->answers, 0.2f, B);
    zoobot_init(&s->m, 3);
    if (params) ops_to_device(s->m.params.data, params, s->m.params.n_train_floats * sizeof(float));
    dirichlet_loss_init(&s->loss, vs, B);
    const size_t ni = (size_t)B * cc->image_size * cc->image_size * cc->in_chans, nv = (size_t)B * vs->answers;
    s->images = ops_alloc(ni * sizeof(float), "images");
    s->votes = ops_alloc(nv * sizeof(float), "votes");
    s->dalpha = ops_alloc(nv * sizeof(float), "dalpha");
    ops_to_device(s->images, h_img, ni * sizeof(float));
    ops_to_device(s->votes, h_votes, nv * sizeof(float));
}

static void side_step(Side *s, int B) {
    StepCtx ctx = {.seed = 9, .step = 2, .sample_offset = 4, .training = 1};
    params_zero_grad(&s->m.params);
    const float *alpha = zoobot_forward(&s->m, &s->m.params, s->images, B, &ctx);
    dirichlet_loss_forward(&s->loss, alpha, s->votes, B);
    ops_zero(s->dalpha, (size_t)B * s->m.answers);
    dirichlet_loss_backward(&s->loss, s->dalpha, alpha, s->votes, B, 1.0f / (float)B);
    zoobot_backward(&s->m, &s->m.params, s->dalpha);
    ops_synchronize();
}

static void side_free(Side *s) {
    ops_free(s->images), ops_free(s->votes), ops_free(s->dalpha);
    dirichlet_loss_free(&s->loss);
    zoobot_free(&s->m);
}

static void run_case(const char *tag, const ConvNextConfig *cc, int B) {
    VoteSchema vs;
    vote_schema_gz_decals(&vs);
    const int A = vs.answers, F = convnext_features(cc);
    const size_t ni = (size_t)B * cc->image_size * cc->image_size * cc->in_chans, nv = (size_t)B * A;
    float *h_img = malloc(ni * sizeof *h_img), *h_votes = malloc(nv * sizeof *h_votes);
    const AmRng r = am_rng(1, 0, RNG_SYNTH, 0x7a);
    for (size_t i = 0; i < ni; i++) h_img[i] = am_rng_uniform(&r, i);
    for (size_t i = 0; i < nv; i++) h_votes[i] = (float)am_rng_below(&r, ni + i, 30);
    ops_set_device(OPS_CPU, 0);
    Side cpu;
    side_run(&cpu, cc, &vs, B, h_img, h_votes, NULL);
    side_step(&cpu, B);
    ops_set_device(g_dev, 0);
    Side gpu;
    side_run(&gpu, cc, &vs, B, h_img, h_votes, cpu.m.params.data);
    side_step(&gpu, B);
    float *feat = fetch(gpu.m.enc.feat, (size_t)B * F * sizeof(float)), *alpha = fetch(gpu.m.alpha, nv * sizeof(float));
    float *nll = fetch(gpu.loss.nll, (size_t)B * sizeof(float));
    compare(tag, "representation", feat, cpu.m.enc.feat, (size_t)B * F);
    compare(tag, "concentrations", alpha, cpu.m.alpha, nv);
    compare(tag, "per-sample loss", nll, cpu.loss.nll_host, (size_t)B);
    float *g1 = fetch(gpu.m.params.grad, gpu.m.params.n_train_floats * sizeof(float));
    for (int i = 0; i < cpu.m.params.n; i++) {
        const ParamInfo *p = &cpu.m.params.info[i];
        compare(tag, p->name, g1 + p->offset, params_grad(&cpu.m.params, i), p->numel);
    }
    side_step(&gpu, B);
    float *g2 = fetch(gpu.m.params.grad, gpu.m.params.n_train_floats * sizeof(float));
    EXPECT(!memcmp(g1, g2, gpu.m.params.n_train_floats * sizeof(float)), "%s: a second GPU step gives other gradients", tag);
    free(feat), free(alpha), free(nll), free(g1), free(g2), free(h_img), free(h_votes);
    side_free(&gpu);
    ops_set_device(OPS_CPU, 0);
    side_free(&cpu);
}

int main(void) {
    ops_init(0);
    const char *self = getenv("ASTROMM_GPU_TESTS_ON_CPU");
    if (ops_cuda_available()) {
        unsetenv("ASTROMM_TF32");
        g_dev = OPS_CUDA;
    } else if (self && !strcmp(self, "1")) {
        g_dev = OPS_CPU;
        printf("test_gpu_zoobot: no GPU; ASTROMM_GPU_TESTS_ON_CPU=1: both sides on the CPU (harness self-test)\n");
    } else {
        printf("SKIP: no usable GPU (test_gpu_zoobot)\n");
        return 77;
    }
    ConvNextConfig small = {1, 32, {1, 1, 2, 1}, {8, 16, 24, 32}, 0.3f, 0.5f};
    run_case("small", &small, 4);
    ConvNextConfig nano;
    convnext_config_nano(&nano);
    nano.in_chans = 3, nano.image_size = 64, nano.drop_path = 0.1f, nano.layer_scale = 0.5f;
    run_case("nano@64", &nano, 4);
    return tu_finish("test_gpu_zoobot");
}
