// Catalogue reader and AstroM3 metadata preprocessing (see metadata.h).
#define _POSIX_C_SOURCE 200809L

#include "data/preprocess/metadata.h"
#include "data/preprocess/text_reader.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

const char *const META_COLUMNS[META_N] = {
    "mean_vmag",  "phot_g_mean_mag", "e_phot_g_mean_mag", "phot_bp_mean_mag", "e_phot_bp_mean_mag",
    "phot_rp_mean_mag", "e_phot_rp_mean_mag", "bp_rp", "parallax", "parallax_error",
    "parallax_over_error", "pmra", "pmra_error", "pmdec", "pmdec_error",
    "j_mag", "e_j_mag", "h_mag", "e_h_mag", "k_mag",
    "e_k_mag", "w1_mag", "e_w1_mag", "w2_mag", "e_w2_mag",
    "w3_mag", "w4_mag", "j_k", "w1_w2", "w3_w4",
    "pm", "ruwe", "l", "b",
};

const char *const PHOTO_COLUMNS[PHOTO_N] = {"amplitude", "period", "lksl_statistic", "rfr_score"};

const char *const META_MAG_COLUMNS[META_N_MAGS] = {
    "mean_vmag", "phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag", "j_mag", "h_mag",
    "k_mag",     "w1_mag",          "w2_mag",           "w3_mag",           "w4_mag",
};


int meta_column_index(const char *name) {
    for (int i = 0; i < META_N; i++)
        if (strcmp(META_COLUMNS[i], name) == 0) return i;
    return -1;
}

int photo_column_index(const char *name) {
    for (int i = 0; i < PHOTO_N; i++)
        if (strcmp(PHOTO_COLUMNS[i], name) == 0) return i;
    return -1;
}

void meta_free(MetaTable *t) {
    if (!t) return;
    free(t->id);
    free(t->meta);
    free(t->photo);
    memset(t, 0, sizeof *t);
}

// Splits a CSV line in place (quotes removed, "" -> ", whitespace outside
// quotes trimmed). Returns the field count, or -1 on an unterminated quote
// / text after a closing quote. *fields grows as needed (-2: out of memory).
static int split_csv(char *s, char ***fields, int *cap) {
    int n = 0;
    char *p = s;
    for (;;) {
        if (n == *cap) {
            int nc = *cap ? 2 * *cap : 64;
            char **nf = realloc(*fields, (size_t)nc * sizeof(char *));
            if (!nf) return -2;
            *fields = nf;
            *cap = nc;
        }
        while (*p == ' ' || *p == '\t') p++;
        char *out = p, *start = p;
        char last;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0') return -1;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
            while (*p == ' ' || *p == '\t') p++;
            if (*p != ',' && *p != '\0') return -1;
            last = *p;
            *out = '\0';
        } else {
            while (*p && *p != ',') p++;
            last = *p;
            char *q = p;
            while (q > start && isspace((unsigned char)q[-1])) q--;
            *q = '\0';
        }
        (*fields)[n++] = start;
        if (!last) break;
        p++;
    }
    return n;
}

// Trailing whitespace after a number (possible inside quotes) is accepted.
static int only_space(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    return *s == '\0';
}

static int parse_double(const char *s, double *out) {
    if (!*s) return 1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || !only_space(end) || !isfinite(v)) return 1;
    *out = v;
    return 0;
}

static int parse_i64(const char *s, int64_t *out) {
    if (!*s) return 1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || !only_space(end) || errno == ERANGE) return 1;
    *out = (int64_t)v;
    return 0;
}

// ------------------------------------------------------------------ reader
void meta_columns_free(MetaColumns *t) {
    if (!t) return;
    free(t->id);
    free(t->v);
    free(t->line);
    memset(t, 0, sizeof *t);
}

