// The loader on image datasets (data/loader/loader_images.c) at 1, 2 and 4 ranks:
//  * every selected image exactly once per epoch across ranks, in the order of
//    the test's own Fisher-Yates over Philox (seed, epoch) (so the same for any
//    rank count); padding rows flagged invalid;
//  * each row's pixels are the stored image's view for (seed, epoch, index)
//    (augmented: image_view_random; plain: the identity resize), bit for bit,
//    and a plain view at the stored size is the stored pixels / 255 exactly;
//  * greyscale delivery of a colour dataset is the mean of the channels;
//  * vote targets are the dataset's counts, or one vote for the class;
//  * seeking to (epoch, batch) continues the uninterrupted sequence.
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "core/vote_schema.h"
#include "data/format/dataset.h"
#include "data/format/image_dataset.h"
#include "data/loader/loader.h"
#include "data/preprocess/image.h"
#include "mpi/comm.h"
#include "mpi_testutil.h"
#include "testutil.h"

#define N_IMG 29
#define S_IN 20

static uint8_t g_pix[N_IMG][S_IN * S_IN * 3];
static float g_votes[N_IMG][34];
static int32_t g_label[N_IMG];
static uint8_t g_split[N_IMG];

static void make_data(void) {
    const AmRng r = am_rng(5, 0, RNG_SYNTH, 77);
    for (int i = 0; i < N_IMG; i++) {
        for (int p = 0; p < S_IN * S_IN * 3; p++) g_pix[i][p] = (uint8_t)am_rng_below(&r, (uint64_t)i * 10000 + p, 256);
        for (int a = 0; a < 34; a++) g_votes[i][a] = (float)am_rng_below(&r, 1000000 + (uint64_t)i * 64 + a, 20);
        g_label[i] = i % 3;
        g_split[i] = i % 7 == 6 ? DS_SPLIT_VAL : DS_SPLIT_TRAIN;
    }
}

static void write_dataset(const char *path, int votes) {
    VoteSchema s;
    vote_schema_gz_decals(&s);
    const char *classes[3] = {"a", "b", "c"};
    ImgDatasetSpec spec = {S_IN, 3, 1, classes, 3, votes ? &s : NULL, 0};
    ImgWriter *w;
    AmError err;
    REQUIRE(!imgds_writer_open(path, &spec, &w, &err), "%s", err.msg);
    for (int i = 0; i < N_IMG; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        REQUIRE(!imgds_writer_add(w, name, i + 100, g_pix[i], g_label[i], g_split[i], 0, votes ? g_votes[i] : NULL, &err),
                "%s", err.msg);
    }
    REQUIRE(!imgds_writer_close(w, 0, &err), "%s", err.msg);
}

