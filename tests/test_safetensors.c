// Tests for the strict safetensors reader / atomic writer (src/io/safetensors.c):
// round trip, byte-exact interop with a hand-written file, every refusal
// (checked for a message naming the file and the offending tensor/field),
// atomic-write behaviour, the JSON lexer, and a mutation fuzz loop
// (ST_FUZZ_ITERS, default 6000; ST_FUZZ_SEED) that must only ever succeed or fail cleanly.
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json_header.h"
#include "io/safetensors.h"
#include "testutil.h"

static char g_dir[64];

static void tpath(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

static void write_bytes(const char *path, const void *buf, size_t len) {
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp, "cannot create %s: %s", path, strerror(errno));
    size_t w = len ? fwrite(buf, 1, len, fp) : 0;
    int closed = fclose(fp);
    REQUIRE(w == len && closed == 0, "cannot write %s", path);
}

static unsigned char *read_bytes(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    REQUIRE(buf, "oom");
    size_t got = fread(buf, 1, (size_t)n, fp);
    REQUIRE(got == (size_t)n, "short read %s", path);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

// File = LE u64 hlen_field, then header bytes (hlen bytes), then dlen data bytes
// (0, 1, 2, ... mod 251).
static void write_st_raw_n(const char *path, uint64_t hlen_field, const char *header, size_t hlen, size_t dlen) {
    size_t total = 8 + hlen + dlen;
    unsigned char *buf = malloc(total);
    REQUIRE(buf, "oom");
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen_field >> (8 * i));
    memcpy(buf + 8, header, hlen);
    for (size_t i = 0; i < dlen; i++) buf[8 + hlen + i] = (unsigned char)(i % 251);
    write_bytes(path, buf, total);
    free(buf);
}

static void write_st_raw(const char *path, const char *header, size_t dlen) {
    write_st_raw_n(path, strlen(header), header, strlen(header), dlen);
}

