// Trainer-state file and checkpoint directory (src/train/train_state.c): bit-exact
// round trip, refusal of damaged files with messages naming the file, version-1
// files still read, fallback to the newest valid checkpoint (state and model
// verified against each other: checksum, step, config hash, finite weights),
// pruning that counts only valid checkpoints and moves torn ones aside, stale
// temporary files, the run-directory lock (train/run_lock.h) and the rewind of
// metrics.jsonl on resume (train/metrics.h); no temporary files left behind.
#define _XOPEN_SOURCE 700  // nftw
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "io/safetensors.h"
#include "testutil.h"
#include "train/metrics.h"
#include "train/run_lock.h"
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
// The payload CRC of a state file rewritten after an edit (header bytes 24..27).
static void restamp_crc(unsigned char *b, long len) {
    const uint32_t crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), b + 32, (size_t)(len - 32));
    memcpy(b + 24, &crc, 4);
}

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
    EXPECT(len == 32 + 112 + SCHED_STATE_BYTES + 24, "file size %ld", len);

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
    c[8] = 4;  // version 4: from a newer astromm; the message says how to go on from the weights
    spit(dam, c, len);
    expect_refused(dam, 3, "version 4", "wrong version");
    expect_refused(dam, 3, "finetune --init FILE", "wrong version: the way on from the weights");
    memcpy(c, b, (size_t)len);
    c[8] = 2;  // a version-3 payload read as version 2: sizes disagree
    spit(dam, c, len);
    expect_refused(dam, 3, NULL, "v3 payload labelled v2");
    // A schedule layout this build does not know (a changed Schedule struct):
    // refused by name, with the way on from the weights, even with a valid CRC.
    memcpy(c, b, (size_t)len);
    c[32 + 13 * 8] = 2;
    restamp_crc(c, len);
    spit(dam, c, len);
    expect_refused(dam, 3, "schedule state layout 2", "unknown schedule layout");
    expect_refused(dam, 3, "embed --checkpoint FILE", "unknown schedule layout: the way on");
    // A version-2 file (no layout slot; the schedule as the struct's bytes, which
    // is layout 1) still resumes, to the same schedule.
    memcpy(c, b, 32 + 13 * 8);
    memcpy(c + 32 + 13 * 8, b + 32 + 14 * 8, (size_t)(len - 32 - 14 * 8));
    memcpy(c + 32 + 13 * 8, &w.sched, SCHED_STATE_BYTES);  // as version 2 wrote it: the struct's bytes
    c[8] = 2;
    const uint64_t payload2 = (uint64_t)(len - 8 - 32);
    memcpy(c + 16, &payload2, 8);
    restamp_crc(c, len - 8);
    spit(dam, c, len - 8);
    {
        TrainState r = {.n = 3, .m = malloc(3 * sizeof(float)), .v = malloc(3 * sizeof(float))};
        EXPECT(train_state_read(dam, &r, &err) == 0 && r.version == 2 && !memcmp(&r.sched, &w.sched, sizeof r.sched) &&
                   r.step == w.step && r.model_crc == w.model_crc,
               "version-2 file: %s", err.msg);
        free_state(&r);
    }
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

// ---------------------------------------------------------------- checkpoints
// Warning sink: all lines, "; "-joined, into g_warn.
static char g_warn[16384];
static int g_nwarn;
static void collect(void *ctx, const char *msg) {
    (void)ctx;
    size_t len = strlen(g_warn);
    snprintf(g_warn + len, sizeof g_warn - len, "%s%s", len ? "; " : "", msg);
    g_nwarn++;
}
static void warn_reset(void) {
    g_warn[0] = '\0';
    g_nwarn = 0;
}

enum { NW = 12 };  // weights of the fake model
static const uint64_t kHash = 0x1234abcd5678ef90ull;

