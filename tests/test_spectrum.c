// LAMOST spectrum reader + AstroM3 spectrum preprocessing (src/data/preprocess/spectrum.h)
// against tests/reference/fixtures/spectra_ref.safetensors (written by
// tests/reference/preprocess_spec_ref.py from the real files in
// ../shared/data/lamost/fits), plus failure cases on temporary files.
// Exits 77 (skip) when ../shared/data is absent.
#define _POSIX_C_SOURCE 200809L
#include <fitsio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/preprocess/spectrum.h"
#include "io/safetensors.h"
#include "testutil.h"

#define FITS_DIR "../shared/data/lamost/fits"
#define FIXTURE "tests/reference/fixtures/spectra_ref.safetensors"

static char tmpdir[64];

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", tmpdir, name); }

// Compare per channel, each normalised by its own largest magnitude.
static double max_rel_3ch(const float *a, const float *b) {
    double e = 0;
    for (int c = 0; c < 3; c++) e = fmax(e, tu_max_rel_err(a + c * SPEC_LEN, b + c * SPEC_LEN, SPEC_LEN, 1e-12));
    return e;
}

static int test_fixture(void) {
    AmError err = {{0}};
    StFile *st = NULL;
    REQUIRE(st_open(&st, FIXTURE, &err) == 0, "%s", err.msg);
    int n_checked = 0;
    double worst = 0;
    for (int t = 0; t < st_count(st); t++) {
        const StTensor *ten = st_tensor(st, t);
        EXPECT(ten->dtype == ST_F32 && ten->ndim == 2 && ten->shape[0] == 3 && ten->shape[1] == SPEC_LEN,
               "%s: bad fixture shape", ten->name);
        if (strncmp(ten->name, "spec.", 5) != 0) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s.fits", FITS_DIR, ten->name + 5);
        Spectrum s = {0};
        int rc = spec_read_lamost(path, &s, &err);
        EXPECT(rc == 0, "%s", err.msg);
        if (rc) continue;
        EXPECT(s.n == 3904, "%s: n = %d", path, s.n);
        EXPECT(fabs(s.wave[0] - 3699.9848) < 1e-3 && fabs(s.wave[s.n - 1] - 9088.6638) < 1e-2,
               "%s: wave range %.4f..%.4f", path, s.wave[0], s.wave[s.n - 1]);
        static float out[3 * SPEC_LEN];
        rc = spec_preprocess(&s, out, &err);
        EXPECT(rc == 0, "%s", err.msg);
        if (rc == 0) {
            double e = max_rel_3ch(out, st_data(st, ten));
            EXPECT(e < 1e-5, "%s: max rel err %.3g vs fixture", ten->name, e);
            worst = fmax(worst, e);
            n_checked++;
        }
        spec_free(&s);
    }
    printf("  fixture: %d spectra, worst per-channel max rel err %.3g\n", n_checked, worst);
    EXPECT(n_checked == 10, "checked %d fixture spectra, expected 10", n_checked);
    st_close(st);
    return n_checked;
}

// Writes a binary table (primary HDU empty). vector != 0: one row with vector
// columns; else n rows of scalar columns. reverse: points in descending wavelength.
static int write_table(const char *path, const Spectrum *s, const char *fname, const char *iname,
                       const char *wname, int loglam, int vector, int reverse) {
    int status = 0;
    fitsfile *f = NULL;
    char form[32];
    snprintf(form, sizeof form, vector ? "%dD" : "1D", s->n);
    char *ttype[3] = {(char *)fname, (char *)iname, (char *)wname};
    char *tform[3] = {form, form, form};
    double *w = malloc((size_t)s->n * sizeof *w), *fl = malloc((size_t)s->n * sizeof *fl),
           *iv = malloc((size_t)s->n * sizeof *iv);
    for (int i = 0; i < s->n; i++) {
        int j = reverse ? s->n - 1 - i : i;
        w[i] = loglam ? log10(s->wave[j]) : s->wave[j];
        fl[i] = s->flux[j];
        iv[i] = s->ivar[j];
    }
    fits_create_diskfile(&f, path, &status);
    fits_create_img(f, FLOAT_IMG, 0, NULL, &status);
    fits_create_tbl(f, BINARY_TBL, vector ? 1 : s->n, 3, ttype, tform, NULL, "COADD", &status);
    fits_write_col(f, TDOUBLE, 1, 1, 1, s->n, fl, &status);
    fits_write_col(f, TDOUBLE, 2, 1, 1, s->n, iv, &status);
    fits_write_col(f, TDOUBLE, 3, 1, 1, s->n, w, &status);
    int st2 = 0;
    if (f) fits_close_file(f, &st2);
    free(w);
    free(fl);
    free(iv);
    return status ? status : st2;
}

