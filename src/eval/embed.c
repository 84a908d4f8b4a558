// astromm embed: see embed.h.
#include "eval/embed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/format/dataset.h"
#include "io/params_file.h"
#include "models/device_batch.h"
#include "data/preprocess/lightcurve.h"
#include "data/loader/io_worker.h"
#include "data/loader/loader.h"
#include "data/preprocess/spectrum.h"
#include "eval/embeddings_file.h"
#include "models/astrom3.h"
#include "models/zoobot.h"
#include "data/format/image_dataset.h"
#include "core/clock.h"
#include "nn/ops.h"

// Split of every dataset object (the loader does not hand it out).
static int dataset_splits(const char *path, int images, uint8_t **out, int64_t *n, AmError *err) {
    if (images) {
        ImgDataset *ids = NULL;
        if (imgds_open(path, &ids, err)) return 1;
        *n = imgds_count(ids);
        *out = am_malloc((size_t)*n + 1, "splits");
        memcpy(*out, imgds_splits(ids), (size_t)*n);
        imgds_close(ids);
        return 0;
    }
    Dataset *ds = NULL;
    if (ds_open(path, &ds, err)) return 1;
    *n = ds_count(ds);
    *out = am_malloc((size_t)*n + 1, "splits");
    for (int64_t i = 0; i < *n; i++) {
        DsObject o;
        ds_get_small(ds, i, &o);
        (*out)[i] = o.split;
    }
    ds_close(ds);
    return 0;
}

// Zeros the embedding of absent modalities; fused = normalise(mean of the present ones).
static void finish_rows(float **e, const uint8_t *has, int n, int D) {
    for (int i = 0; i < n; i++) {
        float *f = e[EMB_FUSED] + (size_t)i * D;
        int k = 0;
        memset(f, 0, (size_t)D * sizeof *f);
        for (int m = 0; m < MOD_COUNT; m++) {
            float *x = e[m] + (size_t)i * D;
            if (!has[MOD_COUNT * i + m]) {
                memset(x, 0, (size_t)D * sizeof *x);
                continue;
            }
            k++;
            for (int d = 0; d < D; d++) f[d] += x[d];
        }
        if (!k) continue;
        double ss = 0;
        for (int d = 0; d < D; d++) {
            f[d] /= (float)k;
            ss += (double)f[d] * f[d];
        }
        const float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int d = 0; d < D; d++) f[d] *= inv;
    }
}

// The writer's HDF5 calls while the loader is alive: HDF5 is not thread-safe,
// so they run as jobs on the loader's I/O thread (data/loader/io_worker.h),
// never beside an image read of the prefetch.
typedef struct {
    int op;  // 0 open, 1 write, 2 close
    const char *path;
    Comm *comm;
    const EmbFileInfo *info;
    EmbWriter **w;
    int64_t row0, nrows;
    const int64_t *id, *index;
    const int32_t *label;
    const uint8_t *split, *has;
    const float *const *emb;
    int ok, rc;
    AmError *err;
} WriterCall;

static void writer_call_run(void *arg) {
    WriterCall *c = arg;
    if (c->op == 0) c->rc = emb_writer_open(c->path, c->comm, c->info, c->w, c->err);
    else if (c->op == 1)
        c->rc = emb_writer_write(*c->w, c->row0, c->nrows, c->id, c->label, c->split, c->has, c->index, c->emb, c->err);
    else c->rc = emb_writer_close(*c->w, c->ok, c->err);
}

static int writer_call(WriterCall c) {
    io_job_run(writer_call_run, &c);
    return c.rc;
}

// The model side of a pass: AstroM3 (photometry, spectra, metadata, fused:
// unit norm) or a ConvNeXt image encoder (one embedding, "image": the pooled,
// layer-normalised features Zoobot's head reads, stored as they are).
typedef struct {
    int images;
    AstroM3 m;
    ConvNext enc;
    ParamStore ps;
    AmArena arena;
    DeviceBatch dev;
    int n_slots, n_has, dim, normalized;
    const char *names[EMB_MAX_SLOTS];
} Embedder;

