#include "io/json_header.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int jh_fail(JhCursor *c, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, sizeof c->err, "at header byte %zu: %s", jh_offset(c), msg);
    return 1;
}

void jh_init(JhCursor *c, const char *buf, size_t len) {
    c->begin = buf;
    c->p = buf;
    c->end = buf + len;
    c->err[0] = '\0';
}

size_t jh_offset(const JhCursor *c) { return (size_t)(c->p - c->begin); }

void jh_skip_ws(JhCursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

int jh_peek(JhCursor *c) {
    jh_skip_ws(c);
    return c->p < c->end ? (unsigned char)*c->p : -1;
}

const char *jh_describe(JhCursor *c, char *buf, size_t cap) {
    int ch = jh_peek(c);
    if (ch < 0)
        snprintf(buf, cap, "end of header");
    else if (ch >= 0x20 && ch < 0x7f)
        snprintf(buf, cap, "'%c'", ch);
    else
        snprintf(buf, cap, "byte 0x%02x", ch);
    return buf;
}

int jh_expect(JhCursor *c, char ch, const char *what) {
    if (jh_peek(c) == (unsigned char)ch) {
        c->p++;
        return 0;
    }
    char found[32];
    jh_describe(c, found, sizeof found);
    return jh_fail(c, "expected '%c' %s, found %s", ch, what, found);
}

// Length (1..4) of the well-formed UTF-8 sequence at s, or 0 if malformed or
// truncated by end. Table 3-7 of the Unicode standard.
static int utf8_seq(const unsigned char *s, const unsigned char *end) {
    unsigned char b0 = s[0];
    if (b0 < 0x80) return 1;
    int n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        n = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        n = 3;
        if (b0 == 0xe0) lo = 0xa0;
        if (b0 == 0xed) hi = 0x9f;  // no UTF-16 surrogates
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        n = 4;
        if (b0 == 0xf0) lo = 0x90;
        if (b0 == 0xf4) hi = 0x8f;  // <= U+10FFFF
    } else {
        return 0;  // continuation byte, overlong lead (C0/C1) or F5..FF
    }
    if (end - s < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return n;
}

int jh_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        int n = utf8_seq(p, end);
        if (!n) return 0;
        p += n;
    }
    return 1;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        v <<= 4;
        if (h >= '0' && h <= '9')
            v |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f')
            v |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
            v |= (unsigned)(h - 'A' + 10);
        else
            return 1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