// (rows x npix) float image; with_coeff adds COEFF0/COEFF1.
static int write_image(const char *path, const float *data, long rows, long npix, int with_coeff) {
    int status = 0;
    fitsfile *f = NULL;
    long naxes[2] = {npix, rows};
    fits_create_diskfile(&f, path, &status);
    fits_create_img(f, FLOAT_IMG, 2, naxes, &status);
    if (with_coeff) {
        double c0 = 3.5682, c1 = 0.0001;
        fits_write_key(f, TDOUBLE, "COEFF0", &c0, NULL, &status);
        fits_write_key(f, TDOUBLE, "COEFF1", &c1, NULL, &status);
    }
    long first[2] = {1, 1};
    fits_write_pix(f, TFLOAT, first, (LONGLONG)rows * npix, (void *)data, &status);
    int st2 = 0;
    if (f) fits_close_file(f, &st2);
    return status ? status : st2;
}

static void expect_read_fails(const char *path, const char *needle) {
    AmError err = {{0}};
    Spectrum s = {0};
    int rc = spec_read_lamost(path, &s, &err);
    EXPECT(rc != 0, "%s: read should fail", path);
    EXPECT(s.n == 0 && !s.wave && !s.flux && !s.ivar, "%s: output not cleared on failure", path);
    EXPECT(strstr(err.msg, path) != NULL, "error does not name the file: %s", err.msg);
    EXPECT(strstr(err.msg, needle) != NULL, "error lacks '%s': %s", needle, err.msg);
    printf("  expected failure: %s\n", err.msg);
    spec_free(&s);
}

