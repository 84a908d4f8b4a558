// The parallel loader (src/data/loader/loader.h) at 1, 2 and 4 ranks:
//  * every selected sample exactly once per epoch across ranks (pad mode: the
//    padding rows are flagged invalid; drop_last: floor(N/B) full batches);
//  * the global order is the test's own Fisher-Yates over Philox (seed, epoch),
//    so it is the same for every rank count; same seed -> same order, a new
//    epoch or seed -> a different one;
//  * content bit-exact against the objects written (spectra, z-scored
//    metadata and photo columns, the random / centred crop window, padding and
//    missing modalities as zeros);
//  * a directory of shards gives the same batches as one file;
//  * seeking to (epoch, batch) continues exactly the uninterrupted sequence,
//    with and without prefetch;
//  * HDF5-path reads are collective (H5Pget_mpio_actual_io_mode) and give the
//    same bytes as the direct MPI-IO path; bad settings or files are errors on
//    every rank.
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "data/format/dataset.h"
#include "data/preprocess/lightcurve.h"
#include "data/loader/loader.h"
#include "mpi/comm.h"
#include "mpi_testutil.h"
#include "testutil.h"

#define N_OBJ 103
#define L 64  // seq_len: some curves longer, some shorter
static const char *const CLASSES[10] = {"EW", "SR", "EA", "RRAB", "EB", "ROT", "RRC", "HADS", "M", "DSCT"};

typedef struct {
    DsObject o;
    float t[300], f[300], e[300];
    float spec[3 * SPEC_LEN];
} Obj;

static int lc_len(int i) { return 1 + (i * 37) % 300; }

static void make_obj(int i, Obj *b) {
    memset(b, 0, sizeof *b);
    DsObject *o = &b->o;
    o->id = 5000 + i;
    o->label = i % 17 == 5 ? -1 : i % 10;
    o->split = (uint8_t)(i % 10 < 8 ? DS_SPLIT_TRAIN : i % 10 == 8 ? DS_SPLIT_VAL : DS_SPLIT_TEST);
    o->subset = (uint8_t)(i % 3 == 0 ? DS_SUB50 : 0);
    o->has[MOD_PHOTOMETRY] = i % 11 != 3;
    o->has[MOD_SPECTRA] = i % 7 != 2;
    o->has[MOD_METADATA] = i % 13 != 6;
    if (o->has[MOD_PHOTOMETRY]) {
        const int n = lc_len(i);
        for (int k = 0; k < n; k++) {
            b->t[k] = (float)k / (float)n;
            b->f[k] = sinf((float)i + 0.1f * (float)k);
            b->e[k] = 0.01f * (float)(i % 5 + 1) + 1e-4f * (float)k;
        }
        o->lc = (LcNorm){.t01 = b->t, .flux_n = b->f, .err_n = b->e, .n = n,
                         .log10_mad = 0.1f * (float)i, .dt = 1.0f + 0.01f * (float)i};
        for (int c = 0; c < DS_PHOTO_COLS; c++) o->photo[c] = 0.1f * (float)i + (float)c;
        if (i % 17 == 3)  // a curve without catalogue photo columns (ingest without --catalog)
            for (int c = 0; c < DS_PHOTO_COLS; c++) o->photo[c] = NAN;
    }
    if (o->has[MOD_SPECTRA]) {
        for (int k = 0; k < 3 * SPEC_LEN; k++) b->spec[k] = (float)i + 1e-4f * (float)k;
        o->spectrum = b->spec;
    }
    if (o->has[MOD_METADATA])
        for (int c = 0; c < DS_META_COLS; c++) o->meta[c] = 0.01f * (float)i + 0.5f * (float)c;
}

static float g_mm[DS_META_COLS], g_ms[DS_META_COLS], g_pm[DS_PHOTO_COLS], g_ps[DS_PHOTO_COLS];

static int write_range(const char *path, int first, int count) {
    AmError err = {{0}};
    DsWriter *w;
    REQUIRE(ds_writer_open(path, count, CLASSES, 10, &w, &err) == 0, "%s", err.msg);
    static Obj b;
    int rc = 0;
    for (int i = first; i < first + count && !rc; i++) {
        make_obj(i, &b);
        rc = ds_writer_add(w, &b.o, &err);
    }
    if (!rc) rc = ds_writer_set_stats(w, g_mm, g_ms, g_pm, g_ps, &err);
    if (rc) {
        ds_writer_abort(w);
    } else {
        rc = ds_writer_close(w, &err);
    }
    REQUIRE(rc == 0, "%s", err.msg);
    return rc;
}

