// Synthetic AstroM3-like dataset generator; see synth_dataset.h.
#include "data/synth/synth_dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/format/dataset.h"
#include "data/preprocess/lightcurve.h"
#include "data/preprocess/metadata.h"
#include "data/preprocess/spectrum.h"
#include "data/format/splits.h"

const char *const SYNTH_CLASSES[SYNTH_N_CLASSES] = {"EW", "SR", "EA", "RRAB", "EB", "ROT", "RRC", "HADS", "M", "DSCT"};
enum { C_EW, C_SR, C_EA, C_RRAB, C_EB, C_ROT, C_RRC, C_HADS, C_M, C_DSCT };

// AstroM3 full-data counts (train + val + test, seed 42).
static const int ASTROM3_COUNTS[SYNTH_N_CLASSES] = {6168, 4590, 2916, 2351, 1976, 1839, 796, 281, 268, 255};

// Per class: period range (d, log-uniform), amplitude range (mag), Teff (K), M_V.
typedef struct {
    double p_lo, p_hi, a_lo, a_hi, t_lo, t_hi, mv_lo, mv_hi;
} ClassRange;
static const ClassRange RANGES[SYNTH_N_CLASSES] = {
    [C_EW] = {0.25, 0.6, 0.2, 0.8, 4500, 8000, 2.0, 5.0},
    [C_SR] = {30, 300, 0.2, 2.0, 3000, 4000, -2.0, 0.0},
    [C_EA] = {1, 10, 0.2, 1.5, 4500, 8000, -1.0, 4.0},
    [C_RRAB] = {0.45, 0.8, 0.5, 1.2, 6000, 7500, 0.4, 0.8},
    [C_EB] = {0.4, 2, 0.2, 1.0, 4500, 8000, 0.0, 3.0},
    [C_ROT] = {0.5, 30, 0.02, 0.3, 4000, 6000, 3.0, 7.0},
    [C_RRC] = {0.25, 0.4, 0.2, 0.5, 6000, 7500, 0.4, 0.8},
    [C_HADS] = {0.05, 0.2, 0.3, 0.8, 7000, 8500, 1.0, 3.0},
    [C_M] = {100, 500, 2.5, 7.0, 2500, 3500, -3.0, -1.0},
    [C_DSCT] = {0.02, 0.2, 0.01, 0.1, 7000, 8500, 1.5, 3.5},
};

enum { COMP_PARAMS = 0, COMP_LC = 1, COMP_SPEC = 2, COMP_META = 3 };

typedef struct {
    int cls;
    double period, amp, teff, vmag;
} StarParams;

// One component's random numbers: uniforms and normals come from separate
// streams (am_rng_normal(i) consumes elements 2i, 2i+1), each read in sequence.
typedef struct {
    AmRng u, g;
    uint64_t iu, ig;
} Gen;
static Gen gen(uint64_t seed, int comp, int idx) {
    Gen G = {am_rng(seed, (uint64_t)comp * 8, RNG_SYNTH, (uint32_t)idx),
             am_rng(seed, (uint64_t)comp * 8 + 1, RNG_SYNTH, (uint32_t)idx), 0, 0};
    return G;
}
static double uni(Gen *G, double lo, double hi) { return lo + (hi - lo) * (double)am_rng_uniform(&G->u, G->iu++); }
static double nrm(Gen *G) { return (double)am_rng_normal(&G->g, G->ig++); }
static uint32_t below(Gen *G, uint32_t n) { return am_rng_below(&G->u, G->iu++, n); }
static double frac(double x) { return x - floor(x); }

static const double PI = 3.14159265358979323846;

static void draw_params(uint64_t seed, int idx, int balance, StarParams *p) {
    Gen r = gen(seed, COMP_PARAMS, idx);
    if (balance) {
        p->cls = (int)below(&r, SYNTH_N_CLASSES);
    } else {
        int total = 0;
        for (int c = 0; c < SYNTH_N_CLASSES; c++) total += ASTROM3_COUNTS[c];
        int u = (int)below(&r, (uint32_t)total), c = 0;
        while (u >= ASTROM3_COUNTS[c]) u -= ASTROM3_COUNTS[c++];
        p->cls = c;
    }
    const ClassRange *cr = &RANGES[p->cls];
    p->period = exp(uni(&r, log(cr->p_lo), log(cr->p_hi)));
    p->amp = uni(&r, cr->a_lo, cr->a_hi);
    p->teff = uni(&r, cr->t_lo, cr->t_hi);
    p->vmag = uni(&r, 10.5, 16.5);
}