// A model file as the trainer writes it: one F32 tensor, metadata step, config_hash,
// data_crc32 (of the bytes as given, before `poison` is applied: a NaN written
// with a consistent checksum when poison_after_crc is 0).
static void write_model(const char *path, int64_t step, uint64_t hash, float poison, int poison_after_crc) {
    float w[NW];
    for (int i = 0; i < NW; i++) w[i] = 0.25f * (float)i - 1.0f + 1e-3f * (float)step;
    if (poison != 0 && !poison_after_crc) w[7] = poison;
    char step_s[32], hash_s[32], crc_s[16];
    snprintf(step_s, sizeof step_s, "%lld", (long long)step);
    snprintf(hash_s, sizeof hash_s, "%016llx", (unsigned long long)hash);
    snprintf(crc_s, sizeof crc_s, "%08x", (unsigned)crc32_z(crc32_z(0L, Z_NULL, 0), (const Bytef *)w, sizeof w));
    if (poison != 0 && poison_after_crc) w[7] = poison;
    const char *meta[] = {"format", "astromm-astrom3", "step", step_s, "config_hash", hash_s, "data_crc32", crc_s};
    StWriteTensor t = {.name = "enc.weight", .dtype = ST_F32, .ndim = 2, .shape = {3, 4}, .data = w};
    AmError err = {{0}};
    REQUIRE(st_write(path, &t, 1, meta, 4, &err) == 0, "%s", err.msg);
}

// The state of checkpoint `step`, recording the model file's checksum (as the trainer does).
static void write_state_for(const char *dir, int64_t step, uint64_t hash) {
    char path[400];
    TrainState w = {0};
    fill_state(&w, 5, (uint64_t)step);
    w.step = step;
    w.config_hash = hash;
    AmError err = {{0}};
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_MODEL_FILE);
    if (file_size(path) >= 0) {
        REQUIRE(ckpt_write_state(dir, &w, &err) == 0, "%s", err.msg);
        uint64_t bytes;
        uint32_t crc;
        REQUIRE(ckpt_model_checksum(path, &bytes, &crc, &err) == 0, "%s", err.msg);
        EXPECT(w.model_bytes == bytes && w.model_crc == crc && bytes == (uint64_t)file_size(path),
               "ckpt_write_state recorded %llu bytes %08x", (unsigned long long)w.model_bytes, w.model_crc);
    } else {  // no model: the state alone
        snprintf(path, sizeof path, "%s/%s", dir, CKPT_STATE_FILE);
        REQUIRE(train_state_write(path, &w, &err) == 0, "%s", err.msg);
        char model[400];
        snprintf(model, sizeof model, "%s/%s", dir, CKPT_MODEL_FILE);
        EXPECT(ckpt_write_state(dir, &w, &err) != 0 && strstr(err.msg, model), "no model: %s", err.msg);
    }
    free_state(&w);
}

static void make_ckpt(const char *root, int64_t step, int with_model) {
    char dir[256], path[300];
    AmError err = {{0}};
    REQUIRE(ckpt_make_dir(dir, sizeof dir, root, step, &err) == 0, "%s", err.msg);
    if (with_model) {
        snprintf(path, sizeof path, "%s/%s", dir, CKPT_MODEL_FILE);
        write_model(path, step, kHash, 0, 0);
    }
    write_state_for(dir, step, kHash);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}
static void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static void flip_byte(const char *path, long off_from_end) {
    long len;
    unsigned char *b = slurp(path, &len);
    b[len - off_from_end] ^= 0x10;
    spit(path, b, len);
    free(b);
}

static void copy_file(const char *from, const char *to) {
    long len;
    unsigned char *b = slurp(from, &len);
    spit(to, b, len);
    free(b);
}

