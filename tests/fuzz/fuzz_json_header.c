// libFuzzer target: the JSON primitives of src/io/json_header.c, driven over
// arbitrary bytes the way the safetensors reader drives them (ASan catches any
// read past the end: libFuzzer's buffer is exactly `size` bytes). Checked:
// the cursor stays inside the buffer; accepted strings are valid UTF-8 without
// NUL; accepted integers equal strtoll of the same text; jh_utf8_valid agrees
// with an independent decoder (RFC 3629).
#include "fuzz_util.h"

#include <errno.h>
#include <string.h>

#include "io/json_header.h"

// Independent UTF-8 check: decode each sequence, refuse overlong forms,
// surrogates and code points above U+10FFFF.
static int utf8_ok(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], len, cp;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
        else return 0;
        if (n - i < len) return 0;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FZ_ASSERT(jh_utf8_valid((const char *)data, size) == utf8_ok(data, size));
    JhCursor c;
    jh_init(&c, (const char *)data, size);
    char desc[32];
    for (int steps = 0; steps < 4096; steps++) {
        FZ_ASSERT(c.p >= c.begin && c.p <= c.end && jh_offset(&c) <= size);
        jh_describe(&c, desc, sizeof desc);
        const int ch = jh_peek(&c);
        if (ch < 0) break;
        const char *before = c.p;
        if (ch == '"') {
            char *s = NULL;
            size_t len = 0;
            int rc = jh_string(&c, &s, &len);
            if (rc) {
                FZ_ASSERT(s == NULL && rc == 1);
                break;
            }
            FZ_ASSERT(s && strlen(s) == len && jh_utf8_valid(s, len) && c.p > before);
            free(s);
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            int64_t v = 0;
            int rc = jh_int(&c, &v);
            if (rc == JH_NOT_INT) {
                FZ_ASSERT(c.p > before);
                continue;
            }
            if (rc) break;
            // The consumed text is a JSON integer: strtoll must read the same value.
            char text[64];
            size_t n = (size_t)(c.p - before);
            FZ_ASSERT(n > 0 && n < sizeof text);
            memcpy(text, before, n);
            text[n] = '\0';
            char *end = NULL;
            errno = 0;
            long long ref = strtoll(text, &end, 10);
            FZ_ASSERT(errno == 0 && *end == '\0' && ref == v);
        } else if (ch != 0 && strchr("{}[],:", ch)) {
            FZ_ASSERT(jh_expect(&c, (char)ch, "here") == 0 && c.p == before + 1);
        } else {
            FZ_ASSERT(jh_expect(&c, ':', "here") == 1 && c.err[0] && c.p == before);
            break;
        }
    }
    return 0;
}
