// LAMOST spectrum reader and AstroM3 spectrum preprocessing (see spectrum.h).
#define _POSIX_C_SOURCE 200809L
#include "data/preprocess/spectrum.h"

#include <fitsio.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void spec_free(Spectrum *s) {
    if (!s) return;
    free(s->wave);
    free(s->flux);
    free(s->ivar);
    memset(s, 0, sizeof *s);
}

static int fits_fail(AmError *err, const char *path, int status, const char *what) {
    char text[FLEN_STATUS] = {0};
    fits_get_errstatus(status, text);
    fits_clear_errmsg();
    return am_error_set(err, "%s: %s (cfitsio status %d: %s)", path, what, status, text);
}

static int alloc_spectrum(Spectrum *s, long long n, const char *path, AmError *err) {
    if (n <= 0) return am_error_set(err, "%s: spectrum has no data points", path);
    if (n > INT_MAX / 2) return am_error_set(err, "%s: spectrum has too many points (%lld)", path, n);
    s->n = (int)n;
    s->wave = malloc((size_t)n * sizeof(double));
    s->flux = malloc((size_t)n * sizeof(double));
    s->ivar = malloc((size_t)n * sizeof(double));
    if (!s->wave || !s->flux || !s->ivar) return am_error_set(err, "%s: out of memory for %lld points", path, n);
    return 0;
}

// Layout (a): primary image (rows >= 2, npix), wavelength from COEFF0/COEFF1.
static int read_image(fitsfile *f, const char *path, long npix, Spectrum *s, AmError *err) {
    int status = 0;
    double c0 = 0, c1 = 0;
    if (fits_read_key_dbl(f, "COEFF0", &c0, NULL, &status)) return fits_fail(err, path, status, "missing header key COEFF0");
    if (fits_read_key_dbl(f, "COEFF1", &c1, NULL, &status)) return fits_fail(err, path, status, "missing header key COEFF1");
    if (!isfinite(c0) || !isfinite(c1))
        return am_error_set(err, "%s: COEFF0/COEFF1 are not finite (%g, %g)", path, c0, c1);
    if (alloc_spectrum(s, npix, path, err)) return 1;
    long first[2] = {1, 1};
    int anynul = 0;
    if (fits_read_pix(f, TDOUBLE, first, (LONGLONG)npix, NULL, s->flux, &anynul, &status))
        return fits_fail(err, path, status, "cannot read the flux row of the primary image");
    first[1] = 2;
    if (fits_read_pix(f, TDOUBLE, first, (LONGLONG)npix, NULL, s->ivar, &anynul, &status))
        return fits_fail(err, path, status, "cannot read the inverse-variance row of the primary image");
    for (long i = 0; i < npix; i++) s->wave[i] = pow(10.0, c0 + (double)i * c1);
    return 0;
}

// Column number of the first of names[] present (case-insensitive), 0 if none.
static int find_col(fitsfile *f, const char *const *names, int n_names, const char **found) {
    for (int k = 0; k < n_names; k++) {
        int status = 0, col = 0;
        char tmpl[FLEN_VALUE];
        snprintf(tmpl, sizeof tmpl, "%s", names[k]);
        fits_get_colnum(f, CASEINSEN, tmpl, &col, &status);
        fits_clear_errmsg();
        if (status == 0 && col > 0) {
            *found = names[k];
            return col;
        }
    }
    return 0;
}

static int read_col(fitsfile *f, const char *path, int col, const char *name, LONGLONG nrows, long long expect,
                    double *dst, long long *count, AmError *err) {
    int status = 0, typecode = 0;
    long repeat = 0, width = 0;
    if (fits_get_coltype(f, col, &typecode, &repeat, &width, &status))
        return fits_fail(err, path, status, "cannot get the type of a table column");
    if (typecode < 0 || typecode == TSTRING || typecode == TLOGICAL || typecode == TBIT)
        return am_error_set(err, "%s: table column %s has unsupported type code %d", path, name, typecode);
    long long total = (long long)nrows * (long long)repeat;
    *count = total;
    if (!dst) return 0;
    if (total != expect)
        return am_error_set(err, "%s: table column %s holds %lld values, expected %lld like FLUX", path, name, total,
                            expect);
    int anynul = 0;
    if (fits_read_col(f, TDOUBLE, col, 1, 1, (LONGLONG)total, NULL, dst, &anynul, &status))
        return fits_fail(err, path, status, "cannot read a table column");
    return 0;
}

