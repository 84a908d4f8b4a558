// astromm smoke: the whole trimodal CLIP training step (encoders, projections,
// loss, backward, clipping, Adam) on generated tensors. Proves a build works
// end to end and gives a first throughput figure, no data files needed.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/clock.h"
#include "app/cli.h"
#include "io/params_file.h"
#include "models/device_batch.h"
#include "models/synth_batch.h"
#include "loss/clip.h"
#include "nn/ops.h"
#include "optim/adam.h"
#include "train/clip_step.h"

static void help(void) {
    printf("usage: astromm smoke [--config FILE] [--set k=v] [--threads N] [--steps N] [--batch N]\n"
           "                     [--save CKPT]\n\n"
           "Runs N CLIP training steps of the full AstroM3 model (sizes from the config;\n"
           "defaults are the published AstroM3 sizes) on generated trimodal tensors and\n"
           "prints the loss and samples/s per step. --save writes the final weights as\n"
           "safetensors.\n");
}

int cmd_smoke(int argc, char **argv) {
    CliArgs a;
    if (cli_parse(&a, argc, argv, "smoke")) return 2;
    if (a.help) return help(), 0;
    static const char *const allowed[] = {"--steps", "--batch", "--save", NULL};
    if (cli_reject_unknown(&a, "smoke", allowed)) return 2;
    char steps_set[64], batch_set[64];
    if (a.n_sets > CLI_MAX_SETS - 2) return fprintf(stderr, "astromm smoke: too many --set\n"), 2;
    if (cli_option(&a, "--steps")) {
        snprintf(steps_set, sizeof steps_set, "train.max_steps=%s", cli_option(&a, "--steps"));
        a.sets[a.n_sets++] = steps_set;
    }
    if (cli_option(&a, "--batch")) {
        snprintf(batch_set, sizeof batch_set, "train.batch_size=%s", cli_option(&a, "--batch"));
        a.sets[a.n_sets++] = batch_set;
    }
    RunConfig cfg;
    if (cli_load_config(&a, &cfg, "smoke")) return 2;
    cli_select_device(&cfg, NULL);
    const int B = cfg.batch_size;
    const int steps = cfg.max_steps > 0 ? cfg.max_steps : 10;  // smoke's default
    AstroM3 model;
    astrom3_create(&model, &cfg.model, B);
    astrom3_init(&model, cfg.seed);
    ClipLoss loss;
    clip_loss_init(&loss, B, B, cfg.model.proj_dim);
    Adam opt;
    adam_init(&opt, model.params.n_train_floats, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay);
    SynthBatch data;
    synth_batch_alloc(&data, &cfg.model, B);
    DeviceBatch dev;
    device_batch_alloc(&dev, &cfg.model, B);
    printf("astromm smoke: %zu trainable parameters, batch %d, device %s, %d CPU threads, "
           "activations %.1f MiB\n", model.params.n_train_floats, B, ops_device_name(),
           ops_num_threads(), (double)model.arena.bytes / (1 << 20));
    double total = 0;
    int timed = 0;
    float first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        // Cycle over 4 generated batches so the loss can fall by learning them.
        Batch host = synth_batch_fill(&data, &cfg.model, cfg.seed, (int64_t)(step % 4) * B, B);
        Batch b = device_batch_upload(&dev, &host);
        StepCtx ctx = {.seed = cfg.seed, .step = (uint64_t)step, .sample_offset = 0, .training = 1};
        double t0 = am_now_s();
        float value = clip_forward_backward(&model, &loss, &b, &ctx);
        float norm = clip_grad_norm(model.params.grad, model.params.n_train_floats, cfg.clip_norm);
        adam_step(&opt, model.params.data, model.params.grad);
        ops_synchronize();
        double dt = am_now_s() - t0;
        if (step > 0) total += dt, timed++;
        if (step == 0) first = value;
        last = value;
        if (!(value == value)) {
            fprintf(stderr, "astromm smoke: loss is NaN at step %d\n", step);
            return 1;
        }
        printf("step %4d  loss %.4f  grad_norm %.3f  %.1f samples/s\n", step, (double)value,
               (double)norm, B / dt);
        fflush(stdout);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (timed)
        printf("done: loss %.4f -> %.4f, %.1f samples/s (mean of steps 1..%d), peak RSS %.0f MiB\n",
               (double)first, (double)last, timed * B / total, steps - 1, ru.ru_maxrss / 1024.0);
    const char *save = cli_option(&a, "--save");
    int rc = 0;
    if (save) {
        AmError err;
        const char *meta[] = {"format", "astromm-astrom3", "source", "astromm smoke"};
        if (params_save(&model.params, save, meta, 2, &err)) {
            fprintf(stderr, "astromm smoke: %s\n", err.msg);
            rc = 1;
        } else {
            printf("saved %s\n", save);
        }
    }
    device_batch_free(&dev);
    synth_batch_free(&data);
    adam_free(&opt);
    clip_loss_free(&loss);
    astrom3_free(&model);
    return rc;
}