// Builds the model for batches of b and loads the checkpoint (an image
// encoder takes the encoder's tensors of any checkpoint of the family: a
// Zoobot model, a fine-tuned one). Returns 0 or 1 (err set).
static int embedder_create(Embedder *x, const ModelConfig *mc, int b, const char *ckpt, AmError *err) {
    memset(x, 0, sizeof *x);
    x->images = mc->family == MODEL_FAMILY_CONVNEXT;
    int rc;
    if (x->images) {
        ConvNextConfig cc;
        zoobot_convnext_config(mc, &cc);
        convnext_register(&x->enc, &x->ps, &cc, "", 0);
        params_allocate(&x->ps);
        convnext_build(&x->enc, &x->arena, b);
        const ParamsLoadOptions o = {.allow_extra = 1};
        rc = params_load_with(&x->ps, ckpt, &o, err);
        x->n_slots = x->n_has = 1;
        x->dim = convnext_features(&cc);
        x->names[0] = "image";
    } else {
        astrom3_create(&x->m, mc, b);
        rc = params_load(&x->m.params, ckpt, err);
        x->n_slots = EMB_N;
        x->n_has = MOD_COUNT;
        x->dim = mc->proj_dim;
        x->normalized = 1;
        for (int k = 0; k < EMB_N; k++) x->names[k] = emb_astrom3_slot_name(k);
    }
    device_batch_alloc(&x->dev, mc, b);
    return rc;
}

static void embedder_free(Embedder *x) {
    if (x->images) {
        arena_free(&x->arena);
        params_free(&x->ps);
    } else {
        astrom3_free(&x->m);
    }
    device_batch_free(&x->dev);
}

// The embeddings e[slot] [n, dim] and presence has [n, n_has] of a batch's
// first nv (valid) rows.
static void embedder_forward(Embedder *x, const LoaderBatch *lb, const StepCtx *ctx, int nv, float **e, uint8_t *has) {
    Batch db = device_batch_upload(&x->dev, &lb->batch);
    const size_t D = (size_t)x->dim;
    if (x->images) {
        const float *feat = convnext_forward(&x->enc, &x->ps, db.images, lb->n, ctx);
        ops_to_host(e[0], feat, (size_t)lb->n * D * sizeof(float));
        memset(has, 1, (size_t)nv);
        return;
    }
    astrom3_embed_forward(&x->m, &db, ctx);
    for (int mod = 0; mod < MOD_COUNT; mod++) ops_to_host(e[mod], x->m.emb[mod], (size_t)lb->n * D * sizeof(float));
    memcpy(has, lb->has, (size_t)nv * MOD_COUNT);
    finish_rows(e, lb->has, nv, x->dim);
}

// The loader of the pass: every selected object once, in dataset order, with
// the inputs of validation (centred crops, no augmentation).
static int embed_loader(const RunConfig *cfg, Comm *comm, const EmbedOptions *opt, Loader **L, AmError *err) {
    const ModelConfig *mc = &cfg->model;
    LoaderConfig lc;
    loader_config_defaults(&lc);
    lc.global_batch = opt->batch * comm_size(comm);
    lc.seq_len = mc->seq_len;
    lc.photo_in = mc->photo_in;
    lc.seed = cfg->seed;
    lc.split = opt->split;
    lc.require_all = 0;
    lc.shuffle = 0;
    lc.drop_last = 0;
    lc.crop = LOADER_CROP_CENTER;
    lc.prefetch = cfg->prefetch;
    if (mc->family == MODEL_FAMILY_CONVNEXT) {
        lc.image_size = mc->image_size;
        lc.image_channels = mc->image_channels;
        lc.augment = 0;
    }
    return loader_open(cfg->data_path, comm, &lc, L, err);
}

