// The Zoobot model (ConvNeXt encoder + Dirichlet head + Dirichlet-multinomial
// loss) against torchvision's ConvNeXt and Zoobot's loss in PyTorch
// (tests/reference/make_convnext_reference.py): the representation, the
// concentrations, each sample's loss and the gradient of every parameter after
// one backward of the batch-mean loss. Tolerance: per tensor, max |c - torch| /
// max(|torch|_inf, 1e-6) <= 1e-4 (as test_reference.c).
//
// The same weights saved in timm's layout (convnext_small_timm.safetensors)
// go through the timm name map and must give the same concentrations; a
// checkpoint with a tensor of the wrong shape is refused, naming it.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "loss/dirichlet.h"
#include "models/convnext_timm.h"
#include "models/zoobot.h"
#include "nn/ops.h"
#include "testutil.h"

#define TOL 1e-4
#define FIXTURE "tests/reference/fixtures/convnext_small.safetensors"
#define FIXTURE_TIMM "tests/reference/fixtures/convnext_small_timm.safetensors"

static const float *tensor(const StFile *f, const char *name, size_t want) {
    const StTensor *t = st_find(f, name);
    REQUIRE(t, "fixture tensor '%s' missing", name);
    REQUIRE((size_t)st_numel(t) == want, "fixture tensor '%s' has %lld elements, expected %zu", name,
            (long long)st_numel(t), want);
    return st_data(f, t);
}

static void compare(const char *what, const float *c, const float *ref, size_t n) {
    double err = tu_max_rel_err(c, ref, n, 1e-6);
    EXPECT(err <= TOL, "%s max rel err %.3g > %.0e", what, err, TOL);
    if (getenv("ASTROMM_TEST_VERBOSE")) printf("  %-50s %.3g\n", what, err);
}

static void parse4(const char *s, int out[4]) {
    REQUIRE(s && sscanf(s, "%d,%d,%d,%d", &out[0], &out[1], &out[2], &out[3]) == 4, "bad 4-list '%s'", s ? s : "");
}

static void fixture_config(const StFile *f, ConvNextConfig *c) {
    convnext_config_nano(c);
    c->in_chans = atoi(st_meta(f, "in_chans"));
    c->image_size = atoi(st_meta(f, "image_size"));
    parse4(st_meta(f, "depths"), c->depths);
    parse4(st_meta(f, "dims"), c->dims);
}

int main(void) {
    ops_init(0);
    StFile *f = NULL;
    AmError err;
    REQUIRE(!st_open(&f, FIXTURE, &err), "%s (regenerate with tests/reference/make_convnext_reference.py)", err.msg);
    ConvNextConfig cfg;
    fixture_config(f, &cfg);
    const int B = atoi(st_meta(f, "batch")), A = atoi(st_meta(f, "answers")), F = convnext_features(&cfg);
    char msg[256];
    REQUIRE(!convnext_config_validate(&cfg, msg, sizeof msg), "fixture config: %s", msg);

    ParamStore ps = {0};
    ZoobotModel m;
    zoobot_register(&m, &ps, &cfg, A, 0.0f);
    params_allocate(&ps);
    // Every torch parameter is ours, under the same name, and nothing else.
    int n_fixture = 0;
    for (int i = 0; i < st_count(f); i++) n_fixture += !strncmp(st_tensor(f, i)->name, "param.", 6);
    EXPECT(n_fixture == ps.n_trainable, "torch has %d parameters, astromm %d", n_fixture, ps.n_trainable);
    for (int i = 0; i < ps.n; i++) {
        char name[PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "param.%s", ps.info[i].name);
        memcpy(params_data(&ps, i), tensor(f, name, ps.info[i].numel), ps.info[i].numel * sizeof(float));
    }
    AmArena arena = {0};
    zoobot_build(&m, &arena, B);
    VoteSchema schema;
    vote_schema_gz_decals(&schema);
    REQUIRE(schema.answers == A, "schema has %d answers, fixture %d", schema.answers, A);
    DirichletLoss loss;
    dirichlet_loss_init(&loss, &schema, B);

    const int S = cfg.image_size;
    const float *images = tensor(f, "input.images", (size_t)B * S * S * cfg.in_chans);
    const float *counts = tensor(f, "input.counts", (size_t)B * A);
    StepCtx ctx = {1, 0, 0, 1};
    params_zero_grad(&ps);
    const float *alpha = zoobot_forward(&m, &ps, images, B, &ctx);
    compare("output.features", m.enc.feat, tensor(f, "output.features", (size_t)B * F), (size_t)B * F);
    compare("output.alpha", alpha, tensor(f, "output.alpha", (size_t)B * A), (size_t)B * A);
    double sum = dirichlet_loss_forward(&loss, alpha, counts, B);
    compare("output.nll", loss.nll_host, tensor(f, "output.nll", (size_t)B), (size_t)B);
    const float *ref_nll = tensor(f, "output.nll", (size_t)B);
    double ref_sum = 0.0;
    for (int b = 0; b < B; b++) ref_sum += ref_nll[b];
    EXPECT(fabs(sum - ref_sum) <= 1e-4 * fabs(ref_sum), "loss sum %.8g vs torch %.8g", sum, ref_sum);

    float *dalpha = calloc((size_t)B * A, sizeof *dalpha);
    dirichlet_loss_backward(&loss, dalpha, alpha, counts, B, 1.0f / (float)B);
    zoobot_backward(&m, &ps, dalpha);
    for (int i = 0; i < ps.n; i++) {
        char name[PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", ps.info[i].name);
        compare(name, params_grad(&ps, i), tensor(f, name, ps.info[i].numel), ps.info[i].numel);
    }

    // The same weights in timm's layout.
    float *alpha_ref = malloc((size_t)B * A * sizeof *alpha_ref);
    memcpy(alpha_ref, alpha, (size_t)B * A * sizeof *alpha_ref);
    ops_zero(ps.data, ps.n_train_floats);
    REQUIRE(!convnext_load_timm(&ps, FIXTURE_TIMM, &err), "timm checkpoint: %s", err.msg);
    const float *alpha_timm = zoobot_forward(&m, &ps, images, B, &ctx);
    compare("timm layout: alpha", alpha_timm, alpha_ref, (size_t)B * A);
    char nm[PARAM_NAME_MAX];
    convnext_timm_name("features.5.1.block.3.weight", nm, sizeof nm);
    EXPECT(!strcmp(nm, "stages.2.blocks.1.mlp.fc1.weight"), "timm name of block.3: %s", nm);
    convnext_timm_name("features.6.1.bias", nm, sizeof nm);
    EXPECT(!strcmp(nm, "stages.3.downsample.1.bias"), "timm name of the last downsampling: %s", nm);

    // A model of another width is refused, naming the tensor.
    ParamStore ps2 = {0};
    ZoobotModel m2;
    ConvNextConfig wide = cfg;
    wide.dims[0] += 8;
    zoobot_register(&m2, &ps2, &wide, A, 0.0f);
    params_allocate(&ps2);
    EXPECT(convnext_load_timm(&ps2, FIXTURE_TIMM, &err) != 0 && strstr(err.msg, "stem.0.weight"),
           "a checkpoint of another width is not refused by name: %s", err.msg);
    params_free(&ps2);

    free(alpha_ref);
    free(dalpha);
    dirichlet_loss_free(&loss);
    arena_free(&arena);
    params_free(&ps);
    st_close(f);
    return tu_finish("test_convnext_reference");
}