int meta_read_columns(const char *path, const char *id_column, const char *const *names, int k, MetaColumns *out,
                      AmError *err) {
    memset(out, 0, sizeof *out);
    TextReader r;
    if (text_open(&r, path, err)) return 1;
    int *pos = calloc((size_t)k + 1, sizeof *pos);  // field index of the id, then of each column
    char **f = NULL;
    int fcap = 0, ncols = 0, cap = 0, rc = 1;
    MetaColumns t = {0};
    t.k = k;
    if (!pos) {
        am_error_set(err, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i <= k; i++) pos[i] = -1;

    // header: first non-blank line
    int got;
    while ((got = text_read_line(&r, err)) == 1 && text_is_blank(r.buf)) {}
    if (got < 0) goto done;
    if (got == 0) {
        am_error_set(err, "%s: empty file (no header line)", path);
        goto done;
    }
    ncols = split_csv(r.buf, &f, &fcap);
    if (ncols < 0) {
        am_error_set(err, "%s:%ld: %s in header", path, r.line, ncols == -2 ? "out of memory" : "malformed quoting");
        goto done;
    }
    for (int c = 0; c < ncols; c++) {
        for (int c2 = 0; c2 < c; c2++)
            if (strcmp(f[c], f[c2]) == 0) {
                am_error_set(err, "%s:%ld: duplicate column '%.60s' in header", path, r.line, f[c]);
                goto done;
            }
        for (int i = 0; i <= k; i++)
            if (strcmp(f[c], i ? names[i - 1] : id_column) == 0) pos[i] = c;
    }
    for (int i = 0; i <= k; i++)
        if (pos[i] < 0) {
            am_error_set(err, "%s: missing required column '%s' in header", path, i ? names[i - 1] : id_column);
            goto done;
        }

    for (;;) {
        got = text_read_line(&r, err);
        if (got < 0) goto done;
        if (got == 0) break;
        if (text_is_blank(r.buf)) continue;
        int nf = split_csv(r.buf, &f, &fcap);
        if (nf == -2) {
            am_error_set(err, "%s:%ld: out of memory", path, r.line);
            goto done;
        }
        if (nf < 0) {
            am_error_set(err, "%s:%ld: malformed quoted field", path, r.line);
            goto done;
        }
        if (nf != ncols) {
            am_error_set(err, "%s:%ld: %d fields, header has %d", path, r.line, nf, ncols);
            goto done;
        }
        if (t.n == cap) {
            if (cap > INT_MAX / 4) {
                am_error_set(err, "%s:%ld: too many rows", path, r.line);
                goto done;
            }
            int nc = cap ? 2 * cap : 256;
            int64_t *ni = realloc(t.id, (size_t)nc * sizeof *ni);
            if (ni) t.id = ni;
            double *nv = realloc(t.v, (size_t)nc * (size_t)(k ? k : 1) * sizeof *nv);
            if (nv) t.v = nv;
            long *nl = realloc(t.line, (size_t)nc * sizeof *nl);
            if (nl) t.line = nl;
            if (!ni || !nv || !nl) {
                am_error_set(err, "%s:%ld: out of memory", path, r.line);
                goto done;
            }
            cap = nc;
        }
        if (parse_i64(f[pos[0]], &t.id[t.n])) {
            am_error_set(err, "%s:%ld: column %s: not an integer: '%.40s'", path, r.line, id_column, f[pos[0]]);
            goto done;
        }
        for (int i = 1; i <= k; i++)
            if (parse_double(f[pos[i]], &t.v[(size_t)t.n * k + (size_t)(i - 1)])) {
                am_error_set(err, "%s:%ld: column %s: not a finite number: '%.40s'", path, r.line, names[i - 1],
                             f[pos[i]]);
                goto done;
            }
        t.line[t.n] = r.line;
        t.n++;
    }
    if (t.n == 0) {
        am_error_set(err, "%s: no data rows after the header", path);
        goto done;
    }
    *out = t;
    memset(&t, 0, sizeof t);
    rc = 0;
done:
    meta_columns_free(&t);
    free(pos);
    free(f);
    text_close(&r);
    return rc;
}

int meta_read_csv(const char *path, MetaTable *out, AmError *err) {
    memset(out, 0, sizeof *out);
    const char *names[META_N + PHOTO_N];
    for (int i = 0; i < META_N; i++) names[i] = META_COLUMNS[i];
    for (int i = 0; i < PHOTO_N; i++) names[META_N + i] = PHOTO_COLUMNS[i];
    MetaColumns c;
    if (meta_read_columns(path, "id", names, META_N + PHOTO_N, &c, err)) return 1;
    const int K = META_N + PHOTO_N, ip = META_N + 1;  // period
    for (int r = 0; r < c.n; r++)
        if (!(c.v[(size_t)r * K + ip] > 0)) {
            am_error_set(err, "%s:%ld: column period: must be > 0 (log10 is taken): '%.17g'", path, c.line[r],
                         c.v[(size_t)r * K + ip]);
            meta_columns_free(&c);
            return 1;
        }
    MetaTable t = {.n = c.n, .id = c.id};
    t.meta = malloc((size_t)c.n * META_N * sizeof *t.meta);
    t.photo = malloc((size_t)c.n * PHOTO_N * sizeof *t.photo);
    if (!t.meta || !t.photo) {
        free(t.meta);
        free(t.photo);
        meta_columns_free(&c);
        return am_error_set(err, "%s: out of memory", path);
    }
    for (int r = 0; r < c.n; r++) {
        memcpy(t.meta + (size_t)r * META_N, c.v + (size_t)r * K, META_N * sizeof(double));
        memcpy(t.photo + (size_t)r * PHOTO_N, c.v + (size_t)r * K + META_N, PHOTO_N * sizeof(double));
    }
    c.id = NULL;  // moved into t
    meta_columns_free(&c);
    *out = t;
    return 0;
}

// ------------------------------------------------------------------ preprocessing
void meta_transform(MetaTable *t) {
    int mag_idx[META_N_MAGS];
    int i_par = meta_column_index("parallax"), i_l = meta_column_index("l"), i_b = meta_column_index("b");
    for (int k = 0; k < META_N_MAGS; k++) mag_idx[k] = meta_column_index(META_MAG_COLUMNS[k]);
    const double deg = acos(-1.0) / 180.0;
    for (int r = 0; r < t->n; r++) {
        double *m = t->meta + (size_t)r * META_N;
        double p = m[i_par] <= 0 ? 1.0 : m[i_par];
        double dm = 5.0 * log10(p) - 10.0;
        for (int k = 0; k < META_N_MAGS; k++) m[mag_idx[k]] += dm;
        m[i_l] = cos(m[i_l] * deg);
        m[i_b] = sin(m[i_b] * deg);
        double *ph = t->photo + (size_t)r * PHOTO_N;
        ph[1] = log10(ph[1]);
    }
}

int meta_column_stats(const double *x, int n, int stride, const uint8_t *use, double *mean, double *std,
                      uint8_t *zero) {
    int n_use = 0;
    for (int r = 0; r < n; r++) n_use += use[r] != 0;
    if (n_use == 0) {
        *mean = 0, *std = 1, *zero = 0;
        return 0;
    }
    double s = 0;
    for (int r = 0; r < n; r++)
        if (use[r]) s += x[(size_t)r * (size_t)stride];
    double mu = s / n_use, ss = 0;
    for (int r = 0; r < n; r++)
        if (use[r]) {
            double d = x[(size_t)r * (size_t)stride] - mu;
            ss += d * d;
        }
    double sd = sqrt(ss / n_use);
    *mean = mu;
    *zero = sd == 0.0;
    *std = sd == 0.0 ? 1.0 : sd;
    return n_use;
}

int meta_fit_stats(const MetaTable *t, const uint8_t *is_train, MetaStats *stats) {
    int n_train = 0;
    for (int r = 0; r < t->n; r++) n_train += is_train[r] != 0;
    if (n_train == 0) return 1;
    memset(stats, 0, sizeof *stats);
    stats->n_train = n_train;
    for (int c = 0; c < META_N; c++)
        meta_column_stats(t->meta + c, t->n, META_N, is_train, &stats->meta_mean[c], &stats->meta_std[c],
                          &stats->meta_std_zero[c]);
    for (int c = 0; c < PHOTO_N; c++)
        meta_column_stats(t->photo + c, t->n, PHOTO_N, is_train, &stats->photo_mean[c], &stats->photo_std[c],
                          &stats->photo_std_zero[c]);
    return 0;
}

void meta_apply_stats(MetaTable *t, const MetaStats *s) {
    for (int r = 0; r < t->n; r++) {
        double *m = t->meta + (size_t)r * META_N;
        for (int c = 0; c < META_N; c++) m[c] = (m[c] - s->meta_mean[c]) / s->meta_std[c];
        double *ph = t->photo + (size_t)r * PHOTO_N;
        for (int c = 0; c < PHOTO_N; c++) ph[c] = (ph[c] - s->photo_mean[c]) / s->photo_std[c];
    }
}
