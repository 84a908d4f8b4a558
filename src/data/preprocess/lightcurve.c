// Light-curve readers and AstroM3 photometry preprocessing (see lightcurve.h).
#define _POSIX_C_SOURCE 200809L

#include "data/preprocess/lightcurve.h"
#include "data/preprocess/text_reader.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define LC_MAG_ZP 20.0

void lc_free(LightCurve *lc) {
    if (!lc) return;
    free(lc->t);
    free(lc->flux);
    free(lc->err);
    memset(lc, 0, sizeof *lc);
}

void lc_norm_free(LcNorm *nm) {
    if (!nm) return;
    free(nm->t01);
    free(nm->flux_n);
    free(nm->err_n);
    memset(nm, 0, sizeof *nm);
}

// ------------------------------------------------------------------ growable curve
typedef struct {
    LightCurve lc;
    int cap;
} LcBuf;

static int buf_push(LcBuf *b, double t, double f, double e) {
    if (b->lc.n == b->cap) {
        if (b->cap > INT_MAX / 4) return 1;
        int cap = b->cap ? 2 * b->cap : 256;
        double *nt = realloc(b->lc.t, (size_t)cap * sizeof(double));
        if (nt) b->lc.t = nt;
        double *nf = realloc(b->lc.flux, (size_t)cap * sizeof(double));
        if (nf) b->lc.flux = nf;
        double *ne = realloc(b->lc.err, (size_t)cap * sizeof(double));
        if (ne) b->lc.err = ne;
        if (!nt || !nf || !ne) return 1;
        b->cap = cap;
    }
    b->lc.t[b->lc.n] = t;
    b->lc.flux[b->lc.n] = f;
    b->lc.err[b->lc.n] = e;
    b->lc.n++;
    return 0;
}

// Splits s in place on any character of seps (runs of separators count as one
// when collapse is set); leading/trailing whitespace of each field is removed.
// Returns the number of fields (up to max; max + 1 means "too many").
static int split_fields(char *s, const char *seps, int collapse, char **f, int max) {
    int n = 0;
    char *p = s;
    if (collapse) {
        while (*p && strchr(seps, *p)) p++;
        if (!*p) return 0;
    }
    for (;;) {
        char *end = p;
        while (*end && !strchr(seps, *end)) end++;
        char last = *end;
        *end = '\0';
        while (isspace((unsigned char)*p)) p++;
        char *q = p + strlen(p);
        while (q > p && isspace((unsigned char)q[-1])) *--q = '\0';
        if (n == max) return max + 1;
        f[n++] = p;
        if (!last) break;
        p = end + 1;
        if (collapse) {
            while (*p && strchr(seps, *p)) p++;
            if (!*p) break;
        }
    }
    return n;
}

static int parse_double(const char *s, double *out) {
    if (!*s) return 1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0') return 1;
    if (!isfinite(v)) return 1;
    *out = v;
    return 0;
}

static int parse_fields(const TextReader *r, char **f, const char *const *names, int n, double *v,
                        AmError *err) {
    for (int i = 0; i < n; i++) {
        if (parse_double(f[i], &v[i]))
            return am_error_set(err, "%s:%ld: column %s: not a finite number: '%.40s'", r->path, r->line,
                                names[i], f[i]);
    }
    return 0;
}

// ------------------------------------------------------------------ ASAS-SN text
int lc_read_asassn(const char *path, LightCurve *out, AmError *err) {
    memset(out, 0, sizeof *out);
    TextReader reader, *r = &reader;
    if (text_open(r, path, err)) return 1;
    static const char *const names[5] = {"HJD", "MAG", "MAG_ERR", "FLUX", "FLUX_ERR"};
    LcBuf b = {0};
    int rc = 0, got;
    while ((got = text_read_line(r, err)) == 1) {
        if (r->line <= 2) continue;  // two header rows
        if (text_is_blank(r->buf)) continue;
        char *f[6];
        int nf = split_fields(r->buf, " \t,", 1, f, 5);
        if (nf != 5) {
            rc = am_error_set(err, "%s:%ld: expected 5 columns (HJD MAG MAG_ERR FLUX FLUX_ERR), got %s%d", path,
                              r->line, nf > 5 ? "more than " : "", nf > 5 ? 5 : nf);
            break;
        }
        double v[5] = {0};
        if ((rc = parse_fields(r, f, names, 5, v, err))) break;
        if (v[2] < 0 || v[4] < 0) {
            rc = am_error_set(err, "%s:%ld: negative error (MAG_ERR %g, FLUX_ERR %g)", path, r->line, v[2], v[4]);
            break;
        }
        if (buf_push(&b, v[0], v[3], v[4])) {
            rc = am_error_set(err, "%s:%ld: out of memory", path, r->line);
            break;
        }
    }
    if (got < 0) rc = 1;
    if (!rc && r->line < 2) rc = am_error_set(err, "%s: missing the two header rows", path);
    if (!rc && b.lc.n == 0) rc = am_error_set(err, "%s: empty light curve (no data rows)", path);
    text_close(r);
    if (rc) {
        lc_free(&b.lc);
        return rc;
    }
    *out = b.lc;
    return 0;
}

