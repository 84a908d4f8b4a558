// Atomic text outputs and CSV quoting (see text_out.h).
#define _POSIX_C_SOURCE 200809L

#include "io/text_out.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int text_out_open(TextOut *t, const char *path, AmError *err) {
    memset(t, 0, sizeof *t);
    if (!strcmp(path, "-")) {
        t->f = stdout;
        return 0;
    }
    t->path = am_strdup(path, "path");
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        // a device or a pipe (/dev/null, /dev/stdout, a FIFO): written in
        // place; renaming a temporary file over it would replace the device
        t->f = fopen(path, "w");
        if (!t->f) {
            const int e = errno;
            text_out_abort(t);
            return am_error_set(err, "%s: cannot write: %s", path, strerror(e));
        }
        return 0;
    }
    const size_t n = strlen(path) + 1;
    t->tmp = am_malloc(n + 32, "path");
    snprintf(t->tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    t->f = fopen(t->tmp, "w");
    if (!t->f) {
        const int e = errno;
        text_out_abort(t);
        return am_error_set(err, "%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}

static void release(TextOut *t) {
    free(t->path);
    free(t->tmp);
    memset(t, 0, sizeof *t);
}

int text_out_commit(TextOut *t, AmError *err) {
    if (!t->path) {  // stdout
        const int bad = fflush(t->f) != 0 || ferror(t->f);
        release(t);
        return bad ? am_error_set(err, "standard output: write failed: %s", strerror(errno)) : 0;
    }
    const int bad = ferror(t->f);
    int e = errno;
    const int closed = fclose(t->f) == 0;
    if (!closed) e = errno;
    t->f = NULL;
    int rc = 0;
    if (bad || !closed)
        rc = am_error_set(err, "%s: write failed: %s", t->path, strerror(e));
    else if (t->tmp && rename(t->tmp, t->path) != 0)
        rc = am_error_set(err, "%s: cannot rename %s into place: %s", t->path, t->tmp, strerror(errno));
    if (rc && t->tmp) remove(t->tmp);
    release(t);
    return rc;
}

void text_out_abort(TextOut *t) {
    if (t->path) {
        if (t->f) fclose(t->f);
        if (t->tmp) remove(t->tmp);
    }
    release(t);
}

void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
