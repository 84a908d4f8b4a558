// bench_zoobot_step: one Zoobot training step (ConvNeXt forward, Dirichlet head,
// Dirichlet-multinomial loss over the GZ DECaLS schema, backward, gradient
// clipping, AdamW) on generated greyscale images and votes, timed step by step.
// The model is a config file's (default configs/zoobot_small.cfg). The PyTorch
// peer is benchmarks/peer/zoobot_torch.py; benchmarks/run_zoobot_cpu.sh runs both.
//
// usage: bench_zoobot_step [--config F] [--batch 64] [--threads 2] [--warmup 2] [--steps 10] [--json PATH]
//                          [--profile STEPS] [--device cpu|cuda] [--precision fp32|tf32|bf16]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "app/cli.h"
#include "config/run_config.h"
#include "core/clock.h"
#include "core/rng.h"
#include "loss/dirichlet.h"
#include "models/zoobot.h"
#include "nn/ops.h"
#include "optim/adam.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int batch = 64, threads = 2, warmup = 2, steps = 10, profile = 0;
    const char *json = NULL, *config = "configs/zoobot_small.cfg", *device = "cpu", *precision = "fp32";
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--batch") && v) batch = atoi(argv[++i]);
        else if (!strcmp(s, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(s, "--warmup") && v) warmup = atoi(argv[++i]);
        else if (!strcmp(s, "--steps") && v) steps = atoi(argv[++i]);
        else if (!strcmp(s, "--json") && v) json = argv[++i];
        else if (!strcmp(s, "--config") && v) config = argv[++i];
        else if (!strcmp(s, "--device") && v) device = argv[++i];
        else if (!strcmp(s, "--precision") && v) precision = argv[++i];
        else if (!strcmp(s, "--profile") && v) profile = atoi(argv[++i]);
        else {
            fprintf(stderr, "bench_zoobot_step: unknown argument '%s' (see the usage at the top of the source)\n", s);
            return 2;
        }
    }
    if (batch < 1 || steps < 1 || warmup < 0) return fprintf(stderr, "bench_zoobot_step: bad --batch/--steps/--warmup\n"), 2;
    RunConfig cfg;
    char set_device[64], set_precision[64], err[512];
    snprintf(set_device, sizeof set_device, "run.device=\"%.40s\"", device);
    snprintf(set_precision, sizeof set_precision, "run.precision=\"%.40s\"", precision);
    const char *const sets[2] = {set_device, set_precision};
    if (run_config_load(&cfg, config, sets, 2, err, sizeof err)) return fprintf(stderr, "bench_zoobot_step: %s\n", err), 2;
    if (cfg.model.family != MODEL_FAMILY_CONVNEXT)
        return fprintf(stderr, "bench_zoobot_step: %s: model.family is not \"convnext\"\n", config), 2;
    cfg.threads = threads;
    cli_select_device(&cfg, NULL);
    VoteSchema schema;
    vote_schema_gz_decals(&schema);
    ConvNextConfig cc;
    zoobot_convnext_config(&cfg.model, &cc);
    ZoobotModel m;
    zoobot_create(&m, &cc, schema.answers, cfg.model.p_head, batch);
    zoobot_init(&m, cfg.seed);
    DirichletLoss loss;
    dirichlet_loss_init(&loss, &schema, batch);
    Adam opt;
    adamw_init(&opt, m.params.n_train_floats, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay);
    // Generated inputs: images in [0, 1], votes 0..39 per answer.
    const int S = cc.image_size, C = cc.in_chans, A = schema.answers;
    const size_t ni = (size_t)batch * S * S * C, nv = (size_t)batch * A;
    float *h_img = malloc(ni * sizeof *h_img), *h_votes = malloc(nv * sizeof *h_votes);
    const AmRng r = am_rng(cfg.seed, 0, RNG_SYNTH, 0x2007);
    for (size_t i = 0; i < ni; i++) h_img[i] = am_rng_uniform(&r, i);
    for (size_t i = 0; i < nv; i++) h_votes[i] = (float)am_rng_below(&r, ni + i, 40);
    float *img = ops_alloc(ni * sizeof *img, "images"), *votes = ops_alloc(nv * sizeof *votes, "votes");
    float *dalpha = ops_alloc(nv * sizeof *dalpha, "dalpha");
    ops_to_device(img, h_img, ni * sizeof *img);
    ops_to_device(votes, h_votes, nv * sizeof *votes);
    double *t = calloc((size_t)steps, sizeof *t), last = 0;
    for (int s = 0; s < warmup + steps + profile; s++) {
        if (s == warmup + steps) ops_profile_reset(), ops_profile_enable(1);
        StepCtx ctx = {.seed = cfg.seed, .step = (uint64_t)s, .sample_offset = 0, .training = 1};
        const double t0 = am_now_s();
        params_zero_grad(&m.params);
        const float *alpha = zoobot_forward(&m, &m.params, img, batch, &ctx);
        last = dirichlet_loss_forward(&loss, alpha, votes, batch) / batch;
        ops_zero(dalpha, nv);
        dirichlet_loss_backward(&loss, dalpha, alpha, votes, batch, 1.0f / (float)batch);
        zoobot_backward(&m, &m.params, dalpha);
        clip_grad_norm(m.params.grad, m.params.n_train_floats, cfg.clip_norm);
        adam_step(&opt, m.params.data, m.params.grad);
        ops_synchronize();
        if (s >= warmup && s < warmup + steps) t[s - warmup] = am_now_s() - t0;
    }
    if (profile > 0) {
        ops_profile_enable(0);
        ops_profile_report(stdout, profile);
    }
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    const double median = steps % 2 ? t[steps / 2] : 0.5 * (t[steps / 2 - 1] + t[steps / 2]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double rss = ru.ru_maxrss / 1024.0;
    printf("astromm C (%s): %s, %zu parameters, batch %d, %d threads, median step %.4f s, %.1f images/s, peak RSS %.0f MiB, "
           "last loss %.4f\n", ops_device_name(), config, m.params.n_train_floats, batch, ops_num_threads(), median,
           batch / median, rss, last);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) return perror(json), 1;
        fprintf(f, "{\"impl\": \"astromm-c\", \"threads\": %d, \"batch\": %d, \"params\": %zu, \"step_seconds\": [",
                ops_num_threads(), batch, m.params.n_train_floats);
        for (int s = 0; s < steps; s++) fprintf(f, "%s%.6f", s ? ", " : "", t[s]);
        fprintf(f, "], \"median_step_s\": %.6f, \"images_per_s\": %.4f, \"peak_rss_mib\": %.1f, \"last_loss\": %.6f}\n",
                median, batch / median, rss, last);
        fclose(f);
    }
    free(t), free(h_img), free(h_votes);
    ops_free(img), ops_free(votes), ops_free(dalpha);
    dirichlet_loss_free(&loss);
    adam_free(&opt);
    zoobot_free(&m);
    return 0;
}
