#define _POSIX_C_SOURCE 200809L

// Trainer-state file (atomic, checksummed) and the checkpoint directory helpers.
#include "train/train_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char kMagic[8] = {'A', 'M', 'S', 'T', 'A', 'T', 'E', '\0'};
// The scalar block: FIXED_V1 in a version-1 file; version 2 appends model_bytes,
// model_crc; version 3 the schedule's layout version (schedule.h).
enum { HEADER_BYTES = 32, FIXED_V1 = 11 * 8, FIXED_V2 = 13 * 8, FIXED_BYTES = 14 * 8, CHUNK = 1 << 20 };

static uint64_t fixed_bytes_of(uint32_t version) {
    return version == 1 ? FIXED_V1 : version == 2 ? FIXED_V2 : FIXED_BYTES;
}

uint64_t train_config_hash(const char *text) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;  // FNV prime
    }
    return h;
}

// ---------------------------------------------------------------- serialisation
static void put64(unsigned char *b, int i, const void *x) { memcpy(b + 8 * i, x, 8); }
static void get64(const unsigned char *b, int i, void *x) { memcpy(x, b + 8 * i, 8); }

static void pack_fixed(unsigned char b[FIXED_BYTES], const TrainState *st) {
    const uint64_t n = st->n, sb = SCHED_STATE_BYTES, mcrc = st->model_crc, sv = SCHED_STATE_VERSION;
    put64(b, 0, &st->step);
    put64(b, 1, &st->epoch);
    put64(b, 2, &st->loader_epoch);
    put64(b, 3, &st->loader_batch);
    put64(b, 4, &st->seed);
    put64(b, 5, &st->config_hash);
    put64(b, 6, &st->n_ranks);
    put64(b, 7, &st->best_metric);
    put64(b, 8, &st->adam_t);
    put64(b, 9, &n);
    put64(b, 10, &sb);
    put64(b, 11, &st->model_bytes);
    put64(b, 12, &mcrc);
    put64(b, 13, &sv);
}

static void fsync_parent_dir(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t len = (size_t)(slash - path);
        if (len == 0) len = 1;  // "/file"
        if (len >= sizeof dir) return;
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);  // best effort: the rename is already visible
        close(fd);
    }
}

static uLong crc_bytes(uLong crc, const void *p, size_t n) { return crc32_z(crc, (const Bytef *)p, n); }