static int count_tmp_files(void) {
    DIR *d = opendir(g_dir);
    REQUIRE(d, "opendir %s", g_dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

// st_open must fail, leave *out NULL, and name the file plus want1/want2.
static void expect_refused_file(const char *path, const char *want1, const char *want2, int line) {
    StFile *f = (StFile *)(uintptr_t)1;
    AmError err = {{0}};
    int rc = st_open(&f, path, &err);
    EXPECT(rc != 0, "line %d: st_open accepted a bad file (%s)", line, want1 ? want1 : "");
    EXPECT(f == NULL, "line %d: *out not NULL on failure", line);
    if (rc == 0) {
        st_close(f);
        return;
    }
    EXPECT(strstr(err.msg, path) != NULL, "line %d: message does not name the file: %s", line, err.msg);
    if (want1) EXPECT(strstr(err.msg, want1) != NULL, "line %d: message lacks \"%s\": %s", line, want1, err.msg);
    if (want2) EXPECT(strstr(err.msg, want2) != NULL, "line %d: message lacks \"%s\": %s", line, want2, err.msg);
    if (getenv("ST_VERBOSE")) printf("  refused (line %d): %s\n", line, err.msg);
}

static int g_case = 0;

// Header as a C string, dlen data bytes, expect refusal mentioning w1 and w2.
static void refuse_hdr(const char *header, size_t dlen, const char *w1, const char *w2, int line) {
    char path[128], name[32];
    snprintf(name, sizeof name, "bad_%03d.safetensors", g_case++);
    tpath(path, sizeof path, name);
    write_st_raw(path, header, dlen);
    expect_refused_file(path, w1, w2, line);
}
#define REFUSE(hdr, dlen, w1, w2) refuse_hdr(hdr, dlen, w1, w2, __LINE__)

static StFile *open_ok(const char *path, int line) {
    StFile *f = NULL;
    AmError err = {{0}};
    int rc = st_open(&f, path, &err);
    EXPECT(rc == 0, "line %d: st_open(%s) failed: %s", line, path, err.msg);
    return rc == 0 ? f : NULL;
}

static StFile *accept_hdr(const char *header, size_t dlen, int line) {
    char path[128], name[32];
    snprintf(name, sizeof name, "good_%03d.safetensors", g_case++);
    tpath(path, sizeof path, name);
    write_st_raw(path, header, dlen);
    return open_ok(path, line);
}

// ------------------------------------------------------------------ round trip

static void test_roundtrip(void) {
    char path[128];
    tpath(path, sizeof path, "roundtrip.safetensors");
    float w[6] = {1.5f, -2.25f, 3.0f, 0.0f, -0.0f, 1e-30f};
    int32_t idx[4] = {7, -1, INT32_MAX, INT32_MIN};
    int64_t big[4] = {INT64_MAX, INT64_MIN, 42, -42};
    uint8_t bytes[5] = {1, 2, 3, 254, 255};
    float after_u8[3] = {0.5f, 0.25f, 0.125f};  // at file offset not a multiple of 4
    double scalar = 3.14159;
    StWriteTensor ts[] = {
        {"w.weight", ST_F32, 2, {2, 3}, w},
        {"idx", ST_I32, 1, {4}, idx},
        {"big", ST_I64, 2, {2, 2}, big},
        {"bytes", ST_U8, 1, {5}, bytes},
        {"after_u8", ST_F32, 1, {3}, after_u8},
        {"empty", ST_F32, 2, {0, 4}, NULL},
        {"scalar", ST_F64, 0, {0}, &scalar},
        {"we\"ird\\na\nme\t\x01 \xc3\xa9 \xf0\x9f\x98\x80", ST_I32, 1, {1}, idx},
    };
    int n = (int)(sizeof ts / sizeof ts[0]);
    const char *meta[] = {"format", "pt", "epoch", "12", "odd \"key\"\n", "v\\al\x02\xc3\xa9", "empty", ""};
    AmError err = {{0}};
    {
        int wrc = st_write(path, ts, n, meta, 4, &err);
        REQUIRE(wrc == 0, "st_write: %s", err.msg);
    }
    EXPECT(count_tmp_files() == 0, "temporary file left behind");

    StFile *f = open_ok(path, __LINE__);
    REQUIRE(f, "cannot continue");
    EXPECT(st_count(f) == n, "count %d", st_count(f));
    EXPECT(strcmp(st_path(f), path) == 0, "path");
    for (int i = 0; i < n; i++) {
        const StTensor *t = st_tensor(f, i);
        REQUIRE(t, "tensor %d", i);
        // Data order == write order for our writer.
        EXPECT(strcmp(t->name, ts[i].name) == 0, "order: %d is %s", i, t->name);
        EXPECT(st_find(f, ts[i].name) == t, "st_find %s", ts[i].name);
        EXPECT(t->dtype == ts[i].dtype, "%s dtype", t->name);
        EXPECT(t->ndim == ts[i].ndim, "%s ndim %d", t->name, t->ndim);
        for (int d = 0; d < t->ndim; d++) EXPECT(t->shape[d] == ts[i].shape[d], "%s shape[%d]", t->name, d);
        size_t nb = (size_t)st_numel(t) * st_dtype_size(t->dtype);
        EXPECT(t->end - t->begin == nb, "%s size", t->name);
        const void *p = st_data(f, t);
        REQUIRE(p, "st_data %s", t->name);
        EXPECT((uintptr_t)p % 64 == 0, "%s data not 64-byte aligned", t->name);
        if (nb) EXPECT(memcmp(p, ts[i].data, nb) == 0, "%s bytes differ", t->name);
    }
    const float *af = st_data(f, st_find(f, "after_u8"));
    EXPECT(af && af[2] == 0.125f, "float access after U8 tensor");
    const int64_t *bi = st_data(f, st_find(f, "big"));
    EXPECT(bi && bi[0] == INT64_MAX && bi[1] == INT64_MIN, "int64 access");
    EXPECT(st_numel(st_find(f, "scalar")) == 1, "scalar numel");
    EXPECT(st_numel(st_find(f, "empty")) == 0, "empty numel");
    EXPECT(st_find(f, "nope") == NULL, "st_find absent");
    EXPECT(st_find(f, "") == NULL, "st_find empty");
    EXPECT(st_tensor(f, n) == NULL && st_tensor(f, -1) == NULL, "st_tensor range");

    EXPECT(st_meta_count(f) == 4, "meta count %d", st_meta_count(f));
    for (int i = 0; i < 4; i++) {
        const char *v = st_meta(f, meta[2 * i]);
        EXPECT(v && strcmp(v, meta[2 * i + 1]) == 0, "meta %s = %s", meta[2 * i], v ? v : "(null)");
        const char *val = NULL;
        const char *k = st_meta_key(f, i, &val);
        EXPECT(k && strcmp(k, meta[2 * i]) == 0 && val == st_meta(f, k), "meta order %d", i);
    }
    EXPECT(st_meta(f, "missing") == NULL, "st_meta absent");

    // A pointer that is not one of f's tensors gives NULL.
    StTensor fake = *st_tensor(f, 0);
    EXPECT(st_data(f, &fake) == NULL, "st_data on a foreign tensor");
    st_close(f);
    st_close(NULL);

    // No tensors, no metadata.
    tpath(path, sizeof path, "empty.safetensors");
    {
        int wrc = st_write(path, NULL, 0, NULL, 0, &err);
        REQUIRE(wrc == 0, "st_write empty: %s", err.msg);
    }
    size_t len;
    unsigned char *b = read_bytes(path, &len);
    EXPECT(b && len == 16 && b[0] == 8 && memcmp(b + 8, "{}      ", 8) == 0, "empty file layout");
    free(b);
    f = open_ok(path, __LINE__);
    EXPECT(f && st_count(f) == 0 && st_meta_count(f) == 0, "empty file contents");
    st_close(f);

    EXPECT(st_dtype_size(ST_BF16) == 2 && st_dtype_size(ST_F16) == 2 && st_dtype_size(ST_U8) == 1 &&
               st_dtype_size(ST_F64) == 8 && st_dtype_size((StDtype)99) == 0,
           "dtype sizes");
    EXPECT(strcmp(st_dtype_name(ST_BF16), "BF16") == 0 && strcmp(st_dtype_name((StDtype)-1), "?") == 0,
           "dtype names");
}

// ------------------------------------------------------------------ interop: known bytes

static const char k_known_header[] =
    "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"n\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}     ";  // 139 + 5 spaces = 144

static void known_file(unsigned char *out, size_t *len) {
    static const unsigned char lenb[8] = {0x90, 0, 0, 0, 0, 0, 0, 0};  // 144
    static const unsigned char data[16] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,   // 1.0f, 2.0f
                                           0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};  // (int64)-2
    memcpy(out, lenb, 8);
    memcpy(out + 8, k_known_header, 144);
    memcpy(out + 152, data, 16);
    *len = 168;
}

