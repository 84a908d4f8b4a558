// The period finder on real dev ASAS curves against astropy: the fixture
// tests/reference/fixtures/asas_periods_astropy.csv (make_periodogram_reference.py:
// astropy's LombScargle on the same grid, direct sums; every third curve of the
// dev file, as astropy's exact sums take ~10 s a curve) gives astropy's best grid
// frequency, its power and a "clear peak" flag. Requirements:
//  - on >= 99% of the curves with a clear peak, our refined best frequency is
//    within one grid step of astropy's;
//  - on every curve our refined peak power is at least astropy's best grid power
//    (minus 1e-9): refinement only climbs, and the fast sums did not lose the peak.
// Curves go through the ingest path (magnitudes from astromm's fluxes). Exits 77
// when ../shared/data is absent.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/ingest/lc_features.h"
#include "data/preprocess/lightcurve.h"
#include "data/ingest/periodogram.h"
#include "testutil.h"

#define ASAS_CSV "../shared/data/asas/lightcurves.csv.gz"
#define FIXTURE "tests/reference/fixtures/asas_periods_astropy.csv"
#define MAXC 2000

typedef struct {
    int64_t id;
    int n, clear;
    double df, freq, power, log10_fap;
} Ref;

typedef struct {
    LightCurve mag[MAXC];
    int64_t id[MAXC];
    int n;
} Curves;

static int collect(int64_t id, const LightCurve *lc, void *user) {
    Curves *c = user;
    REQUIRE(c->n < MAXC, "more than %d curves", MAXC);
    AmError e;
    REQUIRE(lcf_magnitudes(lc, &c->mag[c->n], &e) == 0, "id %lld: %s", (long long)id, e.msg);
    c->id[c->n++] = id;
    return 0;
}

int main(void) {
    struct stat sb;
    if (stat(ASAS_CSV, &sb) != 0) {
        printf("SKIP: %s not found\n", ASAS_CSV);
        return 77;
    }
    FILE *f = fopen(FIXTURE, "r");
    REQUIRE(f, "cannot open %s (tests/reference/make_periodogram_reference.py)", FIXTURE);
    static Ref ref[MAXC];
    int nr = 0;
    char line[512];
    REQUIRE(fgets(line, sizeof line, f), "empty fixture");
    while (fgets(line, sizeof line, f) && nr < MAXC) {
        Ref *r = &ref[nr];
        double second;
        long long id;
        REQUIRE(sscanf(line, "%lld,%d,%lf,%lf,%lf,%lf,%lf,%d", &id, &r->n, &r->df, &r->freq, &r->power, &r->log10_fap,
                       &second, &r->clear) == 8,
                "fixture line %d: %s", nr + 2, line);
        r->id = id;
        nr++;
    }
    fclose(f);
    static Curves all, cv;
    AmError e;
    REQUIRE(lc_read_asas_csv(ASAS_CSV, collect, &all, &e) == 0, "%s", e.msg);
    // The fixture's curves, in its order (a subset of the file, same order).
    for (int i = 0, j = 0; i < nr; i++) {
        while (j < all.n && all.id[j] != ref[i].id) j++;
        REQUIRE(j < all.n, "fixture id %lld is not in %s (in order)", (long long)ref[i].id, ASAS_CSV);
        cv.mag[cv.n] = all.mag[j];
        cv.id[cv.n++] = all.id[j];
        all.mag[j] = (LightCurve){0};
    }
    REQUIRE(cv.n == nr && nr >= 100, "%d curves matched, fixture has %d", cv.n, nr);

    static LsResult res[MAXC];
    static int rc[MAXC];
    LsOptions o = ls_default_options();
#pragma omp parallel
    {
        LsWork *w = ls_work_new();
#pragma omp for schedule(dynamic, 4)
        for (int i = 0; i < cv.n; i++) {
            AmError le;
            rc[i] = ls_best(cv.mag[i].t, cv.mag[i].flux, cv.mag[i].err, cv.mag[i].n, &o, w, &res[i], &le);
        }
        ls_work_free(w);
    }
    int clear = 0, clear_match = 0, all_match = 0, below = 0;
    for (int i = 0; i < cv.n; i++) {
        const Ref *r = &ref[i];
        REQUIRE(r->id == cv.id[i] && r->n == cv.mag[i].n, "curve %d: id %lld n %d, fixture id %lld n %d", i,
                (long long)cv.id[i], cv.mag[i].n, (long long)r->id, r->n);
        EXPECT(rc[i] == 0, "id %lld: period search failed", (long long)r->id);
        int match = fabs(res[i].freq - r->freq) <= r->df * 1.0000001;
        all_match += match;
        if (r->clear) {
            clear++;
            clear_match += match;
            if (!match)
                fprintf(stderr, "note: id %lld (clear peak): ours f=%.8g p=%.6f, astropy f=%.8g p=%.6f\n",
                        (long long)r->id, res[i].freq, res[i].power, r->freq, r->power);
        }
        if (res[i].power < r->power - 1e-9) {
            below++;
            EXPECT(0, "id %lld: our peak power %.9f below astropy's grid maximum %.9f (f %.8g vs %.8g)",
                   (long long)r->id, res[i].power, r->power, res[i].freq, r->freq);
        }
    }
    printf("ASAS dev curves checked: %d; clear peaks %d, same period %d (%.2f%%); all curves same period %d (%.2f%%); "
           "power below astropy's %d\n",
           cv.n, clear, clear_match, 100.0 * clear_match / (clear ? clear : 1), all_match,
           100.0 * all_match / cv.n, below);
    EXPECT(clear >= cv.n / 2, "only %d of %d curves have a clear peak: fixture or data changed?", clear, cv.n);
    EXPECT(clear_match >= 0.99 * clear, "same best period on %d of %d clear-peak curves (< 99%%)", clear_match, clear);
    for (int i = 0; i < cv.n; i++) lc_free(&cv.mag[i]);
    for (int i = 0; i < all.n; i++) lc_free(&all.mag[i]);
    return tu_finish("test_periodogram_asas");
}