// ---------------------------------------------------------------- expectations

static int selected(int i, const LoaderConfig *c) {
    Obj b;
    make_obj(i, &b);
    const DsObject *o = &b.o;
    if (c->split != LOADER_ANY_SPLIT && o->split != c->split) return 0;
    if (c->subset_bits && !(o->subset & c->subset_bits)) return 0;
    if (c->require_all && !(o->has[0] && o->has[1] && o->has[2])) return 0;
    if (c->labelled_only && o->label < 0) return 0;
    return 1;
}

// The test's own statement of the order contract (loader.h): Fisher-Yates,
// draw i picks position i's partner below i + 1.
static int64_t expected_perm(const LoaderConfig *c, int64_t epoch, int64_t *perm) {
    int64_t n = 0;
    for (int i = 0; i < N_OBJ; i++)
        if (selected(i, c)) perm[n++] = i;
    if (c->shuffle) {
        const AmRng r = am_rng(c->seed, (uint64_t)epoch, RNG_SHUFFLE, 0);
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = am_rng_below(&r, (uint64_t)i, (uint32_t)(i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
    }
    return n;
}

// Checks one local row against the object written.
static void check_row(const LoaderConfig *c, const LoaderBatch *lb, int k, int64_t epoch) {
    const int64_t idx = lb->index[k];
    Obj b;
    make_obj((int)idx, &b);
    const DsObject *o = &b.o;
    EXPECT(lb->ids[k] == o->id && lb->batch.labels[k] == o->label, "row %d ids/labels", k);
    EXPECT(memcmp(lb->has + 3 * k, o->has, 3) == 0, "row %d has", k);
    const float *sp = lb->batch.spectra + (size_t)k * 3 * SPEC_LEN;
    int bad = 0;
    for (int j = 0; j < 3 * SPEC_LEN; j++) bad += sp[j] != (o->has[1] ? b.spec[j] : 0.0f);
    EXPECT(bad == 0, "object %lld: %d spectrum values differ", (long long)idx, bad);
    const float *m = lb->batch.metadata + (size_t)k * DS_META_COLS;
    bad = 0;
    for (int j = 0; j < DS_META_COLS; j++) bad += m[j] != (o->has[2] ? (o->meta[j] - g_mm[j]) / g_ms[j] : 0.0f);
    EXPECT(bad == 0, "object %lld: %d metadata values differ", (long long)idx, bad);

    const int CH = c->photo_in;
    const float *x = lb->batch.photometry + (size_t)k * L * CH, *mk = lb->batch.photometry_mask + (size_t)k * L;
    const int n = o->has[0] ? o->lc.n : 0;
    int start = 0;
    if (n > L) {
        if (c->crop == LOADER_CROP_CENTER || (c->crop == LOADER_CROP_SPREAD && c->crop_count <= 1)) {
            start = (n - L) / 2;
        } else if (c->crop == LOADER_CROP_SPREAD) {
            start = (int)((int64_t)(n - L) * c->crop_index / (c->crop_count - 1));
        } else {
            const AmRng r = am_rng(c->seed, (uint64_t)epoch, RNG_CROP, 0);
            start = (int)am_rng_below(&r, (uint64_t)idx, (uint32_t)(n - L + 1));
        }
    }
    bad = 0;
    for (int t = 0; t < L; t++) {
        const int live = t < n - start && t < L;
        bad += mk[t] != (live ? 1.0f : 0.0f);
        for (int ch = 0; ch < CH; ch++) {
            float want = 0.0f;
            if (live && ch >= LC_CHANNELS) {  // sin, cos of the phase at the period (photo column 1, log10 days)
                const double P = pow(10.0, (double)o->photo[1]);
                const double ph = 2 * 3.14159265358979323846 *
                                  fmod((double)o->lc.t01[start + t] * (double)o->lc.dt * 365.0 / P, 1.0);
                want = isfinite(P) ? (float)(ch == LC_CHANNELS ? sin(ph) : cos(ph)) : 0.0f;
            } else if (live) {
                const int s = start + t;
                switch (ch) {
                    case 0: want = o->lc.t01[s]; break;
                    case 1: want = o->lc.flux_n[s]; break;
                    case 2: want = o->lc.err_n[s]; break;
                    case 7: want = o->lc.log10_mad; break;
                    case 8: want = o->lc.dt; break;
                    default: want = isnan(o->photo[ch - 3]) ? 0.0f : (o->photo[ch - 3] - g_pm[ch - 3]) / g_ps[ch - 3];
                }
            }
            bad += x[t * CH + ch] != want;
        }
    }
    EXPECT(bad == 0, "object %lld (n %d, start %d): %d photometry values differ", (long long)idx, n, start, bad);
}

// ---------------------------------------------------------------- helpers

static Comm *g_comm;
static int g_rank, g_size;
static char g_file[128], g_dir[128];

static Loader *open_ok(const char *path, const LoaderConfig *c) {
    Loader *l = NULL;
    AmError err = {{0}};
    REQUIRE(loader_open(path, g_comm, c, &l, &err) == 0, "loader_open %s: %s", path, err.msg);
    return l;
}

// All ranks' dataset indices of the batch, in global order (rank blocks).
static void gather_indices(const LoaderBatch *lb, int64_t *global, uint8_t *valid) {
    const int n = lb->n;
    float *send = malloc((size_t)2 * n * sizeof *send), *recv = malloc((size_t)2 * n * g_size * sizeof *recv);
    for (int k = 0; k < n; k++) {
        send[2 * k] = (float)lb->index[k];  // < 2^24: exact
        send[2 * k + 1] = lb->valid[k];
    }
    comm_allgather(g_comm, send, recv, (size_t)2 * n);
    for (int k = 0; k < n * g_size; k++) {
        global[k] = (int64_t)recv[2 * k];
        valid[k] = (uint8_t)recv[2 * k + 1];
    }
    free(send);
    free(recv);
}

// One epoch: exactly-once coverage, the expected global order, row contents.
static void check_epoch(const char *path, const LoaderConfig *c, int64_t epoch) {
    Loader *l = open_ok(path, c);
    AmError err = {{0}};
    if (epoch) REQUIRE(loader_seek(l, epoch, 0, &err) == 0, "%s", err.msg);
    int64_t perm[N_OBJ];
    const int64_t n_sel = expected_perm(c, epoch, perm), B = c->global_batch;
    const int64_t nb = c->drop_last ? n_sel / B : (n_sel + B - 1) / B;
    EXPECT(loader_size(l) == n_sel && loader_batches_per_epoch(l) == nb, "size %lld/%lld batches %lld/%lld",
           (long long)loader_size(l), (long long)n_sel, (long long)loader_batches_per_epoch(l), (long long)nb);
    int seen[N_OBJ] = {0};
    int64_t *global = malloc((size_t)B * sizeof *global);
    uint8_t *valid = malloc((size_t)B);
    int order_ok = 1;
    for (int64_t s = 0; s < nb; s++) {
        LoaderBatch lb;
        REQUIRE(loader_next(l, &lb, &err) == 0, "%s", err.msg);
        EXPECT(lb.epoch == epoch && lb.step == s && lb.n == B / g_size, "batch position");
        EXPECT(lb.sample_offset == s * B + (int64_t)g_rank * lb.n, "sample offset");
        for (int k = 0; k < lb.n; k++) check_row(c, &lb, k, epoch);
        gather_indices(&lb, global, valid);
        for (int64_t q = 0; q < B; q++) {
            const int64_t pos = s * B + q;
            order_ok &= global[q] == perm[pos % n_sel] && valid[q] == (pos < n_sel);
            if (valid[q]) seen[global[q]]++;
        }
    }
    EXPECT(order_ok, "global order differs from the Philox Fisher-Yates permutation (epoch %lld)", (long long)epoch);
    int once = 1, covered = 0;
    for (int i = 0; i < N_OBJ; i++) {
        once &= seen[i] <= 1;
        covered += seen[i];
    }
    const int64_t want = c->drop_last ? nb * B : n_sel;
    EXPECT(once && covered == want, "exactly once: %d samples seen, expected %lld", covered, (long long)want);
    LoaderStats st;
    loader_stats(l, &st);
    if (c->io == LOADER_IO_HDF5)
        EXPECT(st.reads > 0 && st.collective_reads == st.reads && st.direct_reads == 0,
               "HDF5 path: collective reads %d of %d (last mode %d), direct %d", st.collective_reads, st.reads,
               st.last_io_mode, st.direct_reads);
    else
        EXPECT(st.direct_reads > 0 && st.reads == 0, "contiguous file: direct reads %d, HDF5 reads %d",
               st.direct_reads, st.reads);
    free(global);
    free(valid);
    loader_close(l);
}

// Bitwise comparison of two loaders' next batch.
static int same_batch(const LoaderBatch *a, const LoaderBatch *b) {
    const size_t n = (size_t)a->n;
    return a->n == b->n && a->epoch == b->epoch && a->step == b->step &&
           !memcmp(a->index, b->index, n * sizeof *a->index) &&
           !memcmp(a->batch.photometry, b->batch.photometry, n * L * LC_CHANNELS * sizeof(float)) &&
           !memcmp(a->batch.photometry_mask, b->batch.photometry_mask, n * L * sizeof(float)) &&
           !memcmp(a->batch.spectra, b->batch.spectra, n * 3 * SPEC_LEN * sizeof(float)) &&
           !memcmp(a->batch.metadata, b->batch.metadata, n * DS_META_COLS * sizeof(float)) &&
           !memcmp(a->valid, b->valid, n);
}

// Reference run from the start vs a run sought to `at` (optionally another
// path or prefetch setting): the same batches from `at` on, across an epoch end.
static void check_resume(const char *ref_path, const char *path, LoaderConfig c, int prefetch, int io, int64_t at) {
    Loader *ref = open_ok(ref_path, &c);
    c.prefetch = prefetch;
    c.io = io;
    Loader *res = open_ok(path, &c);
    AmError err = {{0}};
    const int64_t nb = loader_batches_per_epoch(ref);
    REQUIRE(loader_seek(res, at / nb, at % nb, &err) == 0, "%s", err.msg);
    int same = 1, checked = 0;
    for (int64_t s = 0; s < at + nb + 2; s++) {
        LoaderBatch a, b;
        REQUIRE(loader_next(ref, &a, &err) == 0, "%s", err.msg);
        if (s < at) continue;
        REQUIRE(loader_next(res, &b, &err) == 0, "%s", err.msg);
        same &= same_batch(&a, &b);
        checked++;
    }
    EXPECT(same && checked > nb, "resume at batch %lld (%s, prefetch %d) differs from the uninterrupted run",
           (long long)at, path, prefetch);
    loader_close(ref);
    loader_close(res);
}

static void check_error(const char *path, const LoaderConfig *c, const char *needle) {
    Loader *l = NULL;
    AmError err = {{0}};
    const int rc = loader_open(path, g_comm, c, &l, &err);
    EXPECT(rc != 0 && l == NULL, "loader_open(%s) should fail", path);
    EXPECT(strstr(err.msg, needle) != NULL, "error \"%s\" should mention \"%s\"", err.msg, needle);
}

int main(int argc, char **argv) {
    g_comm = comm_init(&argc, &argv);
    g_rank = comm_rank(g_comm);
    g_size = comm_size(g_comm);
    for (int c = 0; c < DS_META_COLS; c++) {
        g_mm[c] = 0.25f * (float)c;
        g_ms[c] = 0.5f + 0.125f * (float)c;
    }
    for (int c = 0; c < DS_PHOTO_COLS; c++) {
        g_pm[c] = 1.0f + (float)c;
        g_ps[c] = 2.0f;
    }
    char base[96] = "";
    if (g_rank == 0) {
        snprintf(base, sizeof base, "/tmp/astromm_test_loader.%d", (int)getpid());
        snprintf(g_file, sizeof g_file, "%s.h5", base);
        write_range(g_file, 0, N_OBJ);
        snprintf(g_dir, sizeof g_dir, "%s.d", base);
        REQUIRE(mkdir(g_dir, 0755) == 0, "mkdir %s", g_dir);
        char p[160];
        const int cuts[4] = {0, 40, 41, 103};  // a one-object shard in the middle
        for (int s = 0; s < 3; s++) {
            snprintf(p, sizeof p, "%s/shard_%05d.h5", g_dir, s);
            write_range(p, cuts[s], cuts[s + 1] - cuts[s]);
        }
    }
    comm_broadcast(g_comm, base, sizeof base, 0);
    snprintf(g_file, sizeof g_file, "%s.h5", base);
    snprintf(g_dir, sizeof g_dir, "%s.d", base);

    LoaderConfig c;
    loader_config_defaults(&c);
    c.global_batch = 8;
    c.seq_len = L;
    c.seed = 7;
    c.split = LOADER_ANY_SPLIT;
    c.require_all = 0;

    // Coverage, order and contents: pad and drop_last, random and centred crop,
    // selections, epochs 0 and 3, file and shards.
    check_epoch(g_file, &c, 0);
    check_epoch(g_dir, &c, 3);
    LoaderConfig h = c;  // the same through HDF5's collective H5Dread
    h.io = LOADER_IO_HDF5;
    check_epoch(g_file, &h, 0);
    check_epoch(g_dir, &h, 3);
    h.drop_last = 0;
    h.crop = LOADER_CROP_CENTER;
    h.global_batch = 12;
    check_epoch(g_dir, &h, 1);
    LoaderConfig d = c;
    d.drop_last = 0;
    d.global_batch = 12;
    check_epoch(g_file, &d, 1);
    d.crop = LOADER_CROP_CENTER;
    d.shuffle = 0;
    check_epoch(g_dir, &d, 0);
    LoaderConfig e = c;
    e.split = DS_SPLIT_TRAIN;
    e.require_all = 1;
    e.labelled_only = 1;
    check_epoch(g_file, &e, 2);
    e.split = DS_SPLIT_VAL;
    e.drop_last = 0;
    e.global_batch = 4;
    e.prefetch = 0;
    check_epoch(g_file, &e, 0);  // fewer objects than ranks x rows: padding
    e.split = LOADER_ANY_SPLIT;
    e.subset_bits = DS_SUB50;
    check_epoch(g_dir, &e, 5);
    // Phase channels (model.photo_in 11) and the evenly spaced windows of eval --crops.
    LoaderConfig ph = d;
    ph.photo_in = LC_CHANNELS_PHASE;
    check_epoch(g_file, &ph, 0);
    ph.crop = LOADER_CROP_SPREAD;
    ph.crop_count = 3;
    for (ph.crop_index = 0; ph.crop_index < 3; ph.crop_index++) check_epoch(g_dir, &ph, 0);

    // Different epochs / seeds give different orders (the contract above holds
    // for both, so compare the permutations themselves).
    int64_t p0[N_OBJ], p1[N_OBJ], p2[N_OBJ];
    const int64_t n_sel = expected_perm(&c, 0, p0);
    expected_perm(&c, 1, p1);
    LoaderConfig c2 = c;
    c2.seed = 8;
    expected_perm(&c2, 0, p2);
    EXPECT(memcmp(p0, p1, (size_t)n_sel * sizeof *p0) != 0, "epochs 0 and 1 share an order");
    EXPECT(memcmp(p0, p2, (size_t)n_sel * sizeof *p0) != 0, "seeds 7 and 8 share an order");

    // Resume mid-epoch and across the epoch end; shards vs file; prefetch off.
    check_resume(g_file, g_file, c, 1, LOADER_IO_AUTO, 5);
    check_resume(g_file, g_dir, c, 0, LOADER_IO_AUTO, 13);
    check_resume(g_dir, g_file, d, 1, LOADER_IO_AUTO, 2);
    check_resume(g_file, g_dir, c, 0, LOADER_IO_HDF5, 3);  // direct path vs HDF5 path, bitwise


    // Errors, on every rank.
    LoaderConfig bad = c;
    bad.global_batch = 4 * g_size + 1;
    if (g_size > 1) check_error(g_file, &bad, "multiple of the");
    bad = c;
    bad.global_batch = 0;
    check_error(g_file, &bad, "positive multiple");
    check_error("/nonexistent/astromm.h5", &c, "/nonexistent/astromm.h5");
    bad = c;
    bad.photo_in = 10;
    check_error(g_file, &bad, "model.photo_in 10");
    bad = c;
    bad.crop = LOADER_CROP_SPREAD;
    bad.crop_count = 2;
    bad.crop_index = 2;
    check_error(g_file, &bad, "crop window 2 of 2");
    bad = c;
    bad.global_batch = 128 * g_size;
    check_error(g_file, &bad, "fewer than one global batch");
    bad = c;
    bad.split = DS_SPLIT_TEST;
    bad.subset_bits = 64;
    check_error(g_file, &bad, "no object matches");

    comm_barrier(g_comm);
    if (g_rank == 0) {
        char p[160];
        remove(g_file);
        for (int s = 0; s < 3; s++) {
            snprintf(p, sizeof p, "%s/shard_%05d.h5", g_dir, s);
            remove(p);
        }
        rmdir(g_dir);
    }
    return mpi_finish(g_comm, "test_mpi_loader");
}