// Layout (b): binary/ASCII table with flux, ivar and wavelength columns.
static int read_table(fitsfile *f, const char *path, Spectrum *s, AmError *err) {
    static const char *const flux_names[] = {"FLUX"};
    static const char *const ivar_names[] = {"IVAR", "INVERSE", "INV_VAR", "IVARIANCE"};
    static const char *const wave_names[] = {"WAVELENGTH", "WAVE", "LOGLAM"};
    const char *fn = NULL, *in = NULL, *wn = NULL;
    int cf = find_col(f, flux_names, 1, &fn);
    int ci = find_col(f, ivar_names, 4, &in);
    int cw = find_col(f, wave_names, 3, &wn);
    if (!cf || !ci || !cw)
        return am_error_set(err, "%s: table HDU lacks column %s (need FLUX, IVAR and WAVELENGTH/LOGLAM)", path,
                            !cf ? "FLUX" : !ci ? "IVAR" : "WAVELENGTH/LOGLAM");
    int status = 0;
    LONGLONG nrows = 0;
    if (fits_get_num_rowsll(f, &nrows, &status)) return fits_fail(err, path, status, "cannot count table rows");
    long long n = 0;
    if (read_col(f, path, cf, fn, nrows, 0, NULL, &n, err)) return 1;
    if (alloc_spectrum(s, n, path, err)) return 1;
    long long got = 0;
    if (read_col(f, path, cf, fn, nrows, n, s->flux, &got, err)) return 1;
    if (read_col(f, path, ci, in, nrows, n, s->ivar, &got, err)) return 1;
    if (read_col(f, path, cw, wn, nrows, n, s->wave, &got, err)) return 1;
    if (strcasecmp(wn, "LOGLAM") == 0)
        for (int i = 0; i < s->n; i++) s->wave[i] = pow(10.0, s->wave[i]);
    return 0;
}

int spec_read_lamost(const char *path, Spectrum *out, AmError *err) {
    memset(out, 0, sizeof *out);
    fitsfile *f = NULL;
    int status = 0;
    // diskfile: no cfitsio extended-filename parsing of brackets in the path.
    if (fits_open_diskfile(&f, path, READONLY, &status)) {
        int rc = fits_fail(err, path, status, "cannot open as FITS");
        return rc;
    }
    int rc = 1, naxis = 0, nhdu = 0;
    long naxes[2] = {0, 0};
    if (fits_get_img_dim(f, &naxis, &status)) {
        fits_fail(err, path, status, "cannot read the primary HDU");
        goto done;
    }
    if (naxis == 2) {
        if (fits_get_img_size(f, 2, naxes, &status)) {
            fits_fail(err, path, status, "cannot read the primary image size");
            goto done;
        }
        if (naxes[1] < 2 || naxes[0] < 1) {
            am_error_set(err, "%s: primary image has shape (%ld, %ld); expected (rows >= 2: flux, ivar, ...; npix >= 1)",
                         path, naxes[1], naxes[0]);
            goto done;
        }
        rc = read_image(f, path, naxes[0], out, err);
        goto done;
    }
    if (fits_get_num_hdus(f, &nhdu, &status)) {
        fits_fail(err, path, status, "cannot count HDUs");
        goto done;
    }
    for (int h = 2; h <= nhdu; h++) {
        int type = 0;
        if (fits_movabs_hdu(f, h, &type, &status)) {
            fits_fail(err, path, status, "cannot move to an extension HDU");
            goto done;
        }
        if (type == BINARY_TBL || type == ASCII_TBL) {
            rc = read_table(f, path, out, err);
            goto done;
        }
    }
    am_error_set(err, "%s: neither a 2-D primary image (flux, ivar rows; NAXIS = %d) nor a table HDU (%d HDUs)", path,
                 naxis, nhdu);
done:
    status = 0;
    fits_close_file(f, &status);
    fits_clear_errmsg();
    if (rc == 0) {
        for (int i = 0; i < out->n; i++) {
            if (!isfinite(out->wave[i]) || !isfinite(out->flux[i]) || !isfinite(out->ivar[i])) {
                rc = am_error_set(err, "%s: point %d is not finite (wave %g, flux %g, ivar %g)", path, i, out->wave[i],
                                  out->flux[i], out->ivar[i]);
                break;
            }
        }
    }
    if (rc) spec_free(out);
    return rc;
}

