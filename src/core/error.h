// Error reporting for astromm: every failure names file:line and a hint.
// CHECK aborts the whole job (MPI_Abort when MPI is up) so no rank waits forever
// on a peer that silently exited.
#ifndef ASTROMM_ERROR_H
#define ASTROMM_ERROR_H

#include <stddef.h>

#if defined(__GNUC__)
#define AM_NORETURN __attribute__((noreturn))
#define AM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AM_NORETURN
#define AM_PRINTF(a, b)
#endif

AM_NORETURN void am_die(const char *file, int line, const char *fmt, ...) AM_PRINTF(3, 4);

// Abort with file:line and a formatted hint when cond is false.
#define CHECK(cond, ...)                                       \
    do {                                                       \
        if (!(cond)) am_die(__FILE__, __LINE__, __VA_ARGS__);  \
    } while (0)

#define DIE(...) am_die(__FILE__, __LINE__, __VA_ARGS__)

// Allocation that never returns NULL (dies with the requested size instead).
void *am_malloc(size_t bytes, const char *what);
void *am_calloc(size_t n, size_t size, const char *what);
// realloc that never returns NULL (dies naming `what`).
void *am_realloc(void *p, size_t bytes, const char *what);
// A malloc'ed copy of s (dies naming `what` when out of memory).
char *am_strdup(const char *s, const char *what);
// 64-byte aligned, zeroed; free with free().
void *am_aligned_alloc(size_t bytes, const char *what);

// Hook so the MPI layer can turn a fatal error into MPI_Abort.
typedef void (*am_abort_hook)(int code);
void am_set_abort_hook(am_abort_hook hook);

// Error text for functions that report failure to the caller instead of dying
// (loaders, parsers): they return non-zero and fill one of these.
typedef struct {
    char msg[512];
} AmError;
int am_error_set(AmError *err, const char *fmt, ...) AM_PRINTF(2, 3);

#endif
