// Splits by id and limited-label subsets (src/data/format/splits.c).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/format/dataset.h"
#include "data/format/splits.h"
#include "testutil.h"

#define NBIG 100000

static int64_t synth_id(int i) { return (int64_t)i * 7919 + 1000000007LL * (i % 3); }

static void test_split_basic(void) {
    int64_t *ids = malloc(NBIG * sizeof *ids), *rev = malloc(NBIG * sizeof *rev);
    uint8_t *a = malloc(NBIG), *b = malloc(NBIG), *c = malloc(NBIG);
    REQUIRE(ids && rev && a && b && c, "alloc");
    for (int i = 0; i < NBIG; i++) ids[i] = synth_id(i);
    for (int i = 0; i < NBIG; i++) rev[i] = ids[NBIG - 1 - i];
    split_by_id(ids, NBIG, 42, a);
    split_by_id(ids, NBIG, 42, b);
    EXPECT(memcmp(a, b, NBIG) == 0, "same seed gives a different split");
    // Order independence.
    split_by_id(rev, NBIG, 42, c);
    int bad = 0;
    for (int i = 0; i < NBIG; i++) bad += c[i] != a[NBIG - 1 - i];
    EXPECT(bad == 0, "%d objects moved when the order was reversed", bad);
    // Independence from other objects: every third object alone.
    int m = 0;
    for (int i = 0; i < NBIG; i += 3) rev[m++] = ids[i];
    split_by_id(rev, m, 42, c);
    bad = 0;
    for (int j = 0; j < m; j++) bad += c[j] != a[3 * j];
    EXPECT(bad == 0, "%d objects moved when others were removed", bad);
    // Proportions.
    int cnt[3] = {0, 0, 0};
    for (int i = 0; i < NBIG; i++) {
        REQUIRE(a[i] <= 2, "split value %d", a[i]);
        cnt[a[i]]++;
    }
    double p[3] = {0.8, 0.1, 0.1};
    for (int s = 0; s < 3; s++)
        EXPECT(fabs((double)cnt[s] / NBIG - p[s]) < 0.015, "split %d fraction %.4f vs %.2f", s,
               (double)cnt[s] / NBIG, p[s]);
    printf("split seed 42 on %d ids: train %d val %d test %d\n", NBIG, cnt[0], cnt[1], cnt[2]);
    // Another seed gives another split.
    split_by_id(ids, NBIG, 0, b);
    bad = 0;
    for (int i = 0; i < NBIG; i++) bad += a[i] != b[i];
    EXPECT(bad > NBIG / 10, "seeds 42 and 0 differ on only %d objects", bad);
    // Large ids use the high word: ids differing only above bit 34 still differ.
    int64_t hi_ids[64];
    uint8_t hs[64];
    for (int i = 0; i < 64; i++) hi_ids[i] = (int64_t)i << 40;
    split_by_id(hi_ids, 64, 42, hs);
    int nz = 0;
    for (int i = 1; i < 64; i++) nz += split_hash_id(hi_ids[i], 42, SPLIT_STREAM) != split_hash_id(0, 42, SPLIT_STREAM);
    EXPECT(nz == 63, "high id bits ignored (%d of 63 differ)", nz);
    free(ids), free(rev), free(a), free(b), free(c);
}

// Checks nesting, caps and totals for one labelled set; returns per-split sizes in sizes[s][f].
static void check_subsets(const int64_t *ids, const int32_t *labels, const uint8_t *split, int n, int k,
                          const uint8_t *bits, long sizes[3][3]) {
    static const int factors[3] = {2, 4, 10};
    static const uint8_t fb[3] = {DS_SUB50, DS_SUB25, DS_SUB10};
    (void)ids;
    for (int i = 0; i < n; i++) {
        uint8_t b = bits[i];
        EXPECT((b & ~7u) == 0, "stray bits %u", b);
        if (b & DS_SUB10) EXPECT(b & DS_SUB25, "object %d in sub10 but not sub25", i);
        if (b & DS_SUB25) EXPECT(b & DS_SUB50, "object %d in sub25 but not sub50", i);
        if (labels[i] < 0) EXPECT(b == 0, "unlabelled object %d in a subset", i);
    }
    for (int s = 0; s < 3; s++) {
        int64_t counts[64] = {0}, sub[3][64];
        memset(sub, 0, sizeof sub);
        long nlab = 0;
        for (int i = 0; i < n; i++) {
            if (split[i] != s || labels[i] < 0) continue;
            counts[labels[i]]++;
            nlab++;
            for (int f = 0; f < 3; f++) sub[f][labels[i]] += (bits[i] & fb[f]) != 0;
        }
        for (int f = 0; f < 3; f++) {
            int64_t cap = subset_cap(counts, k, nlab / factors[f]);
            long tot = 0;
            for (int c = 0; c < k; c++) {
                int64_t want = counts[c] < cap ? counts[c] : cap;
                EXPECT(sub[f][c] == want, "split %d f %d class %d: %lld in subset, want %lld", s, factors[f], c,
                       (long long)sub[f][c], (long long)want);
                tot += (long)sub[f][c];
            }
            EXPECT(tot <= nlab / factors[f], "split %d f %d: %ld > target %ld", s, factors[f], tot,
                   nlab / factors[f]);
            // Water-filling: one more per capped class would exceed the target.
            long over = 0;
            for (int c = 0; c < k; c++) over += counts[c] > cap;
            if (over) EXPECT(tot + over > nlab / factors[f], "cap %lld is not maximal", (long long)cap);
            sizes[s][f] = tot;
        }
    }
}