// ------------------------------------------------------------------ light curve
// Magnitude offset (positive = fainter) at time t; r gives the Mira per-cycle draws.
static double lc_shape(const StarParams *p, const double *q, double t, double t0, const AmRng *r) {
    const double P = p->period, A = p->amp;
    double ph = frac((t - t0) / P + q[0]);
    switch (p->cls) {
    case C_EA: {  // narrow dips: primary at 0, shallower secondary at 0.5
        double w = q[1], d1 = ph > 0.5 ? ph - 1 : ph, d2 = ph - 0.5;
        return A * (exp(-0.5 * d1 * d1 / (w * w)) + q[2] * exp(-0.5 * d2 * d2 / (w * w)));
    }
    case C_EB:
    case C_EW: {  // continuous variation; EB unequal minima, EW nearly equal
        double s = 0.5 * (1 - cos(4 * PI * ph)) + q[2] * 0.5 * (1 - cos(2 * PI * ph));
        return A * s / (1 + q[2]);
    }
    case C_RRAB:
    case C_RRC:
    case C_HADS: {  // sawtooth: fast rise (brightening), slow decline
        double rf = q[1];
        double saw = ph < rf ? 1 - ph / rf : (ph - rf) / (1 - rf);
        double sine = 0.5 * (1 - cos(2 * PI * ph));
        return A * ((1 - q[2]) * saw + q[2] * sine);
    }
    case C_DSCT: {  // multi-periodic pulsation
        double s = sin(2 * PI * ph) + q[1] * sin(2 * PI * frac((t - t0) / (P * q[2]) + q[3]));
        return A * 0.5 * s / (1 + q[1]);
    }
    case C_M: {  // large-amplitude sinusoid, per-cycle amplitude/mean changes
        double cyc = floor((t - t0) / P + q[0]);
        uint64_t k = 1000 + 2 * (uint64_t)(cyc < 0 ? 0 : cyc);
        double a = A * (1 + 0.15 * (double)am_rng_normal(r, k));
        double m0 = 0.2 * (double)am_rng_normal(r, k + 1);
        double wph = ph < 0.4 ? ph / 0.4 * 0.5 : 0.5 + (ph - 0.4) / 0.6 * 0.5;  // faster rise
        return m0 + a * 0.5 * (1 + cos(2 * PI * wph));
    }
    case C_SR: {  // two periods (second: long secondary period); walk added by caller
        return A * 0.5 * (sin(2 * PI * ph) + q[1] * sin(2 * PI * frac((t - t0) / (P * q[2]) + q[3])));
    }
    default: {  // ROT: spotted sinusoid, evolving phase and amplitude
        double drift = q[1] * (t - t0) / 365.0 + 0.05 * sin(2 * PI * (t - t0) / q[2]);
        double af = 0.75 + 0.25 * sin(2 * PI * (t - t0) / q[2] + q[3]);
        return A * af * 0.5 * (1 - cos(2 * PI * (ph + drift)));
    }
    }
}

