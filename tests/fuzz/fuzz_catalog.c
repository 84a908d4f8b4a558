// libFuzzer target: meta_read_csv (src/data/preprocess/metadata.c: the catalogue CSV with
// RFC 4180 quoting, plain or gzip) on arbitrary bytes; an accepted table then
// goes through meta_transform and the train-split statistics. Checked:
// accepted tables have rows and finite raw values.
#include "fuzz_util.h"

#include <math.h>

#include "data/preprocess/metadata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write(data, size, ".csv");
    MetaTable t;
    AmError err = {{0}};
    if (meta_read_csv(path, &t, &err) != 0) {
        FZ_ASSERT(err.msg[0]);
        return 0;
    }
    FZ_ASSERT(t.n >= 1);
    for (long i = 0; i < (long)t.n * META_N; i++) FZ_ASSERT(isfinite(t.meta[i]));
    for (long i = 0; i < (long)t.n * PHOTO_N; i++) FZ_ASSERT(isfinite(t.photo[i]));
    meta_transform(&t);
    uint8_t *is_train = calloc((size_t)t.n, 1);
    is_train[0] = 1;
    MetaStats st;
    FZ_ASSERT(meta_fit_stats(&t, is_train, &st) == 0);
    meta_apply_stats(&t, &st);
    free(is_train);
    meta_free(&t);
    return 0;
}
