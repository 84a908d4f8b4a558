// bench_image_loader: throughput of the loader on an image dataset with Zoobot's
// augmentations (read the stored image, render the rotated / cropped / flipped
// view, votes), no compute: images per second of the I/O thread (LoaderStats
// read_seconds: the time the fill jobs took) and of the whole pipeline.
//
// usage: [mpirun -np P] bench_image_loader --data PATH [--batch 64] [--batches 50] [--size 64] [--channels 1]
//                                          [--no-augment]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "data/loader/loader.h"
#include "mpi/comm.h"

int main(int argc, char **argv) {
    Comm *comm = comm_init(&argc, &argv);
    const char *data = NULL;
    int batch = 64, batches = 50, size = 64, channels = 1, augment = 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--data") && v) data = argv[++i];
        else if (!strcmp(s, "--batch") && v) batch = atoi(argv[++i]);
        else if (!strcmp(s, "--batches") && v) batches = atoi(argv[++i]);
        else if (!strcmp(s, "--size") && v) size = atoi(argv[++i]);
        else if (!strcmp(s, "--channels") && v) channels = atoi(argv[++i]);
        else if (!strcmp(s, "--no-augment")) augment = 0;
        else return fprintf(stderr, "bench_image_loader: unknown argument '%s'\n", s), 2;
    }
    if (!data) return fprintf(stderr, "bench_image_loader: --data PATH is required\n"), 2;
    LoaderConfig c;
    loader_config_defaults(&c);
    c.global_batch = batch;
    c.image_size = size;
    c.image_channels = channels;
    c.augment = augment;
    c.crop_scale_lo = 0.7f, c.crop_scale_hi = 0.8f;
    c.drop_last = 0;
    Loader *l;
    AmError err;
    if (loader_open(data, comm, &c, &l, &err)) return fprintf(stderr, "bench_image_loader: %s\n", err.msg), 1;
    LoaderBatch lb;
    if (loader_next(l, &lb, &err)) return fprintf(stderr, "bench_image_loader: %s\n", err.msg), 1;  // warm-up
    LoaderStats s0;
    loader_stats(l, &s0);
    const double t0 = am_now_s();
    for (int b = 0; b < batches; b++)
        if (loader_next(l, &lb, &err)) return fprintf(stderr, "bench_image_loader: %s\n", err.msg), 1;
    const double wall = am_now_s() - t0;
    LoaderStats s1;
    loader_stats(l, &s1);
    const double local_images = (double)batches * batch / comm_size(comm);
    const double io = s1.read_seconds - s0.read_seconds;
    const double total = comm_allreduce_sum_double(comm, local_images);
    if (comm_rank(comm) == 0)
        printf("image loader (%s, %d px, %d channel(s), batch %d, %d rank(s)): %.0f images/s per I/O thread "
               "(fill %.2f ms/image), %.0f images/s through loader_next over all ranks\n",
               augment ? "augmented" : "plain", size, channels, batch, comm_size(comm), local_images / io,
               1e3 * io / local_images, total / wall);
    loader_close(l);
    comm_finalize(comm);
    return 0;
}
