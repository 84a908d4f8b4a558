// The number literals of a libconfig text, in source order, as written.
//
// Why: Debian 12's libconfig (1.5) parses an integer literal without an `L`
// suffix as a 32-bit int and wraps it silently (4294967296 -> 0), clamps an
// `L` literal above 2^63-1 to 2^63-1, and keeps no source text. So a config
// reader cannot tell `run.seed = 4294967296` from `run.seed = 0`. libconfig
// still decides the syntax and the tree; this scanner only recovers each
// number's text. libconfig visits scalar settings (and array elements) in
// source order, so the k-th numeric setting of a walk is the k-th literal here.
#ifndef ASTROMM_CONFIG_LITERAL_H
#define ASTROMM_CONFIG_LITERAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char text[48];  // the token as written ("4294967296", "0x10L", "1e-3")
    int line;       // 1-based line of the token
} ConfigLiteral;

typedef struct {
    ConfigLiteral *items;
    size_t n, cap;
} ConfigLiterals;

// Scans text (comments, strings and names skipped). 0, or 1 with err (an
// `@include` directive, which would break the one-to-one order, or no memory).
int config_literals_scan(const char *text, ConfigLiterals *out, char *err, int err_len);
void config_literals_free(ConfigLiterals *L);

enum { CONFIG_LITERAL_OK = 0, CONFIG_LITERAL_NOT_INTEGER = 1, CONFIG_LITERAL_TOO_BIG = 2 };
// Exact value of an integer literal (decimal or 0x hex, optional L/LL): sign and
// magnitude, so the whole range -(2^64-1) .. 2^64-1 is representable.
int config_literal_integer(const char *text, int *negative, uint64_t *magnitude);

#endif