static int make_lightcurve(uint64_t seed, int idx, const StarParams *p, LcNorm *out, AmError *err) {
    Gen r = gen(seed, COMP_LC, idx);
    const AmRng cyc = am_rng(seed, COMP_LC * 8 + 2, RNG_SYNTH, (uint32_t)idx);  // Mira cycles
    const AmRng sel = am_rng(seed, COMP_LC * 8 + 3, RNG_SYNTH, (uint32_t)idx);  // night selection
    const int span = (int)uni(&r, 730, 1460);
    const double season_len = uni(&r, 200, 280), season_off = uni(&r, 0, 365);
    int *nights = am_calloc((size_t)span, sizeof *nights, "synth nights");
    int avail = 0, gap = 0;
    for (int d = 0; d < span; d++) {
        if (gap > 0) {
            gap--;
            continue;
        }
        if (uni(&r, 0, 1) < 0.03) {  // weather / technical gap
            gap = 1 + (int)below(&r, 15);
            continue;
        }
        if (fmod(d + season_off, 365.0) < season_len) nights[avail++] = d;
    }
    int target = 100 + (int)below(&r, 501);
    if (target > avail) target = avail;
    LightCurve lc = {0};
    lc.t = am_calloc((size_t)target + 1, sizeof *lc.t, "synth t");
    lc.flux = am_calloc((size_t)target + 1, sizeof *lc.flux, "synth flux");
    lc.err = am_calloc((size_t)target + 1, sizeof *lc.err, "synth err");
    const double t_start = 2457000.0 + uni(&r, 0, 1000);
    const double t0 = t_start - uni(&r, 0, p->period);
    const double noise = uni(&r, 0.01, 0.05);
    double q[4];
    for (int k = 0; k < 4; k++) q[k] = uni(&r, 0, 1);
    switch (p->cls) {  // shape parameters
    case C_EA: q[1] = 0.02 + 0.05 * q[1], q[2] = 0.5 * q[2]; break;
    case C_EB: q[2] = 0.2 + 0.4 * q[2]; break;
    case C_EW: q[2] = 0.06 * q[2]; break;
    case C_RRAB: q[1] = 0.10 + 0.10 * q[1], q[2] = 0.15 * q[2]; break;
    case C_RRC: q[1] = 0.35 + 0.10 * q[1], q[2] = 0.5 + 0.3 * q[2]; break;
    case C_HADS: q[1] = 0.20 + 0.15 * q[1], q[2] = 0.3 * q[2]; break;
    case C_DSCT: q[1] = 0.2 + 0.6 * q[1], q[2] = 0.6 + 0.3 * q[2]; break;
    case C_SR: q[1] = 0.3 + 0.7 * q[1], q[2] = 1.5 + 6.0 * q[2]; break;
    case C_ROT: q[1] = 0.3 * (q[1] - 0.5), q[2] = 50 + 250 * q[2], q[3] = 2 * PI * q[3]; break;
    default: break;
    }
    // selection sampling: exactly `target` of the available nights, in order
    int got = 0;
    double walk = 0, t_prev = t_start;
    for (int k = 0; k < avail && got < target; k++) {
        if ((double)am_rng_uniform(&sel, (uint64_t)k) * (avail - k) >= target - got) continue;
        double t = t_start + nights[k] + 0.1 + 0.3 * uni(&r, 0, 1);
        double m = p->vmag + lc_shape(p, q, t, t0, &cyc);
        if (p->cls == C_SR) {
            walk += 0.15 * p->amp * sqrt((t - t_prev) / p->period) * nrm(&r);
            m += walk;
        }
        t_prev = t;
        double e = noise * (0.8 + 0.4 * uni(&r, 0, 1));
        m += e * nrm(&r);
        double f = pow(10.0, -0.4 * (m - 20.0));
        lc.t[got] = t;
        lc.flux[got] = f;
        lc.err[got] = 0.4 * log(10.0) * f * e;
        got++;
    }
    lc.n = got;
    free(nights);
    int rc = lc_normalize(&lc, out, err);
    lc_free(&lc);
    return rc;
}

// ------------------------------------------------------------------ spectrum
static int make_spectrum(uint64_t seed, int idx, const StarParams *p, float *out, AmError *err) {
    Gen r = gen(seed, COMP_SPEC, idx);
    const double l0 = log10(3700.0), step = 1e-4;
    const int n = (int)((log10(9100.0) - l0) / step) + 1;
    Spectrum s = {0};
    s.n = n;
    s.wave = am_calloc((size_t)n, sizeof *s.wave, "synth wave");
    s.flux = am_calloc((size_t)n, sizeof *s.flux, "synth flux");
    s.ivar = am_calloc((size_t)n, sizeof *s.ivar, "synth ivar");
    const double T = p->teff, rv = uni(&r, -60, 60), z = 1 + rv / 299792.458;
    const double snr = exp(uni(&r, log(10.0), log(100.0)));
    const double c2 = 1.4388e8;  // hc/k in Å K
    const double lpk = 2.898e7 / T, bpk = 1 / (pow(lpk, 5) * (exp(c2 / (lpk * T)) - 1));
    const double scale = exp(uni(&r, log(50.0), log(2000.0)));
    const double balmer[4] = {6562.8, 4861.3, 4340.5, 4101.7};
    const double metal[5] = {3933.7, 3968.5, 5175.0, 5892.9, 5183.6};
    const double tio[3] = {7054, 6159, 7589};
    const double d_bal = 0.6 * exp(-0.5 * pow((T - 8500) / 1500, 2));
    double d_met = 0.05 + 0.5 * fmin(1, fmax(0, (7000 - T) / 3000));
    const double d_tio = T < 4000 ? fmin(0.8, 0.15 + 0.5 * (4000 - T) / 1000) : 0;
    for (int k = 0; k < n; k++) {
        double lam = pow(10.0, l0 + step * k), lr = lam / z;  // rest frame
        double f = scale / (pow(lr, 5) * (exp(c2 / (lr * T)) - 1)) / bpk;
        for (int b = 0; b < 4; b++) f *= 1 - d_bal * exp(-0.5 * pow((lr - balmer[b]) / 12.0, 2));
        for (int b = 0; b < 5; b++) {
            double d = b < 2 ? fmin(0.9, 1.5 * d_met) : d_met;
            f *= 1 - d * exp(-0.5 * pow((lr - metal[b]) / 4.0, 2));
        }
        for (int b = 0; b < 3 && d_tio > 0; b++)
            if (lr >= tio[b] && lr < tio[b] + 300) f *= 1 - d_tio * exp(-(lr - tio[b]) / 120.0);
        double sigma = scale / snr * sqrt(fmax(f / scale, 0.05));
        s.wave[k] = lam;
        s.flux[k] = f + sigma * nrm(&r);
        s.ivar[k] = 1 / (sigma * sigma);
    }
    int rc = spec_preprocess(&s, out, err);
    spec_free(&s);
    return rc;
}

