// Trainer-state file and checkpoint directory (src/train/train_state.c): bit-exact
// round trip, refusal of damaged files with messages naming the file, fallback to
// the newest valid checkpoint, pruning, and no temporary files left behind.
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "train/train_state.h"

static char g_root[64];

static void fill_state(TrainState *st, size_t n, uint64_t salt) {
    ScheduleConfig c;
    sched_config_default(&c, 3.92e-3);
    AmError err = {{0}};
    REQUIRE(sched_init(&st->sched, &c, &err) == 0, "%s", err.msg);
    for (int e = 0; e < 13; e++) sched_end_epoch(&st->sched, 2.0 - 0.1 * e);
    st->step = 123456 + (int64_t)salt;
    st->epoch = 13;
    st->loader_epoch = 13;
    st->loader_batch = 77;
    st->seed = 42;
    st->config_hash = train_config_hash("model = { d_model = 128; };");
    st->n_ranks = 4;
    st->best_metric = 0.8125;
    st->adam_t = st->step;
    st->n = n;
    st->m = malloc(n * sizeof(float) + 1);
    st->v = malloc(n * sizeof(float) + 1);
    uint32_t x = 2463534242u + (uint32_t)salt;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;  // xorshift: arbitrary bit patterns
        memcpy(&st->m[i], &x, 4);
        st->v[i] = (float)i * 0.5f;
    }
}

