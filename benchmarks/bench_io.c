// bench_io: the parallel loader's throughput against a raw sequential read of
// the same dataset file(s), and the share of a training step spent waiting for
// data. benchmarks/run_io.sh runs it at 1 and 2 ranks and writes
// benchmarks/results/io.md.
//
// Phases (every rank takes part; rank 0 reports):
//  raw     each rank pread()s its contiguous 1/P of every file in 8 MiB blocks;
//          aggregate MB/s = file bytes / slowest rank's time (what `dd` measures);
//  loader  --epochs epochs through the loader, no compute; aggregate MB/s =
//          bytes the loader selected in the file (spectra rows + light-curve
//          windows, summed over ranks) / time; samples/s = global samples / time;
//  train   --train-steps CLIP steps of the real AstroM3 model (default sizes)
//          on the loaded batches, prefetch on; data wait = time loader_next
//          blocked / wall time.
// --cold evicts the files from the page cache (posix_fadvise DONTNEED) before
// the raw and loader phases, so both read from the device; otherwise both read
// whatever the cache holds (report which).
// The loader line also gives the loader's own read time (LoaderStats
// read_seconds): the rest of its time is building the batches.
//
// usage: mpirun -np P bench_io --data PATH [--batch 512] [--epochs 2] [--seq-len 200]
//                  [--cold] [--train-steps 0] [--train-batch 32] [--json PATH]
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "data/format/dataset.h"
#include "data/loader/loader.h"
#include "loss/clip.h"
#include "models/astrom3.h"
#include "mpi/comm.h"
#include "nn/ops.h"
#include "train/clip_step.h"

// The dataset's files: the path itself, or the shard files of a directory.
static int list_files(const char *path, char ***out) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    char **v = NULL;
    int n = 0;
    if (S_ISDIR(st.st_mode)) {
        for (;; n++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/shard_%05d.h5", path, n);
            if (access(p, R_OK) != 0) break;
            v = realloc(v, (size_t)(n + 1) * sizeof *v);
            v[n] = strdup(p);
        }
    } else {
        v = malloc(sizeof *v);
        v[n++] = strdup(path);
    }
    *out = v;
    return n;
}