// ------------------------------------------------------------------ ASAS csv
static int finish_object(const char *path, long line, int64_t id, LcBuf *b, LcCallback cb, void *user,
                         int *stop, AmError *err) {
    if (b->lc.n == 0) return am_error_set(err, "%s:%ld: object %lld has no rows", path, line, (long long)id);
    *stop = cb(id, &b->lc, user) != 0;
    b->lc.n = 0;
    return 0;
}

int lc_read_asas_csv(const char *path, LcCallback cb, void *user, AmError *err) {
    TextReader reader, *r = &reader;
    if (text_open(r, path, err)) return 1;
    static const char *const names[3] = {"hjd", "mag", "mag_err"};
    LcBuf b = {0};
    int rc = 0, got, have_id = 0, stop = 0, n_obj = 0;
    int64_t cur = 0;
    got = text_read_line(r, err);
    if (got == 0) rc = am_error_set(err, "%s: empty file (expected header id,hjd,mag,mag_err)", path);
    if (got == 1 && strcmp(r->buf, "id,hjd,mag,mag_err") != 0)
        rc = am_error_set(err, "%s:1: expected header 'id,hjd,mag,mag_err', got '%.60s'", path, r->buf);
    while (!rc && got == 1 && (got = text_read_line(r, err)) == 1) {
        if (text_is_blank(r->buf)) continue;
        char *f[5];
        int nf = split_fields(r->buf, ",", 0, f, 4);
        if (nf != 4) {
            rc = am_error_set(err, "%s:%ld: expected 4 columns (id,hjd,mag,mag_err), got %s%d", path, r->line,
                              nf > 4 ? "more than " : "", nf > 4 ? 4 : nf);
            break;
        }
        char *end = NULL;
        errno = 0;
        long long idv = strtoll(f[0], &end, 10);
        if (!*f[0] || *end != '\0' || errno == ERANGE) {
            rc = am_error_set(err, "%s:%ld: column id: not an integer: '%.40s'", path, r->line, f[0]);
            break;
        }
        double v[3] = {0};
        if ((rc = parse_fields(r, f + 1, names, 3, v, err))) break;
        if (v[2] < 0) {
            rc = am_error_set(err, "%s:%ld: negative mag_err %g", path, r->line, v[2]);
            break;
        }
        if (!have_id || (int64_t)idv != cur) {
            if (have_id && (int64_t)idv < cur) {
                rc = am_error_set(err, "%s:%ld: ids not sorted (%lld after %lld)", path, r->line, idv,
                                  (long long)cur);
                break;
            }
            if (have_id) {
                if ((rc = finish_object(path, r->line - 1, cur, &b, cb, user, &stop, err))) break;
                n_obj++;
                if (stop) break;
            }
            cur = (int64_t)idv;
            have_id = 1;
        }
        double flux = pow(10.0, -0.4 * (v[1] - LC_MAG_ZP));
        double ferr = 0.4 * log(10.0) * flux * v[2];
        if (!isfinite(flux) || !isfinite(ferr)) {
            rc = am_error_set(err, "%s:%ld: magnitude %g gives a non-finite flux", path, r->line, v[1]);
            break;
        }
        if (buf_push(&b, v[0], flux, ferr)) {
            rc = am_error_set(err, "%s:%ld: out of memory", path, r->line);
            break;
        }
    }
    if (got < 0) rc = 1;
    if (!rc && !stop) {
        if (have_id) {
            rc = finish_object(path, r->line, cur, &b, cb, user, &stop, err);
            n_obj++;
        }
        if (!rc && n_obj == 0) rc = am_error_set(err, "%s: no light-curve rows", path);
    }
    text_close(r);
    lc_free(&b.lc);
    return rc;
}

// ------------------------------------------------------------------ preprocessing
typedef struct {
    double t, f, e;
} LcRow;

