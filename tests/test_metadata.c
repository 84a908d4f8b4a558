// Catalogue reader and metadata preprocessing (src/data/preprocess/metadata.c):
//  - the synthetic catalogue tests/reference/fixtures/meta_catalog.csv (shuffled
//    columns, an extra quoted column with commas, parallax <= 0 rows, negative b)
//    against the numpy reference tests/reference/fixtures/meta_ref.safetensors
//    (tests/reference/preprocess_meta_ref.py): ids, transformed + train-split
//    z-scored [N,34] metadata and [N,4] photo columns, and the stats;
//  - error cases on temporary files: missing column, bad number (file:line and
//    column in the message), non-numeric id, empty file, header only, wrong
//    field count; zero-std columns; gzip input.
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/preprocess/metadata.h"
#include "io/safetensors.h"
#include "testutil.h"

#define FIX_CSV "tests/reference/fixtures/meta_catalog.csv"
#define FIX_REF "tests/reference/fixtures/meta_ref.safetensors"

static char tmp_dir[64];

static const char *tmp_path(const char *name) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    return path;
}

static const char *write_tmp(const char *name, const char *text) {
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

// A valid header (id first, then META_COLUMNS, PHOTO_COLUMNS) with `skip` left out
// (NULL: none), and rows whose every value is `val` (id = row index, period = 2).
static char *make_csv(const char *skip, int rows, const char *bad_col, const char *bad_val, int bad_row) {
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    REQUIRE(s != NULL, "malloc");
    len += (size_t)snprintf(s + len, cap - len, "%s", skip && strcmp(skip, "id") == 0 ? "ident" : "id");
    for (int i = 0; i < META_N + PHOTO_N; i++) {
        const char *n = i < META_N ? META_COLUMNS[i] : PHOTO_COLUMNS[i - META_N];
        if (skip && strcmp(n, skip) == 0) continue;
        len += (size_t)snprintf(s + len, cap - len, ",%s", n);
    }
    len += (size_t)snprintf(s + len, cap - len, "\n");
    for (int r = 0; r < rows; r++) {
        if (bad_col && strcmp(bad_col, "id") == 0 && r == bad_row)
            len += (size_t)snprintf(s + len, cap - len, "%s", bad_val);
        else
            len += (size_t)snprintf(s + len, cap - len, "%d", r);
        for (int i = 0; i < META_N + PHOTO_N; i++) {
            const char *n = i < META_N ? META_COLUMNS[i] : PHOTO_COLUMNS[i - META_N];
            if (skip && strcmp(n, skip) == 0) continue;
            const char *v = (bad_col && strcmp(n, bad_col) == 0 && r == bad_row) ? bad_val : "2";
            len += (size_t)snprintf(s + len, cap - len, ",%s", v);
        }
        len += (size_t)snprintf(s + len, cap - len, "\n");
    }
    REQUIRE(len < cap, "csv buffer too small");
    return s;
}

static int has(const char *msg, const char *sub) { return strstr(msg, sub) != NULL; }

// ------------------------------------------------------------------ fixture
static void test_fixture(void) {
    MetaTable t;
    AmError e = {{0}};
    REQUIRE(meta_read_csv(FIX_CSV, &t, &e) == 0, "%s", e.msg);
    StFile *st = NULL;
    REQUIRE(st_open(&st, FIX_REF, &e) == 0, "%s (run tests/reference/preprocess_meta_ref.py)", e.msg);
    const StTensor *tid = st_find(st, "id"), *tm = st_find(st, "meta"), *tp = st_find(st, "photo");
    REQUIRE(tid && tm && tp, "fixture lacks id/meta/photo");
    REQUIRE(tid->dtype == ST_I64 && tm->dtype == ST_F32 && tp->dtype == ST_F32, "fixture dtypes");
    int n = (int)tid->shape[0];
    REQUIRE(t.n == n, "rows %d vs fixture %d", t.n, n);
    REQUIRE(tm->ndim == 2 && tm->shape[0] == n && tm->shape[1] == META_N, "meta shape");
    REQUIRE(tp->ndim == 2 && tp->shape[0] == n && tp->shape[1] == PHOTO_N, "photo shape");
    const int64_t *ids = st_data(st, tid);
    for (int i = 0; i < n; i++) EXPECT(t.id[i] == ids[i], "row %d id %lld vs %lld", i, (long long)t.id[i], (long long)ids[i]);

    // column names in the fixture metadata must match ours, in order
    const char *mc = st_meta(st, "meta_columns");
    REQUIRE(mc != NULL, "fixture lacks meta_columns");
    char want[2048] = "";
    for (int i = 0; i < META_N; i++) {
        if (i) strcat(want, ",");
        strcat(want, META_COLUMNS[i]);
    }
    EXPECT(strcmp(mc, want) == 0, "META_COLUMNS differ from the reference: %s", mc);

    meta_transform(&t);
    uint8_t *is_train = malloc((size_t)n);
    REQUIRE(is_train != NULL, "malloc");
    for (int i = 0; i < n; i++) is_train[i] = t.id[i] % 2 == 0;
    MetaStats s;
    REQUIRE(meta_fit_stats(&t, is_train, &s) == 0, "fit_stats");
    EXPECT(s.n_train == 20, "n_train %d", s.n_train);
    const double *rm = st_data(st, st_find(st, "meta_mean")), *rs = st_data(st, st_find(st, "meta_std"));
    const double *pm = st_data(st, st_find(st, "photo_mean")), *ps = st_data(st, st_find(st, "photo_std"));
    REQUIRE(rm && rs && pm && ps, "fixture lacks stats");
    for (int c = 0; c < META_N; c++) {
        EXPECT(fabs(s.meta_mean[c] - rm[c]) <= 1e-9 * fmax(1.0, fabs(rm[c])), "%s mean %.12g vs %.12g",
               META_COLUMNS[c], s.meta_mean[c], rm[c]);
        EXPECT(fabs(s.meta_std[c] - rs[c]) <= 1e-9 * fmax(1.0, fabs(rs[c])), "%s std %.12g vs %.12g",
               META_COLUMNS[c], s.meta_std[c], rs[c]);
        EXPECT(!s.meta_std_zero[c], "%s flagged zero std", META_COLUMNS[c]);
    }
    for (int c = 0; c < PHOTO_N; c++) {
        EXPECT(fabs(s.photo_mean[c] - pm[c]) <= 1e-9 * fmax(1.0, fabs(pm[c])), "%s mean", PHOTO_COLUMNS[c]);
        EXPECT(fabs(s.photo_std[c] - ps[c]) <= 1e-9 * fmax(1.0, fabs(ps[c])), "%s std", PHOTO_COLUMNS[c]);
    }
    meta_apply_stats(&t, &s);

    float *gm = malloc((size_t)n * META_N * sizeof(float)), *gp = malloc((size_t)n * PHOTO_N * sizeof(float));
    REQUIRE(gm && gp, "malloc");
    for (size_t i = 0; i < (size_t)n * META_N; i++) gm[i] = (float)t.meta[i];
    for (size_t i = 0; i < (size_t)n * PHOTO_N; i++) gp[i] = (float)t.photo[i];
    const float *em = st_data(st, tm), *ep = st_data(st, tp);
    double errm = tu_max_rel_err(gm, em, (size_t)n * META_N, 1.0);
    double errp = tu_max_rel_err(gp, ep, (size_t)n * PHOTO_N, 1.0);
    EXPECT(errm <= 1e-5, "meta max rel err %.3g", errm);
    EXPECT(errp <= 1e-5, "photo max rel err %.3g", errp);
    // per element, relative to the element itself (floor 1)
    int bad = 0;
    for (size_t i = 0; i < (size_t)n * META_N && bad < 5; i++)
        if (fabs((double)gm[i] - em[i]) > 1e-5 * fmax(1.0, fabs((double)em[i]))) {
            bad++;
            EXPECT(0, "meta row %zu col %s: %.8g vs %.8g", i / META_N, META_COLUMNS[i % META_N], gm[i], em[i]);
        }
    for (size_t i = 0; i < (size_t)n * PHOTO_N && bad < 5; i++)
        if (fabs((double)gp[i] - ep[i]) > 1e-5 * fmax(1.0, fabs((double)ep[i]))) {
            bad++;
            EXPECT(0, "photo row %zu col %s: %.8g vs %.8g", i / PHOTO_N, PHOTO_COLUMNS[i % PHOTO_N], gp[i], ep[i]);
        }
    free(gm);
    free(gp);
    free(is_train);
    st_close(st);
    meta_free(&t);
}

// ------------------------------------------------------------------ transforms on known values
static void test_transform_values(void) {
    char *csv = make_csv(NULL, 2, NULL, NULL, 0);
    const char *p = write_tmp("vals.csv", csv);
    free(csv);
    MetaTable t;
    AmError e = {{0}};
    REQUIRE(meta_read_csv(p, &t, &e) == 0, "%s", e.msg);
    int ip = meta_column_index("parallax"), il = meta_column_index("l"), ib = meta_column_index("b");
    int ig = meta_column_index("phot_g_mean_mag"), ie = meta_column_index("e_phot_g_mean_mag");
    REQUIRE(ip >= 0 && il >= 0 && ib >= 0 && ig >= 0 && ie >= 0, "column index");
    EXPECT(meta_column_index("nope") == -1 && photo_column_index("period") == 1, "index lookups");
    // row 0: parallax 100 (+0 shift: 5 log10 100 - 10 = 0); l = 180, b = -30
    t.meta[ip] = 100;
    t.meta[il] = 180;
    t.meta[ib] = -30;
    // row 1: parallax -2 -> 1: shift -10
    t.meta[META_N + ip] = -2;
    t.photo[PHOTO_N + 1] = 1000;
    meta_transform(&t);
    EXPECT(fabs(t.meta[ig] - 2.0) < 1e-12, "g abs mag %g", t.meta[ig]);
    EXPECT(fabs(t.meta[ie] - 2.0) < 1e-12, "error column changed: %g", t.meta[ie]);
    EXPECT(t.meta[ip] == 100, "parallax changed: %g", t.meta[ip]);
    EXPECT(fabs(t.meta[il] + 1.0) < 1e-12, "cos(180) %g", t.meta[il]);
    EXPECT(fabs(t.meta[ib] + 0.5) < 1e-12, "sin(-30) %g", t.meta[ib]);
    EXPECT(fabs(t.meta[META_N + ig] - (2.0 - 10.0)) < 1e-12, "parallax<=0 g %g", t.meta[META_N + ig]);
    EXPECT(t.meta[META_N + ip] == -2, "parallax<=0 changed: %g", t.meta[META_N + ip]);
    int nmag = 0;
    for (int c = 0; c < META_N; c++) nmag += fabs(t.meta[META_N + c] - (2.0 - 10.0)) < 1e-12;
    EXPECT(nmag == META_N_MAGS, "%d columns shifted, want %d", nmag, META_N_MAGS);
    EXPECT(fabs(t.photo[1] - log10(2.0)) < 1e-12 && fabs(t.photo[PHOTO_N + 1] - 3.0) < 1e-12, "log10 period");
    EXPECT(t.photo[0] == 2.0 && t.photo[2] == 2.0 && t.photo[3] == 2.0, "other photo columns changed");

    // zero std: every training row equal in most columns
    uint8_t train[2] = {1, 0};
    MetaStats s;
    EXPECT(meta_fit_stats(&t, (uint8_t[2]){0, 0}, &s) == 1, "no training rows accepted");
    REQUIRE(meta_fit_stats(&t, train, &s) == 0, "fit");
    EXPECT(s.n_train == 1 && s.meta_std_zero[ig] && s.meta_std[ig] == 1.0, "zero std not replaced");
    EXPECT(s.photo_std_zero[0] && s.photo_std[0] == 1.0, "photo zero std");
    meta_apply_stats(&t, &s);
    EXPECT(t.meta[ig] == 0.0 && fabs(t.meta[META_N + ig] - (-8.0 - 2.0)) < 1e-12, "zscore with std 1: %g %g",
           t.meta[ig], t.meta[META_N + ig]);
    meta_free(&t);
    meta_free(&t);  // idempotent
}

// ------------------------------------------------------------------ errors
static void expect_fail(const char *name, const char *text, const char *sub1, const char *sub2) {
    const char *p = write_tmp(name, text);
    MetaTable t;
    AmError e = {{0}};
    int rc = meta_read_csv(p, &t, &e);
    EXPECT(rc != 0, "%s: accepted", name);
    EXPECT(t.n == 0 && t.id == NULL && t.meta == NULL, "%s: table not empty on failure", name);
    EXPECT(has(e.msg, name), "%s: message lacks the file: %s", name, e.msg);
    if (sub1) EXPECT(has(e.msg, sub1), "%s: message lacks '%s': %s", name, sub1, e.msg);
    if (sub2) EXPECT(has(e.msg, sub2), "%s: message lacks '%s': %s", name, sub2, e.msg);
    if (rc == 0) meta_free(&t);
}

static void test_errors(void) {
    char *s = make_csv("rfr_score", 3, NULL, NULL, 0);
    expect_fail("missing.csv", s, "rfr_score", "missing");
    free(s);
    s = make_csv("id", 3, NULL, NULL, 0);
    expect_fail("noid.csv", s, "'id'", NULL);
    free(s);
    s = make_csv(NULL, 5, "pmra", "1.2.3", 2);  // data row 2 is line 4
    expect_fail("badnum.csv", s, "badnum.csv:4:", "pmra");
    free(s);
    s = make_csv(NULL, 5, "ruwe", "nan", 0);
    expect_fail("nan.csv", s, "nan.csv:2:", "ruwe");
    free(s);
    s = make_csv(NULL, 5, "b", "inf", 4);
    expect_fail("inf.csv", s, "inf.csv:6:", "column b");
    free(s);
    s = make_csv(NULL, 5, "l", "", 1);
    expect_fail("emptyfield.csv", s, "emptyfield.csv:3:", "column l");
    free(s);
    s = make_csv(NULL, 4, "id", "abc", 3);
    expect_fail("badid.csv", s, "badid.csv:5:", "id");
    free(s);
    s = make_csv(NULL, 4, "id", "1.5", 0);
    expect_fail("fracid.csv", s, "fracid.csv:2:", "id");
    free(s);
    s = make_csv(NULL, 4, "period", "0", 1);
    expect_fail("period0.csv", s, "period0.csv:3:", "period");
    free(s);
    expect_fail("empty.csv", "", "empty", NULL);
    expect_fail("blank.csv", "\n  \n", "empty", NULL);
    s = make_csv(NULL, 0, NULL, NULL, 0);
    expect_fail("headeronly.csv", s, "no data rows", NULL);
    free(s);
    s = make_csv(NULL, 2, NULL, NULL, 0);
    strcat(s, "7,1,2\n");
    expect_fail("short.csv", s, "short.csv:4:", "fields");
    free(s);
    s = make_csv(NULL, 1, NULL, NULL, 0);
    strcat(s, "8,\"unterminated");
    expect_fail("quote.csv", s, "quote.csv:3:", NULL);
    free(s);
    expect_fail("dup.csv", "id,l,l\n1,2,3\n", "duplicate", "'l'");

    MetaTable t;
    AmError e = {{0}};
    EXPECT(meta_read_csv(tmp_path("does_not_exist.csv"), &t, &e) != 0 && has(e.msg, "does_not_exist.csv"),
           "missing file: %s", e.msg);
}

// ------------------------------------------------------------------ gzip, CRLF, blank lines, quotes
static void test_gzip_and_format(void) {
    char *s = make_csv(NULL, 3, "amplitude", "\" 0.25 \"", 1);
    // CRLF on the last line plus a trailing blank line
    size_t len = strlen(s);
    s[len - 1] = '\r';
    strcat(s, "\n\n");
    const char *p = tmp_path("cat.csv.gz");
    gzFile gz = gzopen(p, "wb");
    REQUIRE(gz != NULL, "gzopen %s", p);
    REQUIRE(gzputs(gz, s) > 0, "gzputs");
    gzclose(gz);
    free(s);
    MetaTable t;
    AmError e = {{0}};
    REQUIRE(meta_read_csv(p, &t, &e) == 0, "%s", e.msg);
    EXPECT(t.n == 3 && t.id[2] == 2, "rows %d", t.n);
    EXPECT(t.photo[PHOTO_N * 1 + 0] == 0.25, "quoted amplitude %g", t.photo[PHOTO_N + 0]);
    EXPECT(t.photo[PHOTO_N * 2 + 3] == 2.0, "CRLF last value %g", t.photo[PHOTO_N * 2 + 3]);
    meta_free(&t);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/astromm_meta_XXXXXX");
    REQUIRE(mkdtemp(tmp_dir) != NULL, "mkdtemp");
    test_fixture();
    test_transform_values();
    test_errors();
    test_gzip_and_format();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmp_dir);
    return tu_finish("test_metadata");
}