static void test_checkpoint_dir(void) {
    char root[128], dir[256], path[300];
    snprintf(root, sizeof root, "%s/ckpt", g_root);
    AmError err = {{0}};
    int64_t step = 7;
    // Missing root: nothing to resume, not an error.
    warn_reset();
    EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, 0, collect, NULL, &err) == 0 && step == -1,
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

    warn_reset();
    EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, 0, collect, NULL, &err) == 0 && step == 3000 &&
               !g_warn[0],
           "all valid: step %lld warn '%s'", (long long)step, g_warn);
    // Corrupt the newest state file: falls back to 200 with a warning.
    snprintf(path, sizeof path, "%s/step_00003000/%s", root, CKPT_STATE_FILE);
    long len;
    unsigned char *b = slurp(path, &len);
    b[len / 2] ^= 0xFF;
    spit(path, b, len);
    free(b);
    warn_reset();
    EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, 0, collect, NULL, &err) == 0 && step == 200 &&
               strstr(dir, "step_00000200") && strstr(g_warn, "3000") && strstr(g_warn, "checksum"),
           "fallback: step %lld dir %s warn '%s'", (long long)step, dir, g_warn);
    // Missing model file at 200 falls back to 100; wrong n makes every one invalid.
    snprintf(path, sizeof path, "%s/step_00000200/%s", root, CKPT_MODEL_FILE);
    unlink(path);
    warn_reset();
    EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, 0, collect, NULL, &err) == 0 && step == 100 &&
               strstr(g_warn, CKPT_MODEL_FILE) && g_nwarn == 2,
           "fallback 2: step %lld warn '%s'", (long long)step, g_warn);
    EXPECT(ckpt_latest_valid(root, 6, &step, dir, sizeof dir, 0, NULL, NULL, &err) == 0 && step == -1 && dir[0] == '\0',
           "wrong n: step %lld", (long long)step);

    // Prune: steps 100, 200, 3000, 4000, 5000, 6000 (3000 and 200 invalid); keep 2, protect 200.
    for (int64_t s = 4000; s <= 6000; s += 1000) make_ckpt(root, s, 1);
    char prot[256];
    snprintf(prot, sizeof prot, "%s/step_00000200", root);
    warn_reset();
    REQUIRE(ckpt_prune(root, 2, prot, 5, collect, NULL, &err) == 0, "%s", err.msg);
    REQUIRE(ckpt_list(root, &steps, &count, &err) == 0, "%s", err.msg);
    EXPECT(count == 3 && steps[0] == 200 && steps[1] == 5000 && steps[2] == 6000, "after prune: %zu [%lld ..]",
           count, count ? (long long)steps[0] : -1LL);
    EXPECT(!g_warn[0], "prune of old invalid checkpoints warned: %s", g_warn);
    free(steps);
    EXPECT(ckpt_prune(root, 0, NULL, 5, NULL, NULL, &err) != 0, "keep 0 accepted");
    REQUIRE(ckpt_prune(root, 1, NULL, 5, NULL, NULL, &err) == 0, "%s", err.msg);
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