static int row_cmp(const void *pa, const void *pb) {
    const LcRow *a = pa, *b = pb;
    if (a->t != b->t) return a->t < b->t ? -1 : 1;
    if (a->f != b->f) return a->f < b->f ? -1 : 1;
    if (a->e != b->e) return a->e < b->e ? -1 : 1;
    return 0;
}

static int dbl_cmp(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

// Median of v[0..n-1] (sorts v in place); even n: mean of the two middle values.
static double median_inplace(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, dbl_cmp);
    return (n % 2) ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int lc_normalize(const LightCurve *lc, LcNorm *out, AmError *err) {
    memset(out, 0, sizeof *out);
    if (!lc || lc->n <= 0) return am_error_set(err, "lc_normalize: empty light curve");
    for (int i = 0; i < lc->n; i++) {
        if (!isfinite(lc->t[i]) || !isfinite(lc->flux[i]) || !isfinite(lc->err[i]))
            return am_error_set(err, "lc_normalize: non-finite value at row %d", i);
    }
    LcRow *rows = malloc((size_t)lc->n * sizeof *rows);
    double *tmp = malloc((size_t)lc->n * sizeof *tmp);
    if (!rows || !tmp) {
        free(rows);
        free(tmp);
        return am_error_set(err, "lc_normalize: out of memory (n = %d)", lc->n);
    }
    for (int i = 0; i < lc->n; i++) rows[i] = (LcRow){lc->t[i], lc->flux[i], lc->err[i]};
    qsort(rows, (size_t)lc->n, sizeof *rows, row_cmp);
    int n = 0;
    for (int i = 0; i < lc->n; i++)
        if (n == 0 || row_cmp(&rows[n - 1], &rows[i]) != 0) rows[n++] = rows[i];

    double sum = 0;
    for (int i = 0; i < n; i++) {
        tmp[i] = rows[i].f;
        sum += rows[i].f;
    }
    double mean = sum / n;
    double med = median_inplace(tmp, n);
    for (int i = 0; i < n; i++) tmp[i] = fabs(rows[i].f - med);
    double mad = median_inplace(tmp, n);
    free(tmp);
    if (!(mad > 0)) {
        free(rows);
        return am_error_set(err, "lc_normalize: constant light curve (median absolute deviation of flux is 0, "
                                 "%d unique rows)", n);
    }
    double t0 = rows[0].t, t1 = rows[n - 1].t, span = t1 - t0;
    if (!(span > 0)) {  // several fluxes at one instant: no time axis, t01 and dt would be all zero
        free(rows);
        return am_error_set(err, "lc_normalize: all %d observations have the same time (%.6f): the light curve has "
                                 "no time span", n, t0);
    }
    out->t01 = malloc((size_t)n * sizeof(float));
    out->flux_n = malloc((size_t)n * sizeof(float));
    out->err_n = malloc((size_t)n * sizeof(float));
    if (!out->t01 || !out->flux_n || !out->err_n) {
        free(rows);
        lc_norm_free(out);
        return am_error_set(err, "lc_normalize: out of memory (n = %d)", n);
    }
    for (int i = 0; i < n; i++) {
        out->t01[i] = span > 0 ? (float)((rows[i].t - t0) / span) : 0.0f;
        out->flux_n[i] = (float)((rows[i].f - mean) / mad);
        out->err_n[i] = (float)(rows[i].e / mad);
    }
    out->n = n;
    out->log10_mad = (float)log10(mad);
    out->dt = (float)(span / 365.0);
    free(rows);
    return 0;
}

int lc_center_start(int n, int L) { return n > L ? (n - L) / 2 : 0; }

int lc_to_tensor(const LcNorm *nm, const float photo_cols[4], int L, int start, float *x, float *mask) {
    if (L <= 0) return -1;
    int n = nm->n;
    int take = n;
    if (n > L) {
        if (start < 0 || start > n - L) return -1;
        take = L;
    } else {
        start = 0;
    }
    for (int i = 0; i < L; i++) {
        float *row = x + (size_t)i * LC_CHANNELS;
        if (i < take) {
            int j = start + i;
            row[0] = nm->t01[j];
            row[1] = nm->flux_n[j];
            row[2] = nm->err_n[j];
            for (int c = 0; c < 4; c++) row[3 + c] = photo_cols[c];
            row[7] = nm->log10_mad;
            row[8] = nm->dt;
            mask[i] = 1.0f;
        } else {
            for (int c = 0; c < LC_CHANNELS; c++) row[c] = 0.0f;
            mask[i] = 0.0f;
        }
    }
    return 0;
}
