#define _POSIX_C_SOURCE 200809L

#include "data/preprocess/text_reader.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int text_open(TextReader *r, const char *path, AmError *err) {
    memset(r, 0, sizeof *r);
    r->path = path;
    errno = 0;
    r->gz = gzopen(path, "rb");
    if (!r->gz) return am_error_set(err, "%s: cannot open: %s", path, errno ? strerror(errno) : "zlib failure");
    return 0;
}

void text_close(TextReader *r) {
    if (r->gz) gzclose(r->gz);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

int text_is_blank(const char *s) {
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return 0;
    return 1;
}

int text_read_line(TextReader *r, AmError *err) {
    size_t len = 0;
    int got = 0;
    for (;;) {
        if (r->cap - len < 2) {
            size_t cap = r->cap ? 2 * r->cap : 4096;
            if (cap > INT_MAX) return -am_error_set(err, "%s:%ld: line too long", r->path, r->line + 1);
            char *nb = realloc(r->buf, cap);
            if (!nb) return -am_error_set(err, "%s:%ld: out of memory", r->path, r->line + 1);
            r->buf = nb;
            r->cap = cap;
        }
        if (!gzgets(r->gz, r->buf + len, (int)(r->cap - len))) {
            int code = Z_OK;
            const char *msg = gzerror(r->gz, &code);
            if (code != Z_OK && code != Z_STREAM_END)
                return -am_error_set(err, "%s:%ld: read error: %s", r->path, r->line + 1, msg);
            if (!got) return 0;
            break;
        }
        got = 1;
        size_t add = strlen(r->buf + len);
        len += add;
        if (len > 0 && r->buf[len - 1] == '\n') break;
        if (gzeof(r->gz)) break;
        if (add == 0) return -am_error_set(err, "%s:%ld: NUL byte in line", r->path, r->line + 1);
    }
    r->line++;
    len = strlen(r->buf);
    if (len > 0 && r->buf[len - 1] == '\n') r->buf[--len] = '\0';
    if (len > 0 && r->buf[len - 1] == '\r') r->buf[--len] = '\0';
    return 1;
}


static char *trim_field(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = 0;
        s++;
    }
    return s;
}

int text_split_commas(char *line, char **f, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        char *c = strchr(p, ',');
        if (c) *c = 0;
        if (n < max) f[n] = trim_field(p);
        n++;
        if (!c) break;
        p = c + 1;
    }
    return n;
}

char *text_resolve_path(const char *dir, const char *p) {
    const size_t nd = strlen(dir), np = strlen(p);
    char *s = am_malloc(nd + np + 2, "path");
    if (p[0] == '/' || nd == 0) {
        memcpy(s, p, np + 1);
    } else {
        memcpy(s, dir, nd);
        s[nd] = '/';
        memcpy(s + nd + 1, p, np + 1);
    }
    return s;
}