int train_state_write(const char *path, const TrainState *st, AmError *err) {
    CHECK(st->n == 0 || (st->m && st->v), "train_state_write: NULL moments for n=%zu", st->n);
    unsigned char fixed[FIXED_BYTES];
    pack_fixed(fixed, st);
    const size_t arr = st->n * sizeof(float);
    unsigned char sched[SCHED_STATE_BYTES];
    sched_pack(&st->sched, sched);
    const uint64_t payload = FIXED_BYTES + SCHED_STATE_BYTES + 2 * (uint64_t)arr;
    uLong crc = crc32_z(0L, Z_NULL, 0);
    crc = crc_bytes(crc, fixed, sizeof fixed);
    crc = crc_bytes(crc, sched, sizeof sched);
    if (arr) {
        crc = crc_bytes(crc, st->m, arr);
        crc = crc_bytes(crc, st->v, arr);
    }
    unsigned char header[HEADER_BYTES] = {0};
    const uint32_t version = TRAIN_STATE_VERSION, hbytes = HEADER_BYTES, crc32v = (uint32_t)crc;
    memcpy(header, kMagic, 8);
    memcpy(header + 8, &version, 4);
    memcpy(header + 12, &hbytes, 4);
    memcpy(header + 16, &payload, 8);
    memcpy(header + 24, &crc32v, 4);

    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return am_error_set(err, "train state '%.200s': path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return am_error_set(err, "train state '%.200s': cannot create '%.200s': %s", path, tmp, strerror(errno));
    const char *what = NULL;
    int e = 0;  // errno of the first failing call
    errno = 0;
    if (fwrite(header, 1, sizeof header, f) != sizeof header || fwrite(fixed, 1, sizeof fixed, f) != sizeof fixed ||
        fwrite(sched, 1, sizeof sched, f) != sizeof sched ||
        (arr && (fwrite(st->m, 1, arr, f) != arr || fwrite(st->v, 1, arr, f) != arr)))
        what = "write", e = errno;
    else if (fflush(f) != 0)
        what = "fflush", e = errno;
    else if (fsync(fileno(f)) != 0)
        what = "fsync", e = errno;
    if (fclose(f) != 0 && !what) what = "close", e = errno;
    if (!what && rename(tmp, path) != 0) what = "rename", e = errno;
    if (what) {
        unlink(tmp);
        return am_error_set(err, "train state '%.200s': %s of '%.200s' failed: %s", path, what, tmp,
                            e ? strerror(e) : "short write");
    }
    fsync_parent_dir(path);
    return 0;
}

// Reads bytes into dst (or, when dst is NULL, through a scratch buffer), updating crc.
static int read_crc(FILE *f, void *dst, uint64_t bytes, uLong *crc, unsigned char *scratch) {
    while (bytes > 0) {
        const size_t want = dst ? (size_t)bytes : (bytes < CHUNK ? (size_t)bytes : CHUNK);
        unsigned char *p = dst ? dst : scratch;
        if (fread(p, 1, want, f) != want) return 1;
        *crc = crc_bytes(*crc, p, want);
        bytes -= want;
        if (dst) dst = (unsigned char *)dst + want;
    }
    return 0;
}

int train_state_read(const char *path, TrainState *st, AmError *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return am_error_set(err, "train state '%.200s': cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return am_error_set(err, "train state '%.200s': not a regular file", path);
    }
    const uint64_t fsize = (uint64_t)sb.st_size;
    unsigned char header[HEADER_BYTES], fixed[FIXED_BYTES] = {0}, sched[SCHED_STATE_BYTES];
    if (fsize < HEADER_BYTES || fread(header, 1, HEADER_BYTES, f) != HEADER_BYTES) {
        fclose(f);
        return am_error_set(err, "train state '%.200s': truncated (%" PRIu64 " bytes, the header alone is %d)", path,
                            fsize, HEADER_BYTES);
    }
    uint32_t version, hbytes, crc_file, reserved;
    uint64_t payload;
    memcpy(&version, header + 8, 4);
    memcpy(&hbytes, header + 12, 4);
    memcpy(&payload, header + 16, 8);
    memcpy(&crc_file, header + 24, 4);
    memcpy(&reserved, header + 28, 4);
    int rc = 0;
    if (memcmp(header, kMagic, 8) != 0)
        rc = am_error_set(err, "train state '%.200s': bad magic (not an astromm train state file)", path);
    else if (version < 1 || version > TRAIN_STATE_VERSION)
        rc = am_error_set(err, "train state '%.200s': unknown format version %u (this build reads 1 to %u; "
                          "written by a newer astromm?). " TRAIN_STATE_WEIGHTS_HINT, path, version,
                          TRAIN_STATE_VERSION);
    else if (hbytes != HEADER_BYTES || reserved != 0)
        rc = am_error_set(err, "train state '%.200s': corrupt header (header size %u, expected %d; reserved %u)", path,
                          hbytes, HEADER_BYTES, reserved);
    else if (payload > fsize - HEADER_BYTES)
        rc = am_error_set(err, "train state '%.200s': truncated (%" PRIu64 " bytes, header says %" PRIu64 ")", path,
                          fsize, payload + HEADER_BYTES);
    else if (payload < fsize - HEADER_BYTES)
        rc = am_error_set(err, "train state '%.200s': %" PRIu64 " unexpected trailing bytes", path,
                          fsize - HEADER_BYTES - payload);
    else if (payload < fixed_bytes_of(version))
        rc = am_error_set(err, "train state '%.200s': corrupt header (payload %" PRIu64 " bytes)", path, payload);
    if (rc) {
        fclose(f);
        return rc;
    }
    // Stream the payload once: CRC over everything; the moments land directly in
    // the caller's buffers when the sizes agree, otherwise in scratch so that a
    // corrupt file is reported as such rather than as a size mismatch.
    unsigned char *scratch = malloc(CHUNK);
    if (!scratch) {
        fclose(f);
        return am_error_set(err, "train state '%.200s': out of memory", path);
    }
    uLong crc = crc32_z(0L, Z_NULL, 0);
    const uint64_t fixed_bytes = fixed_bytes_of(version);
    uint64_t n_file = 0, sched_bytes = 0, sched_version = 1, left = payload - fixed_bytes;
    int io = read_crc(f, fixed, fixed_bytes, &crc, scratch);
    if (!io) {
        get64(fixed, 9, &n_file);
        get64(fixed, 10, &sched_bytes);
        if (version >= 3) get64(fixed, 13, &sched_version);  // versions 1, 2: the struct's bytes = layout 1
    }
    const int sched_ok = sched_bytes == SCHED_STATE_BYTES && left >= SCHED_STATE_BYTES;
    if (!io && sched_ok) {
        io = read_crc(f, sched, SCHED_STATE_BYTES, &crc, scratch);
        left -= SCHED_STATE_BYTES;
    }
    const uint64_t arr = (uint64_t)st->n * sizeof(float);
    const int sizes_ok = sched_ok && n_file == st->n && left == 2 * arr;
    if (!io && sizes_ok) {
        io = read_crc(f, st->m, arr, &crc, scratch) || read_crc(f, st->v, arr, &crc, scratch);
    } else if (!io) {
        io = read_crc(f, NULL, left, &crc, scratch);
    }
    free(scratch);
    fclose(f);
    if (io) return am_error_set(err, "train state '%.200s': read error (file changed while reading?)", path);
    if ((uint32_t)crc != crc_file)
        return am_error_set(err, "train state '%.200s': checksum mismatch (stored %08x, computed %08x): file is corrupt",
                            path, crc_file, (uint32_t)crc);
    if (sched_version != SCHED_STATE_VERSION)
        return am_error_set(err, "train state '%.200s': schedule state layout %" PRIu64 ", this build reads layout %u "
                            "(written by another astromm version). " TRAIN_STATE_WEIGHTS_HINT, path, sched_version,
                            SCHED_STATE_VERSION);
    if (sched_bytes != SCHED_STATE_BYTES)
        return am_error_set(err, "train state '%.200s': schedule state is %" PRIu64 " bytes, layout %u has %d", path,
                            sched_bytes, SCHED_STATE_VERSION, SCHED_STATE_BYTES);
    if (n_file != st->n) {
        am_error_set(err, "train state '%.200s': holds optimizer moments for %" PRIu64
                     " parameters, the model has %zu (written for another model configuration)", path, n_file, st->n);
        return 2;  // intact, but not for this model (callers may tell it from damage)
    }
    if (!sizes_ok)
        return am_error_set(err, "train state '%.200s': payload size %" PRIu64 " does not match %" PRIu64
                            " parameters", path, payload, n_file);
    AmError serr = {{0}};
    if (sched_unpack(&st->sched, sched, sched_bytes, (uint32_t)sched_version, &serr))
        return am_error_set(err, "train state '%.200s': %.300s", path, serr.msg);
    get64(fixed, 0, &st->step);
    get64(fixed, 1, &st->epoch);
    get64(fixed, 2, &st->loader_epoch);
    get64(fixed, 3, &st->loader_batch);
    get64(fixed, 4, &st->seed);
    get64(fixed, 5, &st->config_hash);
    get64(fixed, 6, &st->n_ranks);
    get64(fixed, 7, &st->best_metric);
    get64(fixed, 8, &st->adam_t);
    uint64_t mcrc = 0;
    st->model_bytes = 0;
    if (version >= 2) {  // version 1 has no model checksum
        get64(fixed, 11, &st->model_bytes);
        get64(fixed, 12, &mcrc);
    }
    st->model_crc = (uint32_t)mcrc;
    st->version = version;
    return 0;
}

// ---------------------------------------------------------------- checkpoint directory
// "a/b" into out; non-zero when it does not fit (the caller skips or reports).
static int path_join(char *out, size_t cap, const char *a, const char *b) {
    const int len = snprintf(out, cap, "%s/%s", a, b);
    return len < 0 || (size_t)len >= cap;
}

int ckpt_dir_for_step(char *out, size_t cap, const char *root, int64_t step, AmError *err) {
    const int len = snprintf(out, cap, "%s/step_%08lld", root, (long long)step);
    if (len < 0 || (size_t)len >= cap) return am_error_set(err, "checkpoint path for '%.200s' step %lld is too long", root, (long long)step);
    return 0;
}

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int ckpt_make_dir(char *out, size_t cap, const char *root, int64_t step, AmError *err) {
    if (ckpt_dir_for_step(out, cap, root, step, err)) return 1;
    if (mkdir(root, 0755) != 0 && errno != EEXIST)
        return am_error_set(err, "cannot create checkpoint root '%.200s': %s", root, strerror(errno));
    if (mkdir(out, 0755) != 0 && errno != EEXIST)
        return am_error_set(err, "cannot create checkpoint directory '%.200s': %s", out, strerror(errno));
    fsync_dir(root);
    return 0;
}

// "step_" followed by 1..18 digits and nothing else.
static int parse_step_name(const char *name, int64_t *step) {
    if (strncmp(name, "step_", 5) != 0) return 0;
    const char *d = name + 5;
    size_t nd = strspn(d, "0123456789");
    if (nd == 0 || nd > 18 || d[nd] != '\0') return 0;
    *step = (int64_t)strtoll(d, NULL, 10);
    return 1;
}

static int cmp_i64(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int ckpt_list(const char *root, int64_t **steps, size_t *count, AmError *err) {
    *steps = NULL;
    *count = 0;
    DIR *d = opendir(root);
    if (!d) {
        if (errno == ENOENT) return 0;
        return am_error_set(err, "cannot list checkpoint root '%.200s': %s", root, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *e;
    char path[4200];
    while ((e = readdir(d)) != NULL) {
        int64_t step;
        struct stat sb;
        if (!parse_step_name(e->d_name, &step)) continue;
        if (path_join(path, sizeof path, root, e->d_name) || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *grown = realloc(*steps, cap * sizeof **steps);
            if (!grown) {
                closedir(d);
                free(*steps);
                *steps = NULL;
                *count = 0;
                return am_error_set(err, "out of memory listing '%.200s'", root);
            }
            *steps = grown;
        }
        (*steps)[(*count)++] = step;
    }
    closedir(d);
    if (*count) qsort(*steps, *count, sizeof **steps, cmp_i64);
    return 0;
}

// Removes one checkpoint directory: the state file first (the checkpoint stops
// being valid at once), then the remaining plain files, then the directory.
static int remove_ckpt_dir(const char *dir, AmError *err) {
    char path[4400];
    if (path_join(path, sizeof path, dir, CKPT_STATE_FILE)) return am_error_set(err, "path too long: '%.200s'", dir);
    if (unlink(path) != 0 && errno != ENOENT)
        return am_error_set(err, "cannot delete '%.200s': %s", path, strerror(errno));
    DIR *d = opendir(dir);
    if (!d) return am_error_set(err, "cannot open checkpoint '%.200s' to delete it: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (path_join(path, sizeof path, dir, e->d_name))
            rc = am_error_set(err, "path too long in '%.200s'", dir);
        else if (unlink(path) != 0)
            rc = am_error_set(err, "cannot delete '%.200s' (only plain files are expected in a checkpoint): %s", path,
                              strerror(errno));
    }
    closedir(d);
    if (!rc && rmdir(dir) != 0) rc = am_error_set(err, "cannot remove checkpoint '%.200s': %s", dir, strerror(errno));
    return rc;
}

// One warning line to the caller's sink.
static void say(CkptWarnFn *warn, void *ctx, const char *fmt, ...) AM_PRINTF(3, 4);
static void say(CkptWarnFn *warn, void *ctx, const char *fmt, ...) {
    if (!warn) return;
    char line[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    warn(ctx, line);
}

// ---------------------------------------------------------------- model file checks
int ckpt_model_checksum(const char *path, uint64_t *bytes, uint32_t *crc, AmError *err) {
    *bytes = 0;
    *crc = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return am_error_set(err, "model '%.200s': cannot open to checksum it: %s", path, strerror(errno));
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        fclose(f);
        return am_error_set(err, "model '%.200s': out of memory", path);
    }
    uLong c = crc32_z(0L, Z_NULL, 0);
    uint64_t total = 0;
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) {
        c = crc_bytes(c, buf, got);
        total += got;
    }
    const int bad = ferror(f);
    free(buf);
    fclose(f);
    if (bad) return am_error_set(err, "model '%.200s': read error while checksumming", path);
    *bytes = total;
    *crc = (uint32_t)c;
    return 0;
}

int ckpt_write_state(const char *dir, TrainState *st, AmError *err) {
    char path[4400];
    if (path_join(path, sizeof path, dir, CKPT_MODEL_FILE)) return am_error_set(err, "path too long: '%.200s'", dir);
    if (ckpt_model_checksum(path, &st->model_bytes, &st->model_crc, err)) return 1;
    if (path_join(path, sizeof path, dir, CKPT_STATE_FILE)) return am_error_set(err, "path too long: '%.200s'", dir);
    return train_state_write(path, st, err);
}

// Non-finite elements of a tensor: count, and the first index and its class.
static uint64_t count_nonfinite(const StTensor *t, const void *data, uint64_t *first, const char **what) {
    const uint64_t n = (uint64_t)st_numel(t);
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        int nan = 0, inf = 0;
        if (t->dtype == ST_F32) {
            float x;
            memcpy(&x, (const unsigned char *)data + 4 * i, 4);
            nan = isnan(x), inf = isinf(x);
        } else if (t->dtype == ST_F64) {
            double x;
            memcpy(&x, (const unsigned char *)data + 8 * i, 8);
            nan = isnan(x), inf = isinf(x);
        } else if (t->dtype == ST_F16 || t->dtype == ST_BF16) {  // exponent all ones
            uint16_t h;
            memcpy(&h, (const unsigned char *)data + 2 * i, 2);
            const uint16_t em = t->dtype == ST_F16 ? 0x7C00 : 0x7F80, mm = t->dtype == ST_F16 ? 0x03FF : 0x007F;
            if ((h & em) == em) nan = (h & mm) != 0, inf = (h & mm) == 0;
        } else {
            return 0;  // integers are always finite
        }
        if (nan || inf) {
            if (!bad++) {
                *first = i;
                *what = nan ? "NaN" : "Inf";
            }
        }
    }
    return bad;
}

int ckpt_model_content_check(const StFile *f, int *has_crc, AmError *err) {
    const char *path = st_path(f), *rec = st_meta(f, "data_crc32");
    if (has_crc) *has_crc = rec != NULL;
    uLong crc = crc32_z(0L, Z_NULL, 0);
    int bad_tensors = 0;
    char first_bad[400] = "";
    for (int i = 0; i < st_count(f); i++) {  // data-offset order
        const StTensor *t = st_tensor(f, i);
        const void *d = st_data(f, t);
        if (d) crc = crc_bytes(crc, d, (size_t)(t->end - t->begin));
        uint64_t first = 0;
        const char *what = "";
        const uint64_t nb = d ? count_nonfinite(t, d, &first, &what) : 0;
        if (nb && !bad_tensors++)
            snprintf(first_bad, sizeof first_bad, "tensor '%.120s' holds %llu non-finite value(s), the first at element "
                     "index %llu (%s)", t->name, (unsigned long long)nb, (unsigned long long)first, what);
    }
    char crc_msg[200] = "";
    if (rec) {
        char *end = NULL;
        const unsigned long long want = strtoull(rec, &end, 16);
        if (strlen(rec) != 8 || !end || *end)
            snprintf(crc_msg, sizeof crc_msg, "metadata data_crc32 \"%.20s\" is not 8 hex digits", rec);
        else if (want != (unsigned long long)(uint32_t)crc)
            snprintf(crc_msg, sizeof crc_msg, "data checksum mismatch (metadata data_crc32 %s, the tensor bytes give "
                     "%08x): the file is corrupt", rec, (uint32_t)crc);
    }
    if (!crc_msg[0] && !bad_tensors) return 0;
    char more[80] = "";
    if (bad_tensors > 1) snprintf(more, sizeof more, "; %d more tensor(s) hold non-finite values", bad_tensors - 1);
    return am_error_set(err, "model '%.200s': %s%s%s%s", path ? path : "?", crc_msg, crc_msg[0] && bad_tensors ? "; " : "",
                        first_bad, more);
}

// ---------------------------------------------------------------- whole checkpoints
int ckpt_verify(const char *root, int64_t step, size_t n_params, TrainState *out, CkptWarnFn *warn, void *ctx,
                AmError *err) {
    char dir[4200], spath[4400], mpath[4400];
    if (ckpt_dir_for_step(dir, sizeof dir, root, step, err)) return 1;
    if (path_join(spath, sizeof spath, dir, CKPT_STATE_FILE) || path_join(mpath, sizeof mpath, dir, CKPT_MODEL_FILE))
        return am_error_set(err, "checkpoint '%.200s': path too long", dir);
    TrainState st = {.n = n_params};  // m, v NULL: verify only
    struct stat sb;
    if (lstat(spath, &sb) != 0 && errno == ENOENT)
        return am_error_set(err, "incomplete checkpoint: '%.200s' is missing (it is written last: the job stopped while "
                            "writing this checkpoint, or it was being deleted)", spath);
    const int src = train_state_read(spath, &st, err);
    if (src) return src;  // 2: another parameter count
    if (st.step != step)
        return am_error_set(err, "train state '%.200s' records step %lld but lies in step_%08lld: it belongs to another "
                            "checkpoint (copied or mixed up)", spath, (long long)st.step, (long long)step);
    StFile *f = NULL;
    AmError e = {{0}};
    if (st_open(&f, mpath, &e)) return am_error_set(err, "%.500s", e.msg);  // names the file
    const char *ms = st_meta(f, "step"), *mh = st_meta(f, "config_hash");
    char hash[24], *end = NULL;
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)st.config_hash);
    const long long mstep = ms ? strtoll(ms, &end, 10) : -1;
    int rc = 0;
    if (!ms || !mh)
        rc = am_error_set(err, "model '%.200s': its metadata has no \"%s\": not a checkpoint written by astromm train",
                          mpath, ms ? "config_hash" : "step");
    else if (!*ms || *end || mstep != st.step)
        rc = am_error_set(err, "model '%.200s' records step %.30s but the train state beside it step %lld: the two files "
                          "come from different checkpoints", mpath, ms, (long long)st.step);
    else if (strcmp(mh, hash) != 0)
        rc = am_error_set(err, "model '%.200s' records config_hash %.30s but the train state beside it %s: the two files "
                          "come from different runs", mpath, mh, hash);
    if (!rc && st.version >= 2) {
        uint64_t bytes;
        uint32_t crc;
        if (ckpt_model_checksum(mpath, &bytes, &crc, err))
            rc = 1;
        else if (bytes != st.model_bytes || crc != st.model_crc)
            rc = am_error_set(err, "model '%.200s': %llu bytes with CRC-32 %08x, but the train state beside it records "
                              "%llu bytes with CRC-32 %08x: the file was damaged or replaced after the checkpoint was "
                              "written", mpath, (unsigned long long)bytes, crc, (unsigned long long)st.model_bytes,
                              st.model_crc);
    }
    if (!rc) rc = ckpt_model_content_check(f, NULL, err);
    st_close(f);
    if (rc) return rc;
    if (st.version < 2)
        say(warn, ctx, "checkpoint %.300s: train state format version 1 (written before model checksums): %s is "
            "checked for structure, step, configuration and finite values only", dir, CKPT_MODEL_FILE);
    if (out) {
        st.m = out->m, st.v = out->v;  // unchanged (not read here)
        *out = st;
    }
    return 0;
}

