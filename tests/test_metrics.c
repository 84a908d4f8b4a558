// metrics.jsonl writer and progress line (src/train/metrics.c).
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "train/metrics.h"

// Reads the whole file (NUL-terminated).
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    REQUIRE(f, "open %s", path);
    char *b = malloc(1 << 16);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

// Tiny structural check of one JSON object line: starts with '{', ends with '}',
// braces balanced outside strings, strings closed, escapes well-formed.
static int json_line_ok(const char *s, size_t n) {
    if (n < 2 || s[0] != '{' || s[n - 1] != '}') return 0;
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        const char c = s[i];
        if (in_str) {
            if (c == '\\') {
                if (i + 1 >= n || !strchr("\"\\/bfnrtu", s[i + 1])) return 0;
                i++;
            } else if (c == '"') {
                in_str = 0;
            } else if ((unsigned char)c < 0x20) {
                return 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{') {
            depth++;
        } else if (c == '}') {
            if (--depth < 0 || (depth == 0 && i != n - 1)) return 0;
        }
    }
    return depth == 0 && !in_str;
}

static void test_jsonl(const char *dir) {
    char path[128];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    MetricsWriter w;
    AmError err = {{0}};
    REQUIRE(metrics_open(&w, path, &err) == 0, "%s", err.msg);
    metrics_begin(&w);
    metrics_int(&w, "step", 100);
    metrics_num(&w, "loss", 1.5);
    metrics_num(&w, "lr", NAN);
    metrics_num(&w, "third", 1.0 / 3.0);
    metrics_str(&w, "name", "a\"b\\c\nd\te\x01");
    EXPECT(metrics_end(&w, &err) == 0, "%s", err.msg);
    // Flushed per line: visible to another reader before close.
    char *b = slurp(path);
    EXPECT(strchr(b, '\n') != NULL, "first line not flushed: '%s'", b);
    free(b);
    metrics_begin(&w);
    metrics_int(&w, "step", -7);
    metrics_num(&w, "pinf", INFINITY);
    metrics_num(&w, "ninf", -INFINITY);
    metrics_num(&w, "tenth", 0.1);
    metrics_str(&w, "null_str", NULL);
    EXPECT(metrics_end(&w, &err) == 0, "%s", err.msg);
    metrics_begin(&w);  // empty object is legal
    EXPECT(metrics_end(&w, &err) == 0, "%s", err.msg);
    EXPECT(metrics_close(&w, &err) == 0, "%s", err.msg);
    // A resumed run appends.
    REQUIRE(metrics_open(&w, path, &err) == 0, "%s", err.msg);
    metrics_begin(&w);
    metrics_int(&w, "step", 101);
    EXPECT(metrics_end(&w, &err) == 0, "%s", err.msg);
    EXPECT(metrics_close(&w, &err) == 0, "%s", err.msg);

    b = slurp(path);
    const char *lines[8];
    size_t lens[8];
    int nl = 0;
    for (char *p = b; *p && nl < 8;) {
        char *e = strchr(p, '\n');
        REQUIRE(e, "unterminated last line: '%s'", p);
        lines[nl] = p;
        lens[nl++] = (size_t)(e - p);
        *e = '\0';
        p = e + 1;
    }
    REQUIRE(nl == 4, "%d lines", nl);
    for (int i = 0; i < nl; i++) EXPECT(json_line_ok(lines[i], lens[i]), "line %d malformed: %s", i, lines[i]);
    EXPECT(!strcmp(lines[0], "{\"step\":100,\"loss\":1.5,\"lr\":null,\"third\":0.33333333333333331,"
                             "\"name\":\"a\\\"b\\\\c\\nd\\te\\u0001\"}"),
           "line 0: %s", lines[0]);
    EXPECT(strtod(strstr(lines[0], "\"third\":") + 8, NULL) == 1.0 / 3.0, "1/3 does not round-trip");
    EXPECT(!strcmp(lines[1], "{\"step\":-7,\"pinf\":null,\"ninf\":null,\"tenth\":0.1,\"null_str\":null}"), "line 1: %s",
           lines[1]);
    EXPECT(!strcmp(lines[2], "{}"), "line 2: %s", lines[2]);
    EXPECT(!strcmp(lines[3], "{\"step\":101}"), "line 3: %s", lines[3]);
    free(b);
    unlink(path);

    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/metrics.jsonl", dir);
    EXPECT(metrics_open(&w, bad, &err) != 0 && strstr(err.msg, bad), "unopenable: %s", err.msg);
    EXPECT(metrics_close(&w, &err) == 0, "close after failed open");
}

static char *read_back(FILE *f) {
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *b = calloc((size_t)n + 1, 1);
    REQUIRE(fread(b, 1, (size_t)n, f) == (size_t)n, "read back");
    return b;
}

static int count_char(const char *s, char c) {
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

static void test_progress(void) {
    // Plain mode, every 50 steps: lines at 1 (first), 51, 100 (last).
    FILE *f = tmpfile();
    REQUIRE(f, "tmpfile");
    Progress p;
    progress_init(&p, f, 0, 50);
    EXPECT(!p.tty, "tmpfile detected as a tty");
    int printed = 0;
    for (int s = 1; s <= 100; s++) printed += progress_update(&p, 0.1 * s, 2, s, 100, 0.5, 1234.5);
    progress_break(&p);
    char *b = read_back(f);
    EXPECT(printed == 3 && count_char(b, '\n') == 3 && !strchr(b, '\r'), "plain: %d printed: %s", printed, b);
    // Rate 10 steps/s since step 1; 49 steps left at 51 -> 4.9 s.
    EXPECT(strstr(b, "epoch 2 step 51/100 loss 0.5000 samples/s 1234.5 ETA 5s\n") != NULL, "plain line: %s", b);
    EXPECT(strstr(b, "step 100/100") && strstr(b, "ETA 0s"), "last line: %s", b);
    free(b);
    fclose(f);

    // Plain mode, time trigger every 2 s (steps every 0.1 s): 1, 21, 41, 61, 81, 100.
    f = tmpfile();
    progress_init(&p, f, 2.0, 0);
    printed = 0;
    for (int s = 1; s <= 100; s++) printed += progress_update(&p, 0.1 * s + 1e-9, 0, s, 100, 1.0, 1.0);
    EXPECT(printed == 6, "time trigger: %d lines", printed);
    fclose(f);

    // TTY mode (forced): in-place updates with '\r', no newline until the break;
    // a shorter line is padded over the longer one; unknown total: no ETA.
    f = tmpfile();
    progress_init(&p, f, 0, 0);
    p.tty = 1;
    EXPECT(progress_update(&p, 0.0, 0, 1, 1000, 12345.678, 99999.0) == 1, "tty first");
    EXPECT(progress_update(&p, 0.05, 0, 2, 1000, 1.0, 1.0) == 0, "tty rate limit");
    EXPECT(progress_update(&p, 0.5, 0, 3, 0, 1.0, 1.0) == 1, "tty second");
    b = read_back(f);
    EXPECT(count_char(b, '\r') == 2 && !strchr(b, '\n'), "tty: '%s'", b);
    EXPECT(strstr(b, "step 3 loss 1.0000 samples/s 1.0 ETA ?") != NULL, "tty unknown total: '%s'", b);
    char *second = strrchr(b, '\r');
    EXPECT(strlen(second) == strlen(strchr(b, '\r')) - strlen(second), "padding: '%s'", b);
    free(b);
    progress_break(&p);
    b = read_back(f);
    EXPECT(b[strlen(b) - 1] == '\n', "break ends the line");
    free(b);
    fclose(f);
}

int main(void) {
    char dir[] = "/tmp/astromm_metrics_XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    test_jsonl(dir);
    test_progress();
    EXPECT(rmdir(dir) == 0, "temp dir not empty");
    return tu_finish("test_metrics");
}