static int64_t expected_perm(const LoaderConfig *c, int64_t epoch, int64_t *perm) {
    int64_t n = 0;
    for (int i = 0; i < N_IMG; i++)
        if (c->split == LOADER_ANY_SPLIT || g_split[i] == c->split) perm[n++] = i;
    const AmRng r = am_rng(c->seed, (uint64_t)epoch, RNG_SHUFFLE, 0);
    for (int64_t i = n - 1; c->shuffle && i > 0; i--) {
        int64_t j = am_rng_below(&r, (uint64_t)i, (uint32_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    return n;
}

static void check_epochs(Comm *comm, const char *path, LoaderConfig c, int votes, const char *what) {
    Loader *l;
    AmError err;
    REQUIRE(!loader_open(path, comm, &c, &l, &err), "%s: %s", what, err.msg);
    EXPECT(loader_is_images(l), "%s: not recognised as images", what);
    int S, C;
    loader_image_shape(l, &S, &C);
    VoteSchema vs;
    REQUIRE(!loader_vote_schema(l, &vs, &err), "%s", err.msg);
    EXPECT(vs.answers == (votes ? 34 : 3), "%s: %d answers", what, vs.answers);
    const int P = comm_size(comm), r = comm_rank(comm), n = c.global_batch / P;
    int64_t perm[N_IMG];
    float *want = malloc((size_t)S * S * C * sizeof *want);
    int64_t first_index = -1;
    float *keep = malloc((size_t)n * S * S * C * sizeof *keep);
    for (int64_t e = 0; e < 2; e++) {
        const int64_t N = expected_perm(&c, e, perm);
        for (int64_t b = 0; b < loader_batches_per_epoch(l); b++) {
            LoaderBatch lb;
            REQUIRE(!loader_next(l, &lb, &err), "%s: %s", what, err.msg);
            for (int k = 0; k < n; k++) {
                const int64_t pos = b * c.global_batch + (int64_t)r * n + k, idx = perm[pos % N];
                EXPECT(lb.index[k] == idx && lb.valid[k] == (pos < N), "%s: epoch %lld batch %lld row %d: index %lld, want %lld",
                       what, (long long)e, (long long)b, k, (long long)lb.index[k], (long long)idx);
                ImageView v;
                if (c.augment) {
                    const AmRng vr = am_rng(c.seed, (uint64_t)e, RNG_CROP, 1);
                    image_view_random(&v, S_IN, c.crop_scale_lo, c.crop_scale_hi, &vr, (uint64_t)idx);
                } else {
                    image_view_identity(&v, S_IN);
                }
                image_render(g_pix[idx], S_IN, 3, &v, want, S, C);
                EXPECT(!memcmp(want, lb.batch.images + (size_t)k * S * S * C, (size_t)S * S * C * sizeof *want),
                       "%s: epoch %lld row %d (image %lld): pixels are not its view", what, (long long)e, k, (long long)idx);
                for (int a = 0; a < vs.answers; a++) {
                    const float t = votes ? g_votes[idx][a] : (a == g_label[idx] ? 1.0f : 0.0f);
                    EXPECT(lb.batch.votes[(size_t)k * vs.answers + a] == t, "%s: image %lld target %d", what, (long long)idx, a);
                }
            }
            if (e == 1 && b == 1) {
                first_index = lb.index[0];
                memcpy(keep, lb.batch.images, (size_t)n * S * S * C * sizeof *keep);
            }
        }
    }
    // Seek back to (1, 1): the same rows and pixels.
    if (loader_batches_per_epoch(l) > 1) {
        REQUIRE(!loader_seek(l, 1, 1, &err), "%s", err.msg);
        LoaderBatch lb;
        REQUIRE(!loader_next(l, &lb, &err), "%s", err.msg);
        EXPECT(lb.index[0] == first_index && !memcmp(keep, lb.batch.images, (size_t)n * S * S * C * sizeof *keep),
               "%s: seek to (1, 1) differs from the uninterrupted sequence", what);
    }
    free(want);
    free(keep);
    loader_close(l);
}

int main(int argc, char **argv) {
    Comm *comm = comm_init(&argc, &argv);
    make_data();
    char path[2][96];
    snprintf(path[0], sizeof path[0], "/tmp/astromm_imgloader_%d_votes.h5", 0);
    snprintf(path[1], sizeof path[1], "/tmp/astromm_imgloader_%d_classes.h5", 0);
    // One writer; every rank reads. A per-job name (the rank-0 pid) keeps parallel ctest runs apart.
    double pid = comm_rank(comm) == 0 ? (double)getpid() : 0.0;
    pid = comm_allreduce_sum_double(comm, pid);
    for (int v = 0; v < 2; v++)
        snprintf(path[v], sizeof path[v], "/tmp/astromm_imgloader_%.0f_%d.h5", pid, v);
    if (comm_rank(comm) == 0) {
        write_dataset(path[0], 1);
        write_dataset(path[1], 0);
    }
    comm_allreduce_sum_double(comm, 0.0);  // barrier: the files exist

    LoaderConfig c;
    loader_config_defaults(&c);
    c.global_batch = 4;
    c.seed = 11;
    c.augment = 1;
    c.crop_scale_lo = 0.7f, c.crop_scale_hi = 0.8f;
    c.image_size = 16;
    check_epochs(comm, path[0], c, 1, "votes, augmented, drop_last");
    c.drop_last = 0;
    c.image_channels = 1;
    check_epochs(comm, path[1], c, 0, "classes, augmented, greyscale, padded");
    c.augment = 0;
    c.image_size = S_IN;
    c.image_channels = 3;
    c.split = LOADER_ANY_SPLIT;
    check_epochs(comm, path[0], c, 1, "plain view, any split");
    // The plain view at the stored size is the stored pixels / 255 exactly.
    float out[S_IN * S_IN * 3];
    ImageView v;
    image_view_identity(&v, S_IN);
    image_render(g_pix[3], S_IN, 3, &v, out, S_IN, 3);
    int same = 1;
    for (int p = 0; p < S_IN * S_IN * 3; p++) same &= out[p] == g_pix[3][p] * (1.0f / 255.0f);
    EXPECT(same, "the identity view is not the stored image");
    image_render(g_pix[3], S_IN, 3, &v, out, S_IN, 1);
    same = 1;
    for (int p = 0; p < S_IN * S_IN; p++)
        same &= fabsf(out[p] - (g_pix[3][3 * p] + g_pix[3][3 * p + 1] + g_pix[3][3 * p + 2]) / (3.0f * 255.0f)) < 1e-6f;
    EXPECT(same, "greyscale is not the mean of the channels");
    comm_allreduce_sum_double(comm, 0.0);
    if (comm_rank(comm) == 0) remove(path[0]), remove(path[1]);
    return mpi_finish(comm, "test_mpi_image_loader");
}