int ckpt_set_aside(const char *root, int64_t step, char *dest, size_t cap, AmError *err) {
    char dir[4200], torn[4200], to[4400];
    if (ckpt_dir_for_step(dir, sizeof dir, root, step, err)) return 1;
    if (path_join(torn, sizeof torn, root, CKPT_TORN_DIR)) return am_error_set(err, "path too long: '%.200s'", root);
    if (mkdir(torn, 0755) != 0 && errno != EEXIST)
        return am_error_set(err, "cannot create '%.200s' to move '%.200s' aside: %s", torn, dir, strerror(errno));
    struct stat sb;
    int k = 0;
    for (;; k++) {
        const int len = k ? snprintf(to, sizeof to, "%s/step_%08lld.%d", torn, (long long)step, k)
                          : snprintf(to, sizeof to, "%s/step_%08lld", torn, (long long)step);
        if (len < 0 || (size_t)len >= sizeof to) return am_error_set(err, "path too long: '%.200s'", torn);
        if (lstat(to, &sb) != 0 && errno == ENOENT) break;
        if (k == 9999) return am_error_set(err, "cannot move '%.200s' aside: '%.200s' and 9999 more names are taken", dir, to);
    }
    if (rename(dir, to) != 0)
        return am_error_set(err, "cannot move '%.200s' to '%.200s': %s", dir, to, strerror(errno));
    fsync_dir(torn);
    fsync_dir(root);
    if (dest && cap) snprintf(dest, cap, "%s", to);
    return 0;
}

