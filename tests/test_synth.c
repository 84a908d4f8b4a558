// astromm synth: counts, classes, determinism, light-curve lengths, finiteness.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/format/dataset.h"
#include "data/synth/synth_dataset.h"
#include "testutil.h"

enum { N = 300 };

static Dataset *open_ds(const char *path) {
    Dataset *ds = NULL;
    AmError err;
    REQUIRE(ds_open(path, &ds, &err) == 0, "ds_open %s: %s", path, err.msg);
    return ds;
}

// 1 when every object's spectrum and light-curve values are bit-identical.
static int same_data(Dataset *a, Dataset *b) {
    AmError err;
    float *spec = malloc(3 * SPEC_LEN * sizeof *spec);
    int same = ds_count(a) == ds_count(b);
    for (int64_t k = 0; same && k < ds_count(a); k++) {
        DsObject oa, ob;
        REQUIRE(ds_get(a, k, &oa, &err) == 0, "ds_get: %s", err.msg);
        memcpy(spec, oa.spectrum, 3 * SPEC_LEN * sizeof *spec);
        int na = oa.lc.n;
        float *lc = malloc((size_t)na * 3 * sizeof *lc);
        memcpy(lc, oa.lc.t01, (size_t)na * sizeof *lc);
        memcpy(lc + na, oa.lc.flux_n, (size_t)na * sizeof *lc);
        memcpy(lc + 2 * na, oa.lc.err_n, (size_t)na * sizeof *lc);
        REQUIRE(ds_get(b, k, &ob, &err) == 0, "ds_get: %s", err.msg);
        same = na == ob.lc.n && !memcmp(spec, ob.spectrum, 3 * SPEC_LEN * sizeof *spec) &&
               !memcmp(lc, ob.lc.t01, (size_t)na * sizeof *lc) && !memcmp(lc + na, ob.lc.flux_n, (size_t)na * sizeof *lc) &&
               !memcmp(lc + 2 * na, ob.lc.err_n, (size_t)na * sizeof *lc) &&
               !memcmp(oa.meta, ob.meta, sizeof oa.meta) && !memcmp(oa.photo, ob.photo, sizeof oa.photo) &&
               oa.label == ob.label && oa.split == ob.split;
        free(lc);
    }
    free(spec);
    return same;
}

