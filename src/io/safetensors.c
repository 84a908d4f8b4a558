#define _POSIX_C_SOURCE 200809L

#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json_header.h"
#include "io/safetensors_internal.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O assumes a little-endian host"
#endif


struct StFile {
    char *path;
    int n, cap;
    StTensor *tensors;  // sorted by (begin, end, header order)
    size_t *slot;       // byte offset of tensor i's aligned copy inside data
    int *by_name;       // tensor indices sorted by name (for st_find)
    unsigned char *data;
    int n_meta, cap_meta;
    char **meta_key, **meta_val;  // file order
};

// ------------------------------------------------------------------ dtypes

static const char *const k_dtype_names[] = {"F32", "F64", "I32", "I64", "U8", "F16", "BF16"};
static const size_t k_dtype_sizes[] = {4, 8, 4, 8, 1, 2, 2};
#define ST_N_DTYPES ((int)(sizeof k_dtype_sizes / sizeof k_dtype_sizes[0]))

size_t st_dtype_size(StDtype d) {
    return ((int)d >= 0 && (int)d < ST_N_DTYPES) ? k_dtype_sizes[d] : 0;
}

const char *st_dtype_name(StDtype d) {
    return ((int)d >= 0 && (int)d < ST_N_DTYPES) ? k_dtype_names[d] : "?";
}

int st_dtype_parse(const char *s, StDtype *out) {
    for (int i = 0; i < ST_N_DTYPES; i++) {
        if (strcmp(s, k_dtype_names[i]) == 0) {
            *out = (StDtype)i;
            return 0;
        }
    }
    return 1;
}