static void free_state(TrainState *st) {
    free(st->m);
    free(st->v);
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static unsigned char *slurp(const char *path, long *len) {
    *len = file_size(path);
    REQUIRE(*len >= 0, "stat %s", path);
    FILE *f = fopen(path, "rb");
    REQUIRE(f, "open %s", path);
    unsigned char *b = malloc((size_t)*len + 1);
    REQUIRE(fread(b, 1, (size_t)*len, f) == (size_t)*len, "read %s", path);
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, long len) {
    FILE *f = fopen(path, "wb");
    REQUIRE(f && fwrite(b, 1, (size_t)len, f) == (size_t)len, "write %s", path);
    fclose(f);
}

static int count_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    REQUIRE(d, "opendir %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

// Expects train_state_read(path) with n to fail with a message naming path and `what`.
static void expect_refused(const char *path, size_t n, const char *what, const char *label) {
    TrainState r = {.n = n};
    r.m = malloc(n * sizeof(float) + 1);
    r.v = malloc(n * sizeof(float) + 1);
    AmError err = {{0}};
    const int rc = train_state_read(path, &r, &err);
    EXPECT(rc != 0, "%s: accepted", label);
    EXPECT(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", label, err.msg);
    EXPECT(!what || strstr(err.msg, what) != NULL, "%s: message lacks '%s': %s", label, what, err.msg);
    free_state(&r);
}

static void test_round_trip(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/a.state", g_root);
    TrainState w = {0}, r = {0};
    fill_state(&w, 1001, 0);
    AmError err = {{0}};
    REQUIRE(train_state_write(path, &w, &err) == 0, "%s", err.msg);
    EXPECT(count_tmp_files(g_root) == 0, "temporary file left behind");
    r.n = w.n;
    r.m = malloc(w.n * sizeof(float));
    r.v = malloc(w.n * sizeof(float));
    REQUIRE(train_state_read(path, &r, &err) == 0, "%s", err.msg);
    EXPECT(r.step == w.step && r.epoch == w.epoch && r.loader_epoch == w.loader_epoch &&
               r.loader_batch == w.loader_batch && r.seed == w.seed && r.config_hash == w.config_hash &&
               r.n_ranks == w.n_ranks && r.adam_t == w.adam_t,
           "scalar fields differ");
    EXPECT(memcmp(&r.best_metric, &w.best_metric, sizeof(double)) == 0, "best_metric");
    EXPECT(memcmp(&r.sched, &w.sched, sizeof(Schedule)) == 0, "schedule bytes differ");
    EXPECT(memcmp(r.m, w.m, w.n * sizeof(float)) == 0 && memcmp(r.v, w.v, w.n * sizeof(float)) == 0,
           "moments differ");
    // Restored schedule continues identically.
    EXPECT(sched_end_epoch(&r.sched, 0.5) == sched_end_epoch(&w.sched, 0.5) &&
               memcmp(&r.sched, &w.sched, sizeof(Schedule)) == 0,
           "restored schedule diverged");
    // Verify-only read (m, v NULL).
    TrainState vo = {.n = w.n};
    EXPECT(train_state_read(path, &vo, &err) == 0 && vo.step == w.step, "verify-only read: %s", err.msg);
    // Overwrite in place: the second write wins, still no temp files.
    w.step = 999;
    REQUIRE(train_state_write(path, &w, &err) == 0, "%s", err.msg);
    EXPECT(train_state_read(path, &r, &err) == 0 && r.step == 999, "overwrite: %s step %lld", err.msg,
           (long long)r.step);
    EXPECT(count_tmp_files(g_root) == 0, "temporary file left behind after overwrite");
    // A zero-parameter state is legal.
    TrainState z = w;
    z.n = 0;
    REQUIRE(train_state_write(path, &z, &err) == 0, "%s", err.msg);
    TrainState zr = {.n = 0};
    EXPECT(train_state_read(path, &zr, &err) == 0, "n=0: %s", err.msg);
    // Unwritable location: error names the path, nothing created.
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.state", g_root);
    EXPECT(train_state_write(bad, &w, &err) != 0 && strstr(err.msg, bad), "unwritable: %s", err.msg);
    free_state(&w);
    free_state(&r);
}

static void test_refusals(void) {
    char path[128], dam[128];
    snprintf(path, sizeof path, "%s/good.state", g_root);
    snprintf(dam, sizeof dam, "%s/damaged.state", g_root);
    TrainState w = {0};
    fill_state(&w, 3, 1);
    AmError err = {{0}};
    REQUIRE(train_state_write(path, &w, &err) == 0, "%s", err.msg);
    long len;
    unsigned char *b = slurp(path, &len);
    EXPECT(len == 32 + 88 + (long)sizeof(Schedule) + 24, "file size %ld", len);

    expect_refused(path, 4, "parameters", "wrong n");
    snprintf(dam, sizeof dam, "%s/missing.state", g_root);
    expect_refused(dam, 3, "cannot open", "missing");
    snprintf(dam, sizeof dam, "%s/damaged.state", g_root);
    const long cuts[] = {0, 10, 31, 32, 100, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        spit(dam, b, cuts[i]);
        expect_refused(dam, 3, "truncated", "truncated");
    }
    b[len] = 0;
    spit(dam, b, len + 1);
    expect_refused(dam, 3, "trailing", "trailing byte");
    unsigned char *c = malloc((size_t)len);
    memcpy(c, b, (size_t)len);
    c[0] ^= 0x20;
    spit(dam, c, len);
    expect_refused(dam, 3, "magic", "bad magic");
    memcpy(c, b, (size_t)len);
    c[8] = 2;  // version 2
    spit(dam, c, len);
    expect_refused(dam, 3, "version 2", "wrong version");
    memcpy(c, b, (size_t)len);
    c[len - 5] ^= 0x01;  // inside v[]
    spit(dam, c, len);
    expect_refused(dam, 3, "checksum", "flipped moment bit");
    // Every single flipped byte anywhere is refused.
    int accepted = 0;
    for (long i = 0; i < len; i++) {
        memcpy(c, b, (size_t)len);
        c[i] ^= 0xA5;
        spit(dam, c, len);
        TrainState r = {.n = 3};
        if (train_state_read(dam, &r, &err) == 0) {
            accepted++;
            fprintf(stderr, "flipped byte %ld accepted\n", i);
        }
    }
    EXPECT(accepted == 0, "%d flipped files accepted", accepted);
    free(c);
    free(b);
    free_state(&w);
    unlink(dam);
    unlink(path);
}

static void make_ckpt(const char *root, int64_t step, int with_model) {
    char dir[256], path[300];
    AmError err = {{0}};
    REQUIRE(ckpt_make_dir(dir, sizeof dir, root, step, &err) == 0, "%s", err.msg);
    if (with_model) {
        snprintf(path, sizeof path, "%s/%s", dir, CKPT_MODEL_FILE);
        spit(path, (const unsigned char *)"0123456789abcdef", 16);
    }
    TrainState w = {0};
    fill_state(&w, 5, (uint64_t)step);
    w.step = step;
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_STATE_FILE);
    REQUIRE(train_state_write(path, &w, &err) == 0, "%s", err.msg);
    free_state(&w);
}

static void test_checkpoint_dir(void) {
    char root[128], dir[256], path[300];
    snprintf(root, sizeof root, "%s/ckpt", g_root);
    AmError err = {{0}}, warn = {{0}};
    int64_t step = 7;
    // Missing root: nothing to resume, not an error.
    EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, &warn, &err) == 0 && step == -1,
           "missing root: %s step %lld", err.msg, (long long)step);
    EXPECT(ckpt_dir_for_step(dir, sizeof dir, root, 1234, &err) == 0 && strstr(dir, "/step_00001234"), "%s", dir);
    EXPECT(ckpt_dir_for_step(dir, 8, root, 1234, &err) != 0, "too-small buffer accepted");

    make_ckpt(root, 100, 1);
    make_ckpt(root, 200, 1);
    make_ckpt(root, 3000, 1);
    // Distractors that are not checkpoints.
    snprintf(path, sizeof path, "%s/step_12x", root);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/step_00000999", root);
    spit(path, (const unsigned char *)"file", 4);
    int64_t *steps;
    size_t count;
    REQUIRE(ckpt_list(root, &steps, &count, &err) == 0, "%s", err.msg);
    EXPECT(count == 3 && steps[0] == 100 && steps[1] == 200 && steps[2] == 3000, "list: %zu", count);
    free(steps);

    EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, &warn, &err) == 0 && step == 3000 && !warn.msg[0],
           "all valid: step %lld warn '%s'", (long long)step, warn.msg);
    // Corrupt the newest state file: falls back to 200 with a warning.
    snprintf(path, sizeof path, "%s/step_00003000/%s", root, CKPT_STATE_FILE);
    long len;
    unsigned char *b = slurp(path, &len);
    b[len / 2] ^= 0xFF;
    spit(path, b, len);
    free(b);
    EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, &warn, &err) == 0 && step == 200 &&
               strstr(dir, "step_00000200") && strstr(warn.msg, "3000") && strstr(warn.msg, "checksum"),
           "fallback: step %lld dir %s warn '%s'", (long long)step, dir, warn.msg);
    // Missing model file at 200 falls back to 100; wrong n makes every one invalid.
    snprintf(path, sizeof path, "%s/step_00000200/%s", root, CKPT_MODEL_FILE);
    unlink(path);
    EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, &warn, &err) == 0 && step == 100 &&
               strstr(warn.msg, "model"),
           "fallback 2: step %lld warn '%s'", (long long)step, warn.msg);
    EXPECT(ckpt_latest_valid(root, 6, &step, dir, sizeof dir, NULL, &err) == 0 && step == -1 && dir[0] == '\0',
           "wrong n: step %lld", (long long)step);

    // Prune: steps 100, 200, 3000, 4000, 5000, 6000; keep 2, protect 200.
    for (int64_t s = 4000; s <= 6000; s += 1000) make_ckpt(root, s, 1);
    char prot[256];
    snprintf(prot, sizeof prot, "%s/step_00000200", root);
    REQUIRE(ckpt_prune(root, 2, prot, &err) == 0, "%s", err.msg);
    REQUIRE(ckpt_list(root, &steps, &count, &err) == 0, "%s", err.msg);
    EXPECT(count == 3 && steps[0] == 200 && steps[1] == 5000 && steps[2] == 6000, "after prune: %zu [%lld ..]",
           count, count ? (long long)steps[0] : -1LL);
    free(steps);
    EXPECT(ckpt_prune(root, 0, NULL, &err) != 0, "keep 0 accepted");
    REQUIRE(ckpt_prune(root, 1, NULL, &err) == 0, "%s", err.msg);
    REQUIRE(ckpt_list(root, &steps, &count, &err) == 0, "%s", err.msg);
    EXPECT(count == 1 && steps[0] == 6000, "prune without protection: %zu", count);
    free(steps);
    EXPECT(count_tmp_files(root) == 0, "temporary files in root");

    // Clean up what is left (one checkpoint and the distractors).
    snprintf(path, sizeof path, "%s/step_00006000/%s", root, CKPT_MODEL_FILE);
    unlink(path);
    snprintf(path, sizeof path, "%s/step_00006000/%s", root, CKPT_STATE_FILE);
    unlink(path);
    snprintf(path, sizeof path, "%s/step_00006000", root);
    rmdir(path);
    snprintf(path, sizeof path, "%s/step_12x", root);
    rmdir(path);
    snprintf(path, sizeof path, "%s/step_00000999", root);
    unlink(path);
    EXPECT(rmdir(root) == 0, "checkpoint root not empty at the end");
}

static void test_config_hash(void) {
    // Published FNV-1a 64 test vectors.
    EXPECT(train_config_hash("") == 0xcbf29ce484222325ull, "empty");
    EXPECT(train_config_hash(NULL) == 0xcbf29ce484222325ull, "NULL");
    EXPECT(train_config_hash("a") == 0xaf63dc4c8601ec8cull, "a");
    EXPECT(train_config_hash("foobar") == 0x85944171f73967e8ull, "foobar");
}

int main(void) {
    snprintf(g_root, sizeof g_root, "/tmp/astromm_train_state_XXXXXX");
    REQUIRE(mkdtemp(g_root), "mkdtemp");
    test_config_hash();
    test_round_trip();
    test_refusals();
    test_checkpoint_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/a.state", g_root);
    unlink(path);
    EXPECT(rmdir(g_root) == 0, "temp dir %s not empty at the end", g_root);
    return tu_finish("test_train_state");
}