static void test_known_bytes(void) {
    REQUIRE(sizeof k_known_header - 1 == 144, "fixture header length %zu", sizeof k_known_header - 1);
    unsigned char expect[168];
    size_t elen;
    known_file(expect, &elen);

    // Our writer produces exactly these bytes.
    char path[128];
    tpath(path, sizeof path, "known_written.safetensors");
    float a[2] = {1.0f, 2.0f};
    int64_t nn[1] = {-2};
    StWriteTensor ts[] = {{"a", ST_F32, 1, {2}, a}, {"n", ST_I64, 1, {1}, nn}};
    const char *meta[] = {"format", "pt"};
    AmError err = {{0}};
    {
        int wrc = st_write(path, ts, 2, meta, 1, &err);
        REQUIRE(wrc == 0, "st_write: %s", err.msg);
    }
    size_t len;
    unsigned char *got = read_bytes(path, &len);
    REQUIRE(got, "read back");
    EXPECT(len == elen && memcmp(got, expect, elen) == 0, "writer output differs from the hand-written bytes");
    if (len == elen && memcmp(got, expect, elen) != 0)
        for (size_t i = 0; i < elen; i++)
            if (got[i] != expect[i]) {
                fprintf(stderr, "  first difference at byte %zu: %02x vs %02x\n", i, got[i], expect[i]);
                break;
            }
    free(got);

    // Our reader understands the hand-written bytes.
    tpath(path, sizeof path, "known_literal.safetensors");
    write_bytes(path, expect, elen);
    StFile *f = open_ok(path, __LINE__);
    REQUIRE(f, "cannot continue");
    EXPECT(st_count(f) == 2, "count");
    const StTensor *ta = st_find(f, "a"), *tn = st_find(f, "n");
    REQUIRE(ta && tn, "tensors present");
    EXPECT(ta->dtype == ST_F32 && ta->ndim == 1 && ta->shape[0] == 2 && ta->begin == 0 && ta->end == 8, "a info");
    EXPECT(tn->dtype == ST_I64 && tn->ndim == 1 && tn->shape[0] == 1 && tn->begin == 8 && tn->end == 16, "n info");
    const float *fa = st_data(f, ta);
    const int64_t *in = st_data(f, tn);
    EXPECT(fa[0] == 1.0f && fa[1] == 2.0f, "a values");
    EXPECT(in[0] == -2, "n value");
    EXPECT(st_meta(f, "format") && strcmp(st_meta(f, "format"), "pt") == 0, "metadata");
    st_close(f);
}

// ------------------------------------------------------------------ accepted oddities

static void test_accepts(void) {
    // Empty object, padded.
    StFile *f = accept_hdr("{}      ", 0, __LINE__);
    EXPECT(f && st_count(f) == 0, "empty header");
    st_close(f);

    // Python json.dumps style whitespace, out-of-order entries, escapes,
    // gaps between tensors, trailing bytes after the last one.
    f = accept_hdr(
        "{\"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [8, 10]},\n"
        " \"__metadata__\": {\"k\": \"v\\\"q\\u00e9\"},\r\n"
        "\t\"a\\u00e9\\ud83d\\ude00\\/\": {\"data_offsets\": [0, 4], \"shape\": [], \"dtype\": \"I32\"}}   \n  ",
        24, __LINE__);
    if (f) {
        EXPECT(st_count(f) == 2, "count");
        const StTensor *t0 = st_tensor(f, 0), *t1 = st_tensor(f, 1);
        EXPECT(strcmp(t0->name, "a\xc3\xa9\xf0\x9f\x98\x80/") == 0, "escaped name decoded: %s", t0->name);
        EXPECT(strcmp(t1->name, "b") == 0, "data order");
        EXPECT(t0->ndim == 0 && st_numel(t0) == 1, "scalar");
        const int32_t *v = st_data(f, t0);
        EXPECT(*v == 0x03020100, "scalar value %x", (unsigned)*v);
        const uint8_t *u = st_data(f, t1);
        EXPECT(u[0] == 8 && u[1] == 9, "gap respected");
        EXPECT(strcmp(st_meta(f, "k"), "v\"q\xc3\xa9") == 0, "meta escapes");
    }
    st_close(f);

    // Zero-size tensors anywhere (even "inside" another range) overlap nothing;
    // F32 at an odd offset is still returned aligned.
    f = accept_hdr(
        "{\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"f\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[1,5]},"
        "\"z\":{\"dtype\":\"F64\",\"shape\":[3,0],\"data_offsets\":[2,2]},"
        "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[5,9]},"
        "\"g\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[9,11]}}",
        11, __LINE__);
    if (f) {
        const StTensor *t = st_find(f, "f");
        const float *p = st_data(f, t);
        EXPECT((uintptr_t)p % 64 == 0, "aligned");
        float want;
        const unsigned char raw[4] = {1, 2, 3, 4};
        memcpy(&want, raw, 4);
        EXPECT(memcmp(p, &want, 4) == 0, "misaligned F32 copied correctly");
        EXPECT(st_find(f, "z") && st_numel(st_find(f, "z")) == 0, "zero-size");
        EXPECT(st_find(f, "g")->dtype == ST_BF16 && st_find(f, "h")->dtype == ST_F16, "half dtypes");
    }
    st_close(f);

    // "-0" is an integer.
    f = accept_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[-0],\"data_offsets\":[0,0]}}", 0, __LINE__);
    st_close(f);
}

// ------------------------------------------------------------------ refusals