int ckpt_prune(const char *root, int keep_last_k, const char *protect_path, size_t n_params, CkptWarnFn *warn,
               void *ctx, AmError *err) {
    if (keep_last_k < 1) return am_error_set(err, "ckpt_prune: keep_last_k must be >= 1 (got %d)", keep_last_k);
    struct stat prot;
    const int have_prot = protect_path && stat(protect_path, &prot) == 0;
    int64_t *steps;
    size_t count;
    if (ckpt_list(root, &steps, &count, err)) return 1;
    int rc = 0, kept = 0;
    char dir[4200], dest[4400];
    for (size_t i = count; !rc && i-- > 0;) {  // newest first
        struct stat sb;
        if (ckpt_dir_for_step(dir, sizeof dir, root, steps[i], err)) {
            rc = 1;
            break;
        }
        if (stat(dir, &sb) != 0) continue;  // vanished meanwhile
        const int is_prot = have_prot && sb.st_dev == prot.st_dev && sb.st_ino == prot.st_ino;
        if (kept < keep_last_k) {
            AmError e = {{0}};
            if (ckpt_verify(root, steps[i], n_params, NULL, NULL, NULL, &e) == 0) {
                kept++;
            } else if (is_prot) {
                say(warn, ctx, "the best checkpoint %.300s is not valid (%.600s); left in place (run.dir/best points at "
                    "it)", dir, e.msg);
            } else if ((rc = ckpt_set_aside(root, steps[i], dest, sizeof dest, err)) == 0) {
                say(warn, ctx, "checkpoint %.300s is incomplete or corrupt (%.600s): moved to %.300s; it does not count "
                    "towards checkpoint.keep_last (delete it once looked at)", dir, e.msg, dest);
            }
        } else if (!is_prot) {
            rc = remove_ckpt_dir(dir, err);
        }
    }
    free(steps);
    if (!rc) fsync_dir(root);
    return rc;
}