int64_t st_numel(const StTensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

// numel of a shape with overflow checking; -1 on overflow.
int64_t st_checked_numel(const int64_t *shape, int ndim) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

static void format_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t o = 0;
    o += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, i ? "," : "", shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

// ------------------------------------------------------------------ errors

int st_fail(AmError *err, const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return am_error_set(err, "safetensors '%.240s': %s", path ? path : "(null)", msg);
}

// ------------------------------------------------------------------ header parser

typedef struct {
    JhCursor c;
    const char *path;
    AmError *err;
    StFile *f;
    uint64_t data_size;
} Parser;

#define PFAIL(ps, ...) st_fail((ps)->err, (ps)->path, __VA_ARGS__)

static int oom(Parser *ps) { return PFAIL(ps, "out of memory while parsing the header"); }

static const char *found(Parser *ps, char *buf, size_t cap) { return jh_describe(&ps->c, buf, cap); }

static int push_tensor(Parser *ps, char *name) {
    StFile *f = ps->f;
    if (f->n == f->cap) {
        if (f->cap > INT_MAX / 4) {
            free(name);
            return PFAIL(ps, "too many tensors in header");
        }
        int cap = f->cap ? f->cap * 2 : 16;
        StTensor *t = realloc(f->tensors, (size_t)cap * sizeof *t);
        if (!t) {
            free(name);
            return oom(ps);
        }
        f->tensors = t;
        f->cap = cap;
    }
    StTensor *t = &f->tensors[f->n++];
    memset(t, 0, sizeof *t);
    t->name = name;
    return 0;
}

static int push_meta(Parser *ps, char *key, char *val) {
    StFile *f = ps->f;
    if (f->n_meta == f->cap_meta) {
        if (f->cap_meta > INT_MAX / 4) {
            free(key);
            free(val);
            return PFAIL(ps, "too many __metadata__ entries");
        }
        int cap = f->cap_meta ? f->cap_meta * 2 : 16;
        char **k = realloc(f->meta_key, (size_t)cap * sizeof *k);
        if (k) f->meta_key = k;
        char **v = realloc(f->meta_val, (size_t)cap * sizeof *v);
        if (v) f->meta_val = v;
        if (!k || !v) {
            free(key);
            free(val);
            return oom(ps);
        }
        f->cap_meta = cap;
    }
    f->meta_key[f->n_meta] = key;
    f->meta_val[f->n_meta] = val;
    f->n_meta++;
    return 0;
}

// After an element of a container: consume ',' (returns 0, more follows) or the
// closing bracket (returns 2); anything else is an error (returns 1).
static int next_or_close(Parser *ps, char close, const char *where) {
    int ch = jh_peek(&ps->c);
    if (ch == ',') {
        ps->c.p++;
        return 0;
    }
    if (ch == (unsigned char)close) {
        ps->c.p++;
        return 2;
    }
    char fb[32];
    return PFAIL(ps, "invalid header JSON at header byte %zu: expected ',' or '%c' %s, found %s",
                 jh_offset(&ps->c), close, where, found(ps, fb, sizeof fb));
}

// Array of integers for field `field` of tensor `tname`; at most cap entries.
static int parse_int_array(Parser *ps, const char *tname, const char *field, int64_t *out, int cap, int *count) {
    char fb[32];
    *count = 0;
    if (jh_peek(&ps->c) != '[')
        return PFAIL(ps, "tensor " NM ": %s must be an array of integers, found %s", tname, field,
                     found(ps, fb, sizeof fb));
    ps->c.p++;
    if (jh_peek(&ps->c) == ']') {
        ps->c.p++;
        return 0;
    }
    for (;;) {
        if (*count == cap)
            return PFAIL(ps, "tensor " NM ": %s has more than %d entries", tname, field, cap);
        int64_t v;
        int rc = jh_int(&ps->c, &v);
        if (rc == JH_NOT_INT)
            return PFAIL(ps, "tensor " NM ": %s[%d] must be an integer (%s)", tname, field, *count, ps->c.err);
        if (rc) return PFAIL(ps, "tensor " NM ": %s[%d]: %s", tname, field, *count, ps->c.err);
        out[(*count)++] = v;
        char where[200];
        snprintf(where, sizeof where, "in %s of tensor " NM, field, tname);
        rc = next_or_close(ps, ']', where);
        if (rc == 2) return 0;
        if (rc) return 1;
    }
}

static int parse_tensor(Parser *ps, char *name) {
    if (push_tensor(ps, name)) return 1;
    // Work on a local copy: the tensors array may not move while we parse this
    // entry (nothing else is pushed), but keep the code obviously safe anyway.
    StTensor t = ps->f->tensors[ps->f->n - 1];
    char fb[32];
    if (jh_peek(&ps->c) != '{')
        return PFAIL(ps, "tensor " NM ": entry must be an object with dtype, shape and data_offsets, found %s",
                     name, found(ps, fb, sizeof fb));
    ps->c.p++;
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    int64_t offs[2] = {0, 0};
    int n_offs = 0;
    if (jh_peek(&ps->c) == '}') {
        ps->c.p++;
    } else {
        for (;;) {
            char *field;
            size_t flen;
            int rc = jh_string(&ps->c, &field, &flen);
            if (rc == 2) return oom(ps);
            if (rc) return PFAIL(ps, "tensor " NM ": invalid header JSON (%s)", name, ps->c.err);
            if (jh_expect(&ps->c, ':', "after a field name")) {
                free(field);
                return PFAIL(ps, "tensor " NM ": invalid header JSON (%s)", name, ps->c.err);
            }
            if (strcmp(field, "dtype") == 0) {
                free(field);
                if (have_dtype) return PFAIL(ps, "tensor " NM ": duplicate field 'dtype'", name);
                have_dtype = 1;
                if (jh_peek(&ps->c) != '"')
                    return PFAIL(ps, "tensor " NM ": dtype must be a string, found %s", name,
                                 found(ps, fb, sizeof fb));
                char *s;
                size_t slen;
                rc = jh_string(&ps->c, &s, &slen);
                if (rc == 2) return oom(ps);
                if (rc) return PFAIL(ps, "tensor " NM ": dtype: %s", name, ps->c.err);
                if (st_dtype_parse(s, &t.dtype)) {
                    PFAIL(ps, "tensor " NM ": unknown dtype '%.40s' (supported: F32, F64, I32, I64, U8, F16, BF16)",
                          name, s);
                    free(s);
                    return 1;
                }
                free(s);
            } else if (strcmp(field, "shape") == 0) {
                free(field);
                if (have_shape) return PFAIL(ps, "tensor " NM ": duplicate field 'shape'", name);
                have_shape = 1;
                if (parse_int_array(ps, name, "shape", t.shape, ST_MAX_DIMS, &t.ndim)) return 1;
                for (int i = 0; i < t.ndim; i++)
                    if (t.shape[i] < 0)
                        return PFAIL(ps, "tensor " NM ": shape[%d] = %" PRId64 " is negative", name, i, t.shape[i]);
            } else if (strcmp(field, "data_offsets") == 0) {
                free(field);
                if (have_offsets) return PFAIL(ps, "tensor " NM ": duplicate field 'data_offsets'", name);
                have_offsets = 1;
                if (parse_int_array(ps, name, "data_offsets", offs, 2, &n_offs)) return 1;
                if (n_offs != 2)
                    return PFAIL(ps, "tensor " NM ": data_offsets must be [begin, end], got %d entries", name, n_offs);
                for (int i = 0; i < 2; i++)
                    if (offs[i] < 0)
                        return PFAIL(ps, "tensor " NM ": data_offsets[%d] = %" PRId64 " is negative", name, i,
                                     offs[i]);
                if (offs[0] > offs[1])
                    return PFAIL(ps, "tensor " NM ": data_offsets [%" PRId64 ", %" PRId64 "] has begin > end", name,
                                 offs[0], offs[1]);
            } else {
                PFAIL(ps, "tensor " NM ": unknown field '%.60s' (expected dtype, shape, data_offsets)", name, field);
                free(field);
                return 1;
            }
            char where[200];
            snprintf(where, sizeof where, "in the entry of tensor " NM, name);
            rc = next_or_close(ps, '}', where);
            if (rc == 2) break;
            if (rc) return 1;
        }
    }
    if (!have_dtype) return PFAIL(ps, "tensor " NM ": missing 'dtype'", name);
    if (!have_shape) return PFAIL(ps, "tensor " NM ": missing 'shape'", name);
    if (!have_offsets) return PFAIL(ps, "tensor " NM ": missing 'data_offsets'", name);

    t.begin = (uint64_t)offs[0];
    t.end = (uint64_t)offs[1];
    char shp[160];
    format_shape(shp, sizeof shp, t.shape, t.ndim);
    int64_t numel = st_checked_numel(t.shape, t.ndim);
    size_t esz = st_dtype_size(t.dtype);
    if (numel < 0 || (uint64_t)numel > (uint64_t)INT64_MAX / esz)
        return PFAIL(ps, "tensor " NM ": shape %s has too many elements", name, shp);
    uint64_t nbytes = (uint64_t)numel * esz;
    if (t.end - t.begin != nbytes)
        return PFAIL(ps,
                     "tensor " NM ": data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64
                     " bytes but %s %s needs %" PRIu64 " bytes",
                     name, t.begin, t.end, t.end - t.begin, st_dtype_name(t.dtype), shp, nbytes);
    if (t.end > ps->data_size)
        return PFAIL(ps,
                     "tensor " NM ": data_offsets [%" PRIu64 ", %" PRIu64
                     "] extend past the end of the data buffer (%" PRIu64 " bytes); truncated file?",
                     name, t.begin, t.end, ps->data_size);
    ps->f->tensors[ps->f->n - 1] = t;
    return 0;
}

static int parse_metadata(Parser *ps) {
    char fb[32];
    if (jh_peek(&ps->c) != '{')
        return PFAIL(ps, "__metadata__ must be an object of string values, found %s", found(ps, fb, sizeof fb));
    ps->c.p++;
    if (jh_peek(&ps->c) == '}') {
        ps->c.p++;
        return 0;
    }
    for (;;) {
        char *key, *val;
        size_t klen, vlen;
        int rc = jh_string(&ps->c, &key, &klen);
        if (rc == 2) return oom(ps);
        if (rc) return PFAIL(ps, "__metadata__: invalid header JSON (%s)", ps->c.err);
        if (jh_expect(&ps->c, ':', "after a key")) {
            PFAIL(ps, "__metadata__ key " NM ": invalid header JSON (%s)", key, ps->c.err);
            free(key);
            return 1;
        }
        if (jh_peek(&ps->c) != '"') {
            PFAIL(ps, "__metadata__ key " NM ": value must be a string, found %s", key, found(ps, fb, sizeof fb));
            free(key);
            return 1;
        }
        rc = jh_string(&ps->c, &val, &vlen);
        if (rc) {
            if (rc == 2)
                oom(ps);
            else
                PFAIL(ps, "__metadata__ key " NM ": value: %s", key, ps->c.err);
            free(key);
            return 1;
        }
        if (push_meta(ps, key, val)) return 1;
        rc = next_or_close(ps, '}', "in __metadata__");
        if (rc == 2) return 0;
        if (rc) return 1;
    }
}

static int parse_header(Parser *ps) {
    JhCursor *c = &ps->c;
    if (c->p >= c->end || *c->p != '{')
        return PFAIL(ps, "header is not a JSON object (it must start with '{')");
    c->p++;
    int have_meta = 0;
    if (jh_peek(c) == '}') {
        c->p++;
    } else {
        for (;;) {
            char *key;
            size_t klen;
            int rc = jh_string(c, &key, &klen);
            if (rc == 2) return oom(ps);
            if (rc) return PFAIL(ps, "invalid header JSON (%s; expected a tensor name or \"__metadata__\")", c->err);
            if (jh_expect(c, ':', "after a key")) {
                PFAIL(ps, "entry " NM ": invalid header JSON (%s)", key, c->err);
                free(key);
                return 1;
            }
            if (strcmp(key, "__metadata__") == 0) {
                free(key);
                if (have_meta) return PFAIL(ps, "duplicate \"__metadata__\" entry");
                have_meta = 1;
                if (parse_metadata(ps)) return 1;
            } else {
                if (parse_tensor(ps, key)) return 1;  // takes ownership of key
            }
            rc = next_or_close(ps, '}', "between header entries");
            if (rc == 2) break;
            if (rc) return 1;
        }
    }
    jh_skip_ws(c);
    if (c->p != c->end)
        return PFAIL(ps,
                     "unexpected data at header byte %zu after the header object (only whitespace padding is "
                     "allowed)",
                     jh_offset(c));
    return 0;
}

// ------------------------------------------------------------------ post-parse checks

static int cmp_tensor_by_range(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x < y ? -1 : (x > y);  // header order
}

static int cmp_tensor_by_name(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x < y ? -1 : (x > y);
}

static int cmp_str_ptr(const void *a, const void *b) {
    const char *const *x = *(const char *const *const *)a, *const *y = *(const char *const *const *)b;
    int c = strcmp(*x, *y);
    if (c) return c;
    return x < y ? -1 : (x > y);
}

static int check_and_index(Parser *ps) {
    StFile *f = ps->f;
    int n = f->n;
    // Duplicate metadata keys.
    if (f->n_meta > 1) {
        const char *const **keys = malloc((size_t)f->n_meta * sizeof *keys);
        if (!keys) return oom(ps);
        for (int i = 0; i < f->n_meta; i++) keys[i] = (const char *const *)&f->meta_key[i];
        qsort(keys, (size_t)f->n_meta, sizeof *keys, cmp_str_ptr);
        for (int i = 1; i < f->n_meta; i++) {
            if (strcmp(*keys[i - 1], *keys[i]) == 0) {
                PFAIL(ps, "__metadata__: duplicate key " NM, *keys[i]);
                free(keys);
                return 1;
            }
        }
        free(keys);
    }
    if (n <= 0) return 0;
    const StTensor **ptr = malloc((size_t)n * sizeof *ptr);
    if (!ptr) return oom(ps);
    // Duplicate names.
    for (int i = 0; i < n; i++) ptr[i] = &f->tensors[i];
    qsort(ptr, (size_t)n, sizeof *ptr, cmp_tensor_by_name);
    for (int i = 1; i < n; i++) {
        if (strcmp(ptr[i - 1]->name, ptr[i]->name) == 0) {
            PFAIL(ps, "duplicate tensor name " NM, ptr[i]->name);
            free(ptr);
            return 1;
        }
    }
    // Overlaps, in data order.
    for (int i = 0; i < n; i++) ptr[i] = &f->tensors[i];
    qsort(ptr, (size_t)n, sizeof *ptr, cmp_tensor_by_range);
    const StTensor *reach = NULL;  // non-empty tensor with the largest end so far
    for (int i = 0; i < n; i++) {
        const StTensor *t = ptr[i];
        if (t->end == t->begin) continue;
        if (reach && t->begin < reach->end) {
            char a[80];
            snprintf(a, sizeof a, "%.70s", reach->name);
            PFAIL(ps,
                  "tensors '%s' [%" PRIu64 ", %" PRIu64 ") and " NM " [%" PRIu64 ", %" PRIu64
                  ") have overlapping byte ranges",
                  a, reach->begin, reach->end, t->name, t->begin, t->end);
            free(ptr);
            return 1;
        }
        if (!reach || t->end > reach->end) reach = t;
    }
    // Reorder the tensors into data order and build the name index.
    StTensor *sorted = malloc((size_t)n * sizeof *sorted);
    f->by_name = malloc((size_t)n * sizeof *f->by_name);
    if (!sorted || !f->by_name) {
        free(sorted);
        free(ptr);
        return oom(ps);
    }
    for (int i = 0; i < n; i++) sorted[i] = *ptr[i];
    free(f->tensors);
    f->tensors = sorted;
    f->cap = n;
    for (int i = 0; i < n; i++) ptr[i] = &f->tensors[i];
    qsort(ptr, (size_t)n, sizeof *ptr, cmp_tensor_by_name);
    for (int i = 0; i < n; i++) f->by_name[i] = (int)(ptr[i] - f->tensors);
    free(ptr);
    return 0;
}

// ------------------------------------------------------------------ reading

static int read_full(int fd, void *buf, size_t len, uint64_t off, size_t *got) {
    unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        size_t chunk = len - done;
        if (chunk > ((size_t)1 << 30)) chunk = (size_t)1 << 30;
        ssize_t r = pread(fd, p + done, chunk, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            *got = done;
            return -1;
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

void st_close(StFile *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_key[i]);
        free(f->meta_val[i]);
    }
    free(f->tensors);
    free(f->slot);
    free(f->by_name);
    free(f->data);
    free(f->meta_key);
    free(f->meta_val);
    free(f->path);
    free(f);
}

int st_open(StFile **out, const char *path, AmError *err) {
    if (out) *out = NULL;
    if (!out || !path) return st_fail(err, path, "st_open: NULL argument");
    // O_NONBLOCK so a FIFO cannot hang us before the regular-file check.
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return st_fail(err, path, "cannot open: %s", strerror(errno));
    StFile *f = NULL;
    char *header = NULL;
    int rc = 1;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st_fail(err, path, "cannot stat: %s", strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st_fail(err, path, "not a regular file");
        goto done;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    if (fsize < 8) {
        st_fail(err, path, "file is %" PRIu64 " bytes, shorter than the 8-byte header length field", fsize);
        goto done;
    }
    unsigned char lenb[8];
    size_t got;
    int r = read_full(fd, lenb, 8, 0, &got);
    if (r != 0 || got != 8) {
        st_fail(err, path, "cannot read the header length: %s", r ? strerror(errno) : "short read");
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | lenb[i];
    if (hlen > ST_MAX_HEADER_BYTES) {
        st_fail(err, path,
                "header length %" PRIu64 " is absurd (limit %u bytes); not a safetensors file or corrupt", hlen,
                ST_MAX_HEADER_BYTES);
        goto done;
    }
    if (hlen > fsize - 8) {
        st_fail(err, path, "header length %" PRIu64 " exceeds the file size (%" PRIu64 " bytes); truncated file?",
                hlen, fsize);
        goto done;
    }
    header = malloc(hlen ? (size_t)hlen : 1);
    if (!header) {
        st_fail(err, path, "out of memory reading a %" PRIu64 "-byte header", hlen);
        goto done;
    }
    r = read_full(fd, header, (size_t)hlen, 8, &got);
    if (r != 0 || got != hlen) {
        st_fail(err, path, "cannot read the %" PRIu64 "-byte header: %s", hlen,
                r ? strerror(errno) : "short read (file changed while reading?)");
        goto done;
    }
    f = calloc(1, sizeof *f);
    if (f) f->path = malloc(strlen(path) + 1);
    if (!f || !f->path) {
        st_fail(err, path, "out of memory");
        goto done;
    }
    memcpy(f->path, path, strlen(path) + 1);

    Parser ps;
    jh_init(&ps.c, header, (size_t)hlen);
    ps.path = path;
    ps.err = err;
    ps.f = f;
    ps.data_size = fsize - 8 - hlen;
    if (parse_header(&ps) || check_and_index(&ps)) goto done;
    free(header);
    header = NULL;

    // One 64-byte aligned slot per tensor.
    size_t total = 0;
    if (f->n) {
        f->slot = malloc((size_t)f->n * sizeof *f->slot);
        if (!f->slot) {
            st_fail(err, path, "out of memory");
            goto done;
        }
    }
    for (int i = 0; i < f->n; i++) {
        uint64_t nb = f->tensors[i].end - f->tensors[i].begin;  // <= data_size, non-overlapping
        f->slot[i] = total;
        total += (size_t)((nb + 63) / 64 * 64);
    }
    f->data = aligned_alloc(64, total ? total : 64);
    if (!f->data) {
        st_fail(err, path, "out of memory allocating %zu bytes of tensor data", total);
        goto done;
    }
    uint64_t data_start = 8 + hlen;
    for (int i = 0; i < f->n; i++) {
        const StTensor *t = &f->tensors[i];
        size_t nb = (size_t)(t->end - t->begin);
        unsigned char *dst = f->data + f->slot[i];
        r = read_full(fd, dst, nb, data_start + t->begin, &got);
        if (r != 0 || got != nb) {
            st_fail(err, path, "tensor " NM ": cannot read %zu bytes at file offset %" PRIu64 ": %s", t->name, nb,
                    data_start + t->begin, r ? strerror(errno) : "short read (file changed while reading?)");
            goto done;
        }
        if (nb % 64) memset(dst + nb, 0, 64 - nb % 64);
    }
    rc = 0;
done:
    free(header);
    close(fd);
    if (rc) {
        st_close(f);
    } else {
        *out = f;
    }
    return rc;
}

// ------------------------------------------------------------------ accessors

int st_count(const StFile *f) { return f ? f->n : 0; }

const StTensor *st_tensor(const StFile *f, int i) { return (f && i >= 0 && i < f->n) ? &f->tensors[i] : NULL; }

const StTensor *st_find(const StFile *f, const char *name) {
    if (!f || !name) return NULL;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const StTensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *st_meta(const StFile *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_key[i], key) == 0) return f->meta_val[i];
    return NULL;
}

int st_meta_count(const StFile *f) { return f ? f->n_meta : 0; }

const char *st_meta_key(const StFile *f, int i, const char **value) {
    if (!f || i < 0 || i >= f->n_meta) {
        if (value) *value = NULL;
        return NULL;
    }
    if (value) *value = f->meta_val[i];
    return f->meta_key[i];
}

const char *st_path(const StFile *f) { return f ? f->path : NULL; }

const void *st_data(const StFile *f, const StTensor *t) {
    if (!f || !t || f->n == 0) return NULL;
    // Only pointers into our own table (compare as integers: t may be foreign).
    uintptr_t base = (uintptr_t)f->tensors, p = (uintptr_t)t;
    if (p < base || p >= base + (uintptr_t)f->n * sizeof *t || (p - base) % sizeof *t) return NULL;
    size_t i = (size_t)((p - base) / sizeof *t);
    return f->data + f->slot[i];
}

