// astromm ingest on real shared data: ASAS light curves (asas:<id> rows of
// ../shared/data/asas/lightcurves.csv.gz) paired with LAMOST spectra from
// ../shared/data/lamost/fits, plus the synthetic catalogue
// tests/reference/fixtures/meta_catalog.csv. The pairing is ARBITRARY: the shared
// ASAS and LAMOST data are not cross-matched (different stars, one LAMOST plate),
// and the manifest ids are the catalogue fixture's ids, not ASAS ids; only the
// plumbing is tested. Deliberately bad rows (missing FITS, a text file posing as
// FITS, unknown class, an id absent from the ASAS CSV, no modality, duplicate id)
// must be skipped with their reasons; the good objects must read back (ds_open /
// ds_get) equal to lc_normalize / spec_preprocess / meta_transform of the same
// inputs. Exits 77 (skip) when ../shared/data is absent.
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/format/dataset.h"
#include "data/ingest/ingest.h"
#include "data/ingest/lc_features.h"
#include "data/preprocess/lightcurve.h"
#include "data/preprocess/metadata.h"
#include "data/preprocess/spectrum.h"
#include "testutil.h"

#define DATA_DIR "../shared/data"
#define ASAS_CSV DATA_DIR "/asas/lightcurves.csv.gz"
#define ASAS_CAT DATA_DIR "/asas/catalog.csv"
#define FITS_DIR DATA_DIR "/lamost/fits"
#define META_CSV "tests/reference/fixtures/meta_catalog.csv"
#define NGOOD 8

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct {
    int64_t ids[NGOOD];
    LcNorm lc[NGOOD];
    double feat[NGOOD][LCF_N];
    int found;
} RefCtx;
static int ref_cb(int64_t id, const LightCurve *lc, void *user) {
    RefCtx *c = user;
    for (int k = 0; k < NGOOD; k++)
        if (c->ids[k] == id) {
            AmError e;
            REQUIRE(lc_normalize(lc, &c->lc[k], &e) == 0, "%s", e.msg);
            LightCurve mag;
            LsOptions o = ls_default_options();
            LsWork *w = ls_work_new();
            REQUIRE(lcf_magnitudes(lc, &mag, &e) == 0 && lcf_compute(&mag, &o, w, c->feat[k], &e) == 0, "%s", e.msg);
            ls_work_free(w);
            lc_free(&mag);
            c->found++;
        }
    return 0;
}

static float max_diff(const float *a, const float *b, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m)) m = d;  // NaN propagates
    }
    return m;
}

static char *slurp(FILE *f) {
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    REQUIRE(fread(s, 1, (size_t)n, f) == (size_t)n, "log read");
    return s;
}