int embed_run(const RunConfig *cfg, Comm *comm, const EmbedOptions *opt) {
    const int rank = comm_rank(comm), P = comm_size(comm);
    const ModelConfig *mc = &cfg->model;
    const int images = mc->family == MODEL_FAMILY_CONVNEXT;
    AmError err = {{0}};
    if (!cfg->data_path[0]) {
        if (!rank) fprintf(stderr, "astromm embed: %s: data.path is not set (the dataset to embed)\n", cfg->source);
        return 2;
    }
    if (!images && loader_check_model_inputs(NULL, mc->spec_len, mc->spec_in, mc->meta_in, mc->photo_in, &err)) {
        if (!rank) fprintf(stderr, "astromm embed: %s: %s\n", cfg->source, err.msg);
        return 2;
    }
    if (opt->batch < 1) {
        if (!rank) fprintf(stderr, "astromm embed: --batch must be >= 1 (got %d)\n", opt->batch);
        return 2;
    }
    if (imgds_probe(cfg->data_path) != images) {
        if (!rank)
            fprintf(stderr, "astromm embed: %s: %s is %s dataset but the model (model.family) is %s\n", cfg->source,
                    cfg->data_path, images ? "not an image" : "an image", images ? "an image encoder" : "AstroM3");
        return 2;
    }
    // the splits before the loader starts: its I/O thread then owns the HDF5 library
    uint8_t *splits = NULL;
    int64_t n_ds = 0;
    int rc = dataset_splits(cfg->data_path, images, &splits, &n_ds, &err);
    if (rc) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
    if (comm_any_failed(comm, rc)) return free(splits), 1;
    Loader *L = NULL;
    rc = embed_loader(cfg, comm, opt, &L, &err);
    if (rc && !rank) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
    if (comm_any_failed(comm, rc)) return loader_close(L), free(splits), 1;
    if (!images && loader_check_model_inputs(L, mc->spec_len, mc->spec_in, mc->meta_in, mc->photo_in, &err)) {
        if (!rank) fprintf(stderr, "astromm embed: %s: %s\n", cfg->source, err.msg);
        return loader_close(L), free(splits), 2;
    }
    const int64_t N = loader_size(L);
    if (N < 1) {
        if (!rank)
            fprintf(stderr, "astromm embed: %s: no objects in split '%s'\n", cfg->data_path,
                    emb_split_name(opt->split));
        loader_close(L);
        free(splits);
        return 2;
    }

    const int b = opt->batch;
    Embedder x;
    rc = embedder_create(&x, mc, b, opt->checkpoint, &err);
    if (rc && !rank)
        fprintf(stderr, "astromm embed: error: checkpoint %s does not load into the model of %s: %s\n",
                opt->checkpoint, cfg->source, err.msg);
    int status = 0;
    float *e[EMB_MAX_SLOTS] = {0};
    uint8_t *split = NULL, *has = NULL;
    if (comm_any_failed(comm, rc)) {
        status = 1;
        goto out_model;
    }
    const int D = x.dim;
    for (int k = 0; k < x.n_slots; k++) e[k] = am_malloc((size_t)b * D * sizeof(float), "embeddings");
    split = am_malloc((size_t)b, "split");
    has = am_malloc((size_t)b * x.n_has, "presence");
    EmbFileInfo info = {.checkpoint = opt->checkpoint, .dataset = cfg->data_path,
                        .classes = loader_class_names(L), .n_classes = loader_n_classes(L), .n = N, .dim = D,
                        .n_slots = x.n_slots, .n_has = x.n_has, .slot_names = x.names, .normalized = x.normalized,
                        .storage = cfg->embed_storage, .pca = cfg->embed_pca};
    EmbWriter *w = NULL;
    if (writer_call((WriterCall){.op = 0, .path = opt->out, .comm = comm, .info = &info, .w = &w, .err = &err})) {
        if (!rank) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
        status = 1;
        goto out_model;
    }
    const int64_t nb = loader_batches_per_epoch(L);
    int ok = 1;
    if (!opt->quiet && !rank)
        printf("embedding %lld objects (split %s) of %s on %d rank%s, %lld batches\n", (long long)N,
               emb_split_name(opt->split), cfg->data_path, P, P > 1 ? "s" : "", (long long)nb);
    const double t0 = am_now_s();
    for (int64_t k = 0; k < nb; k++) {
        LoaderBatch lb;
        int lrc = loader_next(L, &lb, &err);
        if (comm_any_failed(comm, lrc)) {
            if (lrc) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
            ok = 0;
            break;
        }
        int nv = 0;
        while (nv < lb.n && lb.valid[nv]) nv++;
        for (int i = nv; i < lb.n; i++)
            CHECK(!lb.valid[i], "loader padding rows are not at the end of the block");
        for (int i = 0; i < nv; i++) {
            CHECK(lb.index[i] >= 0 && lb.index[i] < n_ds, "dataset index %lld out of range", (long long)lb.index[i]);
            split[i] = splits[lb.index[i]];
        }
        StepCtx ctx = {.seed = cfg->seed, .step = 0, .sample_offset = lb.sample_offset, .training = 0};
        embedder_forward(&x, &lb, &ctx, nv, e, has);
        const float *ce[EMB_MAX_SLOTS];
        for (int s = 0; s < x.n_slots; s++) ce[s] = e[s];
        if (writer_call((WriterCall){.op = 1, .w = &w, .row0 = nv ? lb.sample_offset : 0, .nrows = nv, .id = lb.ids,
                                     .label = lb.batch.labels, .split = split, .has = has, .index = lb.index, .emb = ce,
                                     .err = &err})) {
            if (ok) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
            ok = 0;
        }
    }
    const double secs = am_now_s() - t0;
    if (writer_call((WriterCall){.op = 2, .w = &w, .ok = ok, .err = &err})) {
        if (ok && err.msg[0]) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
        status = 1;
    } else if (!opt->quiet && !rank) {
        printf("wrote %s: %lld objects, %d-d embeddings (", opt->out, (long long)N, D);
        for (int s = 0; s < x.n_slots; s++) printf("%s%s", s ? ", " : "", x.names[s]);
        printf("); %.1f s, %.1f objects/s\n", secs, secs > 0 ? (double)N / secs : 0.0);
    }
out_model:
    for (int k = 0; k < EMB_MAX_SLOTS; k++) free(e[k]);
    free(split);
    free(has);
    embedder_free(&x);
    loader_close(L);
    free(splits);
    return status;
}