static void evict(char **files, int n) {
    for (int i = 0; i < n; i++) {
        int fd = open(files[i], O_RDONLY);
        if (fd < 0) continue;
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

// This rank's 1/P of every file, sequentially. Returns bytes read.
static double raw_read(char **files, int n, int rank, int size) {
    const size_t block = (size_t)8 << 20;
    char *buf = malloc(block);
    double bytes = 0;
    for (int i = 0; i < n; i++) {
        int fd = open(files[i], O_RDONLY);
        CHECK(fd >= 0, "bench_io: cannot open %s", files[i]);
        struct stat st;
        fstat(fd, &st);
        const off_t a = st.st_size * rank / size, b = st.st_size * (rank + 1) / size;
        for (off_t o = a; o < b;) {
            const size_t want = (size_t)(b - o) < block ? (size_t)(b - o) : block;
            const ssize_t got = pread(fd, buf, want, o);
            CHECK(got > 0, "bench_io: read error in %s", files[i]);
            o += got;
            bytes += (double)got;
        }
        close(fd);
    }
    free(buf);
    return bytes;
}

static double max_over_ranks(Comm *c, double v) {
    // max via sum of one-hot: every rank contributes v only at its own slot
    const int P = comm_size(c), r = comm_rank(c);
    float *x = calloc((size_t)P, sizeof *x);
    x[r] = (float)v;
    comm_allreduce_sum(c, x, (size_t)P);
    double m = 0;
    for (int i = 0; i < P; i++) m = x[i] > m ? x[i] : m;
    free(x);
    return m;
}

int main(int argc, char **argv) {
    Comm *comm = comm_init(&argc, &argv);
    ops_init(0);  // OMP_NUM_THREADS decides (run_io.sh: 1 per rank at np 2)
    const int rank = comm_rank(comm), P = comm_size(comm);
    const char *data = NULL, *json = NULL;
    int batch = 512, epochs = 2, seq_len = 200, cold = 0, train_steps = 0, train_batch = 32;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--data") && v) data = argv[++i];
        else if (!strcmp(s, "--batch") && v) batch = atoi(argv[++i]);
        else if (!strcmp(s, "--epochs") && v) epochs = atoi(argv[++i]);
        else if (!strcmp(s, "--seq-len") && v) seq_len = atoi(argv[++i]);
        else if (!strcmp(s, "--train-steps") && v) train_steps = atoi(argv[++i]);
        else if (!strcmp(s, "--train-batch") && v) train_batch = atoi(argv[++i]);
        else if (!strcmp(s, "--json") && v) json = argv[++i];
        else if (!strcmp(s, "--cold")) cold = 1;
        else {
            if (rank == 0)
                fprintf(stderr, "bench_io: unknown argument '%s'\nusage: bench_io --data PATH [--batch N] "
                                "[--epochs N] [--seq-len N] [--cold] [--train-steps N] [--train-batch N] "
                                "[--json PATH]\n", s);
            comm_finalize(comm);
            return 2;
        }
    }
    char **files = NULL;
    const int n_files = data ? list_files(data, &files) : -1;
    if (n_files < 1 || batch < P || batch % P || epochs < 1 || train_batch % P) {
        if (rank == 0)
            fprintf(stderr, "bench_io: need --data (a dataset file or shard directory), --batch and "
                            "--train-batch multiples of the %d ranks, --epochs >= 1\n", P);
        comm_finalize(comm);
        return 2;
    }
    double file_bytes = 0;
    for (int i = 0; i < n_files; i++) {
        struct stat st;
        stat(files[i], &st);
        file_bytes += (double)st.st_size;
    }

    // raw sequential read
    if (cold) evict(files, n_files);
    comm_barrier(comm);
    double t0 = am_now_s();
    const double raw_bytes = comm_allreduce_sum_double(comm, raw_read(files, n_files, rank, P));
    const double raw_s = max_over_ranks(comm, am_now_s() - t0);

    // loader only
    LoaderConfig lc;
    loader_config_defaults(&lc);
    lc.global_batch = batch;
    lc.seq_len = seq_len;
    Loader *l = NULL;
    AmError err = {{0}};
    CHECK(loader_open(data, comm, &lc, &l, &err) == 0, "bench_io: %s", err.msg);
    if (cold) evict(files, n_files);
    comm_barrier(comm);
    const int64_t nb = loader_batches_per_epoch(l) * epochs;
    t0 = am_now_s();
    for (int64_t s = 0; s < nb; s++) {
        LoaderBatch b;
        CHECK(loader_next(l, &b, &err) == 0, "bench_io: %s", err.msg);
    }
    const double load_s = max_over_ranks(comm, am_now_s() - t0);
    LoaderStats st;
    loader_stats(l, &st);
    const double load_bytes = comm_allreduce_sum_double(comm, st.bytes_read);
    const double load_read_s = max_over_ranks(comm, st.read_seconds);
    const double samples = (double)nb * batch;
    loader_close(l);

    // training steps on loaded data
    double wait_frac = -1, step_s = 0;
    if (train_steps > 0) {
        lc.global_batch = train_batch;
        CHECK(loader_open(data, comm, &lc, &l, &err) == 0, "bench_io: %s", err.msg);
        ModelConfig mc;
        model_config_defaults(&mc);
        mc.seq_len = seq_len;
        const int local = train_batch / P;
        AstroM3 m;
        astrom3_create(&m, &mc, local);
        astrom3_init(&m, 1);
        ClipLoss loss;
        clip_loss_init(&loss, local, local, mc.proj_dim);
        LoaderBatch b;
        CHECK(loader_next(l, &b, &err) == 0, "bench_io: %s", err.msg);  // warm-up, not timed
        loader_stats(l, &st);
        const double wait0 = st.wait_seconds;
        comm_barrier(comm);
        t0 = am_now_s();
        for (int s = 0; s < train_steps; s++) {
            CHECK(loader_next(l, &b, &err) == 0, "bench_io: %s", err.msg);
            StepCtx ctx = {.seed = 1, .step = (uint64_t)s, .sample_offset = b.sample_offset, .training = 1};
            clip_forward_backward(&m, &loss, &b.batch, &ctx);
        }
        const double wall = am_now_s() - t0;
        loader_stats(l, &st);
        wait_frac = max_over_ranks(comm, (st.wait_seconds - wait0) / wall);
        step_s = max_over_ranks(comm, wall / train_steps);
        clip_loss_free(&loss);
        astrom3_free(&m);
        loader_close(l);
    }

    if (rank == 0) {
        const double raw_mbs = raw_bytes / raw_s / 1e6, load_mbs = load_bytes / load_s / 1e6;
        printf("bench_io: %s (%d file(s), %.1f MB), %d rank(s), %s cache\n", data, n_files, file_bytes / 1e6, P,
               cold ? "cold (fadvise DONTNEED)" : "warm");
        printf("  raw sequential read : %8.1f MB/s  (%.1f MB in %.3f s)\n", raw_mbs, raw_bytes / 1e6, raw_s);
        printf("  loader (batch %d)  : %8.1f MB/s  %9.0f samples/s  (%lld batches, %.1f MB in %.3f s)\n", batch,
               load_mbs, samples / load_s, (long long)nb, load_bytes / 1e6, load_s);
        printf("  loader / raw        : %8.1f %%  (reads %.3f s of %.3f s)\n", 100.0 * load_mbs / raw_mbs,
               load_read_s, load_s);
        if (train_steps > 0)
            printf("  training (AstroM3, batch %d): %.3f s/step, data wait %.2f %% of wall time\n", train_batch,
                   step_s, 100.0 * wait_frac);
        if (json) {
            FILE *f = fopen(json, "w");
            CHECK(f, "bench_io: cannot write %s", json);
            fprintf(f, "{\"ranks\": %d, \"cold\": %d, \"file_mb\": %.3f, \"raw_mb_s\": %.3f, \"loader_mb_s\": %.3f, "
                       "\"loader_samples_s\": %.3f, \"batch\": %d, \"batches\": %lld, \"train_batch\": %d, "
                       "\"train_step_s\": %.5f, \"data_wait_frac\": %.6f}\n",
                    P, cold, file_bytes / 1e6, raw_mbs, load_mbs, samples / load_s, batch, (long long)nb,
                    train_batch, step_s, wait_frac);
            fclose(f);
        }
    }
    for (int i = 0; i < n_files; i++) free(files[i]);
    free(files);
    comm_finalize(comm);
    return 0;
}