// Issue 13 (5): model and state are verified against each other; each damaged
// newest checkpoint is skipped for the previous one, the warning naming the file
// and the reason.
static void test_verify_pairs(void) {
    char root[128], dir10[256], dir20[256], path[400], other[400];
    snprintf(root, sizeof root, "%s/pairs", g_root);
    make_ckpt(root, 10, 1);
    AmError err = {{0}};
    REQUIRE(ckpt_dir_for_step(dir10, sizeof dir10, root, 10, &err) == 0 &&
                ckpt_dir_for_step(dir20, sizeof dir20, root, 20, &err) == 0, "dirs");
    char model20[320], state20[320];
    snprintf(model20, sizeof model20, "%s/%s", dir20, CKPT_MODEL_FILE);
    snprintf(state20, sizeof state20, "%s/%s", dir20, CKPT_STATE_FILE);
    TrainState got = {0};
    make_ckpt(root, 20, 1);
    warn_reset();
    EXPECT(ckpt_verify(root, 20, 5, &got, collect, NULL, &err) == 0 && got.step == 20 && got.version == TRAIN_STATE_VERSION &&
               got.model_bytes == (uint64_t)file_size(model20) && !g_warn[0],
           "intact pair refused: %s (warn '%s')", err.msg, g_warn);

    static const struct {
        const char *what, *expect;
    } cases[] = {
        {"bit flip in the model's data", "CRC-32"},
        {"truncated model", "truncated"},
        {"state of another step", "another checkpoint"},
        {"state of another run", "different runs"},
        {"model of another step", "different checkpoints"},
        {"NaN weight, consistent checksums", "non-finite value(s), the first at element index 7 (NaN)"},
        {"Inf weight, data_crc32 stale, state checksum recomputed", "data checksum mismatch"},
        {"model without step metadata", "no \"step\""},
        {"empty directory", "incomplete checkpoint"},
        {"model missing", "cannot open"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        make_ckpt(root, 20, 1);  // intact again
        switch (k) {
            case 0: flip_byte(model20, 5); break;
            case 1: {
                long len;
                unsigned char *b = slurp(model20, &len);
                spit(model20, b, len - 8);
                free(b);
                break;
            }
            case 2:
                snprintf(other, sizeof other, "%s/%s", dir10, CKPT_STATE_FILE);
                copy_file(other, state20);
                break;
            case 3: write_state_for(dir20, 20, kHash ^ 1); break;
            case 4:
                write_model(model20, 10, kHash, 0, 0);
                write_state_for(dir20, 20, kHash);  // checksums agree: only the metadata tells
                break;
            case 5:
                write_model(model20, 20, kHash, NAN, 0);
                write_state_for(dir20, 20, kHash);
                break;
            case 6:
                write_model(model20, 20, kHash, INFINITY, 1);
                write_state_for(dir20, 20, kHash);
                break;
            case 7: {
                float w[NW] = {0};
                StWriteTensor t = {.name = "enc.weight", .dtype = ST_F32, .ndim = 2, .shape = {3, 4}, .data = w};
                REQUIRE(st_write(model20, &t, 1, NULL, 0, &err) == 0, "%s", err.msg);
                write_state_for(dir20, 20, kHash);
                break;
            }
            case 8:
                unlink(model20);
                unlink(state20);
                break;
            case 9: unlink(model20); break;
        }
        AmError e = {{0}};
        EXPECT(ckpt_verify(root, 20, 5, NULL, NULL, NULL, &e) != 0 && strstr(e.msg, cases[k].expect),
               "%s: verify says '%s' (expected '%s')", cases[k].what, e.msg, cases[k].expect);
        int64_t step = -1;
        char dir[256];
        warn_reset();
        EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, 0, collect, NULL, &err) == 0 && step == 10 &&
                   strstr(g_warn, "step_00000020") && strstr(g_warn, cases[k].expect),
               "%s: resume point %lld, warning '%s'", cases[k].what, (long long)step, g_warn);
        EXPECT(k >= 8 || (exists(model20) && exists(state20)), "%s: set_aside 0 moved the files", cases[k].what);
    }

    // A version-1 state (no model checksum) is still accepted, with a note.
    make_ckpt(root, 20, 1);
    {
        TrainState w = {0};
        fill_state(&w, 5, 20);
        w.step = 20;
        w.config_hash = kHash;
        const size_t arr = 5 * sizeof(float);
        unsigned char fixed[88];
        const uint64_t n = 5, sb = sizeof(Schedule);
        const void *f8[11] = {&w.step, &w.epoch, &w.loader_epoch, &w.loader_batch, &w.seed, &w.config_hash,
                              &w.n_ranks, &w.best_metric, &w.adam_t, &n, &sb};
        for (int i = 0; i < 11; i++) memcpy(fixed + 8 * i, f8[i], 8);
        uLong crc = crc32_z(0L, Z_NULL, 0);
        crc = crc32_z(crc, fixed, sizeof fixed);
        crc = crc32_z(crc, (const Bytef *)&w.sched, sizeof(Schedule));
        crc = crc32_z(crc, (const Bytef *)w.m, arr);
        crc = crc32_z(crc, (const Bytef *)w.v, arr);
        unsigned char header[32] = {'A', 'M', 'S', 'T', 'A', 'T', 'E', 0};
        const uint32_t version = 1, hb = 32, c32 = (uint32_t)crc;
        const uint64_t payload = sizeof fixed + sizeof(Schedule) + 2 * arr;
        memcpy(header + 8, &version, 4);
        memcpy(header + 12, &hb, 4);
        memcpy(header + 16, &payload, 8);
        memcpy(header + 24, &c32, 4);
        FILE *f = fopen(state20, "wb");
        REQUIRE(f, "open %s", state20);
        fwrite(header, 1, 32, f);
        fwrite(fixed, 1, sizeof fixed, f);
        fwrite(&w.sched, 1, sizeof(Schedule), f);
        fwrite(w.m, 1, arr, f);
        fwrite(w.v, 1, arr, f);
        fclose(f);
        TrainState r = {.n = 5, .m = malloc(arr), .v = malloc(arr)};
        EXPECT(train_state_read(state20, &r, &err) == 0 && r.version == 1 && r.step == 20 && r.model_bytes == 0 &&
                   !memcmp(r.m, w.m, arr) && !memcmp(r.v, w.v, arr) && !memcmp(&r.sched, &w.sched, sizeof r.sched),
               "version-1 file: %s", err.msg);
        free_state(&r);
        free_state(&w);
        warn_reset();
        int64_t step = -1;
        char dir[256];
        EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, 0, collect, NULL, &err) == 0 && step == 20 &&
                   strstr(g_warn, "version 1"),
               "version-1 checkpoint: step %lld, warning '%s'", (long long)step, g_warn);
        // ... and its model is still checked (step metadata; finite values).
        write_model(model20, 20, kHash, NAN, 0);
        warn_reset();
        EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, 0, collect, NULL, &err) == 0 && step == 10 &&
                   strstr(g_warn, "non-finite"),
               "version-1 checkpoint with a NaN weight: step %lld, warning '%s'", (long long)step, g_warn);
    }

    // set_aside: skipped (torn) directories newer than the resume point go to torn/;
    // an intact one for another parameter count stays.
    make_ckpt(root, 20, 1);
    flip_byte(model20, 5);
    char dir30[256];
    REQUIRE(ckpt_make_dir(dir30, sizeof dir30, root, 30, &err) == 0, "%s", err.msg);  // empty: torn
    char dir40[256];
    REQUIRE(ckpt_make_dir(dir40, sizeof dir40, root, 40, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/%s", dir40, CKPT_MODEL_FILE);
    write_model(path, 40, kHash, 0, 0);
    {
        TrainState w = {0};
        fill_state(&w, 6, 40);  // intact, 6 parameters
        w.step = 40;
        w.config_hash = kHash;
        REQUIRE(ckpt_model_checksum(path, &w.model_bytes, &w.model_crc, &err) == 0, "%s", err.msg);
        snprintf(path, sizeof path, "%s/%s", dir40, CKPT_STATE_FILE);
        REQUIRE(train_state_write(path, &w, &err) == 0, "%s", err.msg);
        free_state(&w);
    }
    int64_t step = -1;
    char dir[256];
    warn_reset();
    EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, 1, collect, NULL, &err) == 0 && step == 10 &&
               g_nwarn == 3 && strstr(g_warn, "moved to") && strstr(g_warn, "parameters"),
           "set aside: step %lld, warnings %d '%s'", (long long)step, g_nwarn, g_warn);
    snprintf(path, sizeof path, "%s/torn/step_00000020/%s", root, CKPT_MODEL_FILE);
    EXPECT(!exists(dir20) && exists(path), "torn step 20 not moved to %s", path);
    snprintf(path, sizeof path, "%s/torn/step_00000030", root);
    EXPECT(!exists(dir30) && exists(path), "torn step 30 not moved to %s", path);
    EXPECT(exists(dir40), "an intact checkpoint of another model was moved");
    // A second torn directory of the same step gets a suffix.
    REQUIRE(ckpt_make_dir(dir30, sizeof dir30, root, 30, &err) == 0, "%s", err.msg);
    char dest[400];
    EXPECT(ckpt_set_aside(root, 30, dest, sizeof dest, &err) == 0 && strstr(dest, "/torn/step_00000030.1"),
           "second set-aside: %s %s", err.msg, dest);
    rm_rf(root);
}

