#define _POSIX_C_SOURCE 200809L

// safetensors writer: validated input, atomic replace (temporary file, fsync,
// rename, fsync of the directory), so a checkpoint is never half-written.
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json_header.h"
#include "io/safetensors_internal.h"
#include "io/output_path.h"

// ------------------------------------------------------------------ writer

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_json_string(Buf *b, const char *s) {
    buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
            case '"': buf_put(b, "\\\"", 2); break;
            case '\\': buf_put(b, "\\\\", 2); break;
            case '\n': buf_put(b, "\\n", 2); break;
            case '\r': buf_put(b, "\\r", 2); break;
            case '\t': buf_put(b, "\\t", 2); break;
            case '\b': buf_put(b, "\\b", 2); break;
            case '\f': buf_put(b, "\\f", 2); break;
            default:
                if (*p < 0x20) {
                    snprintf(esc, sizeof esc, "\\u%04x", *p);
                    buf_put(b, esc, 6);
                } else {
                    buf_put(b, (const char *)p, 1);
                }
        }
    }
    buf_put(b, "\"", 1);
}

static int write_all(int fd, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len) {
        size_t chunk = len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int cmp_wtensor_by_name(const void *a, const void *b) {
    const StWriteTensor *x = *(const StWriteTensor *const *)a, *y = *(const StWriteTensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_cstr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Validate the writer's input; fills nbytes[i].
static int check_write_input(const char *path, const StWriteTensor *tensors, int n, const char *const *meta_kv,
                             int n_meta, uint64_t *nbytes, AmError *err) {
    for (int i = 0; i < n; i++) {
        const StWriteTensor *t = &tensors[i];
        if (!t->name) return st_fail(err, path, "tensor #%d has a NULL name", i);
        if (!jh_utf8_valid(t->name, strlen(t->name)))
            return st_fail(err, path, "tensor #%d: name is not valid UTF-8", i);
        if (strcmp(t->name, "__metadata__") == 0)
            return st_fail(err, path, "tensor #%d: the name \"__metadata__\" is reserved", i);
        size_t esz = st_dtype_size(t->dtype);
        if (!esz) return st_fail(err, path, "tensor " NM ": invalid dtype value %d", t->name, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return st_fail(err, path, "tensor " NM ": ndim %d out of range 0..%d", t->name, t->ndim, ST_MAX_DIMS);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0)
                return st_fail(err, path, "tensor " NM ": shape[%d] = %" PRId64 " is negative", t->name, d,
                               t->shape[d]);
        int64_t numel = st_checked_numel(t->shape, t->ndim);
        if (numel < 0 || (uint64_t)numel > (uint64_t)INT64_MAX / esz)
            return st_fail(err, path, "tensor " NM ": shape has too many elements", t->name);
        nbytes[i] = (uint64_t)numel * esz;
        if (nbytes[i] && !t->data) return st_fail(err, path, "tensor " NM ": data is NULL", t->name);
    }
    if (n > 1) {
        const StWriteTensor **ptr = malloc((size_t)n * sizeof *ptr);
        if (!ptr) return st_fail(err, path, "out of memory");
        for (int i = 0; i < n; i++) ptr[i] = &tensors[i];
        qsort(ptr, (size_t)n, sizeof *ptr, cmp_wtensor_by_name);
        for (int i = 1; i < n; i++) {
            if (strcmp(ptr[i - 1]->name, ptr[i]->name) == 0) {
                st_fail(err, path, "duplicate tensor name " NM, ptr[i]->name);
                free(ptr);
                return 1;
            }
        }
        free(ptr);
    }
    for (int i = 0; i < 2 * n_meta; i++) {
        if (!meta_kv[i]) return st_fail(err, path, "metadata pair #%d has a NULL %s", i / 2, i % 2 ? "value" : "key");
        if (!jh_utf8_valid(meta_kv[i], strlen(meta_kv[i])))
            return st_fail(err, path, "metadata pair #%d: %s is not valid UTF-8", i / 2, i % 2 ? "value" : "key");
    }
    if (n_meta > 1) {
        const char **keys = malloc((size_t)n_meta * sizeof *keys);
        if (!keys) return st_fail(err, path, "out of memory");
        for (int i = 0; i < n_meta; i++) keys[i] = meta_kv[2 * i];
        qsort(keys, (size_t)n_meta, sizeof *keys, cmp_cstr);
        for (int i = 1; i < n_meta; i++) {
            if (strcmp(keys[i - 1], keys[i]) == 0) {
                st_fail(err, path, "duplicate metadata key " NM, keys[i]);
                free(keys);
                return 1;
            }
        }
        free(keys);
    }
    return 0;
}

static void fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = malloc(2);
        if (dir) memcpy(dir, ".", 2);
    } else {
        size_t len = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(len + 1);
        if (dir) {
            memcpy(dir, path, len);
            dir[len] = '\0';
        }
    }
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);  // best effort: the rename is already visible
        close(fd);
    }
    free(dir);
}