int ckpt_latest_valid(const char *root, size_t n_params, int64_t *step, char *dir_out, size_t cap, int set_aside,
                      CkptWarnFn *warn, void *ctx, AmError *err) {
    *step = -1;
    if (cap) dir_out[0] = '\0';
    int64_t *steps;
    size_t count;
    if (ckpt_list(root, &steps, &count, err)) return 1;
    char dir[4200], dest[4400];
    for (size_t i = count; i-- > 0;) {
        AmError e = {{0}};
        const int vrc = ckpt_verify(root, steps[i], n_params, NULL, warn, ctx, &e);
        if (vrc == 0) {
            if (ckpt_dir_for_step(dir_out, cap, root, steps[i], err)) {
                free(steps);
                return 1;
            }
            *step = steps[i];
            break;
        }
        if (ckpt_dir_for_step(dir, sizeof dir, root, steps[i], &e)) snprintf(dir, sizeof dir, "step %lld", (long long)steps[i]);
        AmError me = {{0}};
        if (vrc == 2)  // intact but for another model: not torn, left where it is
            say(warn, ctx, "skipping checkpoint %.300s: %.900s", dir, e.msg);
        else if (!set_aside)
            say(warn, ctx, "skipping checkpoint %.300s: %.900s", dir, e.msg);
        else if (ckpt_set_aside(root, steps[i], dest, sizeof dest, &me) == 0)
            say(warn, ctx, "skipping checkpoint %.300s: %.900s; moved to %.300s (delete it once looked at)", dir, e.msg,
                dest);
        else
            say(warn, ctx, "skipping checkpoint %.300s: %.900s (and it could not be moved aside: %.300s)", dir, e.msg,
                me.msg);
    }
    free(steps);
    return 0;
}