// Issue 13 (3): pruning counts only valid checkpoints. keep_last = 1, the run wrote
// step 45 after resuming from 40, and torn directories from an earlier attempt lie
// above it: 45 must survive, the torn ones are moved aside with a warning each.
static void test_prune_torn(void) {
    char root[128], dir[256], path[400];
    snprintf(root, sizeof root, "%s/prune", g_root);
    AmError err = {{0}};
    make_ckpt(root, 40, 1);
    make_ckpt(root, 45, 1);
    REQUIRE(ckpt_make_dir(dir, sizeof dir, root, 50, &err) == 0, "%s", err.msg);  // empty
    REQUIRE(ckpt_make_dir(dir, sizeof dir, root, 55, &err) == 0, "%s", err.msg);  // model, no state
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_MODEL_FILE);
    write_model(path, 55, kHash, 0, 0);
    make_ckpt(root, 60, 1);  // state failing its checksum
    snprintf(path, sizeof path, "%s/step_00000060/%s", root, CKPT_STATE_FILE);
    flip_byte(path, 3);
    warn_reset();
    REQUIRE(ckpt_prune(root, 1, NULL, 5, collect, NULL, &err) == 0, "%s", err.msg);
    int64_t *steps;
    size_t count;
    REQUIRE(ckpt_list(root, &steps, &count, &err) == 0, "%s", err.msg);
    EXPECT(count == 1 && steps[0] == 45, "after prune: %zu checkpoints, first %lld (expected only 45)", count,
           count ? (long long)steps[0] : -1LL);
    free(steps);
    EXPECT(g_nwarn == 3 && strstr(g_warn, "step_00000050") && strstr(g_warn, "step_00000055") &&
               strstr(g_warn, "step_00000060") && strstr(g_warn, "keep_last"),
           "warnings %d: %s", g_nwarn, g_warn);
    for (int s = 50; s <= 60; s += 5) {
        snprintf(path, sizeof path, "%s/torn/step_%08d", root, s);
        EXPECT(exists(path), "%s missing", path);
    }
    int64_t step;
    EXPECT(ckpt_latest_valid(root, 5, &step, dir, sizeof dir, 0, NULL, NULL, &err) == 0 && step == 45, "resume %lld",
           (long long)step);
    rm_rf(root);
}

