// Minimal strict JSON lexer for safetensors headers (and nothing else).
//
// The safetensors reader drives these primitives with its own schema-directed
// recursive descent, so only the JSON pieces a header can contain are
// understood: objects, arrays, strings (all escapes incl. \uXXXX and surrogate
// pairs, UTF-8 validated, raw control characters refused) and integers (a JSON
// number with a fraction or exponent is recognised and refused as "not an
// integer"). Every function is bounds-checked against the buffer end; nothing
// here reads past [begin, end) whatever the input.
#ifndef ASTROMM_JSON_HEADER_H
#define ASTROMM_JSON_HEADER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *begin;  // start of the JSON text (byte offsets in errors count from here)
    const char *p;      // cursor
    const char *end;    // one past the last byte
    char err[256];      // why the last call failed (includes the byte offset)
} JhCursor;

void jh_init(JhCursor *c, const char *buf, size_t len);

// Skip JSON whitespace (space, tab, CR, LF).
void jh_skip_ws(JhCursor *c);

// Skip whitespace, then return the next byte (0..255) without consuming it,
// or -1 at the end of the buffer.
int jh_peek(JhCursor *c);

// Skip whitespace, then consume `ch`; 0 on success, else 1 with c->err set.
int jh_expect(JhCursor *c, char ch, const char *what);

// Parse a string at the cursor (after whitespace). On success *out is a
// malloc'd NUL-terminated UTF-8 string (caller frees) and *out_len its length.
// Refuses: missing quotes, unterminated strings, raw bytes < 0x20, invalid
// escapes, lone/mismatched surrogates, \u0000 (would truncate names),
// malformed UTF-8 (overlong, surrogates, > U+10FFFF, truncated sequences).
// Returns 0 ok, 1 on error (c->err set), 2 when out of memory.
int jh_string(JhCursor *c, char **out, size_t *out_len);

// Parse an integer at the cursor (after whitespace) into *out.
// Returns 0 ok; JH_NOT_INT when a valid JSON number with a fraction/exponent
// is found (it is consumed); 1 for anything else (not a number, leading
// zeros, out of int64 range). c->err is set on failure.
enum { JH_NOT_INT = 3 };
int jh_int(JhCursor *c, int64_t *out);

// Byte offset of the cursor from begin.
size_t jh_offset(const JhCursor *c);

// Short human description of what is at the cursor (e.g. "'{'",
// "end of header") for "expected X, found Y" messages; writes into buf.
const char *jh_describe(JhCursor *c, char *buf, size_t cap);

// 1 if [s, s+len) is well-formed UTF-8 (RFC 3629), else 0.
int jh_utf8_valid(const char *s, size_t len);

#endif
