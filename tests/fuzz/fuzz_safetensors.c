// libFuzzer target: st_open (src/io/safetensors.c) on arbitrary file bytes.
// When a file is accepted, what st_open promises must hold: every tensor is
// found by name, its byte range lies in the data buffer and matches its shape,
// ranges do not overlap, and its data (64-byte aligned) can be read in full.
#include "fuzz_util.h"

#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write(data, size, ".safetensors");
    StFile *f = NULL;
    AmError err = {{0}};
    if (st_open(&f, path, &err) != 0) {
        FZ_ASSERT(f == NULL && err.msg[0] != '\0');
        return 0;
    }
    FZ_ASSERT(size >= 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | data[i];
    const uint64_t data_size = size - 8 - hlen;
    uint64_t prev_end = 0;
    for (int i = 0; i < st_count(f); i++) {
        const StTensor *t = st_tensor(f, i);
        FZ_ASSERT(t && st_find(f, t->name) == t);
        FZ_ASSERT(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS && t->begin <= t->end && t->end <= data_size);
        FZ_ASSERT(t->end - t->begin == (uint64_t)st_numel(t) * st_dtype_size(t->dtype));
        if (t->end > t->begin) {  // data order, no overlaps
            FZ_ASSERT(t->begin >= prev_end);
            prev_end = t->end;
        }
        const unsigned char *p = st_data(f, t);
        FZ_ASSERT(p && ((uintptr_t)p & 63) == 0);
        FZ_ASSERT(memcmp(p, data + 8 + hlen + t->begin, (size_t)(t->end - t->begin)) == 0);
    }
    for (int i = 0; i < st_meta_count(f); i++) {
        const char *v = NULL, *k = st_meta_key(f, i, &v);
        FZ_ASSERT(k && v && st_meta(f, k) != NULL);
    }
    FZ_ASSERT(st_tensor(f, -1) == NULL && st_tensor(f, st_count(f)) == NULL);
    st_close(f);
    return 0;
}