static void test_layouts_and_failures(void) {
    AmError err = {{0}};
    char path[256];
    Spectrum ref = {0};
    static float out_a[3 * SPEC_LEN], out_b[3 * SPEC_LEN];
    REQUIRE(spec_read_lamost(FITS_DIR "/spec-55862-B6212_sp06-023.fits", &ref, &err) == 0, "%s", err.msg);
    REQUIRE(spec_preprocess(&ref, out_a, &err) == 0, "%s", err.msg);

    // Layout (b): one row, vector columns FLUX/IVAR/WAVELENGTH -> identical result.
    Spectrum s = {0};
    tmp_path(path, sizeof path, "table_vec.fits");
    REQUIRE(write_table(path, &ref, "FLUX", "IVAR", "WAVELENGTH", 0, 1, 0) == 0, "cfitsio write %s", path);
    EXPECT(spec_read_lamost(path, &s, &err) == 0, "%s", err.msg);
    EXPECT(s.n == ref.n, "table n %d vs %d", s.n, ref.n);
    if (s.n == ref.n) {
        EXPECT(spec_preprocess(&s, out_b, &err) == 0, "%s", err.msg);
        EXPECT(memcmp(out_a, out_b, sizeof out_a) == 0, "table layout differs from image layout (max rel %.3g)",
               max_rel_3ch(out_b, out_a));
    }
    spec_free(&s);

    // Layout (b): n rows, lower-case scalar columns, LOGLAM, descending wavelength.
    tmp_path(path, sizeof path, "table_rows.fits");
    REQUIRE(write_table(path, &ref, "flux", "ivar", "loglam", 1, 0, 1) == 0, "cfitsio write %s", path);
    EXPECT(spec_read_lamost(path, &s, &err) == 0, "%s", err.msg);
    if (s.n == ref.n) {
        EXPECT(s.wave[0] > s.wave[s.n - 1], "rows should be descending");
        EXPECT(spec_preprocess(&s, out_b, &err) == 0, "%s", err.msg);
        double e = max_rel_3ch(out_b, out_a);
        EXPECT(e < 1e-5, "loglam/reversed table differs from image layout: %.3g", e);
    } else {
        EXPECT(0, "rows table n %d vs %d", s.n, ref.n);
    }
    spec_free(&s);

    // Table with a NaN wavelength -> read error.
    Spectrum bad = ref;
    bad.wave = malloc((size_t)ref.n * sizeof(double));
    memcpy(bad.wave, ref.wave, (size_t)ref.n * sizeof(double));
    bad.wave[100] = NAN;
    tmp_path(path, sizeof path, "table_nan.fits");
    REQUIRE(write_table(path, &bad, "FLUX", "IVAR", "WAVELENGTH", 0, 1, 0) == 0, "cfitsio write %s", path);
    expect_read_fails(path, "not finite");
    free(bad.wave);

    // Table without an ivar column.
    tmp_path(path, sizeof path, "table_noivar.fits");
    REQUIRE(write_table(path, &ref, "FLUX", "SIGMA", "WAVELENGTH", 0, 1, 0) == 0, "cfitsio write %s", path);
    expect_read_fails(path, "IVAR");

    // Not a FITS file.
    tmp_path(path, sizeof path, "not_fits.fits");
    FILE *fp = fopen(path, "w");
    REQUIRE(fp != NULL, "fopen %s", path);
    fputs("this is not a FITS file\n", fp);
    fclose(fp);
    expect_read_fails(path, "cfitsio status");

    // Missing file.
    tmp_path(path, sizeof path, "missing.fits");
    expect_read_fails(path, "cfitsio status");

    // Image without COEFF keys.
    enum { NPIX = 3904 };
    float *img = calloc(5 * NPIX, sizeof(float));
    for (int i = 0; i < NPIX; i++) {
        img[i] = (float)ref.flux[i];
        img[NPIX + i] = (float)ref.ivar[i];
    }
    tmp_path(path, sizeof path, "no_coeff.fits");
    REQUIRE(write_image(path, img, 5, NPIX, 0) == 0, "cfitsio write %s", path);
    expect_read_fails(path, "COEFF0");

    // Image with COEFF keys written by cfitsio -> same result as the real file.
    tmp_path(path, sizeof path, "with_coeff.fits");
    REQUIRE(write_image(path, img, 5, NPIX, 1) == 0, "cfitsio write %s", path);
    EXPECT(spec_read_lamost(path, &s, &err) == 0, "%s", err.msg);
    if (s.n == NPIX) {
        EXPECT(spec_preprocess(&s, out_b, &err) == 0, "%s", err.msg);
        EXPECT(memcmp(out_a, out_b, sizeof out_a) == 0, "rewritten image differs");
    }
    spec_free(&s);

    // Wrong shape: a single-row image, and a 1-D image with no table.
    tmp_path(path, sizeof path, "one_row.fits");
    REQUIRE(write_image(path, img, 1, NPIX, 1) == 0, "cfitsio write %s", path);
    expect_read_fails(path, "shape");
    tmp_path(path, sizeof path, "one_d.fits");
    {
        int status = 0;
        fitsfile *f = NULL;
        long nax = NPIX;
        long first = 1;
        fits_create_diskfile(&f, path, &status);
        fits_create_img(f, FLOAT_IMG, 1, &nax, &status);
        fits_write_pix(f, TFLOAT, &first, NPIX, img, &status);
        fits_close_file(f, &status);
        REQUIRE(status == 0, "cfitsio write %s", path);
    }
    expect_read_fails(path, "neither");

    // All-zero flux: read succeeds, preprocessing refuses it.
    for (int i = 0; i < NPIX; i++) img[i] = 0.0f;
    tmp_path(path, sizeof path, "zero_flux.fits");
    REQUIRE(write_image(path, img, 5, NPIX, 1) == 0, "cfitsio write %s", path);
    EXPECT(spec_read_lamost(path, &s, &err) == 0, "%s", err.msg);
    EXPECT(spec_preprocess(&s, out_b, &err) != 0, "all-zero flux must be rejected");
    EXPECT(strstr(err.msg, "zero") != NULL, "error text: %s", err.msg);
    printf("  expected failure: %s\n", err.msg);
    spec_free(&s);

    // Constant non-zero flux: mad == 0 -> rejected.
    for (int i = 0; i < NPIX; i++) img[i] = 5.0f;
    tmp_path(path, sizeof path, "const_flux.fits");
    REQUIRE(write_image(path, img, 5, NPIX, 1) == 0, "cfitsio write %s", path);
    EXPECT(spec_read_lamost(path, &s, &err) == 0, "%s", err.msg);
    EXPECT(spec_preprocess(&s, out_b, &err) != 0, "mad == 0 must be rejected");
    printf("  expected failure: %s\n", err.msg);
    spec_free(&s);
    free(img);

    // Edge clamping like np.interp + sorting: unsorted data covering only 4000..8000 Å,
    // flux ramp -1 .. 3 (clamped to -1 below 4000 and 3 above 8000), ivar 10 .. 30.
    {
        double w[3] = {8000, 4000, 6000}, f[3] = {3, -1, 1}, iv[3] = {30, 10, 20};
        Spectrum e = {w, f, iv, 3};
        EXPECT(spec_preprocess(&e, out_b, &err) == 0, "%s", err.msg);
        static double g[SPEC_LEN], gi[SPEC_LEN], nz[SPEC_LEN];
        double sum = 0;
        int m = 0;
        for (int k = 0; k < SPEC_LEN; k++) {
            double x = SPEC_WAVE_MIN + SPEC_WAVE_STEP * k;
            double t = x <= 4000 ? 0 : x >= 8000 ? 1 : (x - 4000) / 4000;
            g[k] = -1 + 4 * t;
            gi[k] = 10 + 20 * t;
            sum += g[k];
            if (g[k] != 0) nz[m++] = g[k];
        }
        qsort(nz, (size_t)m, sizeof(double), cmp_d);
        double med = (m % 2) ? nz[m / 2] : 0.5 * (nz[m / 2 - 1] + nz[m / 2]);
        for (int k = 0; k < m; k++) nz[k] = fabs(nz[k] - med);
        qsort(nz, (size_t)m, sizeof(double), cmp_d);
        double mad = (m % 2) ? nz[m / 2] : 0.5 * (nz[m / 2 - 1] + nz[m / 2]);
        double mean = sum / SPEC_LEN;
        double maxe = 0;
        for (int k = 0; k < SPEC_LEN; k++) {
            maxe = fmax(maxe, fabs(out_b[k] - (g[k] - mean) / mad));
            maxe = fmax(maxe, fabs(out_b[SPEC_LEN + k] - gi[k] / mad) / 30.0);
            maxe = fmax(maxe, fabs(out_b[2 * SPEC_LEN + k] - log10(mad)));
        }
        EXPECT(maxe < 1e-5, "synthetic clamp/sort case: max err %.3g (mad %g)", maxe, mad);
        EXPECT(out_b[0] == out_b[1] && out_b[SPEC_LEN - 1] == out_b[SPEC_LEN - 2], "edges not clamped");
    }
    {
        // Symmetric case with a known mad: flux 0 below 5000 (excluded from mad), ramp, 2 above.
        double w[2] = {3850, 8998}, f[2] = {-1, 1}, iv[2] = {4, 4};
        Spectrum e = {w, f, iv, 2};
        EXPECT(spec_preprocess(&e, out_b, &err) == 0, "%s", err.msg);
        // flux_k = -1 + 2k/2574: mean 0, non-zero everywhere except k = 1287 (exactly 0)
        // -> 2574 values, median 0, |f| sorted: mad = mean of the 1287th/1288th = 1287/1287... computed below.
        double a[SPEC_LEN];
        int m = 0;
        for (int k = 0; k < SPEC_LEN; k++) {
            double v = -1 + 2.0 * k / 2574.0;
            if (k != 1287) a[m++] = fabs(v);
        }
        // |v| values come in equal pairs 1/1287, 2/1287, ...: median of 2574 = (a[1286]+a[1287])/2 sorted = 644/1287.
        double mad = 644.0 / 1287.0;
        EXPECT(fabsf(out_b[0] - (float)(-1 / mad)) < 1e-5f, "flux[0] %g vs %g", out_b[0], -1 / mad);
        EXPECT(fabsf(out_b[SPEC_LEN] - (float)(4 / mad)) < 1e-5f, "err[0] %g vs %g", out_b[SPEC_LEN], 4 / mad);
        EXPECT(fabsf(out_b[2 * SPEC_LEN + 5] - (float)log10(mad)) < 1e-6f, "log10 mad %g", out_b[2 * SPEC_LEN + 5]);
        (void)a;
        (void)m;
    }
    spec_free(&ref);
}

int main(void) {
    struct stat sb;
    if (stat(FITS_DIR, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        printf("SKIP: ../shared/data not found\n");
        return 77;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/astromm_spec_XXXXXX");
    REQUIRE(mkdtemp(tmpdir) != NULL, "mkdtemp");
    test_fixture();
    test_layouts_and_failures();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return tu_finish("test_spectrum");
}