int main(void) {
    struct stat sb;
    if (stat(DATA_DIR, &sb) != 0) {
        printf("SKIP: ../shared/data not found\n");
        return 77;
    }
    AmError err;
    // 8 labelled ASAS objects (first mapped ones in catalogue order).
    int64_t asas_id[NGOOD];
    char asas_cls[NGOOD][8];
    FILE *f = fopen(ASAS_CAT, "r");
    REQUIRE(f, "cannot open %s", ASAS_CAT);
    char line[1024];
    int na = 0;
    REQUIRE(fgets(line, sizeof line, f), "empty %s", ASAS_CAT);
    while (na < NGOOD && fgets(line, sizeof line, f)) {
        // class_original may be quoted with commas: class is the third field from the end.
        line[strcspn(line, "\r\n")] = 0;
        char *c3 = strrchr(line, ',');
        if (!c3) continue;
        *c3 = 0;
        char *c2 = strrchr(line, ',');
        if (!c2) continue;
        *c2 = 0;
        char *c1 = strrchr(line, ',');
        if (!c1 || !c1[1]) continue;
        const char *cls = c1 + 1;
        asas_id[na] = strtoll(line, NULL, 10);
        snprintf(asas_cls[na], sizeof asas_cls[na], "%s", cls);
        na++;
    }
    fclose(f);
    REQUIRE(na == NGOOD, "only %d mapped ASAS objects", na);
    // LAMOST files, sorted.
    char *fits[NGOOD + 2];
    int nfits = 0;
    DIR *d = opendir(FITS_DIR);
    REQUIRE(d, "cannot open %s", FITS_DIR);
    char *all[400];
    int nall = 0;
    for (struct dirent *e; (e = readdir(d)) && nall < 400;) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".fits")) all[nall++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(all, (size_t)nall, sizeof *all, cmp_str);
    REQUIRE(nall >= NGOOD, "only %d FITS files", nall);
    for (; nfits < NGOOD; nfits++) {
        fits[nfits] = malloc(strlen(FITS_DIR) + strlen(all[nfits]) + 2);
        sprintf(fits[nfits], "%s/%s", FITS_DIR, all[nfits]);
    }
    // Catalogue fixture ids for the first 4 objects.
    MetaTable cat = {0};
    REQUIRE(meta_read_csv(META_CSV, &cat, &err) == 0, "%s", err.msg);
    REQUIRE(cat.n >= 4, "fixture too small");
    meta_transform(&cat);
    int64_t id[NGOOD];
    for (int k = 0; k < NGOOD; k++) id[k] = k < 4 ? cat.id[k] : 900000 + k;

    char dir[] = "/tmp/astromm_ingest_XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    char manifest[256], fake[256], out[256], cwd[1024];
    snprintf(manifest, sizeof manifest, "%s/manifest.csv", dir);
    snprintf(fake, sizeof fake, "%s/fake.fits", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    REQUIRE(getcwd(cwd, sizeof cwd), "getcwd");
    f = fopen(fake, "w");
    REQUIRE(f, "fake");
    fputs("SIMPLE  = T  this is not a FITS file\n", f);
    fclose(f);

    // Good rows (lines 2..9): object 6 has no spectrum, object 7 is unlabelled,
    // splits given for objects 0 (train) and 1 (val), generated otherwise.
    f = fopen(manifest, "w");
    REQUIRE(f, "manifest");
    fprintf(f, "split,id,class,lightcurve,spectrum,note\n");
    for (int k = 0; k < NGOOD; k++)
        fprintf(f, "%s,%lld,%s,asas:%lld,%s%s%s,good\n", k == 0 ? "train" : k == 1 ? "val" : "", (long long)id[k],
                k == 7 ? "" : asas_cls[k], (long long)asas_id[k], k == 6 ? "" : cwd, k == 6 ? "" : "/",
                k == 6 ? "" : fits[k]);
    // Bad rows (lines 10..15).
    fprintf(f, ",910,EW,asas:%lld,%s/nope.fits,missing fits\n", (long long)asas_id[0], dir);
    fprintf(f, ",911,EW,asas:%lld,fake.fits,text posing as fits (relative to the manifest)\n",
            (long long)asas_id[1]);
    fprintf(f, ",912,XYZ,asas:%lld,,unknown class\n", (long long)asas_id[2]);
    fprintf(f, ",913,EW,asas:1,,id not in the ASAS CSV\n");
    fprintf(f, ",914,,,,no modality\n");
    fprintf(f, ",%lld,EW,asas:%lld,,duplicate id\n", (long long)id[3], (long long)asas_id[3]);
    fclose(f);

    FILE *log = tmpfile();
    REQUIRE(log, "tmpfile");
    const char *asas_files[1] = {ASAS_CSV};
    IngestOptions o = {manifest, out, asas_files, 1, META_CSV, 42, log, INGEST_FEATURES_AUTO, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    IngestSummary s;
    int rc = ingest_run(&o, &s, &err);
    char *text = slurp(log);
    fclose(log);
    REQUIRE(rc == 0, "ingest_run: %s\nlog:\n%s", err.msg, text);
    EXPECT(s.rows == 14 && s.written == NGOOD && s.skipped == 6, "rows %lld written %lld skipped %lld", (long long)s.rows,
           (long long)s.written, (long long)s.skipped);
    EXPECT(s.skip_count[INGEST_SKIP_SPECTRUM] == 2 && s.skip_count[INGEST_SKIP_CLASS] == 1 &&
               s.skip_count[INGEST_SKIP_LIGHTCURVE] == 1 && s.skip_count[INGEST_SKIP_EMPTY] == 1 &&
               s.skip_count[INGEST_SKIP_ROW] == 1,
           "skip counts %lld %lld %lld %lld %lld", (long long)s.skip_count[0], (long long)s.skip_count[1],
           (long long)s.skip_count[2], (long long)s.skip_count[3], (long long)s.skip_count[4]);
    EXPECT(s.unlabelled == 1 && s.modality_count[0] == NGOOD && s.modality_count[1] == NGOOD - 1 &&
               s.modality_count[2] == 4,
           "unlabelled %lld modalities %lld %lld %lld", (long long)s.unlabelled, (long long)s.modality_count[0],
           (long long)s.modality_count[1], (long long)s.modality_count[2]);
    EXPECT(s.split_count[0] + s.split_count[1] + s.split_count[2] == NGOOD, "split counts");
    // Objects 4..7 have no catalogue row: their photo columns are computed.
    EXPECT(s.features_used == 4 && s.features_computed >= 4, "features used %lld computed %lld",
           (long long)s.features_used, (long long)s.features_computed);
    static const struct {
        int line;
        const char *id, *what;
    } bad[] = {{10, "910", "nope.fits"}, {11, "911", "fake.fits"}, {12, "912", "unknown class 'XYZ'"},
               {13, "913", "asas:1: id not in"}, {14, "914", "no light curve, spectrum, catalogue or metadata-table row"},
               {15, NULL, "duplicate id (first on line 5)"}};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        char want[512];
        char idt[32];
        if (bad[b].id) snprintf(idt, sizeof idt, "%s", bad[b].id);
        else snprintf(idt, sizeof idt, "%lld", (long long)id[3]);
        snprintf(want, sizeof want, "%s:%d: id %s: skipped: ", manifest, bad[b].line, idt);
        const char *at = strstr(text, want);
        EXPECT(at != NULL, "no report '%s' in log:\n%s", want, text);
        if (at) {
            const char *eol = strchr(at, '\n');
            EXPECT(eol && strstr(at, bad[b].what) && strstr(at, bad[b].what) < eol, "line %d lacks '%s': %.*s",
                   bad[b].line, bad[b].what, eol ? (int)(eol - at) : 80, at);
        }
    }
    for (int k = 0; k < NGOOD; k++) {
        char want[64];
        snprintf(want, sizeof want, ":%d: ", k + 2);
        EXPECT(!strstr(text, want), "good line %d reported: %s", k + 2, text);
    }

    // References.
    RefCtx ref;
    memset(&ref, 0, sizeof ref);
    memcpy(ref.ids, asas_id, sizeof asas_id);
    REQUIRE(lc_read_asas_csv(ASAS_CSV, ref_cb, &ref, &err) == 0, "%s", err.msg);
    REQUIRE(ref.found == NGOOD, "found %d reference curves", ref.found);
    float *spec = calloc(3 * SPEC_LEN, sizeof *spec);
    Dataset *ds = NULL;
    REQUIRE(ds_open(out, &ds, &err) == 0, "%s", err.msg);
    EXPECT(ds_count(ds) == NGOOD, "count %lld", (long long)ds_count(ds));
    const char *const *names;
    int ncls;
    ds_classes(ds, &names, &ncls);
    EXPECT(ncls == INGEST_N_CLASSES && !strcmp(names[0], "EW") && !strcmp(names[9], "DSCT"), "classes");
    for (int k = 0; k < NGOOD && k < ds_count(ds); k++) {
        DsObject ob;
        REQUIRE(ds_get(ds, k, &ob, &err) == 0, "%s", err.msg);
        EXPECT(ob.id == id[k], "object %d: id %lld want %lld", k, (long long)ob.id, (long long)id[k]);
        int want_label = -1;
        for (int c = 0; c < INGEST_N_CLASSES; c++)
            if (k != 7 && !strcmp(asas_cls[k], INGEST_CLASSES[c])) want_label = c;
        EXPECT(ob.label == want_label, "object %d: label %d want %d", k, ob.label, want_label);
        if (k == 0) EXPECT(ob.split == DS_SPLIT_TRAIN, "object 0 split %d", ob.split);
        if (k == 1) EXPECT(ob.split == DS_SPLIT_VAL, "object 1 split %d", ob.split);
        EXPECT(ob.has[0] == 1 && ob.has[1] == (k != 6) && ob.has[2] == (k < 4), "object %d: has %d%d%d", k, ob.has[0],
               ob.has[1], ob.has[2]);
        const LcNorm *r = &ref.lc[k];
        EXPECT(ob.lc.n == r->n, "object %d: lc n %d want %d", k, ob.lc.n, r->n);
        if (ob.lc.n == r->n) {
            EXPECT(max_diff(ob.lc.t01, r->t01, r->n) == 0 && max_diff(ob.lc.flux_n, r->flux_n, r->n) == 0 &&
                       max_diff(ob.lc.err_n, r->err_n, r->n) == 0,
                   "object %d: light curve differs", k);
            EXPECT(ob.lc.log10_mad == r->log10_mad && ob.lc.dt == r->dt, "object %d: lc scalars", k);
        }
        if (k != 6) {
            Spectrum sp = {0};
            REQUIRE(spec_read_lamost(fits[k], &sp, &err) == 0, "%s", err.msg);
            REQUIRE(spec_preprocess(&sp, spec, &err) == 0, "%s", err.msg);
            spec_free(&sp);
            EXPECT(ob.spectrum && max_diff(ob.spectrum, spec, 3 * SPEC_LEN) == 0, "object %d: spectrum differs", k);
        }
        if (k < 4) {
            float m[META_N], p[PHOTO_N];
            for (int c = 0; c < META_N; c++) m[c] = (float)cat.meta[(size_t)k * META_N + c];
            for (int c = 0; c < PHOTO_N; c++) p[c] = (float)cat.photo[(size_t)k * PHOTO_N + c];
            EXPECT(max_diff(ob.meta, m, META_N) == 0 && max_diff(ob.photo, p, PHOTO_N) == 0,
                   "object %d: metadata differs", k);
        } else {
            EXPECT(isnan(ob.meta[0]), "object %d: absent metadata not NaN", k);
            const double *fv = ref.feat[k];
            float want[PHOTO_N] = {(float)fv[LCF_AMPLITUDE], (float)log10(fv[LCF_PERIOD]), (float)fv[LCF_LKSL], NAN};
            for (int c = 0; c < 3; c++)
                EXPECT(ob.photo[photo_column_index(PHOTO_COLUMNS[c])] == want[c], "object %d: computed %s %g want %g", k,
                       PHOTO_COLUMNS[c], ob.photo[c], want[c]);
            EXPECT(isnan(ob.photo[photo_column_index("rfr_score")]), "object %d: rfr_score %g not NaN", k,
                   ob.photo[3]);
        }
    }
    ds_close(ds);

    // --features off: no computed photo columns; always: computed for catalogue rows too.
    for (int mode = INGEST_FEATURES_ALWAYS; mode <= INGEST_FEATURES_OFF; mode++) {
        remove(out);
        log = tmpfile();
        o.log = log;
        o.features = mode;
        rc = ingest_run(&o, &s, &err);
        fclose(log);
        REQUIRE(rc == 0, "features mode %d: %s", mode, err.msg);
        EXPECT(s.features_used == (mode == INGEST_FEATURES_OFF ? 0 : NGOOD), "mode %d: features used %lld", mode,
               (long long)s.features_used);
        REQUIRE(ds_open(out, &ds, &err) == 0, "%s", err.msg);
        for (int k = 0; k < NGOOD; k++) {
            DsObject ob;
            REQUIRE(ds_get(ds, k, &ob, &err) == 0, "%s", err.msg);
            float amp = ob.photo[photo_column_index("amplitude")], rfr = ob.photo[photo_column_index("rfr_score")];
            if (mode == INGEST_FEATURES_OFF) EXPECT(k < 4 ? !isnan(amp) : isnan(amp), "off: object %d amp %g", k, amp);
            else {
                EXPECT(amp == (float)ref.feat[k][LCF_AMPLITUDE], "always: object %d amp %g", k, amp);
                EXPECT(k < 4 ? rfr == (float)cat.photo[(size_t)k * PHOTO_N + 3] : isnan(rfr),
                       "always: object %d rfr_score %g kept from the catalogue", k, rfr);
            }
        }
        ds_close(ds);
    }
    o.features = INGEST_FEATURES_AUTO;

    // A curve too short for features, without a catalogue row: skipped, reason given.
    remove(out);
    char shortlc[300];
    snprintf(shortlc, sizeof shortlc, "%s/short.dat", dir);
    f = fopen(shortlc, "w");
    REQUIRE(f, "short");
    fprintf(f, "# short\nHJD MAG MAG_ERR FLUX FLUX_ERR\n");
    for (int k = 0; k < 8; k++) fprintf(f, "%d.5 12.0 0.01 %g 0.1\n", 100 + 3 * k, 5.0 + (k % 3));
    fclose(f);
    f = fopen(manifest, "w");
    REQUIRE(f, "manifest");
    fprintf(f, "id,class,lightcurve\n1,EW,asas:%lld\n2,EW,short.dat\n", (long long)asas_id[0]);
    fclose(f);
    log = tmpfile();
    o.log = log;
    rc = ingest_run(&o, &s, &err);
    free(text);
    text = slurp(log);
    fclose(log);
    EXPECT(rc == 0 && s.written == 1 && s.skip_count[INGEST_SKIP_LIGHTCURVE] == 1, "short curve: rc %d written %lld",
           rc, (long long)s.written);
    EXPECT(strstr(text, ":3: id 2: skipped: light curve") && strstr(text, "8 observations with flux > 0 (need at least 12)"),
           "short curve report: %s", text);
    remove(shortlc);

    // Nothing writable: fatal, no file left behind.
    remove(out);
    f = fopen(manifest, "w");
    REQUIRE(f, "manifest");
    fprintf(f, "id,class,lightcurve,spectrum,split\n1,EW,,%s/nope.fits,\n2,,,,\n", dir);
    fclose(f);
    log = tmpfile();
    o.log = log;
    rc = ingest_run(&o, &s, &err);
    fclose(log);
    EXPECT(rc != 0 && strstr(err.msg, "nothing to write"), "rc %d: %s", rc, err.msg);
    EXPECT(s.skipped == 2 && s.written == 0, "skipped %lld written %lld", (long long)s.skipped, (long long)s.written);
    EXPECT(stat(out, &sb) != 0, "output left behind after a fatal error");

    remove(manifest);
    remove(fake);
    remove(out);
    rmdir(dir);
    for (int k = 0; k < NGOOD; k++) lc_norm_free(&ref.lc[k]), free(fits[k]);
    for (int k = 0; k < nall; k++) free(all[k]);
    meta_free(&cat);
    free(spec);
    free(text);
    printf("%s: %d checks, %d failures\n", tu_failures ? "FAIL" : "ok", tu_checks, tu_failures);
    return tu_failures ? 1 : 0;
}