static void test_stale_tmp(void) {
    char d[128], path[300];
    snprintf(d, sizeof d, "%s/tmpdir", g_root);
    REQUIRE(mkdir(d, 0755) == 0, "mkdir %s", d);
    const char *stale[] = {"model.safetensors.tmp.12345", "state.bin.tmp.1", "metrics.jsonl.tmp.999999"};
    char mine[64];
    snprintf(mine, sizeof mine, "state.bin.tmp.%ld", (long)getpid());
    const char *keep[] = {mine, "notes.tmp.txt", "x.tmp.", "model.safetensors", "a.tmp.12b"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", d, stale[i]);
        spit(path, (const unsigned char *)"x", 1);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", d, keep[i]);
        spit(path, (const unsigned char *)"x", 1);
    }
    snprintf(path, sizeof path, "%s/best.tmp.4242", d);
    REQUIRE(symlink("checkpoints/step_00000001", path) == 0, "symlink");  // dangling, as link_best leaves it
    AmError err = {{0}};
    warn_reset();
    EXPECT(ckpt_remove_stale_tmp(d, collect, NULL, &err) == 4 && g_nwarn == 4 && strstr(g_warn, "best.tmp.4242"),
           "removed: %d warnings '%s' (%s)", g_nwarn, g_warn, err.msg);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", d, stale[i]);
        EXPECT(!exists(path), "stale %s left", stale[i]);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", d, keep[i]);
        EXPECT(exists(path), "%s removed", keep[i]);
    }
    snprintf(path, sizeof path, "%s/missing", g_root);
    EXPECT(ckpt_remove_stale_tmp(path, NULL, NULL, &err) == 0, "missing dir: %s", err.msg);
    rm_rf(d);
}

