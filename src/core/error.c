#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static am_abort_hook g_abort_hook = NULL;

void am_set_abort_hook(am_abort_hook hook) { g_abort_hook = hook; }

void am_die(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "astromm: error at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    if (g_abort_hook) g_abort_hook(1);
    exit(1);
}

void *am_malloc(size_t bytes, const char *what) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) DIE("out of memory allocating %zu bytes for %s", bytes, what);
    return p;
}

char *am_strdup(const char *s, const char *what) {
    const size_t n = strlen(s) + 1;
    char *d = am_malloc(n, what);
    memcpy(d, s, n);
    return d;
}

void *am_realloc(void *p, size_t bytes, const char *what) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) DIE("out of memory: %zu bytes for %s", bytes, what);
    return q;
}

void *am_calloc(size_t n, size_t size, const char *what) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) DIE("out of memory allocating %zu x %zu bytes for %s", n, size, what);
    return p;
}

void *am_aligned_alloc(size_t bytes, const char *what) {
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) DIE("out of memory allocating %zu bytes for %s", bytes, what);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

int am_error_set(AmError *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return 1;
}
