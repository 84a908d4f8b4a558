// libFuzzer target: the light-curve text readers of src/data/preprocess/lightcurve.c
// (ASAS-SN rows and the ASAS id,hjd,mag,mag_err CSV; plain or gzip through
// src/data/preprocess/text_reader.c) on arbitrary bytes, each accepted curve then
// normalised and cut into the encoder's [L, 9] input. Checked: accepted curves
// are non-empty and finite, normalised times lie in [0, 1], ids increase.
#include "fuzz_util.h"

#include <math.h>
#include <string.h>

#include "data/preprocess/lightcurve.h"

enum { L = 16 };

static void check_curve(const LightCurve *lc) {
    FZ_ASSERT(lc->n >= 1 && lc->t && lc->flux && lc->err);
    for (int i = 0; i < lc->n; i++)
        FZ_ASSERT(isfinite(lc->t[i]) && isfinite(lc->flux[i]) && isfinite(lc->err[i]) && lc->err[i] >= 0);
    LcNorm nm;
    AmError err = {{0}};
    if (lc_normalize(lc, &nm, &err) != 0) {
        FZ_ASSERT(err.msg[0] && nm.n == 0 && !nm.t01);
        return;
    }
    FZ_ASSERT(nm.n >= 1 && nm.n <= lc->n);
    for (int i = 0; i < nm.n; i++) FZ_ASSERT(nm.t01[i] >= 0.0f && nm.t01[i] <= 1.0f);
    static float x[L * LC_CHANNELS], mask[L];
    const float photo[4] = {1, 2, 3, 4};
    FZ_ASSERT(lc_to_tensor(&nm, photo, L, lc_center_start(nm.n, L), x, mask) == 0);
    if (nm.n > L) FZ_ASSERT(lc_to_tensor(&nm, photo, L, nm.n - L + 1, x, mask) == -1);
    lc_norm_free(&nm);
}

typedef struct {
    int count;
    int64_t last_id;
} CsvState;

static int on_object(int64_t id, const LightCurve *lc, void *user) {
    CsvState *st = user;
    FZ_ASSERT(st->count == 0 || id > st->last_id);
    st->last_id = id;
    check_curve(lc);
    return ++st->count >= 64;  // stop early: exercises the callback's stop path
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write(data, size, ".txt");
    LightCurve lc;
    AmError err = {{0}};
    if (lc_read_asassn(path, &lc, &err) == 0) {
        check_curve(&lc);
        lc_free(&lc);
    } else {
        FZ_ASSERT(err.msg[0] && lc.n == 0 && !lc.t);
    }
    CsvState st = {0, 0};
    memset(&err, 0, sizeof err);
    if (lc_read_asas_csv(path, on_object, &st, &err) == 0)
        FZ_ASSERT(st.count >= 1);
    else
        FZ_ASSERT(err.msg[0]);
    return 0;
}