// Two processes, one run directory: the second is refused naming the dir and the
// holder; the lock goes with the holder's exit (even SIGKILL).
static void test_run_lock(void) {
    char d[128];
    snprintf(d, sizeof d, "%s/run", g_root);
    REQUIRE(mkdir(d, 0755) == 0, "mkdir %s", d);
    int to_parent[2], to_child[2];
    REQUIRE(pipe(to_parent) == 0 && pipe(to_child) == 0, "pipe");
    const pid_t child = fork();
    REQUIRE(child >= 0, "fork");
    if (child == 0) {
        RunLock lk;
        AmError w = {{0}}, e = {{0}};
        const char ok = run_lock_acquire(&lk, d, &w, &e) == 0 && lk.held ? 'y' : 'n';
        if (write(to_parent[1], &ok, 1) != 1) _exit(2);
        char c;
        if (read(to_child[0], &c, 1) != 1) _exit(3);  // hold until told
        _exit(c == 'q' ? 0 : 4);
    }
    char c = 0;
    REQUIRE(read(to_parent[0], &c, 1) == 1 && c == 'y', "child could not take the lock");
    RunLock lk;
    AmError warn = {{0}}, err = {{0}};
    char pid_s[32];
    snprintf(pid_s, sizeof pid_s, "pid %ld", (long)child);
    EXPECT(run_lock_acquire(&lk, d, &warn, &err) != 0 && !lk.held && strstr(err.msg, d) && strstr(err.msg, pid_s) &&
               strstr(err.msg, "host") && strstr(err.msg, "in use"),
           "second holder: '%s'", err.msg);
    // The holder is killed: the lock is free at once.
    kill(child, SIGKILL);
    int status;
    waitpid(child, &status, 0);
    EXPECT(run_lock_acquire(&lk, d, &warn, &err) == 0 && lk.held && !warn.msg[0], "after the holder died: %s",
           err.msg);
    char path[300];
    snprintf(path, sizeof path, "%s/%s", d, RUN_LOCK_FILE);
    long len;
    unsigned char *b = slurp(path, &len);
    char me[40];
    snprintf(me, sizeof me, "pid %ld host ", (long)getpid());
    EXPECT(len > 0 && (b[len - 1] = 0, strstr((char *)b, me) != NULL), "lock file text: '%s'", (char *)b);
    free(b);
    run_lock_release(&lk);
    run_lock_release(&lk);  // twice is harmless
    EXPECT(!lk.held, "released");
    const int fd = open("/dev/null", O_RDONLY);
    RunLock z = {.held = 0, .fd = fd};
    run_lock_release(&z);  // holds nothing: must not close its fd
    EXPECT(fcntl(fd, F_GETFD) != -1, "release of an unheld lock closed fd %d", fd);
    close(fd);
    EXPECT(run_lock_acquire(&lk, d, &warn, &err) == 0 && lk.held, "re-acquire: %s", err.msg);
    run_lock_release(&lk);
    snprintf(path, sizeof path, "%s/no/such/dir", g_root);
    EXPECT(run_lock_acquire(&lk, path, &warn, &err) != 0 && strstr(err.msg, path), "unwritable: %s", err.msg);
    close(to_parent[0]), close(to_parent[1]), close(to_child[0]), close(to_child[1]);
    rm_rf(d);
}