typedef struct {
    double w;
    int i;
} WaveIdx;

static int cmp_waveidx(const void *a, const void *b) {
    const WaveIdx *x = a, *y = b;
    if (x->w < y->w) return -1;
    if (x->w > y->w) return 1;
    return (x->i > y->i) - (x->i < y->i);  // stable: ties keep file order
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_inplace(double *a, int n) {
    qsort(a, (size_t)n, sizeof *a, cmp_double);
    return (n % 2) ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}

// np.interp(x, xp, fp) for increasing xp (ties allowed), clamped at the ends.
static double interp(double x, const double *xp, const double *fp, int n) {
    if (x < xp[0]) return fp[0];
    if (x > xp[n - 1]) return fp[n - 1];
    int lo = 0, hi = n;  // largest j with xp[j] <= x
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (xp[mid] <= x) lo = mid;
        else hi = mid;
    }
    int j = lo;
    if (j == n - 1 || xp[j] == x) return fp[j];
    double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    double r = slope * (x - xp[j]) + fp[j];
    if (isnan(r)) {
        r = slope * (x - xp[j + 1]) + fp[j + 1];
        if (isnan(r) && fp[j] == fp[j + 1]) r = fp[j];
    }
    return r;
}

int spec_preprocess(const Spectrum *s, float out[3 * SPEC_LEN], AmError *err) {
    if (!s || s->n < 1 || !s->wave || !s->flux || !s->ivar) return am_error_set(err, "spectrum: no data points");
    int n = s->n, rc = 0;
    WaveIdx *wi = malloc((size_t)n * sizeof *wi);
    double *xp = malloc((size_t)n * sizeof *xp), *fp = malloc((size_t)n * sizeof *fp),
           *ep = malloc((size_t)n * sizeof *ep);
    double flux[SPEC_LEN], errv[SPEC_LEN], tmp[SPEC_LEN];
    if (!wi || !xp || !fp || !ep) {
        rc = am_error_set(err, "spectrum: out of memory for %d points", n);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (isnan(s->wave[i])) {
            rc = am_error_set(err, "spectrum: wavelength %d is NaN", i);
            goto done;
        }
        wi[i].w = s->wave[i];
        wi[i].i = i;
    }
    qsort(wi, (size_t)n, sizeof *wi, cmp_waveidx);
    for (int i = 0; i < n; i++) {
        xp[i] = wi[i].w;
        fp[i] = s->flux[wi[i].i];
        ep[i] = s->ivar[wi[i].i];
    }
    double sum = 0;
    int nz = 0;
    for (int k = 0; k < SPEC_LEN; k++) {
        double x = (double)SPEC_WAVE_MIN + (double)SPEC_WAVE_STEP * (double)k;
        flux[k] = interp(x, xp, fp, n);
        errv[k] = interp(x, xp, ep, n);
        sum += flux[k];
        if (flux[k] != 0) tmp[nz++] = flux[k];
    }
    if (nz == 0) {
        rc = am_error_set(err, "spectrum: all interpolated flux is zero (no non-zero flux for the MAD)");
        goto done;
    }
    double mean = sum / SPEC_LEN;
    double med = median_inplace(tmp, nz);
    for (int k = 0; k < nz; k++) tmp[k] = fabs(tmp[k] - med);
    double mad = median_inplace(tmp, nz);
    if (!(mad > 0) || !isfinite(mad) || !isfinite(mean)) {
        rc = am_error_set(err, "spectrum: median absolute deviation of the non-zero flux is %g (must be > 0)", mad);
        goto done;
    }
    float lm = (float)log10(mad);
    for (int k = 0; k < SPEC_LEN; k++) {
        out[k] = (float)((flux[k] - mean) / mad);
        out[SPEC_LEN + k] = (float)(errv[k] / mad);
        out[2 * SPEC_LEN + k] = lm;
    }
done:
    free(wi);
    free(xp);
    free(fp);
    free(ep);
    return rc;
}
