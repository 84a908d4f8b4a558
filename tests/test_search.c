// astromm search (src/eval/search.h) and the embeddings file (src/eval/embeddings_file.h)
// on hand-made embedding sets: file round trip, format errors, top-k against a
// naive double-precision scan, the object itself first, the documented tie
// order (equal cosine: smaller row first) at every block size, cross-modal
// targets and filters; a one-embedding file of raw (not unit) rows as images
// write, with cosine, Euclidean and PCA search against a naive scan.
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/format/dataset.h"
#include "eval/embeddings_file.h"
#include "eval/pca.h"
#include "eval/search.h"
#include "mpi/comm.h"
#include "testutil.h"

static AmError serr;  // search_topk's error (none expected here)

static char *dupstr(const char *s) {
    char *d = malloc(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

// n rows of random unit vectors (Philox-free LCG, fixed), some modalities missing.
static void make_set(EmbSet *s, int64_t n, int D) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->dim = D;
    s->n_slots = EMB_N;
    s->n_has = MOD_COUNT;
    s->normalized = 1;
    for (int m = 0; m < EMB_N; m++) snprintf(s->slot[m], sizeof s->slot[m], "%s", emb_astrom3_slot_name(m));
    s->n_classes = 3;
    s->classes = malloc(3 * sizeof *s->classes);
    s->classes[0] = dupstr("EW");
    s->classes[1] = dupstr("SR");
    s->classes[2] = dupstr("M");
    s->id = malloc((size_t)n * sizeof *s->id);
    s->label = malloc((size_t)n * sizeof *s->label);
    s->split = malloc((size_t)n);
    s->has = malloc((size_t)n * 3);
    s->index = malloc((size_t)n * sizeof *s->index);
    uint64_t st = 12345;
    for (int m = 0; m < EMB_N; m++) s->emb[m] = malloc((size_t)n * D * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        s->id[i] = 1000 + 7 * i;
        s->label[i] = (int32_t)(i % 4) - 1;  // -1, 0, 1, 2
        s->split[i] = (uint8_t)(i % 3);
        s->index[i] = 2 * i;
        for (int m = 0; m < 3; m++) s->has[3 * i + m] = !(m == 1 && i % 5 == 2);
        for (int m = 0; m < EMB_N; m++) {
            float *e = s->emb[m] + (size_t)i * D;
            double ss = 0;
            for (int d = 0; d < D; d++) {
                st = st * 6364136223846793005ULL + 1442695040888963407ULL;
                e[d] = (float)((double)(st >> 11) / 9007199254740992.0 - 0.5);
                ss += (double)e[d] * e[d];
            }
            for (int d = 0; d < D; d++) e[d] = (float)(e[d] / sqrt(ss));
            if (m < 3 && !s->has[3 * i + m]) memset(e, 0, (size_t)D * sizeof *e);
        }
    }
    snprintf(s->path, sizeof s->path, "(memory)");
}

// The writer's description of a set (its slots and presence columns).
static EmbFileInfo set_info(const EmbSet *s, const char **names) {
    for (int m = 0; m < s->n_slots; m++) names[m] = s->slot[m];
    return (EmbFileInfo){.checkpoint = "ck.safetensors", .dataset = "data.h5", .classes = (const char *const *)s->classes,
                         .n_classes = s->n_classes, .n = s->n, .dim = s->dim, .n_slots = s->n_slots,
                         .n_has = s->n_has, .slot_names = names, .normalized = s->normalized};
}

static void write_set(const EmbSet *s, const char *path, Comm *comm) {
    AmError err = {{0}};
    const char *names[EMB_MAX_SLOTS];
    EmbFileInfo info = set_info(s, names);
    EmbWriter *w = NULL;
    REQUIRE(!emb_writer_open(path, comm, &info, &w, &err), "open: %s", err.msg);
    // two writes (rows split unevenly) and an empty one, as ranks do
    const int64_t h = s->n / 3;
    for (int part = 0; part < 3; part++) {
        const int64_t r0 = part == 0 ? 0 : part == 1 ? h : s->n, nr = part == 0 ? h : part == 1 ? s->n - h : 0;
        const float *e[EMB_MAX_SLOTS];
        for (int m = 0; m < s->n_slots; m++) e[m] = s->emb[m] + (size_t)r0 * s->dim;
        EXPECT(!emb_writer_write(w, r0, nr, s->id + r0, s->label + r0, s->split + r0, s->has + s->n_has * r0,
                                 s->index + r0, e, &err), "write: %s", err.msg);
    }
    REQUIRE(!emb_writer_close(w, 1, &err), "close: %s", err.msg);
}

// Naive double-precision top-k (same order rule) for comparison.
static void naive(const EmbSet *s, int64_t q, const SearchOptions *o, SearchHit *out) {
    for (int i = 0; i < o->k; i++) out[i] = (SearchHit){-1, -INFINITY};
    for (int64_t j = 0; j < s->n; j++) {
        if (!emb_row_has(s, j, o->target_mod) || (o->target_split >= 0 && s->split[j] != o->target_split)) continue;
        double dot = 0;
        for (int d = 0; d < s->dim; d++)
            dot += (double)s->emb[o->query_mod][q * s->dim + d] * s->emb[o->target_mod][j * s->dim + d];
        SearchHit h = {j, (float)dot};
        if (!search_hit_before(&h, &out[o->k - 1])) continue;
        int i = o->k - 1;
        while (i > 0 && search_hit_before(&h, &out[i - 1])) {
            out[i] = out[i - 1];
            i--;
        }
        out[i] = h;
    }
}

static void test_roundtrip(Comm *comm) {
    EmbSet a, b;
    make_set(&a, 37, 8);
    const char *path = "/tmp/astromm_test_search_rt.h5";
    write_set(&a, path, comm);
    AmError err = {{0}};
    REQUIRE(!emb_read(path, &b, &err), "read: %s", err.msg);
    EXPECT(b.n == a.n && b.dim == a.dim && b.n_classes == 3, "shape %lld %d %d", (long long)b.n, b.dim, b.n_classes);
    EXPECT(!strcmp(b.classes[2], "M") && !strcmp(b.checkpoint, "ck.safetensors") && !strcmp(b.dataset, "data.h5"),
           "attributes");
    EXPECT(!memcmp(a.id, b.id, (size_t)a.n * 8) && !memcmp(a.label, b.label, (size_t)a.n * 4) &&
           !memcmp(a.split, b.split, (size_t)a.n) && !memcmp(a.has, b.has, (size_t)a.n * 3) &&
           !memcmp(a.index, b.index, (size_t)a.n * 8), "per-object arrays round trip");
    EXPECT(b.n_slots == EMB_N && b.n_has == MOD_COUNT && b.normalized == 1 && !strcmp(b.slot[EMB_FUSED], "fused"),
           "slots %d, has columns %d, normalized %d", b.n_slots, b.n_has, b.normalized);
    for (int m = 0; m < EMB_N; m++)
        EXPECT(!memcmp(a.emb[m], b.emb[m], (size_t)a.n * a.dim * 4), "embeddings/%s round trip", a.slot[m]);
    EXPECT(emb_find_id(&b, 1000 + 7 * 5) == 5 && emb_find_id(&b, 3) == -1, "find id");
    b.id[20] = b.id[9];  // duplicate id: the first row wins
    const int64_t want_ids[4] = {1000 + 7 * 36, 3, b.id[9], 1000};
    int64_t rows[4];
    emb_find_ids(&b, want_ids, 4, rows);
    EXPECT(rows[0] == 36 && rows[1] == -1 && rows[2] == 9 && rows[3] == 0, "find ids: %lld %lld %lld %lld",
           (long long)rows[0], (long long)rows[1], (long long)rows[2], (long long)rows[3]);
    emb_free(&b);
    const char *spectra = "spectra", *two[2] = {"fused", "lightcurve"};
    REQUIRE(!emb_read_some(path, &spectra, 1, &b, &err), "read some: %s", err.msg);
    EXPECT(b.emb[MOD_SPECTRA] && !b.emb[MOD_PHOTOMETRY] && !b.emb[EMB_FUSED] && b.id, "only spectra loaded");
    emb_free(&b);
    EXPECT(emb_read_some(path, two, 2, &b, &err) && strstr(err.msg, "'lightcurve'") &&
           strstr(err.msg, "photometry, spectra, metadata, fused"), "unknown name quoted, names listed: %s", err.msg);
    EXPECT(access(path, F_OK) == 0, "file in place");
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    EXPECT(access(tmp, F_OK) != 0, "no temporary left");
    emb_free(&b);

    // a failed write leaves nothing behind
    const char *p2 = "/tmp/astromm_test_search_fail.h5";
    remove(p2);
    const char *names[EMB_MAX_SLOTS];
    EmbFileInfo info = set_info(&a, names);
    EmbWriter *w = NULL;
    REQUIRE(!emb_writer_open(p2, comm, &info, &w, &err), "open: %s", err.msg);
    EXPECT(emb_writer_write(w, a.n - 1, 5, a.id, a.label, a.split, a.has, a.index, (const float *const *)a.emb, &err),
           "rows past the end refused");
    EXPECT(strstr(err.msg, "outside") != NULL, "message: %s", err.msg);
    EXPECT(emb_writer_close(w, 1, &err) != 0, "close reports the failure");
    EXPECT(access(p2, F_OK) != 0, "no output after a failure");
    emb_free(&a);
    remove(path);
}

static void test_read_errors(void) {
    EmbSet s;
    AmError err = {{0}};
    EXPECT(emb_read("/tmp/astromm_no_such_file.h5", &s, &err) && strstr(err.msg, "astromm_no_such_file.h5"),
           "missing file named: %s", err.msg);
    // an HDF5 file with another format attribute
    const char *p = "/tmp/astromm_test_search_fmt.h5";
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "format", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    const char *v = "astromm-dataset";
    H5Awrite(a, t, &v);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
    memset(&err, 0, sizeof err);
    EXPECT(emb_read(p, &s, &err) && strstr(err.msg, "astromm-dataset") && strstr(err.msg, EMB_FORMAT),
           "wrong format named: %s", err.msg);
    remove(p);
    FILE *txt = fopen(p, "w");
    fputs("not hdf5\n", txt);
    fclose(txt);
    EXPECT(emb_read(p, &s, &err) && strstr(err.msg, "not an HDF5 file"), "not HDF5: %s", err.msg);
    remove(p);
    EXPECT(emb_split_parse("val") == DS_SPLIT_VAL && emb_split_parse("all") == -1 && emb_split_parse("x") == -2,
           "split names");
}

static void test_search(Comm *comm) {
    EmbSet s;
    make_set(&s, 301, 16);
    // exact ties: rows 3, 40, 250 and 300 duplicate row 7 (photometry)
    static const int64_t tied[5] = {3, 7, 40, 250, 300};
    for (int i = 0; i < 5; i++)
        if (tied[i] != 7) memcpy(s.emb[0] + tied[i] * 16, s.emb[0] + 7 * 16, 16 * sizeof(float));
    int64_t q[] = {0, 7, 100, 300, 250};
    const int nq = 5, k = 6;
    SearchHit hits[5 * 6], ref[6], first[5 * 6];
    static const int blocks[] = {4096, 1, 3, 64, 300};
    for (int mq = 0; mq < EMB_N; mq++)
        for (int mt = 0; mt < EMB_N; mt++)
            for (int sp = -1; sp <= 2; sp += 3) {
                int qs[5], nqs = 0;
                for (int i = 0; i < nq; i++)
                    if (emb_row_has(&s, q[i], mq)) qs[nqs++] = i;
                int64_t qr[5];
                for (int i = 0; i < nqs; i++) qr[i] = q[qs[i]];
                for (int bi = 0; bi < 5; bi++) {
                    SearchOptions o = {.query_mod = mq, .target_mod = mt, .k = k, .target_split = sp,
                                       .block = blocks[bi]};
                    search_topk(&s, qr, nqs, &o, comm, hits, NULL, &serr);
                    if (bi == 0) memcpy(first, hits, sizeof hits);
                    else EXPECT(!memcmp(first, hits, (size_t)nqs * k * sizeof *hits),
                                "block %d gives the same result (%d -> %d, split %d)", blocks[bi], mq, mt, sp);
                    if (bi) continue;
                    for (int i = 0; i < nqs; i++) {
                        naive(&s, qr[i], &o, ref);
                        for (int j = 0; j < k; j++) {
                            const SearchHit *h = &hits[i * k + j];
                            EXPECT(fabsf(h->score - ref[j].score) < 1e-5f, "score %g vs %g", h->score, ref[j].score);
                            EXPECT(h->row == ref[j].row || fabsf(h->score - ref[j].score) < 1e-5f,
                                   "row %lld vs %lld", (long long)h->row, (long long)ref[j].row);
                            EXPECT(emb_row_has(&s, h->row, mt) && (sp < 0 || s.split[h->row] == sp),
                                   "target has the modality and split");
                            if (j) EXPECT(search_hit_before(&hits[i * k + j - 1], h), "sorted");
                        }
                        if (mq == mt && sp < 0)
                            EXPECT(hits[i * k].row == qr[i] || hits[i * k].score == hits[i * k + 1].score,
                                   "the object itself first (query row %lld, got %lld)", (long long)qr[i],
                                   (long long)hits[i * k].row);
                    }
                }
            }
    // The tie rule (search.h): equal cosine -> smaller row first, for every
    // block size: the tied rows share a block, sit in different blocks, and k
    // cuts the tied group (k = 2, 4) or takes it whole with others after it.
    // Query row 250: rows 3, 7, 40, 250, 300 tie at cosine 1.
    SearchOptions o = {.query_mod = 0, .target_mod = 0, .k = 4, .target_split = -1, .block = 2};
    int64_t q7 = 250;
    SearchHit h4[4];
    static const int tie_blocks[] = {1, 2, 3, 4, 5, 37, 64, 299, 301, 4096};
    static const int tie_ks[] = {2, 4, 5, 8};
    for (int bi = 0; bi < (int)(sizeof tie_blocks / sizeof *tie_blocks); bi++)
        for (int ki = 0; ki < 4; ki++) {
            SearchHit h[8] = {{0}};  // the message prints 4 entries, k may be 2
            o.block = tie_blocks[bi];
            o.k = tie_ks[ki];
            search_topk(&s, &q7, 1, &o, comm, h, NULL, &serr);
            int ok = 1;
            for (int j = 0; j < o.k; j++) {
                if (j < 5) ok &= h[j].row == tied[j] && h[j].score == h[0].score;  // the tied group, ascending
                else ok &= h[j].score < h[0].score;                              // then strictly lower cosines
                if (j) ok &= search_hit_before(&h[j - 1], &h[j]);
            }
            EXPECT(ok, "block %d, k %d: ties not in row order: %lld %lld %lld %lld", o.block, o.k, (long long)h[0].row,
                   (long long)h[1].row, (long long)h[2].row, (long long)h[3].row);
        }
    // The rule itself, whichever argument comes first: equal scores order by row, none (-1) last.
    const SearchHit lo_row = {3, 0.5f}, hi_row = {300, 0.5f}, better = {300, 0.6f}, none = {-1, 1.0f};
    EXPECT(search_hit_before(&lo_row, &hi_row) && !search_hit_before(&hi_row, &lo_row), "tie: smaller row first");
    EXPECT(!search_hit_before(&lo_row, &lo_row), "a hit is not before itself");
    EXPECT(search_hit_before(&better, &lo_row) && !search_hit_before(&lo_row, &better), "higher cosine first");
    EXPECT(search_hit_before(&lo_row, &none) && !search_hit_before(&none, &lo_row), "no hit (row -1) last");
    o.block = 2;
    o.k = 4;
    search_topk(&s, &q7, 1, &o, comm, h4, NULL, &serr);
    // k larger than the targets: padded with row -1
    o = (SearchOptions){.query_mod = 1, .target_mod = 1, .k = 400, .target_split = 2};
    SearchHit *big = malloc(400 * sizeof *big);
    int64_t q0 = 0;
    const int64_t nt = search_topk(&s, &q0, 1, &o, comm, big, NULL, &serr);
    int64_t expect_nt = 0;
    for (int64_t i = 0; i < s.n; i++) expect_nt += s.has[3 * i + 1] && s.split[i] == 2;
    EXPECT(nt == expect_nt, "targets %lld vs %lld", (long long)nt, (long long)expect_nt);
    EXPECT(big[nt - 1].row >= 0 && big[nt].row == -1, "padding after the last target");
    // CSV
    FILE *f = tmpfile();
    search_write_csv(f, &s, &q7, 1, 4, SEARCH_COSINE, h4, 1);
    rewind(f);
    char line[256];
    EXPECT(fgets(line, sizeof line, f) && !strcmp(line, "query_id,rank,neighbour_id,label,cosine\n"), "header");
    EXPECT(fgets(line, sizeof line, f) && !strncmp(line, "2750,1,1021,M,", 14), "first line: %s", line);
    fclose(f);
    free(big);
    emb_free(&s);
}

// A file as `astromm embed` writes for images: one embedding "image" of raw
// rows (normalized = 0), one /has column; bad slot descriptions refused.
static void make_image_set(EmbSet *s, int64_t n, int D) {
    make_set(s, n, D);
    for (int m = 1; m < EMB_N; m++) free(s->emb[m]), s->emb[m] = NULL;
    s->n_slots = s->n_has = 1;
    s->normalized = 0;
    snprintf(s->slot[0], sizeof s->slot[0], "image");
    memset(s->has, 1, (size_t)n);
    for (int64_t i = 0; i < n * D; i++) s->emb[0][i] = s->emb[0][i] * (float)(1 + i % 7) + 0.25f;  // not unit norm
    memset(s->emb[0] + 5 * D, 0, (size_t)D * sizeof(float));  // a zero row: cosine 0 with everything
}

// Naive double-precision score of two vectors under a metric (higher = nearer).
static double naive_score(const float *a, const float *b, int D, SearchMetric metric) {
    double dot = 0, na = 0, nb = 0, d2 = 0;
    for (int d = 0; d < D; d++) {
        dot += (double)a[d] * b[d];
        na += (double)a[d] * a[d];
        nb += (double)b[d] * b[d];
        d2 += ((double)a[d] - b[d]) * ((double)a[d] - b[d]);
    }
    if (metric == SEARCH_EUCLIDEAN) return -sqrt(d2);
    return na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0.0;
}

static void test_image_layout(Comm *comm) {
    EmbSet a, b;
    const int D = 12, n = 97;
    make_image_set(&a, n, D);
    const char *path = "/tmp/astromm_test_search_img.h5";
    write_set(&a, path, comm);
    AmError err = {{0}};
    REQUIRE(!emb_read(path, &b, &err), "read image layout: %s", err.msg);
    EXPECT(b.n_slots == 1 && b.n_has == 1 && !b.normalized && !strcmp(b.slot[0], "image") && b.emb[0] &&
           !memcmp(a.emb[0], b.emb[0], (size_t)n * D * 4), "image layout round trip");
    EXPECT(emb_slot_index(&b, "image") == 0 && emb_slot_index(&b, "fused") == -1, "slot lookup");
    emb_free(&b);
    remove(path);
    // writer refuses bad descriptions
    const char *names[EMB_MAX_SLOTS] = {"image", "image"};
    EmbFileInfo info = set_info(&a, names);
    EmbWriter *w = NULL;
    info.n_slots = 2;
    names[1] = "image";
    EXPECT(emb_writer_open(path, comm, &info, &w, &err) && strstr(err.msg, "twice"), "duplicate name: %s", err.msg);
    info.n_slots = 1;
    names[0] = "Image/x";
    EXPECT(emb_writer_open(path, comm, &info, &w, &err) && strstr(err.msg, "Image/x"), "bad name: %s", err.msg);
    names[0] = "image";
    info.n_has = 2;
    EXPECT(emb_writer_open(path, comm, &info, &w, &err), "more /has columns than embeddings refused");
    EXPECT(access(path, F_OK) != 0, "nothing written");

    // cosine (rows scaled here), Euclidean, and both in PCA space, against naive scans
    const int k = 7;
    int64_t q[3] = {0, 5, 60};
    SearchHit hits[3 * 7];
    for (int metric = 0; metric < 2; metric++)
        for (int pca = 0; pca <= 4; pca += 4) {
            SearchOptions o = {.query_mod = 0, .target_mod = 0, .k = k, .target_split = -1, .metric = metric,
                               .pca = pca, .block = 10};
            search_topk(&a, q, 3, &o, comm, hits, NULL, &serr);
            // the reference space: the raw rows or their PCA scores (fitted on every row: all are targets)
            float *X = a.emb[0];
            int dim = D;
            float *scores = NULL;
            if (pca) {
                scores = malloc((size_t)n * pca * sizeof *scores);
                pca_fit_transform(a.emb[0], (size_t)n, (size_t)D, pca, scores, NULL);
                X = scores;
                dim = pca;
            }
            for (int i = 0; i < 3; i++) {
                double best[7];
                for (int j = 0; j < k; j++) best[j] = -INFINITY;
                for (int64_t t = 0; t < n; t++) {  // the k best naive scores, descending
                    double v = naive_score(X + q[i] * dim, X + t * dim, dim, metric);
                    for (int j = 0; j < k; j++)
                        if (v > best[j]) {
                            double tmp = best[j];
                            best[j] = v;
                            v = tmp;
                        }
                }
                for (int j = 0; j < k; j++) {
                    const SearchHit *h = &hits[i * k + j];
                    const double mine = naive_score(X + q[i] * dim, X + h->row * dim, dim, metric);
                    const double tol = 1e-5 * (1.0 + fabs(best[j]));
                    EXPECT(h->row >= 0 && fabs(h->score - best[j]) <= tol && fabs(mine - best[j]) <= tol,
                           "%s pca %d query %lld rank %d: score %.7g (row %lld, naive %.7g) vs best %.7g",
                           search_metric_name(metric), pca, (long long)q[i], j, h->score, (long long)h->row, mine,
                           best[j]);
                }
                if (q[i] == 5 && metric == SEARCH_COSINE && !pca)
                    EXPECT(hits[i * k].score == 0.0f && hits[i * k].row == 0, "a zero row scores 0 with all, ties by row");
                if (q[i] != 5)
                    EXPECT(hits[i * k].row == q[i], "%s pca %d: the object itself first", search_metric_name(metric),
                           pca);
            }
            free(scores);
        }
    FILE *f = tmpfile();
    SearchOptions o = {.query_mod = 0, .target_mod = 0, .k = 2, .target_split = -1, .metric = SEARCH_EUCLIDEAN};
    search_topk(&a, q, 1, &o, comm, hits, NULL, &serr);
    search_write_csv(f, &a, q, 1, 2, SEARCH_EUCLIDEAN, hits, 1);
    rewind(f);
    char line[256];
    EXPECT(fgets(line, sizeof line, f) && !strcmp(line, "query_id,rank,neighbour_id,label,euclidean\n"), "header");
    EXPECT(fgets(line, sizeof line, f) && !strcmp(line, "1000,1,1000,,0.0000000\n"), "self at distance 0: %s", line);
    EXPECT(fgets(line, sizeof line, f) && strstr(line, "1000,2,") == line && atof(strrchr(line, ',') + 1) > 0,
           "positive distance: %s", line);
    fclose(f);
    emb_free(&a);
}

int main(int argc, char **argv) {
    Comm *comm = comm_init(&argc, &argv);
    test_roundtrip(comm);
    test_read_errors();
    test_search(comm);
    test_search(NULL);
    test_image_layout(comm);
    comm_finalize(comm);
    return tu_finish("test_search");
}
