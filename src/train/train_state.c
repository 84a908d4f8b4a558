#define _POSIX_C_SOURCE 200809L

// Trainer-state file (atomic, checksummed) and the checkpoint directory helpers.
#include "train/train_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char kMagic[8] = {'A', 'M', 'S', 'T', 'A', 'T', 'E', '\0'};
enum { HEADER_BYTES = 32, FIXED_BYTES = 11 * 8, CHUNK = 1 << 20 };

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
    const uint64_t n = st->n, sb = sizeof(Schedule);
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
    const uint64_t payload = FIXED_BYTES + sizeof(Schedule) + 2 * (uint64_t)arr;
    uLong crc = crc32_z(0L, Z_NULL, 0);
    crc = crc_bytes(crc, fixed, sizeof fixed);
    crc = crc_bytes(crc, &st->sched, sizeof(Schedule));
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
        fwrite(&st->sched, 1, sizeof(Schedule), f) != sizeof(Schedule) ||
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
    unsigned char header[HEADER_BYTES], fixed[FIXED_BYTES];
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
    else if (version != TRAIN_STATE_VERSION)
        rc = am_error_set(err, "train state '%.200s': unknown format version %u (this build reads %u)", path, version,
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
    else if (payload < FIXED_BYTES)
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
    uint64_t n_file = 0, sched_bytes = 0, left = payload - FIXED_BYTES;
    int io = read_crc(f, fixed, FIXED_BYTES, &crc, scratch);
    if (!io) {
        get64(fixed, 9, &n_file);
        get64(fixed, 10, &sched_bytes);
    }
    const int sched_ok = sched_bytes == sizeof(Schedule) && left >= sizeof(Schedule);
    if (!io && sched_ok) {
        io = read_crc(f, &st->sched, sizeof(Schedule), &crc, scratch);
        left -= sizeof(Schedule);
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
    if (sched_bytes != sizeof(Schedule))
        return am_error_set(err, "train state '%.200s': schedule state is %" PRIu64 " bytes, this build expects %zu",
                            path, sched_bytes, sizeof(Schedule));
    if (n_file != st->n)
        return am_error_set(err, "train state '%.200s': holds optimizer moments for %" PRIu64
                            " parameters, the model has %zu", path, n_file, st->n);
    if (!sizes_ok)
        return am_error_set(err, "train state '%.200s': payload size %" PRIu64 " does not match %" PRIu64
                            " parameters", path, payload, n_file);
    AmError serr = {{0}};
    if (sched_check(&st->sched, &serr))
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

int ckpt_prune(const char *root, int keep_last_k, const char *protect_path, AmError *err) {
    if (keep_last_k < 1) return am_error_set(err, "ckpt_prune: keep_last_k must be >= 1 (got %d)", keep_last_k);
    struct stat prot;
    const int have_prot = protect_path && stat(protect_path, &prot) == 0;
    int64_t *steps;
    size_t count;
    if (ckpt_list(root, &steps, &count, err)) return 1;
    int rc = 0;
    char dir[4200];
    for (size_t i = 0; !rc && i + (size_t)keep_last_k < count; i++) {
        struct stat sb;
        if (ckpt_dir_for_step(dir, sizeof dir, root, steps[i], err)) {
            rc = 1;
            break;
        }
        if (stat(dir, &sb) != 0) continue;  // vanished meanwhile
        if (have_prot && sb.st_dev == prot.st_dev && sb.st_ino == prot.st_ino) continue;
        rc = remove_ckpt_dir(dir, err);
    }
    free(steps);
    if (!rc) fsync_dir(root);
    return rc;
}

// Appends "; text" (or text) to warn->msg, truncating at its capacity.
static void warn_append(AmError *warn, const char *text) {
    if (!warn) return;
    size_t len = strlen(warn->msg);
    const size_t cap = sizeof warn->msg;
    const char *parts[2] = {len ? "; " : "", text};
    for (int k = 0; k < 2; k++) {
        size_t add = strlen(parts[k]);
        if (add > cap - 1 - len) add = cap - 1 - len;
        memcpy(warn->msg + len, parts[k], add);
        len += add;
    }
    warn->msg[len] = '\0';
}

int ckpt_latest_valid(const char *root, size_t n_params, int64_t *step, char *dir_out, size_t cap, AmError *warn,
                      AmError *err) {
    *step = -1;
    if (cap) dir_out[0] = '\0';
    if (warn) warn->msg[0] = '\0';
    int64_t *steps;
    size_t count;
    if (ckpt_list(root, &steps, &count, err)) return 1;
    char dir[4200], path[4400], line[700];
    for (size_t i = count; i-- > 0;) {
        AmError e = {{0}};
        struct stat sb;
        if (ckpt_dir_for_step(dir, sizeof dir, root, steps[i], &e) == 0) {
            TrainState st = {.n = n_params};  // m, v NULL: verify only
            if (path_join(path, sizeof path, dir, CKPT_STATE_FILE))
                am_error_set(&e, "path too long");
            else if (train_state_read(path, &st, &e) == 0) {
                if (path_join(path, sizeof path, dir, CKPT_MODEL_FILE) || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 8)
                    am_error_set(&e, "model file '%.200s' is missing or empty", path);
                else if (ckpt_dir_for_step(dir_out, cap, root, steps[i], err) == 0) {
                    *step = steps[i];
                    break;
                } else {
                    free(steps);
                    return 1;
                }
            }
        }
        snprintf(line, sizeof line, "skipping checkpoint step %lld: %.500s", (long long)steps[i], e.msg);
        warn_append(warn, line);
    }
    free(steps);
    return 0;
}