// ------------------------------------------------------------------ metadata
static void make_meta(uint64_t seed, int idx, const StarParams *p, double *m, double *ph) {
    Gen r = gen(seed, COMP_META, idx);
    const ClassRange *cr = &RANGES[p->cls];
    const double mv = uni(&r, cr->mv_lo, cr->mv_hi), av = uni(&r, 0, 1);
    const double dist = pow(10.0, (p->vmag - mv - av) / 5 + 1);  // pc
    const double theta = 5040 / p->teff;
    const double bp_rp = 3.0 * theta - 1.6 + 0.4 * av;
    const double V = p->vmag, G = V - (0.02 + 0.1 * bp_rp + 0.15 * bp_rp * bp_rp);
    const double RP = G - 0.55 * bp_rp - 0.05, BP = RP + bp_rp;
    const double K = V - 1.9 * bp_rp - 0.1 * av, jk = 0.15 + 0.3 * bp_rp, hk = 0.05 + 0.08 * bp_rp;
    const double dust = (p->cls == C_M || p->cls == C_SR) ? uni(&r, 0.3, 1.5) : uni(&r, 0, 0.1);
    const double W1 = K - 0.05 - 0.05 * bp_rp - 0.3 * dust, W2 = W1 - 0.02 - 0.3 * dust;
    const double W3 = W2 - 0.1 - dust, W4 = W3 - 0.1 - 0.8 * dust;
    const double plx_err = 0.015 * pow(10.0, 0.2 * (G - 13)) * (0.8 + 0.4 * uni(&r, 0, 1));
    const double plx = 1000 / dist + plx_err * nrm(&r);
    const double vt = 30 + 20 * fabs(nrm(&r)), pm = vt / (4.74 * dist / 1000), pa = uni(&r, 0, 2 * PI);
    const double pm_err = 1.2 * plx_err;
    const double pmra = pm * cos(pa) + pm_err * nrm(&r), pmdec = pm * sin(pa) + pm_err * nrm(&r);
    const double ruwe = (p->cls == C_EW || p->cls == C_EB ? 1.1 : 1.0) + 0.1 * fabs(nrm(&r));
    const double ferr = 0.0005 * pow(10.0, 0.2 * (G - 12)), ir = 0.02 * pow(10.0, 0.2 * (K - 11));
    double v[META_N];
    int k = 0;
    v[k++] = V;
    v[k++] = G, v[k++] = ferr;
    v[k++] = BP, v[k++] = 2 * ferr;
    v[k++] = RP, v[k++] = 1.5 * ferr;
    v[k++] = bp_rp;
    v[k++] = plx, v[k++] = plx_err, v[k++] = plx / plx_err;
    v[k++] = pmra, v[k++] = pm_err, v[k++] = pmdec, v[k++] = pm_err;
    v[k++] = K + jk, v[k++] = ir;
    v[k++] = K + hk, v[k++] = 1.1 * ir;
    v[k++] = K, v[k++] = 1.2 * ir;
    v[k++] = W1, v[k++] = 0.8 * ir;
    v[k++] = W2, v[k++] = 0.9 * ir;
    v[k++] = W3, v[k++] = W4;
    v[k++] = jk, v[k++] = W1 - W2, v[k++] = W3 - W4;
    v[k++] = sqrt(pmra * pmra + pmdec * pmdec), v[k++] = ruwe;
    v[k++] = uni(&r, 0, 360), v[k++] = asin(uni(&r, -1, 1)) * 180 / PI;
    memcpy(m, v, sizeof v);
    ph[0] = p->amp;
    ph[1] = p->period;
    ph[2] = uni(&r, 0, 1);
    ph[3] = uni(&r, 0, 1);
}