// Issue 13 (7a): on resume metrics.jsonl goes back to the records up to the resume step.
static void test_metrics_rewind(void) {
    char path[200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", g_root);
    FILE *f = fopen(path, "w");
    REQUIRE(f, "create %s", path);
    fprintf(f, "{\"kind\":\"note\",\"text\":\"\\\"step\\\":99 inside a string\"}\n");
    for (int s = 1; s <= 8; s++) {
        fprintf(f, "{\"kind\":\"step\",\"step\":%d,\"loss\":1.5}\n", s);
        if (s == 4) fprintf(f, "{\"kind\":\"epoch\",\"epoch\":1,\"step\":4}\n");
    }
    fprintf(f, "{\"kind\":\"step\",\"step\":9,\"lo");  // torn last line
    fclose(f);
    MetricsWriter w;
    AmError err = {{0}};
    REQUIRE(metrics_open(&w, path, &err) == 0, "%s", err.msg);
    int64_t dropped = -1;
    REQUIRE(metrics_rewind(&w, path, 5, &dropped, &err) == 0, "%s", err.msg);
    EXPECT(dropped == 4, "dropped %lld (steps 6, 7, 8 and the torn line)", (long long)dropped);
    metrics_begin(&w);
    metrics_str(&w, "kind", "resume");
    metrics_int(&w, "step", 5);
    REQUIRE(metrics_end(&w, &err) == 0, "%s", err.msg);
    metrics_close(&w, &err);
    long len;
    unsigned char *b = slurp(path, &len);
    b[len] = 0;
    const char *want = "{\"kind\":\"note\",\"text\":\"\\\"step\\\":99 inside a string\"}\n"
                       "{\"kind\":\"step\",\"step\":1,\"loss\":1.5}\n{\"kind\":\"step\",\"step\":2,\"loss\":1.5}\n"
                       "{\"kind\":\"step\",\"step\":3,\"loss\":1.5}\n{\"kind\":\"step\",\"step\":4,\"loss\":1.5}\n"
                       "{\"kind\":\"epoch\",\"epoch\":1,\"step\":4}\n{\"kind\":\"step\",\"step\":5,\"loss\":1.5}\n"
                       "{\"kind\":\"resume\",\"step\":5}\n";
    EXPECT(!strcmp((char *)b, want), "rewound file:\n%s\nexpected:\n%s", (char *)b, want);
    free(b);
    EXPECT(count_tmp_files(g_root) == 0, "temporary file left behind");
    // Nothing to drop: the file is not rewritten (same inode).
    struct stat s1, s2;
    REQUIRE(stat(path, &s1) == 0, "stat");
    EXPECT(metrics_rewind(NULL, path, 5, &dropped, &err) == 0 && dropped == 0, "no-op rewind: %s", err.msg);
    REQUIRE(stat(path, &s2) == 0, "stat");
    EXPECT(s1.st_ino == s2.st_ino, "no-op rewind rewrote the file");
    // Fresh start (step 0) drops every step record.
    EXPECT(metrics_rewind(NULL, path, 0, &dropped, &err) == 0 && dropped == 7, "rewind to 0: %lld", (long long)dropped);
    EXPECT(file_size(path) == (long)strlen("{\"kind\":\"note\",\"text\":\"\\\"step\\\":99 inside a string\"}\n"),
           "after rewind to 0: %ld bytes", file_size(path));
    unlink(path);
    EXPECT(metrics_rewind(NULL, path, 3, &dropped, &err) == 0 && dropped == 0, "missing file: %s", err.msg);
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
    test_verify_pairs();
    test_prune_torn();
    test_stale_tmp();
    test_run_lock();
    test_metrics_rewind();
    char path[128];
    snprintf(path, sizeof path, "%s/a.state", g_root);
    unlink(path);
    EXPECT(rmdir(g_root) == 0, "temp dir %s not empty at the end", g_root);
    return tu_finish("test_train_state");
}
