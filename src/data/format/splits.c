// Splits and limited-label subsets; see splits.h for the rules.
#include "data/format/splits.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/format/dataset.h"

uint32_t split_hash_id(int64_t id, uint64_t seed, uint32_t stream) {
    uint64_t u = (uint64_t)id;
    uint32_t ctr[4] = {(uint32_t)u, (uint32_t)(u >> 32), RNG_SHUFFLE, stream};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    philox4x32_10(ctr, key, out);
    return out[0];
}

void split_by_id(const int64_t *ids, int n, uint64_t seed, uint8_t *split) {
    // u < 0.8  <=>  h < 0.8 * 2^32 (exact integer thresholds, no float rounding).
    const uint64_t t_train = (uint64_t)4294967296ull * 8u / 10u;
    const uint64_t t_val = (uint64_t)4294967296ull * 9u / 10u;
    for (int i = 0; i < n; i++) {
        uint64_t h = split_hash_id(ids[i], seed, SPLIT_STREAM);
        split[i] = h < t_train ? DS_SPLIT_TRAIN : h < t_val ? DS_SPLIT_VAL : DS_SPLIT_TEST;
    }
}

int64_t subset_cap(const int64_t *counts, int k, int64_t target) {
    // sum_k min(n_k, c) is non-decreasing in c; binary search the largest c <= max n_k
    // with the sum <= target.
    int64_t hi = 0;
    for (int j = 0; j < k; j++)
        if (counts[j] > hi) hi = counts[j];
    int64_t lo = 0;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2, s = 0;
        for (int j = 0; j < k; j++) s += counts[j] < mid ? counts[j] : mid;
        if (s <= target)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

typedef struct {
    int32_t label;
    uint32_t h;
    int64_t id;
    int idx;
} SubKey;

static int subkey_cmp(const void *a, const void *b) {
    const SubKey *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int subsets_by_class(const int64_t *ids, const int32_t *labels, const uint8_t *split, int n, int n_classes,
                     uint64_t seed, uint8_t *subset_bits) {
    static const int factors[3] = {2, 4, 10};
    static const uint8_t bits[3] = {DS_SUB50, DS_SUB25, DS_SUB10};
    if (n <= 0) return 0;
    memset(subset_bits, 0, (size_t)n);
    if (n_classes <= 0) return 0;
    SubKey *keys = malloc((size_t)n * sizeof *keys);
    int64_t *counts = calloc((size_t)n_classes, sizeof *counts);
    if (!keys || !counts) {
        free(keys);
        free(counts);
        return -1;
    }
    for (int s = DS_SPLIT_TRAIN; s <= DS_SPLIT_TEST; s++) {
        int m = 0;
        memset(counts, 0, (size_t)n_classes * sizeof *counts);
        for (int i = 0; i < n; i++) {
            if (split[i] != s || labels[i] < 0 || labels[i] >= n_classes) continue;
            keys[m].label = labels[i];
            keys[m].h = split_hash_id(ids[i], seed, SUBSET_STREAM);
            keys[m].id = ids[i];
            keys[m].idx = i;
            counts[labels[i]]++;
            m++;
        }
        if (m == 0) continue;
        qsort(keys, (size_t)m, sizeof *keys, subkey_cmp);
        for (int f = 0; f < 3; f++) {
            int64_t cap = subset_cap(counts, n_classes, (int64_t)m / factors[f]);
            int64_t rank = 0;
            for (int j = 0; j < m; j++) {
                rank = (j > 0 && keys[j].label == keys[j - 1].label) ? rank + 1 : 0;
                if (rank < cap) subset_bits[keys[j].idx] |= bits[f];
            }
        }
    }
    free(keys);
    free(counts);
    return 0;
}
