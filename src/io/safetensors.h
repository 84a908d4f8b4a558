// Strict safetensors reader and atomic writer (huggingface format).
//
// Layout: 8-byte little-endian u64 N, N bytes of UTF-8 JSON header (an object
// mapping tensor names to {"dtype","shape","data_offsets"} plus an optional
// "__metadata__" object of string -> string), then the data buffer; offsets
// are relative to the data buffer (file offset 8 + N).
//
// Reader (st_open): everything is validated before st_open returns 0, and any
// failure returns non-zero with an AmError that names the file and the
// offending tensor/field. Refused: files shorter than 8 bytes, non-regular
// files, N larger than the file or than ST_MAX_HEADER_BYTES, headers that do
// not start with '{', invalid JSON, malformed UTF-8, raw control characters,
// \u0000 in strings, trailing non-whitespace after the object, non-object
// header / tensor entries / __metadata__, non-string metadata values,
// duplicate tensor names / metadata keys / fields, unknown fields in a tensor
// entry, unknown dtypes, missing dtype/shape/data_offsets, shapes with more
// than ST_MAX_DIMS dims or with negative / non-integer dims, numel overflow,
// data_offsets that are not [begin, end] non-negative integers with
// begin <= end, end - begin != numel * dtype size, ranges past the end of the
// data buffer (truncated file) and overlapping byte ranges. Gaps between
// tensors and trailing bytes after the last tensor are accepted.
//
// Data: each tensor is read into its own 64-byte aligned slot of one
// allocation, so st_data() is usable as float* / int64_t* etc. regardless of
// how the file aligned it. Tensors are listed in data-offset order (for our
// writer: the order they were written in). Host must be little-endian.
//
// Writer (st_write): validates its input the same way, writes
// "<path>.tmp.<pid>", fsyncs it, renames it over path and fsyncs the
// directory. On any failure the temporary file is removed and an existing
// file at path is left untouched.
#ifndef ASTROMM_SAFETENSORS_H
#define ASTROMM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_BYTES (100u * 1000u * 1000u)  // N above this is refused as absurd

typedef enum { ST_F32, ST_F64, ST_I32, ST_I64, ST_U8, ST_F16, ST_BF16 } StDtype;

typedef struct {
    char *name;           // UTF-8, NUL-terminated (owned by the StFile)
    StDtype dtype;
    int ndim;             // 0 for a scalar (numel 1)
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;  // byte range relative to the data buffer, as in the file
} StTensor;

typedef struct StFile StFile;

// 0 on success (*out set; free with st_close); non-zero with err filled on failure
// (*out is then NULL).
int st_open(StFile **out, const char *path, AmError *err);
void st_close(StFile *f);

int st_count(const StFile *f);
const StTensor *st_tensor(const StFile *f, int i);       // NULL if i is out of range
const StTensor *st_find(const StFile *f, const char *name);  // NULL if absent
const char *st_meta(const StFile *f, const char *key);   // NULL if absent
int st_meta_count(const StFile *f);
// i-th metadata pair (in file order); returns NULL if i is out of range.
const char *st_meta_key(const StFile *f, int i, const char **value);
const char *st_path(const StFile *f);

// Pointer to the tensor's bytes (64-byte aligned, end - begin bytes long);
// NULL if t does not belong to f. Valid until st_close.
const void *st_data(const StFile *f, const StTensor *t);

int64_t st_numel(const StTensor *t);
size_t st_dtype_size(StDtype d);        // 0 for an invalid value
const char *st_dtype_name(StDtype d);   // "?" for an invalid value
// Parse "F32" etc.; 0 on success.
int st_dtype_parse(const char *s, StDtype *out);

typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;  // numel * dtype size bytes, little-endian (may be NULL when numel is 0)
} StWriteTensor;

// Writes tensors in the given order (contiguous data, header padded with
// spaces so the data starts at a multiple of 8). meta_kv holds n_meta pairs:
// meta_kv[2i] = key, meta_kv[2i+1] = value. 0 on success.
int st_write(const char *path, const StWriteTensor *tensors, int n, const char *const *meta_kv, int n_meta,
             AmError *err);

#endif