int jh_string(JhCursor *c, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (jh_peek(c) != '"') {
        char found[32];
        jh_describe(c, found, sizeof found);
        return jh_fail(c, "expected a string, found %s", found);
    }
    const char *start = c->p;
    c->p++;
    // Pass 1: find the closing quote (so the output can be sized) while
    // checking structure; every escape consumes its full length here.
    const char *q = c->p;
    for (;;) {
        if (q >= c->end) {
            c->p = start;
            return jh_fail(c, "unterminated string");
        }
        if (*q == '"') break;
        if (*q == '\\') {
            if (q + 1 >= c->end) {
                c->p = start;
                return jh_fail(c, "unterminated string");
            }
            q += 2;
            continue;
        }
        q++;
    }
    size_t raw = (size_t)(q - c->p);
    char *buf = malloc(raw + 1);  // decoding never grows the text
    if (!buf) return 2;
    size_t o = 0;
    // Pass 2: decode and validate.
    while (c->p < q) {
        unsigned char b = (unsigned char)*c->p;
        if (b < 0x20) {
            free(buf);
            return jh_fail(c, "raw control character 0x%02x in string (must be escaped)", b);
        }
        if (b == '\\') {
            char e = c->p[1];  // c->p + 1 < q guaranteed by pass 1
            const char *esc = c->p;
            c->p += 2;
            switch (e) {
                case '"': buf[o++] = '"'; break;
                case '\\': buf[o++] = '\\'; break;
                case '/': buf[o++] = '/'; break;
                case 'b': buf[o++] = '\b'; break;
                case 'f': buf[o++] = '\f'; break;
                case 'n': buf[o++] = '\n'; break;
                case 'r': buf[o++] = '\r'; break;
                case 't': buf[o++] = '\t'; break;
                case 'u': {
                    unsigned cp;
                    if (q - c->p < 4 || hex4(c->p, &cp)) {
                        c->p = esc;
                        free(buf);
                        return jh_fail(c, "\\u escape needs 4 hex digits");
                    }
                    c->p += 4;
                    if (cp >= 0xdc00 && cp <= 0xdfff) {
                        c->p = esc;
                        free(buf);
                        return jh_fail(c, "lone low surrogate \\u%04x in string", cp);
                    }
                    if (cp >= 0xd800 && cp <= 0xdbff) {
                        unsigned lo;
                        if (q - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || hex4(c->p + 2, &lo) ||
                            lo < 0xdc00 || lo > 0xdfff) {
                            c->p = esc;
                            free(buf);
                            return jh_fail(c, "high surrogate \\u%04x not followed by a low surrogate", cp);
                        }
                        c->p += 6;
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    }
                    if (cp == 0) {
                        c->p = esc;
                        free(buf);
                        return jh_fail(c, "\\u0000 (NUL) is not allowed in strings");
                    }
                    o += put_utf8(buf + o, cp);
                    break;
                }
                default:
                    c->p = esc;
                    free(buf);
                    if ((unsigned char)e >= 0x20 && (unsigned char)e < 0x7f)
                        return jh_fail(c, "invalid escape '\\%c' in string", e);
                    return jh_fail(c, "invalid escape (byte 0x%02x after '\\') in string", (unsigned char)e);
            }
            continue;
        }
        int n = utf8_seq((const unsigned char *)c->p, (const unsigned char *)q);
        if (!n) {
            free(buf);
            return jh_fail(c, "invalid UTF-8 (byte 0x%02x) in string", b);
        }
        memcpy(buf + o, c->p, (size_t)n);
        o += (size_t)n;
        c->p += n;
    }
    c->p = q + 1;
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 0;
}

static int is_digit(const JhCursor *c, const char *p) { return p < c->end && *p >= '0' && *p <= '9'; }

int jh_int(JhCursor *c, int64_t *out) {
    *out = 0;
    jh_skip_ws(c);
    const char *start = c->p, *p = c->p;
    int neg = 0;
    if (p < c->end && *p == '-') {
        neg = 1;
        p++;
    }
    if (!is_digit(c, p)) {
        char found[32];
        jh_describe(c, found, sizeof found);
        return jh_fail(c, "expected an integer, found %s", found);
    }
    // Accumulate as a negative number so INT64_MIN fits.
    int64_t v = 0;
    int overflow = 0;
    const char *digits = p;
    while (is_digit(c, p)) {
        int d = *p - '0';
        if (v < (INT64_MIN + d) / 10) overflow = 1;
        if (!overflow) v = v * 10 - d;
        p++;
    }
    if (*digits == '0' && p - digits > 1) return jh_fail(c, "number with a leading zero is not valid JSON");
    int frac = 0;
    if (p < c->end && (*p == '.' || *p == 'e' || *p == 'E')) {
        // A well-formed JSON number that is not an integer: consume it so the
        // message can show it, then refuse.
        if (*p == '.') {
            p++;
            if (!is_digit(c, p)) return jh_fail(c, "malformed number");
            while (is_digit(c, p)) p++;
        }
        if (p < c->end && (*p == 'e' || *p == 'E')) {
            p++;
            if (p < c->end && (*p == '+' || *p == '-')) p++;
            if (!is_digit(c, p)) return jh_fail(c, "malformed number");
            while (is_digit(c, p)) p++;
        }
        frac = 1;
    }
    int len = (int)(p - start > 40 ? 40 : p - start);
    if (frac) {
        jh_fail(c, "%.*s%s is not an integer", len, start, p - start > 40 ? "..." : "");
        c->p = p;
        return JH_NOT_INT;
    }
    if (overflow || (!neg && v == INT64_MIN))
        return jh_fail(c, "integer %.*s%s is out of range", len, start, p - start > 40 ? "..." : "");
    c->p = p;
    *out = neg ? v : -v;
    return 0;
}