int main(void) {
    char dir[] = "/tmp/astromm_synth_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    char p1[256], p2[256], p3[256], p4[256];
    snprintf(p1, sizeof p1, "%s/a.h5", dir);
    snprintf(p2, sizeof p2, "%s/b.h5", dir);
    snprintf(p3, sizeof p3, "%s/c.h5", dir);
    snprintf(p4, sizeof p4, "%s/d.h5", dir);
    AmError err;
    SynthSummary s;
    REQUIRE(synth_dataset_write_ex(p1, N, 42, 1, &s, &err) == 0, "synth: %s", err.msg);
    REQUIRE(synth_dataset_write(p2, N, 42, 1, &err) == 0, "synth: %s", err.msg);
    REQUIRE(synth_dataset_write(p3, N, 7, 1, &err) == 0, "synth: %s", err.msg);
    REQUIRE(synth_dataset_write(p4, N, 42, 0, &err) == 0, "synth: %s", err.msg);
    EXPECT(synth_dataset_write(p4, 0, 42, 0, &err) != 0, "n = 0 accepted");

    Dataset *a = open_ds(p1), *b = open_ds(p2), *c = open_ds(p3), *d = open_ds(p4);
    EXPECT(ds_count(a) == N, "count %lld", (long long)ds_count(a));
    const char *const *names;
    int nc;
    ds_classes(a, &names, &nc);
    EXPECT(nc == 10, "n_classes %d", nc);
    for (int k = 0; k < nc && k < 10; k++) EXPECT(!strcmp(names[k], SYNTH_CLASSES[k]), "class %d %s", k, names[k]);

    int64_t cls[10] = {0}, splits[3] = {0}, cls_prop[10] = {0};
    int rrab_checked = 0;
    for (int64_t k = 0; k < N; k++) {
        DsObject o;
        REQUIRE(ds_get(d, k, &o, &err) == 0, "ds_get: %s", err.msg);
        REQUIRE(o.label >= 0 && o.label < 10, "label %d", o.label);
        cls_prop[o.label]++;
        REQUIRE(ds_get(a, k, &o, &err) == 0, "ds_get: %s", err.msg);
        EXPECT(o.id == k + 1, "id %lld at %lld", (long long)o.id, (long long)k);
        REQUIRE(o.label >= 0 && o.label < 10, "label %d", o.label);
        cls[o.label]++;
        splits[o.split]++;
        EXPECT(o.has[0] && o.has[1] && o.has[2], "object %lld misses a modality", (long long)k);
        EXPECT(o.lc.n >= 100 && o.lc.n <= 600, "object %lld: %d light-curve points", (long long)k, o.lc.n);
        int fin = isfinite(o.lc.log10_mad) && isfinite(o.lc.dt) && o.lc.dt > 1.5f && o.lc.dt < 4.5f;
        for (int i = 0; i < o.lc.n; i++)
            fin &= isfinite(o.lc.t01[i]) && isfinite(o.lc.flux_n[i]) && isfinite(o.lc.err_n[i]) && o.lc.err_n[i] > 0;
        EXPECT(fin, "object %lld: bad light curve (dt %g)", (long long)k, o.lc.dt);
        int sfin = 1;
        for (int i = 0; i < 3 * SPEC_LEN; i++) sfin &= isfinite(o.spectrum[i]);
        EXPECT(sfin, "object %lld: non-finite spectrum", (long long)k);
        int mfin = 1;
        for (int i = 0; i < DS_META_COLS; i++) mfin &= isfinite(o.meta[i]);
        for (int i = 0; i < DS_PHOTO_COLS; i++) mfin &= isfinite(o.photo[i]);
        EXPECT(mfin, "object %lld: non-finite metadata", (long long)k);
        if (o.label == 3 && !rrab_checked) {  // RRAB: log10 period within 0.45..0.8 d
            rrab_checked = 1;
            EXPECT(o.photo[1] > log10f(0.44f) && o.photo[1] < log10f(0.81f), "RRAB log10 period %g", o.photo[1]);
        }
    }
    for (int k = 0; k < 10; k++) {
        EXPECT(cls[k] > 0, "class %s absent in uniform mode", SYNTH_CLASSES[k]);
        EXPECT(cls[k] == s.class_count[k], "summary class %d: %lld vs %lld", k, (long long)s.class_count[k],
               (long long)cls[k]);
    }
    for (int k = 0; k < 3; k++) EXPECT(splits[k] == s.split_count[k], "summary split %d", k);
    EXPECT(splits[0] > 200 && splits[1] > 10 && splits[2] > 10, "splits %lld/%lld/%lld", (long long)splits[0],
           (long long)splits[1], (long long)splits[2]);
    EXPECT(cls_prop[0] > cls_prop[9] && cls_prop[0] > 50, "proportional mode: EW %lld, DSCT %lld",
           (long long)cls_prop[0], (long long)cls_prop[9]);
    const float *mm, *ms, *pm, *ps;
    ds_stats(a, &mm, &ms, &pm, &ps);
    int stfin = 1;
    for (int i = 0; i < DS_META_COLS; i++) stfin &= isfinite(mm[i]) && isfinite(ms[i]) && ms[i] > 0;
    EXPECT(stfin, "bad metadata statistics");

    EXPECT(same_data(a, b), "same seed gave different data");
    EXPECT(!same_data(a, c), "different seeds gave identical data");
    ds_close(a);
    ds_close(b);
    ds_close(c);
    ds_close(d);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    unlink(p4);
    rmdir(dir);
    return tu_finish("test_synth");
}