// ------------------------------------------------------------------ writer
int synth_dataset_write_ex(const char *path, int n, uint64_t seed, int balance, SynthSummary *summary, AmError *err) {
    if (n < 1) return am_error_set(err, "%s: synth: n must be >= 1 (got %d)", path, n);
    StarParams *par = am_calloc((size_t)n, sizeof *par, "synth params");
    MetaTable mt = {0};
    mt.n = n;
    mt.id = am_calloc((size_t)n, sizeof *mt.id, "synth ids");
    mt.meta = am_calloc((size_t)n * META_N, sizeof *mt.meta, "synth meta");
    mt.photo = am_calloc((size_t)n * PHOTO_N, sizeof *mt.photo, "synth photo");
    int32_t *labels = am_calloc((size_t)n, sizeof *labels, "synth labels");
    uint8_t *split = am_calloc((size_t)n, 1, "synth split"), *subset = am_calloc((size_t)n, 1, "synth subset");
    uint8_t *is_train = am_calloc((size_t)n, 1, "synth train");
    float *spec = am_calloc(3 * SPEC_LEN, sizeof *spec, "synth spectrum");
    DsWriter *w = NULL;
    int rc = 0;
    for (int k = 0; k < n; k++) {
        draw_params(seed, k, balance, &par[k]);
        mt.id[k] = k + 1;
        labels[k] = par[k].cls;
        make_meta(seed, k, &par[k], mt.meta + (size_t)k * META_N, mt.photo + (size_t)k * PHOTO_N);
    }
    meta_transform(&mt);
    split_by_id(mt.id, n, seed, split);
    for (int k = 0; k < n; k++) is_train[k] = split[k] == DS_SPLIT_TRAIN;
    if (subsets_by_class(mt.id, labels, split, n, SYNTH_N_CLASSES, seed, subset)) {
        rc = am_error_set(err, "%s: synth: out of memory computing subsets", path);
        goto done;
    }
    MetaStats st;
    if (meta_fit_stats(&mt, is_train, &st)) {
        rc = am_error_set(err, "%s: synth: no training objects among %d (use a larger --n)", path, n);
        goto done;
    }
    if ((rc = ds_writer_open(path, n, SYNTH_CLASSES, SYNTH_N_CLASSES, &w, err))) goto done;
    for (int k = 0; k < n && !rc; k++) {
        DsObject o;
        memset(&o, 0, sizeof o);
        o.id = mt.id[k];
        o.label = labels[k];
        o.split = split[k];
        o.subset = subset[k];
        o.has[MOD_PHOTOMETRY] = o.has[MOD_SPECTRA] = o.has[MOD_METADATA] = 1;
        for (int c = 0; c < DS_PHOTO_COLS; c++) o.photo[c] = (float)mt.photo[(size_t)k * PHOTO_N + c];
        for (int c = 0; c < DS_META_COLS; c++) o.meta[c] = (float)mt.meta[(size_t)k * META_N + c];
        rc = make_lightcurve(seed, k, &par[k], &o.lc, err);
        if (!rc) rc = make_spectrum(seed, k, &par[k], spec, err);
        o.spectrum = spec;
        if (!rc) rc = ds_writer_add(w, &o, err);
        lc_norm_free(&o.lc);
    }
    rc = ds_writer_finish(w, rc, &st, err);
    w = NULL;
    if (!rc && summary) {
        memset(summary, 0, sizeof *summary);
        for (int k = 0; k < n; k++) summary->class_count[labels[k]]++, summary->split_count[split[k]]++;
    }
done:
    if (w) ds_writer_abort(w);
    free(par);
    meta_free(&mt);
    free(labels);
    free(split);
    free(subset);
    free(is_train);
    free(spec);
    return rc;
}

int synth_dataset_write(const char *path, int n, uint64_t seed, int balance, AmError *err) {
    return synth_dataset_write_ex(path, n, seed, balance, NULL, err);
}