static void test_subsets_synthetic(void) {
    enum { N = 20000, K = 7 };
    int64_t *ids = malloc(N * sizeof *ids), *ids2 = malloc(N * sizeof *ids2);
    int32_t *lab = malloc(N * sizeof *lab), *lab2 = malloc(N * sizeof *lab2);
    uint8_t *sp = malloc(N), *sp2 = malloc(N), *b1 = malloc(N), *b2 = malloc(N), *b3 = malloc(N);
    REQUIRE(ids && ids2 && lab && lab2 && sp && sp2 && b1 && b2 && b3, "alloc");
    for (int i = 0; i < N; i++) {
        ids[i] = synth_id(i) + 5;
        uint32_t h = split_hash_id(ids[i], 999, 77);
        // Imbalanced classes (geometric-ish), ~5% unlabelled.
        int c = 0;
        while (c < K - 1 && (h >> (c * 4)) % 3 == 0) c++;
        lab[i] = (h % 20 == 7) ? -1 : (c + (int)(h >> 28)) % K;
    }
    split_by_id(ids, N, 12, sp);
    REQUIRE(subsets_by_class(ids, lab, sp, N, K, 12, b1) == 0, "subsets_by_class failed");
    REQUIRE(subsets_by_class(ids, lab, sp, N, K, 12, b2) == 0, "subsets_by_class failed");
    EXPECT(memcmp(b1, b2, N) == 0, "subsets not deterministic");
    long sizes[3][3];
    check_subsets(ids, lab, sp, N, K, b1, sizes);
    printf("synthetic subsets train sub50/25/10: %ld %ld %ld\n", sizes[0][0], sizes[0][1], sizes[0][2]);
    // Order independence: reversed input gives the same bits per object.
    for (int i = 0; i < N; i++) {
        ids2[i] = ids[N - 1 - i];
        lab2[i] = lab[N - 1 - i];
        sp2[i] = sp[N - 1 - i];
    }
    REQUIRE(subsets_by_class(ids2, lab2, sp2, N, K, 12, b3) == 0, "subsets_by_class failed");
    int bad = 0;
    for (int i = 0; i < N; i++) bad += b3[i] != b1[N - 1 - i];
    EXPECT(bad == 0, "%d objects changed subsets when the order was reversed", bad);
    // A different seed picks different members.
    REQUIRE(subsets_by_class(ids, lab, sp, N, K, 66, b2) == 0, "subsets_by_class failed");
    bad = 0;
    for (int i = 0; i < N; i++) bad += b1[i] != b2[i];
    EXPECT(bad > 0, "seed does not change subset membership");
    free(ids), free(ids2), free(lab), free(lab2), free(sp), free(sp2), free(b1), free(b2), free(b3);
}

static void test_astrom3_counts(void) {
    // AstroM3 seed-42 train counts (reference/astrom3.md): EW SR EA RRAB EB ROT RRC HADS M DSCT.
    static const int train[10] = {4890, 3647, 2343, 1886, 1571, 1454, 624, 226, 216, 206};
    int n = 0;
    for (int c = 0; c < 10; c++) n += train[c];
    REQUIRE(n == 17063, "train total %d", n);
    int64_t *ids = malloc((size_t)n * sizeof *ids);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    uint8_t *sp = calloc((size_t)n, 1), *bits = malloc((size_t)n);
    REQUIRE(ids && lab && sp && bits, "alloc");
    int i = 0;
    for (int c = 0; c < 10; c++)
        for (int j = 0; j < train[c]; j++, i++) {
            ids[i] = 100000 + i;
            lab[i] = c;
        }
    int64_t counts[10];
    for (int c = 0; c < 10; c++) counts[c] = train[c];
    int64_t cap50 = subset_cap(counts, 10, n / 2), cap25 = subset_cap(counts, 10, n / 4),
            cap10 = subset_cap(counts, 10, n / 10);
    EXPECT(cap50 == 1209, "sub50 cap %lld", (long long)cap50);
    EXPECT(cap25 == 516, "sub25 cap %lld", (long long)cap25);
    EXPECT(cap10 == 170, "sub10 cap %lld", (long long)cap10);
    REQUIRE(subsets_by_class(ids, lab, sp, n, 10, 42, bits) == 0, "subsets_by_class failed");
    long sizes[3][3];
    check_subsets(ids, lab, sp, n, 10, bits, sizes);
    printf("AstroM3 seed-42 train (17063): caps sub50 %lld sub25 %lld sub10 %lld; sizes %ld %ld %ld\n",
           (long long)cap50, (long long)cap25, (long long)cap10, sizes[0][0], sizes[0][1], sizes[0][2]);
    EXPECT(sizes[0][0] == 8526, "sub50 train size %ld", sizes[0][0]);
    EXPECT(sizes[0][1] == 4260, "sub25 train size %ld", sizes[0][1]);
    EXPECT(sizes[0][2] == 1700, "sub10 train size %ld", sizes[0][2]);
    EXPECT(sizes[1][0] == 0 && sizes[2][0] == 0, "empty val/test got subsets");
    free(ids), free(lab), free(sp), free(bits);
}

int main(void) {
    test_split_basic();
    test_subsets_synthetic();
    test_astrom3_counts();
    return tu_finish("test_splits");
}