// "<name>.tmp.<digits>": the pid, or -1.
static long tmp_pid(const char *name) {
    const char *p = NULL;
    for (const char *q = strstr(name, ".tmp."); q; q = strstr(q + 1, ".tmp.")) p = q;
    if (!p || p == name) return -1;
    p += 5;
    const size_t nd = strspn(p, "0123456789");
    if (nd == 0 || nd > 9 || p[nd] != '\0') return -1;
    return strtol(p, NULL, 10);
}

int ckpt_remove_stale_tmp(const char *dir, CkptWarnFn *warn, void *ctx, AmError *err) {
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        am_error_set(err, "cannot list '%.200s' for stale temporary files: %s", dir, strerror(errno));
        return -1;
    }
    const long self = (long)getpid();
    int removed = 0;
    struct dirent *e;
    char path[4400];
    while ((e = readdir(d)) != NULL) {
        const long pid = tmp_pid(e->d_name);
        struct stat sb;
        if (pid < 0 || pid == self || path_join(path, sizeof path, dir, e->d_name) || lstat(path, &sb) != 0) continue;
        if (!S_ISREG(sb.st_mode) && !S_ISLNK(sb.st_mode)) continue;  // only what our writers create
        if (unlink(path) == 0) {
            removed++;
            say(warn, ctx, "removed %.300s: a temporary file left by process %ld, which was stopped while writing", path,
                pid);
        } else {
            say(warn, ctx, "cannot remove the stale temporary file %.300s: %s", path, strerror(errno));
        }
    }
    closedir(d);
    return removed;
}
