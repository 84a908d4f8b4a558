// Line-by-line reading of plain or gzip-compressed text (zlib detects which),
// tracking the line number so every parse error can name file:line.
#ifndef ASTROMM_TEXT_READER_H
#define ASTROMM_TEXT_READER_H

#include <stddef.h>
#include <zlib.h>

#include "core/error.h"

typedef struct {
    gzFile gz;
    const char *path;
    long line;  // number of the line in buf (1-based)
    char *buf;  // grows to fit any line
    size_t cap;
} TextReader;

// 0, or 1 with err = "<path>: cannot open: <reason>".
int text_open(TextReader *r, const char *path, AmError *err);
// 1: a line is in r->buf (newline and trailing \r stripped); 0: end of file;
// -1: error (err filled).
int text_read_line(TextReader *r, AmError *err);
void text_close(TextReader *r);
// 1 when s holds only whitespace.
int text_is_blank(const char *s);

// Splits a CSV line in place at commas (no quoted commas), trimming blanks and
// one pair of surrounding double quotes from each field; returns the field
// count, storing at most max field pointers.
int text_split_commas(char *line, char **f, int max);

// p relative to directory dir ("" = the current one); absolute p unchanged.
// malloc'ed.
char *text_resolve_path(const char *dir, const char *p);

#endif
