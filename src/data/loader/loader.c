// Parallel sharded loader (design and guarantees: loader.h): epoch order,
// batch planning and assembly on the I/O thread, the public API. The reads
// themselves: loader_io.c.
#define _POSIX_C_SOURCE 200809L

#include "core/clock.h"
#include "data/loader/loader_internal.h"

#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/rng.h"
#include "data/format/dataset.h"
#include "data/format/dataset_h5.h"
#include "data/loader/io_worker.h"
#include "data/preprocess/lightcurve.h"
#include "mpi/comm_mpi.h"


void loader_config_defaults(LoaderConfig *c) {
    memset(c, 0, sizeof *c);
    c->global_batch = 512;
    c->seq_len = 200;
    c->seed = 42;
    c->split = DS_SPLIT_TRAIN;
    c->require_all = 1;
    c->shuffle = 1;
    c->drop_last = 1;
    c->crop = LOADER_CROP_RANDOM;
    c->photo_in = LC_CHANNELS;
    c->prefetch = 1;
}

// ------------------------------------------------------------ I/O-thread work

void loader_ensure_perm(struct Loader *l, int64_t epoch) {
    if (l->perm_epoch == epoch) return;
    memcpy(l->perm, l->sel, (size_t)l->n_sel * sizeof *l->perm);
    if (l->cfg.shuffle) {
        // Fisher-Yates; draw i decides position i, so the permutation is a pure
        // function of (seed, epoch, n_sel).
        const AmRng r = am_rng(l->cfg.seed, (uint64_t)epoch, RNG_SHUFFLE, 0);
        for (int64_t i = l->n_sel - 1; i > 0; i--) {
            const int64_t j = am_rng_below(&r, (uint64_t)i, (uint32_t)(i + 1));
            const int64_t t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    l->perm_epoch = epoch;
}

static int cmp_plan(const void *a, const void *b) {
    const RowPlan *x = a, *y = b;
    if (x->index != y->index) return x->index < y->index ? -1 : 1;
    return x->k - y->k;
}


// Index of the first non-finite value of x[0..n), or -1.
static long first_nonfinite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

// A NaN or Inf in a stored value would train (or validate) on garbage silently:
// the loss turns NaN, or one validation object makes "val loss nan" end the run
// by early stopping. So every row is checked as it is loaded, for every split,
// before any step uses it; the error names the file, split, object and modality.
static int check_row_finite(const struct Loader *l, const RowPlan *p, const DsObject *o, const float *spec,
                            const float *lc_raw, AmError *err) {
    static const char *const split_names[] = {"train", "val", "test"};
    const char *what = NULL, *field = "";
    long at = -1;
    float bad = 0.0f;
    if (spec && (at = first_nonfinite(spec, 3 * (size_t)SPEC_LEN)) >= 0) {
        what = "spectrum", field = "/spectra", bad = spec[at];
    } else if (lc_raw && (at = first_nonfinite(lc_raw, (size_t)p->lc_len * DS_LC_VALUES)) >= 0) {
        what = "light curve", field = "/photometry/values (window)", bad = lc_raw[at];
    } else if (lc_raw && !(isfinite(o->lc.log10_mad) && isfinite(o->lc.dt))) {
        what = "light curve", field = "log10_mad/dt", at = isfinite(o->lc.log10_mad) ? 1 : 0;
        bad = at ? o->lc.dt : o->lc.log10_mad;
    } else if (o->has[MOD_METADATA] && (at = first_nonfinite(o->meta, (size_t)l->meta_cols)) >= 0) {
        what = "metadata", field = "/metadata/raw", bad = o->meta[at];
    }
    if (!what) return 0;
    return am_error_set(err, "%s: %s split, object id %lld (dataset row %lld): non-finite %s value (%s element %ld "
                        "= %g); remove or repair the object (astromm ingest refuses such rows)",
                        l->sh[p->shard].info.path, o->split < 3 ? split_names[o->split] : "unknown",
                        (long long)o->id, (long long)p->index, what, field, at, (double)bad);
}

// The first light-curve step of an object's window (len steps stored, L wanted).
static int window_start(const struct Loader *l, const Slot *s, const RowPlan *p, int64_t len) {
    const int L = l->cfg.seq_len;
    if (l->cfg.crop == LOADER_CROP_CENTER || (l->cfg.crop == LOADER_CROP_SPREAD && l->cfg.crop_count <= 1))
        return lc_center_start((int)len, L);
    if (l->cfg.crop == LOADER_CROP_SPREAD)
        return (int)((len - L) * (int64_t)l->cfg.crop_index / (l->cfg.crop_count - 1));
    const AmRng r = am_rng(l->cfg.seed, (uint64_t)s->epoch, RNG_CROP, 0);
    return am_rng_below(&r, (uint64_t)p->index, (uint32_t)(len - L + 1));
}

// Plan: which object each local row holds, its shard, its light-curve window,
// whether it has a spectrum; then the rows sorted by (shard, index) so reads
// are ascending, repeats (an epoch's padding) marked to be read once.
static void plan_rows(struct Loader *l, Slot *s) {
    const int n = l->local_n, L = l->cfg.seq_len;
    const int64_t B = l->cfg.global_batch;
    loader_ensure_perm(l, s->epoch);
    s->n_valid = 0;
    for (int k = 0; k < n; k++) {
        const int64_t pos = s->step * B + (int64_t)l->rank * n + k;
        RowPlan *p = &l->plan[k];
        p->k = k;
        p->index = l->perm[pos % l->n_sel];
        s->valid[k] = pos < l->n_sel;
        s->n_valid += s->valid[k];
        p->shard = ds_locate(l->ds, p->index, &p->local);
        DsObject o;
        ds_get_small(l->ds, p->index, &o);
        p->has_spec = o.has[MOD_SPECTRA];
        const int64_t len = l->sh[p->shard].info.offsets[p->local + 1] - l->sh[p->shard].info.offsets[p->local];
        p->lc_start = len > L ? window_start(l, s, p, len) : 0;
        p->lc_len = len > L ? L : (int)len;
    }
    qsort(l->plan, (size_t)n, sizeof *l->plan, cmp_plan);
    for (int u = 0; u < n; u++) l->plan[u].dup = u > 0 && l->plan[u].index == l->plan[u - 1].index;
}

// Read: per shard, the runs of consecutive rows (spectra) and of touching
// windows (steps), each array in one collective read, into the staging buffers
// (or, on the direct path, the spectra straight into the slot).
static int read_rows(struct Loader *l, Slot *s, AmError *err) {
    const int n = l->local_n;
    hsize_t *st = am_malloc(2 * (size_t)n * sizeof *st, "loader selection"), *ct = st + n;
    float **dst = am_malloc((size_t)n * sizeof *dst, "loader selection");
    const size_t spec_el = 3 * (size_t)SPEC_LEN;
    size_t spec_pos = 0, lc_pos = 0;
    int rc = 0;
    for (int sh = 0; sh < l->n_sh && !rc; sh++) {
        LoaderShard *S = &l->sh[sh];
        int runs = 0;
        const size_t first_spec = spec_pos;
        for (int u = 0; u < n; u++) {
            const RowPlan *p = &l->plan[u];
            if (p->shard != sh || p->dup || !p->has_spec) continue;
            dst[spec_pos - first_spec] = s->spec + (size_t)p->k * spec_el;
            if (runs && st[runs - 1] + ct[runs - 1] == (hsize_t)p->local)
                ct[runs - 1]++;
            else {
                st[runs] = (hsize_t)p->local;
                ct[runs++] = 1;
            }
            spec_pos++;
        }
        if (S->fh != MPI_FILE_NULL) {
            loader_advise_runs(S->fd, S->off_spec, st, ct, runs, spec_el * sizeof(float));
            rc = loader_read_direct(l, s, S->fh, S->off_spec, "/spectra", S->info.path, st, ct, runs,
                                    spec_el * sizeof(float), dst, NULL, err);
        } else {
            rc = loader_read_rows(l, s, S->d_spec, "/spectra", S->info.path, st, ct, runs, 3, 3 * SPEC_LEN,
                                  l->spec_stage + first_spec * 3 * SPEC_LEN, err);
        }
        if (rc) break;
        runs = 0;
        const size_t first_lc = lc_pos;
        for (int u = 0; u < n; u++) {
            const RowPlan *p = &l->plan[u];
            if (p->shard != sh || p->dup || p->lc_len == 0) continue;
            const hsize_t a = (hsize_t)(S->info.offsets[p->local] + p->lc_start);
            if (runs && st[runs - 1] + ct[runs - 1] == a)
                ct[runs - 1] += (hsize_t)p->lc_len;
            else {
                st[runs] = a;
                ct[runs++] = (hsize_t)p->lc_len;
            }
            lc_pos += (size_t)p->lc_len;
        }
        if (S->info.offsets[S->info.n] == 0) {
            // No light curve in the shard (a metadata-only survey): nothing to read,
            // and the same on every rank, so no rank waits in a collective.
        } else if (S->fh != MPI_FILE_NULL) {
            loader_advise_runs(S->fd, S->off_vals, st, ct, runs, DS_LC_VALUES * sizeof(float));
            rc = loader_read_direct(l, s, S->fh, S->off_vals, "/photometry/values", S->info.path, st, ct, runs,
                                    DS_LC_VALUES * sizeof(float), NULL, l->lc_stage + first_lc * DS_LC_VALUES, err);
        } else {
            rc = loader_read_rows(l, s, S->d_vals, "/photometry/values", S->info.path, st, ct, runs, 2, DS_LC_VALUES,
                                  l->lc_stage + first_lc * DS_LC_VALUES, err);
        }
    }
    free(st);
    free(dst);
    return rc;
}

// The photometry tensor [L, photo_in] and mask [L] of one row from its stored
// window (lc_src: lc_len steps of t01, flux_n, err_n).
static void photometry_row(struct Loader *l, const RowPlan *p, const DsObject *o, const float *lc_src, float *x,
                           float *mk) {
    const int L = l->cfg.seq_len, CH = l->cfg.photo_in;
    float photo_z[DS_PHOTO_COLS];
    // A light curve without catalogue photo columns (NaN: e.g. ingested with no
    // --catalog) gets the training mean, i.e. 0 after z-scoring.
    for (int c = 0; c < DS_PHOTO_COLS; c++)
        photo_z[c] = isfinite(o->photo[c]) ? (o->photo[c] - l->photo_mean[c]) / l->photo_std[c] : 0.0f;
    float *t = l->lc_tmp, *f = t + L, *e = f + L;
    for (int j = 0; j < p->lc_len; j++) {
        t[j] = lc_src[3 * j];
        f[j] = lc_src[3 * j + 1];
        e[j] = lc_src[3 * j + 2];
    }
    const LcNorm nm = {.t01 = t, .flux_n = f, .err_n = e, .n = p->lc_len, .log10_mad = o->lc.log10_mad,
                       .dt = o->lc.dt};
    float *x9 = CH == LC_CHANNELS ? x : l->lc_tmp + 3 * (size_t)L;
    CHECK(lc_to_tensor(&nm, photo_z, L, 0, x9, mk) == 0, "loader: light-curve window of %d > %d steps", p->lc_len, L);
    if (CH != LC_CHANNELS_PHASE) return;
    const double period = pow(10.0, (double)o->photo[l->period_col]);  // raw log10 days
    for (int j = L - 1; j >= 0; j--) {  // widen the rows from 9 to 11 channels
        float *row = x + (size_t)j * CH;
        memcpy(row, x9 + (size_t)j * LC_CHANNELS, LC_CHANNELS * sizeof *row);
        double ph = 0;
        const int has = j < p->lc_len && isfinite(period) && period > 0;
        if (has) ph = 2 * 3.14159265358979323846 * fmod((double)t[j] * (double)o->lc.dt * 365.0 / period, 1.0);
        row[LC_CHANNELS] = has ? (float)sin(ph) : 0.0f;
        row[LC_CHANNELS + 1] = has ? (float)cos(ph) : 0.0f;
    }
}

// Assemble: the rows in batch order from the staging buffers (sorted order). On
// the direct path the spectra are already in place: a repeated object copies
// its first row. Every row is checked for non-finite values here.
static int assemble_rows(struct Loader *l, Slot *s, AmError *err) {
    const int n = l->local_n, L = l->cfg.seq_len;
    const size_t spec_el = 3 * (size_t)SPEC_LEN, ph_el = (size_t)L * l->cfg.photo_in;
    size_t spec_pos = 0, lc_pos = 0;
    const float *spec_src = NULL, *lc_src = NULL;
    for (int u = 0; u < n; u++) {
        const RowPlan *p = &l->plan[u];
        const int k = p->k;
        DsObject o;
        ds_get_small(l->ds, p->index, &o);
        if (!p->dup) {
            spec_src = p->has_spec ? l->spec_stage + (spec_pos++) * spec_el : NULL;
            lc_src = p->lc_len ? l->lc_stage + lc_pos * DS_LC_VALUES : NULL;
            lc_pos += (size_t)p->lc_len;
        }
        s->index[k] = p->index;
        s->ids[k] = o.id;
        s->labels[k] = o.label;
        memcpy(s->has + (size_t)k * MOD_COUNT, o.has, MOD_COUNT);
        float *sp = s->spec + (size_t)k * spec_el;
        if (spec_src && l->sh[p->shard].fh != MPI_FILE_NULL) {
            if (!p->dup)
                spec_src = sp;
            else
                memcpy(sp, spec_src, spec_el * sizeof *sp);
        } else if (spec_src) {
            memcpy(sp, spec_src, spec_el * sizeof *sp);
        } else {
            memset(sp, 0, spec_el * sizeof *sp);
        }
        if (check_row_finite(l, p, &o, spec_src ? sp : NULL, lc_src, err)) return -1;
        float *x = s->phot + (size_t)k * ph_el, *mk = s->mask + (size_t)k * L;
        if (lc_src) {
            photometry_row(l, p, &o, lc_src, x, mk);
        } else {
            memset(x, 0, ph_el * sizeof *x);
            memset(mk, 0, (size_t)L * sizeof *mk);
        }
        float *m = s->meta + (size_t)k * (size_t)l->meta_cols;
        for (int c = 0; c < l->meta_cols; c++)
            m[c] = o.has[MOD_METADATA] ? (o.meta[c] - l->meta_mean[c]) / l->meta_std[c] : 0.0f;
    }
    return 0;
}

// One batch into slot s: plan, read, assemble.
static int fill_slot(struct Loader *l, Slot *s, AmError *err) {
    if (l->imgs) return loader_images_fill(l, s, err);
    plan_rows(l, s);
    const int rc = read_rows(l, s, err);
    return rc ? rc : assemble_rows(l, s, err);
}

static void fill_job(void *arg) {
    Slot *s = arg;
    H5Quiet q;
    h5_quiet_on(&q);
    memset(&s->err, 0, sizeof s->err);
    s->rc = fill_slot(s->l, s, &s->err);
    h5_quiet_off(&q);
}

// ------------------------------------------------------------ open / close

typedef struct {
    struct Loader *l;
    int stage;  // 0: serial dataset open; 1: MPI-IO open; 2: close
    int rc;
    AmError err;
} OpenJob;


static void open_job(void *arg) {
    OpenJob *j = arg;
    struct Loader *l = j->l;
    if (j->stage == 0) {
        if (imgds_probe(l->path)) {
            j->rc = imgds_open(l->path, &l->imgs, &j->err);
            return;
        }
        j->rc = ds_open(l->path, &l->ds, &j->err);
        if (!j->rc) ds_release_files(l->ds);
        return;
    }
    if (l->imgs) {  // image datasets are read with plain HDF5 per rank (no MPI-IO stage)
        if (j->stage == 2) imgds_close(l->imgs), l->imgs = NULL;
        return;
    }
    H5Quiet q;
    h5_quiet_on(&q);
    if (j->stage == 1) {
        j->rc = loader_mpio_open(l, &j->err);
    } else {
        loader_mpio_close(l);
        ds_close(l->ds);
        l->ds = NULL;
    }
    h5_quiet_off(&q);
}

// Every rank learns whether any rank failed, and every rank gets the message of
// the first failing rank (rank 0 is the one that prints: a bad row on rank 3
// must not be reported as "failed on another rank" only).
static int agree(struct Loader *l, int rc, AmError *err, const char *what) {
    if (!comm_any_failed(l->comm, rc)) return 0;
    const int size = comm_size(l->comm), rank = comm_rank(l->comm);
    double *failed = calloc((size_t)size, sizeof *failed);
    CHECK(failed, "out of memory (loader error exchange)");
    failed[rank] = rc ? 1.0 : 0.0;
    comm_allreduce_sum_host(l->comm, failed, (size_t)size);
    int first = 0, bad = 0;
    while (first < size - 1 && failed[first] == 0) first++;
    for (int r = 0; r < size; r++) bad += failed[r] != 0;
    free(failed);
    if (!rc) am_error_set(err, "%s: %s failed", l->path, what);
    comm_broadcast(l->comm, err->msg, sizeof err->msg, first);
    if (size > 1 && bad > 1) {
        const size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, " (and on %d more rank(s))", bad - 1);
    }
    return -1;
}

static void slot_alloc(struct Loader *l, Slot *s) {
    const size_t n = (size_t)l->local_n, L = (size_t)l->cfg.seq_len;
    s->phot = am_aligned_alloc(n * L * (size_t)l->cfg.photo_in * sizeof(float), "loader photometry");
    s->mask = am_aligned_alloc(n * L * sizeof(float), "loader mask");
    s->spec = am_aligned_alloc(n * 3 * SPEC_LEN * sizeof(float), "loader spectra");
    s->meta = am_aligned_alloc(n * (size_t)l->meta_cols * sizeof(float), "loader metadata");
    loader_slot_alloc_rows(l, s);
}

void loader_slot_alloc_rows(struct Loader *l, Slot *s) {
    const size_t n = (size_t)l->local_n;
    s->labels = am_malloc(n * sizeof *s->labels, "loader labels");
    s->index = am_malloc(n * sizeof *s->index, "loader index");
    s->ids = am_malloc(n * sizeof *s->ids, "loader ids");
    s->has = am_calloc(n * MOD_COUNT, 1, "loader has");
    s->valid = am_malloc(n, "loader valid");
    s->l = l;
}

static void slot_free(Slot *s) {
    free(s->truth);
    free(s->images);
    free(s->votes);
    free(s->phot);
    free(s->mask);
    free(s->spec);
    free(s->meta);
    free(s->labels);
    free(s->index);
    free(s->ids);
    free(s->has);
    free(s->valid);
}

static int select_objects(struct Loader *l, AmError *err) {
    const int64_t N = ds_count(l->ds);
    l->sel = am_malloc((size_t)N * sizeof *l->sel, "loader selection");
    for (int64_t i = 0; i < N; i++) {
        DsObject o;
        ds_get_small(l->ds, i, &o);
        const LoaderConfig *c = &l->cfg;
        if (c->split != LOADER_ANY_SPLIT && o.split != c->split) continue;
        if (c->subset_bits && !(o.subset & c->subset_bits)) continue;
        if (c->require_all && !(o.has[0] && o.has[1] && o.has[2])) continue;
        if ((c->require_mask & 1 && !o.has[0]) || (c->require_mask & 2 && !o.has[1]) || (c->require_mask & 4 && !o.has[2]))
            continue;
        if (c->labelled_only && o.label < 0) continue;
        l->sel[l->n_sel++] = i;
    }
    if (l->n_sel == 0)
        return am_error_set(err, "%s: no object matches the selection (split %d, subset bits %d%s%s, modality "
                            "mask %d)%s", l->path, l->cfg.split, l->cfg.subset_bits,
                            l->cfg.require_all ? ", all modalities" : "", l->cfg.labelled_only ? ", labelled" : "",
                            l->cfg.require_mask,
                            l->cfg.require_all ? "; hint: a dataset without some modality can pre-train on the others "
                                                 "(train.modalities, e.g. \"photometry+metadata\")" : "");
    const int64_t B = l->cfg.global_batch;
    l->n_batches = l->cfg.drop_last ? l->n_sel / B : (l->n_sel + B - 1) / B;
    if (l->n_batches == 0)
        return am_error_set(err, "%s: %lld selected objects are fewer than one global batch of %lld with drop_last; "
                            "use a smaller batch or drop_last = false", l->path, (long long)l->n_sel, (long long)B);
    ds_stats(l->ds, &l->meta_mean, &l->meta_std, &l->photo_mean, &l->photo_std);
    const int M = l->meta_cols;
    for (int c = 0; c < M + DS_PHOTO_COLS; c++) {
        const float sd = c < M ? l->meta_std[c] : l->photo_std[c - M];
        if (!(sd > 0.0f) || sd > 3e38f)
            return am_error_set(err, "%s: %s[%d] = %g is not a positive finite standard deviation", l->path,
                                c < M ? "/metadata/std" : "/photometry/photo_std", c < M ? c : c - M, (double)sd);
    }
    return 0;
}

int loader_open(const char *path, Comm *comm, const LoaderConfig *cfg, Loader **out, AmError *err) {
    *out = NULL;
    const int P = comm_size(comm);
    if (cfg->global_batch < 1 || cfg->global_batch % P != 0)
        return am_error_set(err, "loader: global batch %d must be a positive multiple of the %d ranks",
                            cfg->global_batch, P);
    if (cfg->seq_len < 1) return am_error_set(err, "loader: seq_len %d must be positive", cfg->seq_len);
    if (cfg->photo_in != LC_CHANNELS && cfg->photo_in != LC_CHANNELS_PHASE)
        return am_error_set(err, "loader: model.photo_in %d: %d (AstroM3's channels) or %d (with the phase at the "
                                 "period)", cfg->photo_in, LC_CHANNELS, LC_CHANNELS_PHASE);
    if (cfg->crop == LOADER_CROP_SPREAD && (cfg->crop_count < 1 || cfg->crop_index < 0 || cfg->crop_index >= cfg->crop_count))
        return am_error_set(err, "loader: crop window %d of %d", cfg->crop_index, cfg->crop_count);
    struct Loader *l = am_calloc(1, sizeof *l, "loader");
    l->cfg = *cfg;
    l->comm = comm;
    l->rank = comm_rank(comm);
    l->size = P;
    l->local_n = cfg->global_batch / P;
    l->perm_epoch = -1;
    l->ready = -1;
    l->dxpl = -1;
    l->path = am_strdup(path, "path");
    l->mpi = comm_mpi_dup(comm);
    io_worker_start(cfg->prefetch && comm_thread_multiple(comm));

    OpenJob j = {.l = l, .stage = 0};
    io_job_run(open_job, &j);
    if (agree(l, j.rc, &j.err, "opening the dataset")) {
        *err = j.err;
        loader_close(l);
        return -1;
    }
    if (l->imgs) {
        const int rc = loader_images_setup(l, &j.err);
        if (rc) {
            *err = j.err;
            loader_close(l);
            return -1;
        }
        l->perm = am_malloc((size_t)l->n_sel * sizeof *l->perm, "loader permutation");
        loader_images_slot_alloc(l, &l->slot[0]);
        loader_images_slot_alloc(l, &l->slot[1]);
        *out = l;
        return 0;
    }
    l->n_sh = ds_shard_count(l->ds);
    l->sh = am_calloc((size_t)l->n_sh, sizeof *l->sh, "loader shards");
    for (int i = 0; i < l->n_sh; i++) {
        l->sh[i].file = l->sh[i].d_spec = l->sh[i].d_vals = -1;
        l->sh[i].fh = MPI_FILE_NULL;
        l->sh[i].fd = -1;
        ds_shard_info(l->ds, i, &l->sh[i].info);
    }
    l->meta_cols = ds_meta_cols(l->ds);
    int rc = select_objects(l, &j.err);  // same data on every rank: same outcome
    if (!rc) {
        j.stage = 1;
        io_job_run(open_job, &j);
        rc = agree(l, j.rc, &j.err, "opening with MPI-IO");
    }
    if (rc) {
        *err = j.err;
        loader_close(l);
        return -1;
    }
    ds_classes(l->ds, &l->classes, &l->n_classes);
    const size_t n = (size_t)l->local_n, L = (size_t)cfg->seq_len;
    l->perm = am_malloc((size_t)l->n_sel * sizeof *l->perm, "loader permutation");
    l->plan = am_malloc(n * sizeof *l->plan, "loader plan");
    l->spec_stage = am_aligned_alloc(n * 3 * SPEC_LEN * sizeof(float), "loader staging");
    l->lc_stage = am_aligned_alloc(n * L * DS_LC_VALUES * sizeof(float), "loader staging");
    l->lc_tmp = am_malloc((3 + LC_CHANNELS) * L * sizeof(float), "loader staging");  // t, f, e; 9-channel rows
    l->period_col = photo_column_index("period");
    slot_alloc(l, &l->slot[0]);
    slot_alloc(l, &l->slot[1]);
    *out = l;
    return 0;
}

void loader_close(Loader *l) {
    if (!l) return;
    for (int i = 0; i < 2; i++)
        if (l->slot[i].submitted) io_job_wait(&l->slot[i].job);
    OpenJob j = {.l = l, .stage = 2};
    io_job_run(open_job, &j);
    io_worker_stop();
    if (l->mpi != MPI_COMM_NULL) MPI_Comm_free(&l->mpi);
    for (int i = 0; i < 2; i++)
        if (l->slot[i].l) slot_free(&l->slot[i]);
    free(l->sh);
    free(l->sel);
    free(l->perm);
    free(l->plan);
    free(l->spec_stage);
    free(l->lc_stage);
    free(l->lc_tmp);
    free(l->img_stage);
    free(l->path);
    free(l);
}

// ------------------------------------------------------------ iteration

int64_t loader_size(const Loader *l) { return l->n_sel; }

void loader_class_counts(const Loader *l, int64_t *counts) {
    if (l->imgs) return loader_images_class_counts(l, counts);
    memset(counts, 0, (size_t)l->n_classes * sizeof *counts);
    for (int64_t i = 0; i < l->n_sel; i++) {
        DsObject o;
        ds_get_small(l->ds, l->sel[i], &o);
        if (o.label >= 0 && o.label < l->n_classes) counts[o.label]++;
    }
}
int64_t loader_batches_per_epoch(const Loader *l) { return l->n_batches; }
int loader_meta_cols(const Loader *l) { return l->meta_cols; }

int loader_check_model_inputs(const Loader *l, int spec_len, int spec_in, int meta_in, int photo_in, AmError *err) {
    if (l && l->imgs) return 0;  // images: the image model checks its own shape
    if (spec_len != SPEC_LEN || spec_in != 3)
        return am_error_set(err, "the dataset format fixes model.spec_len = %d and model.spec_in = 3 (got %d, %d)",
                            SPEC_LEN, spec_len, spec_in);
    if (photo_in != LC_CHANNELS && photo_in != LC_CHANNELS_PHASE)
        return am_error_set(err, "model.photo_in = %d: the loader delivers %d channels (or %d: with the phase at the "
                            "period)", photo_in, LC_CHANNELS, LC_CHANNELS_PHASE);
    if (l && meta_in != l->meta_cols)
        return am_error_set(err, "the dataset %s has %d metadata columns but model.meta_in is %d; hint: --set "
                            "model.meta_in=%d", l->path, l->meta_cols, meta_in, l->meta_cols);
    return 0;
}

int loader_n_classes(const Loader *l) { return l->n_classes; }
const char *const *loader_class_names(const Loader *l) { return l->classes; }

void loader_position(const Loader *l, int64_t *epoch, int64_t *step) {
    *epoch = l->epoch;
    *step = l->step;
}

static void submit(struct Loader *l, int i, int64_t epoch, int64_t step) {
    Slot *s = &l->slot[i];
    s->epoch = epoch;
    s->step = step;
    s->job = (IoJob){.run = fill_job, .arg = s};
    s->submitted = 1;
    io_job_submit(&s->job);
}

static void drain(struct Loader *l) {
    for (int i = 0; i < 2; i++)
        if (l->slot[i].submitted) {
            io_job_wait(&l->slot[i].job);
            l->slot[i].submitted = 0;
        }
    l->ready = -1;
}

int loader_seek(Loader *l, int64_t epoch, int64_t step, AmError *err) {
    if (epoch < 0 || step < 0 || step >= l->n_batches)
        return am_error_set(err, "loader_seek: position (epoch %lld, batch %lld) outside an epoch of %lld batches",
                            (long long)epoch, (long long)step, (long long)l->n_batches);
    drain(l);  // a read in flight is collective: finish it, then forget it
    l->epoch = epoch;
    l->step = step;
    return 0;
}

int loader_next(Loader *l, LoaderBatch *out, AmError *err) {
    memset(out, 0, sizeof *out);
    int i = l->ready;
    if (i < 0) {  // nothing prefetched (first call, after a seek, or prefetch off)
        i = l->slot[0].submitted ? 1 : 0;
        submit(l, i, l->epoch, l->step);
    }
    Slot *s = &l->slot[i];
    const double t0 = am_now_s();
    io_job_wait(&s->job);
    l->stats.wait_seconds += am_now_s() - t0;
    s->submitted = 0;
    l->ready = -1;
    l->stats.read_seconds += s->read_seconds;
    l->stats.bytes_read += s->bytes_read;
    l->stats.reads += s->reads;
    l->stats.collective_reads += s->collective_reads;
    l->stats.direct_reads += s->direct_reads;
    if (s->reads) l->stats.last_io_mode = s->last_io_mode;
    s->read_seconds = s->bytes_read = 0;
    s->reads = s->collective_reads = s->direct_reads = 0;
    // Collective: a rank whose rows are bad must not leave the others waiting in
    // the next step's reductions (the watchdog would end the job, less clearly).
    if (s->rc) *err = s->err;
    if (agree(l, s->rc, err, "reading a batch")) return -1;
    l->stats.batches++;
    if (++l->step == l->n_batches) {
        l->step = 0;
        l->epoch++;
    }
    if (l->cfg.prefetch) {
        l->ready = 1 - i;
        submit(l, l->ready, l->epoch, l->step);
    }
    out->batch = (Batch){.photometry = s->phot, .photometry_mask = s->mask, .spectra = s->spec,
                         .metadata = s->meta, .labels = s->labels, .n = l->local_n};
    if (l->imgs)
        out->batch = (Batch){.labels = s->labels, .images = s->images, .votes = s->votes, .image_size = l->img_size,
                             .image_channels = l->img_channels, .answers = l->schema.answers, .n = l->local_n};
    out->index = s->index;
    out->ids = s->ids;
    out->has = s->has;
    out->valid = s->valid;
    out->truth = s->truth;
    out->epoch = s->epoch;
    out->step = s->step;
    out->sample_offset = s->step * l->cfg.global_batch + (int64_t)l->rank * l->local_n;
    out->n = l->local_n;
    out->n_valid = s->n_valid;
    return 0;
}

void loader_stats(const Loader *l, LoaderStats *out) { *out = l->stats; }

int loader_is_images(const Loader *l) { return l->imgs != NULL; }

void loader_image_shape(const Loader *l, int *size, int *channels) {
    *size = l->img_size;
    *channels = l->img_channels;
}

int loader_vote_schema(const Loader *l, VoteSchema *out, AmError *err) {
    if (!l->imgs) return am_error_set(err, "%s: not an image dataset (no vote schema)", l->path);
    *out = l->schema;
    return 0;
}
