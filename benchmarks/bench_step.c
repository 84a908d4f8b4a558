// bench_step: one full AstroM3 CLIP training step (forward, loss, backward,
// clipping, Adam) at the published sizes, timed step by step. The PyTorch peer
// is benchmarks/peer/astrom3_torch.py; benchmarks/run_cpu.sh runs both.
//
// usage: bench_step [--batch 64] [--threads 2] [--warmup 2] [--steps 10] [--json PATH] [--profile STEPS]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/clock.h"
#include "config/run_config.h"
#include "app/cli.h"
#include "models/device_batch.h"
#include "models/synth_batch.h"
#include "loss/clip.h"
#include "nn/ops.h"
#include "optim/adam.h"
#include "train/clip_step.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int batch = 64, threads = 2, warmup = 2, steps = 10, profile = 0;
    const char *json = NULL, *device = "cpu", *precision = "fp32";
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--batch") && v) batch = atoi(argv[++i]);
        else if (!strcmp(s, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(s, "--warmup") && v) warmup = atoi(argv[++i]);
        else if (!strcmp(s, "--steps") && v) steps = atoi(argv[++i]);
        else if (!strcmp(s, "--json") && v) json = argv[++i];
        else if (!strcmp(s, "--device") && v) device = argv[++i];
        else if (!strcmp(s, "--precision") && v) precision = argv[++i];
        else if (!strcmp(s, "--profile") && v) profile = atoi(argv[++i]);
        else {
            fprintf(stderr, "bench_step: unknown argument '%s'\n"
                            "usage: bench_step [--batch N] [--threads N] [--warmup N] [--steps N] [--json PATH]\n"
                            "                  [--device cpu|cuda|auto] [--precision fp32|tf32|bf16] [--profile STEPS]\n", s);
            return 2;
        }
    }
    if (batch < 1 || steps < 1 || warmup < 0) {
        fprintf(stderr, "bench_step: need --batch >= 1, --steps >= 1, --warmup >= 0\n");
        return 2;
    }
    // --device and --precision are run.device and run.precision: the config
    // parser checks them and names the key when one is wrong.
    RunConfig cfg;
    char set_device[64], set_precision[64], err[512];
    snprintf(set_device, sizeof set_device, "run.device=\"%.40s\"", device);
    snprintf(set_precision, sizeof set_precision, "run.precision=\"%.40s\"", precision);
    const char *const sets[2] = {set_device, set_precision};
    if (run_config_load(&cfg, NULL, sets, 2, err, sizeof err)) {
        fprintf(stderr, "bench_step: %s\n", err);
        return 2;
    }
    cfg.threads = threads;
    cli_select_device(&cfg, NULL);
    AstroM3 m;
    astrom3_create(&m, &cfg.model, batch);
    astrom3_init(&m, cfg.seed);
    ClipLoss loss;
    clip_loss_init(&loss, batch, batch, cfg.model.proj_dim);
    Adam opt;
    adam_init(&opt, m.params.n_train_floats, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay);
    SynthBatch data;
    synth_batch_alloc(&data, &cfg.model, batch);
    Batch host = synth_batch_fill(&data, &cfg.model, cfg.seed, 0, batch);
    DeviceBatch dev;
    device_batch_alloc(&dev, &cfg.model, batch);
    Batch b = device_batch_upload(&dev, &host);

    double *t = calloc((size_t)steps, sizeof *t);
    float last = 0;
    for (int s = 0; s < warmup + steps; s++) {
        StepCtx ctx = {.seed = cfg.seed, .step = (uint64_t)s, .sample_offset = 0, .training = 1};
        double t0 = am_now_s();
        last = clip_forward_backward(&m, &loss, &b, &ctx);
        clip_grad_norm(m.params.grad, m.params.n_train_floats, cfg.clip_norm);
        adam_step(&opt, m.params.data, m.params.grad);
        ops_synchronize();
        double dt = am_now_s() - t0;
        if (s >= warmup) t[s - warmup] = dt;
    }
    if (profile > 0) {  // extra steps, each op timed alone (ops_profile_*): where the time goes
        ops_profile_reset();
        ops_profile_enable(1);
        const double p0 = am_now_s();
        for (int s = 0; s < profile; s++) {
            StepCtx ctx = {.seed = cfg.seed, .step = (uint64_t)(warmup + steps + s), .sample_offset = 0, .training = 1};
            clip_forward_backward(&m, &loss, &b, &ctx);
            clip_grad_norm(m.params.grad, m.params.n_train_floats, cfg.clip_norm);
            adam_step(&opt, m.params.data, m.params.grad);
        }
        ops_synchronize();
        const double wall = (am_now_s() - p0) / profile;
        ops_profile_enable(0);
        ops_profile_report(stdout, profile);
        printf("  profiled step wall time %.3f ms (ops + host work between them)\n", 1e3 * wall);
    }
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    const double median = steps % 2 ? t[steps / 2] : 0.5 * (t[steps / 2 - 1] + t[steps / 2]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double rss = ru.ru_maxrss / 1024.0;
    printf("astromm C (%s, %s GEMMs): batch %d, %d threads, median step %.4f s, %.2f samples/s, peak RSS %.0f MiB, "
           "last loss %.4f\n", ops_device_name(), ops_precision_name(ops_precision()), batch, ops_num_threads(), median, batch / median, rss, (double)last);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            perror(json);
            return 1;
        }
        fprintf(f, "{\"impl\": \"astromm-c\", \"device\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
                   "\"batch\": %d, \"step_seconds\": [", ops_device_name(), ops_precision_name(ops_precision()),
                ops_num_threads(), batch);
        for (int s = 0; s < steps; s++) fprintf(f, "%s%.6f", s ? ", " : "", t[s]);
        fprintf(f, "], \"median_step_s\": %.6f, \"samples_per_s\": %.4f, \"peak_rss_mib\": %.1f}\n",
                median, batch / median, rss);
        fclose(f);
    }
    free(t);
    device_batch_free(&dev);
    synth_batch_free(&data);
    adam_free(&opt);
    clip_loss_free(&loss);
    astrom3_free(&m);
    return 0;
}