static void test_refusals(void) {
    char path[128];
    // Too short.
    tpath(path, sizeof path, "short0.safetensors");
    write_bytes(path, "", 0);
    expect_refused_file(path, "shorter than the 8-byte", NULL, __LINE__);
    tpath(path, sizeof path, "short5.safetensors");
    write_bytes(path, "\x10\0\0\0\0", 5);
    expect_refused_file(path, "5 bytes", "shorter", __LINE__);
    // Header length beyond the file / absurd.
    tpath(path, sizeof path, "hlen_big.safetensors");
    write_st_raw_n(path, 100, "{}", 2, 10);
    expect_refused_file(path, "header length 100", "exceeds the file size", __LINE__);
    tpath(path, sizeof path, "hlen_absurd.safetensors");
    write_st_raw_n(path, (uint64_t)1 << 40, "{}", 2, 10);
    expect_refused_file(path, "absurd", NULL, __LINE__);
    tpath(path, sizeof path, "hlen_absurd2.safetensors");
    write_st_raw_n(path, UINT64_MAX, "{}", 2, 10);
    expect_refused_file(path, "absurd", NULL, __LINE__);
    tpath(path, sizeof path, "hlen_zero.safetensors");
    write_st_raw_n(path, 0, "", 0, 10);
    expect_refused_file(path, "not a JSON object", NULL, __LINE__);
    // Not a file / missing.
    expect_refused_file(g_dir, "not a regular file", NULL, __LINE__);
    tpath(path, sizeof path, "a_fifo");
    int mk = mkfifo(path, 0600);
    REQUIRE(mk == 0, "mkfifo %s", path);
    expect_refused_file(path, "not a regular file", NULL, __LINE__);  // must not block
    unlink(path);
    tpath(path, sizeof path, "does_not_exist.safetensors");
    expect_refused_file(path, "cannot open", NULL, __LINE__);

    // Not JSON / not an object / bad strings.
    REFUSE("[1,2]", 0, "not a JSON object", NULL);
    REFUSE(" {}", 0, "must start with '{'", NULL);
    REFUSE("\xef\xbb\xbf{}", 0, "must start with '{'", NULL);  // BOM
    REFUSE("{", 0, "invalid header JSON", "end of header");
    REFUSE("{\"a\"", 0, "'a'", "expected ':'");
    REFUSE("{\"a\":", 0, "'a'", "must be an object");
    REFUSE("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "invalid header JSON", "'}'");
    REFUSE("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, "unexpected data", NULL);
    tpath(path, sizeof path, "nul_pad.safetensors");
    write_st_raw_n(path, 8, "{}  \0   ", 8, 0);  // NUL is not whitespace padding
    expect_refused_file(path, "unexpected data at header byte 4", NULL, __LINE__);
    REFUSE("{} {}", 0, "unexpected data", NULL);
    REFUSE("{,}", 0, "invalid header JSON", "expected a string");
    REFUSE("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4, "invalid header JSON", NULL);
    REFUSE("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]}}", 4, "'a'", "shape[1]");
    REFUSE("{\"a\":{\"dtype\":\"F32\" \"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'a'", "expected ','");
    REFUSE("{\"a\xff\":{}}", 0, "invalid UTF-8", NULL);
    REFUSE("{\"a\xc0\xaf\":{}}", 0, "invalid UTF-8", NULL);                  // overlong '/'
    REFUSE("{\"a\xed\xa0\x80\":{}}", 0, "invalid UTF-8", NULL);              // encoded surrogate
    REFUSE("{\"a\xf4\x90\x80\x80\":{}}", 0, "invalid UTF-8", NULL);          // > U+10FFFF
    REFUSE("{\"a\xe2\x82\":{}}", 0, "invalid UTF-8", NULL);                  // truncated sequence
    REFUSE("{\"a\nb\":{}}", 0, "control character", NULL);
    REFUSE("{\"a\\qb\":{}}", 0, "invalid escape", NULL);
    REFUSE("{\"a\\u12\":{}}", 0, "4 hex digits", NULL);
    REFUSE("{\"a\\udc00\":{}}", 0, "surrogate", NULL);
    REFUSE("{\"a\\ud800x\":{}}", 0, "surrogate", NULL);
    REFUSE("{\"a\\ud800\\u0041\":{}}", 0, "surrogate", NULL);
    REFUSE("{\"a\\u0000\":{}}", 0, "NUL", NULL);
    REFUSE("{\"abc", 0, "unterminated string", NULL);
    REFUSE("{\"abc\\", 0, "unterminated string", NULL);
    REFUSE("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 0, "'a'", "object");
    REFUSE("{\"a\":{\"dtype\":{\"x\":{\"y\":{}}}}}", 0, "'a'", "dtype must be a string");

    // Tensor entries.
    REFUSE("{\"weird\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "'weird'", "unknown dtype 'F8'");
    REFUSE("{\"weird\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'weird'", "unknown dtype");
    REFUSE("{\"weird\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'weird'", "dtype must be a string");
    REFUSE("{\"nodt\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'nodt'", "missing 'dtype'");
    REFUSE("{\"nosh\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "'nosh'", "missing 'shape'");
    REFUSE("{\"noof\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "'noof'", "missing 'data_offsets'");
    REFUSE("{\"none\":{}}", 0, "'none'", "missing 'dtype'");
    REFUSE("{\"arr\":[1]}", 0, "'arr'", "must be an object");
    REFUSE("{\"str\":\"x\"}", 0, "'str'", "must be an object");
    REFUSE("{\"dup\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'dup'",
           "duplicate field 'dtype'");
    REFUSE("{\"dup\":{\"dtype\":\"F32\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'dup'",
           "duplicate field 'shape'");
    REFUSE("{\"dup\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"data_offsets\":[0,4]}}", 4, "'dup'",
           "duplicate field 'data_offsets'");
    REFUSE("{\"extra\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"stride\":[1]}}", 4, "'extra'",
           "unknown field 'stride'");
    // Shapes.
    REFUSE("{\"neg\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,4]}}", 4, "'neg'", "shape[1] = -3");
    REFUSE("{\"flt\":{\"dtype\":\"F32\",\"shape\":[2,3.0],\"data_offsets\":[0,24]}}", 24, "'flt'",
           "shape[1] must be an integer");
    REFUSE("{\"flt\":{\"dtype\":\"F32\",\"shape\":[1e2],\"data_offsets\":[0,400]}}", 400, "'flt'", "not an integer");
    REFUSE("{\"flt\":{\"dtype\":\"F32\",\"shape\":[1.],\"data_offsets\":[0,4]}}", 4, "'flt'", "malformed number");
    REFUSE("{\"str\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "'str'", "shape[0]");
    REFUSE("{\"nul\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}", 4, "'nul'", "shape[0]");
    REFUSE("{\"sca\":{\"dtype\":\"F32\",\"shape\":5,\"data_offsets\":[0,4]}}", 4, "'sca'",
           "shape must be an array");
    REFUSE("{\"nest\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}", 4, "'nest'", "shape[0]");
    REFUSE("{\"nine\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "'nine'",
           "more than 8");
    REFUSE("{\"huge\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,1]}}", 1, "'huge'",
           "too many elements");
    REFUSE("{\"huge\":{\"dtype\":\"I64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,1]}}", 1, "'huge'",
           "too many elements");
    REFUSE("{\"rng\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],\"data_offsets\":[0,1]}}", 1, "'rng'",
           "out of range");
    REFUSE("{\"lz\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", 1, "'lz'", "leading zero");
    REFUSE("{\"plus\":{\"dtype\":\"U8\",\"shape\":[+1],\"data_offsets\":[0,1]}}", 1, "'plus'", "shape[0]");
    // data_offsets.
    REFUSE("{\"one\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}}", 1, "'one'", "[begin, end]");
    REFUSE("{\"zero\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[]}}", 1, "'zero'", "[begin, end]");
    REFUSE("{\"three\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 2, "'three'", "more than 2");
    REFUSE("{\"rev\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, "'rev'", "begin > end");
    REFUSE("{\"negoff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 4, "'negoff'", "negative");
    REFUSE("{\"fltoff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.5]}}", 4, "'fltoff'",
           "data_offsets[1] must be an integer");
    REFUSE("{\"obj\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{\"a\":1}}}", 4, "'obj'",
           "data_offsets must be an array");
    // Size / bounds / overlap / duplicates.
    REFUSE("{\"mism\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24, "'mism'", "needs 24 bytes");
    REFUSE("{\"mism\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 24, "'mism'", "needs 16 bytes");
    REFUSE("{\"trunc\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "'trunc'",
           "past the end of the data buffer");
    REFUSE("{\"ok\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"far\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[9,9]}}",
           8, "'far'", "past the end");
    REFUSE("{\"first\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
           "\"second\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
           24, "'first'", "'second'");
    REFUSE("{\"inner\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
           "\"outer\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]}}",
           16, "'inner'", "overlapping");
    REFUSE("{\"same\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"same\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
           8, "duplicate tensor name 'same'", NULL);
    // Metadata.
    REFUSE("{\"__metadata__\":{\"epoch\":3}}", 0, "__metadata__ key 'epoch'", "must be a string");
    REFUSE("{\"__metadata__\":{\"k\":null}}", 0, "'k'", "must be a string");
    REFUSE("{\"__metadata__\":[\"a\"]}", 0, "__metadata__ must be an object", NULL);
    REFUSE("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "duplicate key 'k'", NULL);
    REFUSE("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate \"__metadata__\"", NULL);
    REFUSE("{\"__metadata__\":{\"k\" \"v\"}}", 0, "'k'", "expected ':'");
    REFUSE("{\"__metadata__\":{\"k\":\"v\\x\"}}", 0, "'k'", "invalid escape");

    // A file our writer produced, then truncated by one byte.
    tpath(path, sizeof path, "truncated.safetensors");
    float x[3] = {1, 2, 3};
    StWriteTensor ts[] = {{"head", ST_F32, 1, {3}, x}, {"tail_tensor", ST_F32, 1, {3}, x}};
    AmError err = {{0}};
    {
        int wrc = st_write(path, ts, 2, NULL, 0, &err);
        REQUIRE(wrc == 0, "%s", err.msg);
    }
    size_t len;
    unsigned char *b = read_bytes(path, &len);
    REQUIRE(b, "read");
    write_bytes(path, b, len - 1);
    free(b);
    expect_refused_file(path, "'tail_tensor'", "truncated file", __LINE__);
}

// ------------------------------------------------------------------ writer input checks / atomicity

static void expect_write_refused(const char *path, const StWriteTensor *ts, int n, const char *const *meta,
                                 int n_meta, const char *want, int line) {
    AmError err = {{0}};
    int rc = st_write(path, ts, n, meta, n_meta, &err);
    EXPECT(rc != 0, "line %d: st_write accepted bad input (%s)", line, want);
    if (rc) {
        EXPECT(strstr(err.msg, path) != NULL, "line %d: message lacks the path: %s", line, err.msg);
        EXPECT(strstr(err.msg, want) != NULL, "line %d: message lacks \"%s\": %s", line, want, err.msg);
        if (getenv("ST_VERBOSE")) printf("  write refused (line %d): %s\n", line, err.msg);
    }
}

static void test_atomic(void) {
    char path[128], dirpath[128], missing[160];
    tpath(path, sizeof path, "atomic.safetensors");
    float v1[4] = {1, 2, 3, 4}, v2[2] = {9, 8};
    StWriteTensor t1[] = {{"v", ST_F32, 1, {4}, v1}};
    const char *meta[] = {"version", "1"};
    AmError err = {{0}};
    {
        int wrc = st_write(path, t1, 1, meta, 1, &err);
        REQUIRE(wrc == 0, "%s", err.msg);
    }
    size_t len0;
    unsigned char *before = read_bytes(path, &len0);
    REQUIRE(before, "read");

    // Invalid input: refused before anything is created; the old file stays.
    StWriteTensor dup[] = {{"x", ST_F32, 1, {2}, v2}, {"x", ST_F32, 1, {2}, v2}};
    expect_write_refused(path, dup, 2, NULL, 0, "duplicate tensor name 'x'", __LINE__);
    StWriteTensor nodata[] = {{"nodata", ST_F32, 1, {2}, NULL}};
    expect_write_refused(path, nodata, 1, NULL, 0, "'nodata'", __LINE__);
    StWriteTensor negdim[] = {{"negdim", ST_F32, 2, {2, -1}, v2}};
    expect_write_refused(path, negdim, 1, NULL, 0, "'negdim'", __LINE__);
    StWriteTensor nd9[] = {{"nd9", ST_F32, 9, {1}, v2}};
    expect_write_refused(path, nd9, 1, NULL, 0, "'nd9'", __LINE__);
    StWriteTensor baddt[] = {{"baddt", (StDtype)42, 1, {1}, v2}};
    expect_write_refused(path, baddt, 1, NULL, 0, "'baddt'", __LINE__);
    StWriteTensor reserved[] = {{"__metadata__", ST_F32, 1, {1}, v2}};
    expect_write_refused(path, reserved, 1, NULL, 0, "reserved", __LINE__);
    StWriteTensor badutf[] = {{"bad\xff", ST_F32, 1, {1}, v2}};
    expect_write_refused(path, badutf, 1, NULL, 0, "UTF-8", __LINE__);
    const char *dupmeta[] = {"k", "1", "k", "2"};
    expect_write_refused(path, t1, 1, dupmeta, 2, "duplicate metadata key 'k'", __LINE__);
    const char *nullmeta[] = {"k", NULL};
    expect_write_refused(path, t1, 1, nullmeta, 1, "NULL value", __LINE__);

    // Target in a directory that does not exist.
    snprintf(missing, sizeof missing, "%s/no_such_dir/x.safetensors", g_dir);
    expect_write_refused(missing, t1, 1, NULL, 0, "cannot create temporary file", __LINE__);

    // A directory as the target: refused before anything is written (a rename
    // into place would replace it; io/output_path.h), and it stays a directory.
    tpath(dirpath, sizeof dirpath, "a_directory");
    int mk = mkdir(dirpath, 0755);
    REQUIRE(mk == 0, "mkdir %s", dirpath);
    expect_write_refused(dirpath, t1, 1, NULL, 0, "is a directory", __LINE__);
    struct stat sb;
    EXPECT(stat(dirpath, &sb) == 0 && S_ISDIR(sb.st_mode), "directory clobbered");
    rmdir(dirpath);

    EXPECT(count_tmp_files() == 0, "temporary file left behind after failures");
    size_t len1;
    unsigned char *after = read_bytes(path, &len1);
    EXPECT(after && len1 == len0 && memcmp(before, after, len0) == 0, "old file changed by a failed write");
    free(after);

    // Successful overwrite replaces the content.
    StWriteTensor t2[] = {{"v", ST_F32, 1, {2}, v2}};
    const char *meta2[] = {"version", "2"};
    {
        int wrc = st_write(path, t2, 1, meta2, 1, &err);
        REQUIRE(wrc == 0, "%s", err.msg);
    }
    EXPECT(count_tmp_files() == 0, "temporary file left behind after overwrite");
    StFile *f = open_ok(path, __LINE__);
    if (f) {
        const StTensor *t = st_find(f, "v");
        EXPECT(t && t->shape[0] == 2 && ((const float *)st_data(f, t))[1] == 8.0f, "new content");
        EXPECT(strcmp(st_meta(f, "version"), "2") == 0, "new metadata");
    }
    st_close(f);
    free(before);
}

// ------------------------------------------------------------------ JSON lexer

static int lex_int(const char *s, int64_t *v) {
    JhCursor c;
    jh_init(&c, s, strlen(s));
    return jh_int(&c, v);
}

static int lex_str(const char *s, size_t len, char **out, size_t *olen) {
    if (len == 0) len = strlen(s);
    JhCursor c;
    jh_init(&c, s, len);
    return jh_string(&c, out, olen);
}

static void test_json_lexer(void) {
    int64_t v;
    EXPECT(lex_int("9223372036854775807", &v) == 0 && v == INT64_MAX, "INT64_MAX");
    EXPECT(lex_int("-9223372036854775808", &v) == 0 && v == INT64_MIN, "INT64_MIN");
    EXPECT(lex_int("9223372036854775808", &v) == 1, "INT64_MAX+1");
    EXPECT(lex_int("-9223372036854775809", &v) == 1, "INT64_MIN-1");
    EXPECT(lex_int("-0", &v) == 0 && v == 0, "-0");
    EXPECT(lex_int("0", &v) == 0 && v == 0, "0");
    EXPECT(lex_int("  42 ", &v) == 0 && v == 42, "whitespace");
    EXPECT(lex_int("-", &v) == 1, "lone minus");
    EXPECT(lex_int("", &v) == 1, "empty");
    EXPECT(lex_int("00", &v) == 1, "leading zero");
    EXPECT(lex_int("1.5", &v) == JH_NOT_INT, "fraction");
    EXPECT(lex_int("1E+3", &v) == JH_NOT_INT, "exponent");
    EXPECT(lex_int("1e", &v) == 1 && lex_int("1.e3", &v) == 1, "malformed numbers");
    EXPECT(lex_int("1", &v) == 0 && v == 1, "end of buffer right after digits");

    char *s;
    size_t n;
    EXPECT(lex_str("\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0, &s, &n) == 0 && n == 9 &&
               memcmp(s, "a\"\\/\b\f\n\r\t", 9) == 0,
           "short escapes");
    free(s);
    EXPECT(lex_str("\"\\u00e9\\u20AC\\uD834\\uDD1E\"", 26, &s, &n) == 0 &&
               strcmp(s, "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e") == 0,
           "unicode escapes");
    free(s);
    EXPECT(lex_str("\"\xf0\x9f\x98\x80\x7f\"", 7, &s, &n) == 0 && n == 5, "raw UTF-8 and DEL");
    free(s);
    EXPECT(lex_str("\"\"", 2, &s, &n) == 0 && n == 0 && s[0] == 0, "empty string");
    free(s);
    EXPECT(lex_str("\"ab", 3, &s, &n) == 1 && s == NULL, "unterminated");
    EXPECT(lex_str("\"ab\\\"", 5, &s, &n) == 1, "unterminated after escape");
    EXPECT(lex_str("\"\\u00", 5, &s, &n) == 1, "truncated \\u");
    EXPECT(lex_str("\"\\u00\"", 6, &s, &n) == 1, "short \\u");
    EXPECT(lex_str("\"\\uD834\\uDD1\"", 13, &s, &n) == 1, "short low surrogate");
    EXPECT(lex_str("\"\\uD834\\uD834\"", 14, &s, &n) == 1, "high+high");
    EXPECT(lex_str("'a'", 3, &s, &n) == 1, "single quotes");
    EXPECT(lex_str("\"a\x80\"", 4, &s, &n) == 1, "stray continuation byte");
    EXPECT(lex_str("\"\xc3\"", 3, &s, &n) == 1, "lead byte before quote");

    EXPECT(jh_utf8_valid("\xf0\x9f\x98\x80", 4), "4-byte");
    EXPECT(!jh_utf8_valid("\xe0\x80\xaf", 3), "overlong 3-byte");
    EXPECT(!jh_utf8_valid("\xf0\x80\x80\xaf", 4), "overlong 4-byte");
    EXPECT(!jh_utf8_valid("\xed\xbf\xbf", 3), "surrogate");
    EXPECT(!jh_utf8_valid("\xf5\x80\x80\x80", 4), "F5");
    EXPECT(!jh_utf8_valid("\xc3", 1), "truncated");
    EXPECT(jh_utf8_valid("", 0), "empty");
}

// ------------------------------------------------------------------ fuzz

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static const char *const k_tokens[] = {
    "{", "}", "[", "]", "\"", ":", ",", " ", "0", "1", "8", "-1", "1.5", "1e3", "\\", "\\u", "\\ud800",
    "\\udc00", "\\u0000", "\xc3", "\xff", "\x01", "\"dtype\"", "\"F32\"", "\"I64\"", "\"shape\"",
    "\"data_offsets\"", "\"__metadata__\"", "99999999999999999999", "4294967296", "[0,4]", "[]", "null",
    "{\"a\":", "\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}"};

static void test_fuzz(void) {
    int iters = 6000;
    const char *env = getenv("ST_FUZZ_ITERS");
    if (env && atoi(env) > 0) iters = atoi(env);
    const char *seed = getenv("ST_FUZZ_SEED");
    if (seed && strtoull(seed, NULL, 10)) g_rng = strtoull(seed, NULL, 10);

    // A valid base file with metadata and several dtypes.
    char base_path[128], path[128];
    tpath(base_path, sizeof base_path, "fuzz_base.safetensors");
    tpath(path, sizeof path, "fuzz.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};
    int32_t b[3] = {1, 2, 3};
    int64_t c[2] = {5, 6};
    uint8_t d[3] = {7, 8, 9};
    StWriteTensor ts[] = {{"a", ST_F32, 2, {2, 3}, a},
                          {"b", ST_I32, 1, {3}, b},
                          {"c", ST_I64, 1, {2}, c},
                          {"d", ST_U8, 1, {3}, d},
                          {"s", ST_F64, 0, {0}, c},
                          {"e", ST_BF16, 2, {0, 3}, NULL}};
    const char *meta[] = {"format", "pt", "k\\\"", "\xc3\xa9\\u"};
    AmError err = {{0}};
    {
        int wrc = st_write(base_path, ts, 6, meta, 2, &err);
        REQUIRE(wrc == 0, "%s", err.msg);
    }
    size_t base_len;
    unsigned char *base = read_bytes(base_path, &base_len);
    REQUIRE(base, "read base");
    size_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    REQUIRE(hlen > 0 && 8 + hlen <= base_len, "base header length %zu", hlen);
    size_t cap = base_len * 2 + 4096;
    unsigned char *buf = malloc(cap);
    REQUIRE(buf, "oom");

    int n_ok = 0, n_refused = 0, n_bad_msg = 0;
    for (int it = 0; it < iters; it++) {
        memcpy(buf, base, base_len);
        size_t len = base_len;
        int kind = (int)rnd_below(7);
        int fix_len = 0;  // rewrite the length field to match an edited header
        size_t cur_hlen = hlen;
        if (kind == 0) {  // random byte flips anywhere
            int k = 1 + (int)rnd_below(4);
            for (int j = 0; j < k; j++) buf[rnd_below(len)] ^= (unsigned char)(1u << rnd_below(8));
        } else if (kind == 1) {  // random bytes in the header
            int k = 1 + (int)rnd_below(3);
            for (int j = 0; j < k; j++) buf[8 + rnd_below(hlen)] = (unsigned char)rnd();
        } else if (kind == 2) {  // JSON-significant characters in the header
            static const char sig[] = "{}[]\":,\\-.eE0123456789 \t\nu";
            int k = 1 + (int)rnd_below(3);
            for (int j = 0; j < k; j++) buf[8 + rnd_below(hlen)] = (unsigned char)sig[rnd_below(sizeof sig - 1)];
        } else if (kind == 3) {  // truncation
            len = rnd_below(base_len);
        } else if (kind == 4) {  // length field mutations
            int byte = (int)rnd_below(8);
            buf[byte] = (unsigned char)(rnd_below(3) == 0 ? rnd() : buf[byte] + (rnd_below(2) ? 1u : 255u));
        } else {  // splice tokens into the header, optionally delete a span; fix N
            size_t at = 8 + rnd_below(cur_hlen);
            size_t del = rnd_below(8);
            if (at + del > 8 + cur_hlen) del = 8 + cur_hlen - at;
            const char *tok = k_tokens[rnd_below(sizeof k_tokens / sizeof k_tokens[0])];
            size_t tl = strlen(tok);
            if (len - del + tl > cap) continue;
            memmove(buf + at + tl, buf + at + del, len - at - del);
            memcpy(buf + at, tok, tl);
            len = len - del + tl;
            cur_hlen = cur_hlen - del + tl;
            fix_len = kind == 5 || rnd_below(4) != 0;
        }
        if (fix_len)
            for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)cur_hlen >> (8 * i));
        write_bytes(path, buf, len);

        StFile *f = NULL;
        AmError e = {{0}};
        if (st_open(&f, path, &e) == 0) {
            n_ok++;
            // Touch everything the reader hands out (ASan checks the bounds).
            unsigned sum = 0;
            for (int i = 0; i < st_count(f); i++) {
                const StTensor *t = st_tensor(f, i);
                EXPECT(t->end >= t->begin && (uint64_t)st_numel(t) * st_dtype_size(t->dtype) == t->end - t->begin,
                       "fuzz: inconsistent tensor accepted");
                EXPECT(t->end <= len, "fuzz: range past the file accepted");
                EXPECT(st_find(f, t->name) == t, "fuzz: st_find");
                const unsigned char *p = st_data(f, t);
                for (uint64_t j = 0; j < t->end - t->begin; j++) sum += p[j];
                sum += (unsigned)strlen(t->name);
            }
            for (int i = 0; i < st_meta_count(f); i++) {
                const char *v;
                const char *k = st_meta_key(f, i, &v);
                sum += (unsigned)strlen(k) + (unsigned)strlen(v);
                EXPECT(st_meta(f, k) != NULL, "fuzz: st_meta");
            }
            (void)sum;
            st_close(f);
        } else {
            n_refused++;
            EXPECT(f == NULL, "fuzz: *out set on failure");
            if (e.msg[0] == 0 || strstr(e.msg, path) == NULL) {
                n_bad_msg++;
                if (n_bad_msg < 5) fprintf(stderr, "fuzz: bad message: '%s'\n", e.msg);
            }
        }
    }
    EXPECT(n_bad_msg == 0, "fuzz: %d refusals without a proper message", n_bad_msg);
    EXPECT(n_ok > 0 && n_refused > 0, "fuzz: degenerate outcomes (ok %d, refused %d)", n_ok, n_refused);
    printf("fuzz: %d iterations, %d accepted, %d refused cleanly\n", iters, n_ok, n_refused);
    free(buf);
    free(base);
}

// ------------------------------------------------------------------ main

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        remove(p);
    }
    closedir(d);
    rmdir(dir);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/astromm_st_XXXXXX");
    char *made = mkdtemp(g_dir);
    REQUIRE(made != NULL, "mkdtemp: %s", strerror(errno));
    test_roundtrip();
    test_known_bytes();
    test_accepts();
    test_refusals();
    test_atomic();
    test_json_lexer();
    test_fuzz();
    if (tu_failures == 0 || !getenv("ST_KEEP")) remove_dir(g_dir);
    else printf("test files kept in %s\n", g_dir);
    return tu_finish("test_safetensors");
}
