// Configuration integers are exact over their whole range: libconfig 1.5 wraps
// an integer literal without `L` to 32 bits (4294967296 -> 0) and clamps `L`
// literals above 2^63-1, so astromm reads each literal's text itself
// (core/config_literal.h). Out-of-range values are errors naming file:line and
// key; run.seed takes 0 .. 2^64-1 and survives the write/load round trip.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/run_config.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/astromm_test_config_XXXXXX";

static int load_text(RunConfig *c, const char *text, char *err, int err_len) {
    char path[128];
    snprintf(path, sizeof path, "%s/c.cfg", tmpdir);
    FILE *f = fopen(path, "w");
    REQUIRE(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    return run_config_load(c, path, NULL, 0, err, err_len);
}

static int load_set(RunConfig *c, const char *set, char *err, int err_len) {
    const char *sets[] = {set};
    return run_config_load(c, NULL, sets, 1, err, err_len);
}

static void check_seed(const char *literal, unsigned long long want) {
    RunConfig c;
    char err[512] = "", text[256], set[128];
    snprintf(text, sizeof text, "# a comment with 123 in it\nmodel = { spec_channels = [64, 64, 32, 32]; };\n"
             "run = {\n  dir = \"x 99\";\n  seed = %s;\n};\n", literal);
    EXPECT(load_text(&c, text, err, sizeof err) == 0 && c.seed == want, "file seed %s: got %llu want %llu (%s)",
           literal, (unsigned long long)c.seed, want, err);
    snprintf(set, sizeof set, "run.seed=%s", literal);
    EXPECT(load_set(&c, set, err, sizeof err) == 0 && c.seed == want, "--set seed %s: got %llu want %llu (%s)",
           literal, (unsigned long long)c.seed, want, err);
    // Round trip: the resolved config written into a run directory loads back equal.
    char path[128];
    snprintf(path, sizeof path, "%s/written.cfg", tmpdir);
    REQUIRE(run_config_write(&c, path, err, sizeof err) == 0, "write: %s", err);
    RunConfig back;
    EXPECT(run_config_load(&back, path, NULL, 0, err, sizeof err) == 0 && back.seed == want,
           "round trip seed %s: got %llu (%s)", literal, (unsigned long long)back.seed, err);
}

static void check_error(const char *text, const char *set, const char *want) {
    RunConfig c;
    char err[512] = "";
    const int rc = text ? load_text(&c, text, err, sizeof err) : load_set(&c, set, err, sizeof err);
    EXPECT(rc != 0 && strstr(err, want), "%s: rc=%d err='%s', wanted '%s'", text ? text : set, rc, err, want);
}

int main(void) {
    REQUIRE(mkdtemp(tmpdir), "mkdtemp");
    check_seed("0", 0);
    check_seed("42", 42);
    check_seed("4294967296", 4294967296ull);
    check_seed("4294967296L", 4294967296ull);
    check_seed("9223372036854775808", 9223372036854775808ull);
    check_seed("18446744073709551615", 18446744073709551615ull);
    check_seed("18446744073709551615L", 18446744073709551615ull);
    check_seed("0xFFFFFFFFFFFFFFFF", 18446744073709551615ull);
    check_seed("9007199254740993", 9007199254740993ull);  // 2^53+1: not exact through a double

    // Wrapping values become range errors with file:line and the key.
    check_error("train = {\n  batch_size = 4294967312;\n};\n", NULL, "c.cfg:2: train.batch_size = 4294967312 is out of range");
    check_error("train = {\n\n  max_steps = 4294967297;\n};\n", NULL, "c.cfg:3: train.max_steps = 4294967297 is out of range");
    check_error("model = { spec_channels = [64, 4294967360, 32, 32]; };\n", NULL, "model.spec_channels = 4294967360 is out of range");
    check_error("run = { seed = 18446744073709551616; };\n", NULL, "run.seed = 18446744073709551616 is out of range");
    check_error("run = { seed = -1; };\n", NULL, "run.seed = -1 is out of range");
    check_error("train = { epochs = -4294967295; };\n", NULL, "train.epochs = -4294967295 is out of range");
    check_error("data = { drop_last = 4294967297; };\n", NULL, "data.drop_last must be true or false");
    check_error(NULL, "train.max_steps=4294967297", "--set train.max_steps: train.max_steps = 4294967297 is out of range");
    check_error(NULL, "train.batch_size=4294967312", "train.batch_size = 4294967312 is out of range");
    check_error(NULL, "run.seed=99999999999999999999999", "run.seed = 99999999999999999999999 is out of range");
    {  // an include would break the one-to-one order of literals: refused by name
        char inc[160], text[256];
        snprintf(inc, sizeof inc, "%s/other.cfg", tmpdir);
        FILE *f = fopen(inc, "w");
        REQUIRE(f, "cannot write %s", inc);
        fputs("train = { epochs = 3; };\n", f);
        fclose(f);
        snprintf(text, sizeof text, "@include \"%s\"\n", inc);
        check_error(text, NULL, "c.cfg:1: @include and other directives are not supported");
    }

    // Float keys at their bounds: what is accepted is written as the stored
    // float (%.9g) and must load back (clip_norm = 1e30 became 1.00000002e+30,
    // then refused as above 1e30; found by tests/fuzz/fuzz_config).
    RunConfig c, back;
    char err[512] = "";
    static const char *const at_bounds =
        "train = { clip_norm = 1e30; warmup_start_factor = 1e-12; plateau_factor = 1e-6; lr = 10.0; };\n"
        "model = { dropout_spectra = 0.999; };\n";
    EXPECT(load_text(&c, at_bounds, err, sizeof err) == 0, "float keys at their bounds refused: %s", err);
    char written[128];
    snprintf(written, sizeof written, "%s/bounds.cfg", tmpdir);
    REQUIRE(run_config_write(&c, written, err, sizeof err) == 0, "write: %s", err);
    EXPECT(run_config_load(&back, written, NULL, 0, err, sizeof err) == 0 && back.clip_norm == c.clip_norm &&
               back.warmup_start_factor == c.warmup_start_factor && back.model.p_spec == c.model.p_spec,
           "float bounds round trip: %s", err);
    check_error("train = { clip_norm = 1.1e30; };\n", NULL, "train.clip_norm = 1.1e+30 is out of range");
    check_error("model = { dropout_spectra = 0.9991; };\n", NULL, "model.dropout_spectra = 0.9991 is out of range");

    // Numbers beside strings, comments and names with digits keep their order.
    EXPECT(load_text(&c, "/* 7 */ train = { lr = 1e-3; // 5\n batch_size = 48; epochs = 7; };\n"
                     "checkpoint = { every = 2147483647; keep_last = 2; };\n", err, sizeof err) == 0 &&
           c.batch_size == 48 && c.epochs == 7 && c.checkpoint_every == 2147483647 && c.keep_last == 2,
           "mixed file: batch %d epochs %d every %d keep %d (%s)", c.batch_size, c.epochs, c.checkpoint_every,
           c.keep_last, err);

    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    printf("test_config: %d checks, %d failures\n", tu_checks, tu_failures);
    return tu_failures != 0;
}
