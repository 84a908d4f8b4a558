// Shared by the libFuzzer targets in tests/fuzz: the parsers under test take a
// path, so each input is written to a per-process file in /dev/shm (memory, no
// disk I/O; /tmp when there is no /dev/shm) and the real entry point opens it.
#ifndef ASTROMM_FUZZ_UTIL_H
#define ASTROMM_FUZZ_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// A stable file name for this process (suffix e.g. ".safetensors"); the file is
// rewritten for every input and removed at exit.
static char fz_path_buf[256];

static void fz_remove_file(void) { unlink(fz_path_buf); }

static inline const char *fz_path(const char *suffix) {
    if (!fz_path_buf[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fz_path_buf, sizeof fz_path_buf, "%s/astromm_fuzz_%ld%s", dir, (long)getpid(), suffix);
        atexit(fz_remove_file);
    }
    return fz_path_buf;
}

// Writes data to fz_path(suffix); aborts when that fails (a harness problem,
// not a finding in the parser: libFuzzer then stops at once, loudly).
static inline const char *fz_write(const uint8_t *data, size_t size, const char *suffix) {
    const char *path = fz_path(suffix);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

// A property of the parser's output does not hold: report and crash so
// libFuzzer saves the input.
#define FZ_ASSERT(cond)                                                               \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz: %s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

#endif