int st_write(const char *path, const StWriteTensor *tensors, int n, const char *const *meta_kv, int n_meta,
             AmError *err) {
    if (!path) return st_fail(err, path, "st_write: NULL path");
    if (output_path_check(path, err)) return 1;
    if (n < 0 || (n > 0 && !tensors)) return st_fail(err, path, "st_write: bad tensor list (n = %d)", n);
    if (n_meta < 0 || (n_meta > 0 && !meta_kv))
        return st_fail(err, path, "st_write: bad metadata list (n_meta = %d)", n_meta);

    uint64_t *nbytes = malloc((size_t)(n ? n : 1) * sizeof *nbytes);
    if (!nbytes) return st_fail(err, path, "out of memory");
    if (check_write_input(path, tensors, n, meta_kv, n_meta, nbytes, err)) {
        free(nbytes);
        return 1;
    }

    // Header.
    Buf h = {0};
    buf_puts(&h, "{");
    if (n_meta > 0) {
        buf_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) buf_puts(&h, ",");
            buf_json_string(&h, meta_kv[2 * i]);
            buf_puts(&h, ":");
            buf_json_string(&h, meta_kv[2 * i + 1]);
        }
        buf_puts(&h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const StWriteTensor *t = &tensors[i];
        char num[64];
        if (i || n_meta > 0) buf_puts(&h, ",");
        buf_json_string(&h, t->name);
        buf_puts(&h, ":{\"dtype\":\"");
        buf_puts(&h, st_dtype_name(t->dtype));
        buf_puts(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t->shape[d]);
            buf_puts(&h, num);
        }
        if (nbytes[i] > (uint64_t)INT64_MAX - off) {
            free(h.s);
            free(nbytes);
            return st_fail(err, path, "total tensor data exceeds 2^63 bytes");
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + nbytes[i]);
        buf_puts(&h, num);
        off += nbytes[i];
    }
    buf_puts(&h, "}");
    while (!h.oom && h.len % 8) buf_puts(&h, " ");
    if (h.oom) {
        free(h.s);
        free(nbytes);
        return st_fail(err, path, "out of memory building the header");
    }
    if (h.len > ST_MAX_HEADER_BYTES) {
        free(h.s);
        free(nbytes);
        return st_fail(err, path, "header would be %zu bytes, over the %u-byte limit", h.len, ST_MAX_HEADER_BYTES);
    }
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(((uint64_t)h.len >> (8 * i)) & 0xff);

    // Temporary file, then rename.
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        free(h.s);
        free(nbytes);
        return st_fail(err, path, "out of memory");
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int rc = 1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st_fail(err, path, "cannot create temporary file '%.200s': %s", tmp, strerror(errno));
        goto out;  // nothing to clean up
    }
    if (write_all(fd, lenb, 8) != 0 || write_all(fd, h.s, h.len) != 0) {
        st_fail(err, path, "writing the header to '%.200s' failed: %s", tmp, strerror(errno));
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        if (nbytes[i] && write_all(fd, tensors[i].data, (size_t)nbytes[i]) != 0) {
            st_fail(err, path, "tensor " NM ": writing %" PRIu64 " bytes to '%.200s' failed: %s", tensors[i].name,
                    nbytes[i], tmp, strerror(errno));
            goto fail;
        }
    }
    if (fsync(fd) != 0) {
        st_fail(err, path, "fsync of '%.200s' failed: %s", tmp, strerror(errno));
        goto fail;
    }
    int cfd = fd;
    fd = -1;
    if (close(cfd) != 0) {
        st_fail(err, path, "closing '%.200s' failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st_fail(err, path, "renaming '%.200s' into place failed: %s", tmp, strerror(errno));
        goto fail;
    }
    fsync_parent_dir(path);
    rc = 0;
    goto out;
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
out:
    free(tmp);
    free(h.s);
    free(nbytes);
    return rc;
}
