// Exact integer literals of a libconfig text (see config_literal.h for why).
#define _POSIX_C_SOURCE 200809L
#include "config/config_literal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push(ConfigLiterals *L, const char *start, size_t len, int line) {
    if (L->n == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 32;
        ConfigLiteral *p = realloc(L->items, cap * sizeof *p);
        if (!p) return 1;
        L->items = p;
        L->cap = cap;
    }
    ConfigLiteral *x = &L->items[L->n++];
    if (len >= sizeof x->text) len = sizeof x->text - 1;  // still unparsable as an integer: too long
    memcpy(x->text, start, len);
    x->text[len] = 0;
    x->line = line;
    return 0;
}

// Number token: sign, digits, hex digits, '.', exponent (with its sign), L suffix.
static size_t number_length(const char *p) {
    size_t i = 0;
    if (p[i] == '+' || p[i] == '-') i++;
    const int hex = p[i] == '0' && (p[i + 1] == 'x' || p[i + 1] == 'X');
    if (hex) i += 2;
    for (;; i++) {
        const char c = p[i];
        if (isalnum((unsigned char)c) || c == '.') continue;
        if (!hex && (c == '+' || c == '-') && (p[i - 1] == 'e' || p[i - 1] == 'E')) continue;
        break;
    }
    return i;
}

int config_literals_scan(const char *text, ConfigLiterals *out, char *err, int err_len) {
    memset(out, 0, sizeof *out);
    int line = 1;
    const char *p = text;
    while (*p) {
        const char c = *p;
        if (c == '\n') {
            line++;
            p++;
        } else if (c == '#' || (c == '/' && p[1] == '/')) {
            while (*p && *p != '\n') p++;
        } else if (c == '/' && p[1] == '*') {
            for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
                if (*p == '\n') line++;
            if (*p) p += 2;
        } else if (c == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1]) p++;
                if (*p == '\n') line++;
            }
            if (*p) p++;
        } else if (c == '@') {
            snprintf(err, (size_t)err_len, "%d: @include and other directives are not supported in astromm "
                     "configurations; paste the included settings, or use --set", line);
            config_literals_free(out);
            return 1;
        } else if (isalpha((unsigned char)c) || c == '*') {  // a name, true/false
            while (isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '*') p++;
        } else if (isdigit((unsigned char)c) || ((c == '+' || c == '-' || c == '.') &&
                                                 (isdigit((unsigned char)p[1]) || p[1] == '.'))) {
            const size_t len = number_length(p);
            if (push(out, p, len, line)) {
                snprintf(err, (size_t)err_len, "out of memory reading the configuration");
                config_literals_free(out);
                return 1;
            }
            p += len;
        } else {
            p++;
        }
    }
    return 0;
}

void config_literals_free(ConfigLiterals *L) {
    free(L->items);
    memset(L, 0, sizeof *L);
}

int config_literal_integer(const char *text, int *negative, uint64_t *magnitude) {
    const char *p = text;
    *negative = 0;
    if (*p == '+' || *p == '-') *negative = *p++ == '-';
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    const char *digits = p;
    while (base == 16 ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p)) p++;
    if (p == digits) return CONFIG_LITERAL_NOT_INTEGER;
    const char *end = p;
    if (*p == 'L') p++;
    if (*p == 'L') p++;
    if (*p) return CONFIG_LITERAL_NOT_INTEGER;
    char buf[sizeof ((ConfigLiteral *)0)->text];
    snprintf(buf, sizeof buf, "%.*s", (int)(end - digits), digits);
    errno = 0;
    char *stop = NULL;
    const unsigned long long v = strtoull(buf, &stop, base);
    if (errno == ERANGE || *stop) return CONFIG_LITERAL_TOO_BIG;
    *magnitude = (uint64_t)v;
    return CONFIG_LITERAL_OK;
}
