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
#include "data/loader/loader.h"
#include "data/preprocess/spectrum.h"
#include "eval/embeddings_file.h"
#include "models/astrom3.h"
#include "nn/ops.h"

// 1 when any rank passes a non-zero rc.

// Split of every dataset object (the loader does not hand it out).
static int dataset_splits(const char *path, uint8_t **out, int64_t *n, AmError *err) {
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
static void finish_rows(float *e[EMB_N], const uint8_t *has, int n, int D) {
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

int embed_run(const RunConfig *cfg, Comm *comm, const EmbedOptions *opt) {
    const int rank = comm_rank(comm), P = comm_size(comm);
    const ModelConfig *mc = &cfg->model;
    AmError err = {{0}};
    if (!cfg->data_path[0]) {
        if (!rank) fprintf(stderr, "astromm embed: %s: data.path is not set (the dataset to embed)\n", cfg->source);
        return 2;
    }
    if (loader_check_model_inputs(NULL, mc->spec_len, mc->spec_in, mc->meta_in, mc->photo_in, &err)) {
        if (!rank) fprintf(stderr, "astromm embed: %s: %s\n", cfg->source, err.msg);
        return 2;
    }
    if (opt->batch < 1) {
        if (!rank) fprintf(stderr, "astromm embed: --batch must be >= 1 (got %d)\n", opt->batch);
        return 2;
    }
    uint8_t *splits = NULL;
    int64_t n_ds = 0;
    int rc = dataset_splits(cfg->data_path, &splits, &n_ds, &err);
    if (rc) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
    if (comm_any_failed(comm, rc)) return free(splits), 1;

    LoaderConfig lc;
    loader_config_defaults(&lc);
    lc.global_batch = opt->batch * P;
    lc.seq_len = mc->seq_len;
    lc.photo_in = mc->photo_in;
    lc.seed = cfg->seed;
    lc.split = opt->split;
    lc.require_all = 0;
    lc.shuffle = 0;
    lc.drop_last = 0;
    lc.crop = LOADER_CROP_CENTER;
    lc.prefetch = cfg->prefetch;
    Loader *L = NULL;
    rc = loader_open(cfg->data_path, comm, &lc, &L, &err);
    if (rc && !rank) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
    if (comm_any_failed(comm, rc)) return loader_close(L), free(splits), 1;
    if (loader_check_model_inputs(L, mc->spec_len, mc->spec_in, mc->meta_in, mc->photo_in, &err)) {
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

    const int b = opt->batch, D = mc->proj_dim;
    AstroM3 m;
    astrom3_create(&m, mc, b);
    rc = params_load(&m.params, opt->checkpoint, &err);
    if (rc && !rank)
        fprintf(stderr, "astromm embed: error: checkpoint %s does not load into the model of %s: %s\n",
                opt->checkpoint, cfg->source, err.msg);
    int status = 0;
    if (comm_any_failed(comm, rc)) {
        status = 1;
        goto out_model;
    }
    DeviceBatch dev;
    device_batch_alloc(&dev, mc, b);
    float *e[EMB_N];
    for (int k = 0; k < EMB_N; k++) e[k] = am_malloc((size_t)b * D * sizeof(float), "embeddings");
    uint8_t *split = am_malloc((size_t)b, "split");
    EmbFileInfo info = {.checkpoint = opt->checkpoint, .dataset = cfg->data_path,
                        .classes = loader_class_names(L), .n_classes = loader_n_classes(L), .n = N, .dim = D};
    EmbWriter *w = NULL;
    if (emb_writer_open(opt->out, comm, &info, &w, &err)) {
        if (!rank) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
        status = 1;
        goto out_buffers;
    }
    const int64_t nb = loader_batches_per_epoch(L);
    int ok = 1;
    if (!opt->quiet && !rank)
        printf("embedding %lld objects (split %s) of %s on %d rank%s, %lld batches\n", (long long)N,
               emb_split_name(opt->split), cfg->data_path, P, P > 1 ? "s" : "", (long long)nb);
    for (int64_t k = 0; k < nb; k++) {
        LoaderBatch lb;
        int lrc = loader_next(L, &lb, &err);
        if (comm_any_failed(comm, lrc)) {
            if (lrc) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
            ok = 0;
            break;
        }
        Batch db = device_batch_upload(&dev, &lb.batch);
        StepCtx ctx = {.seed = cfg->seed, .step = 0, .sample_offset = lb.sample_offset, .training = 0};
        astrom3_embed_forward(&m, &db, &ctx);
        for (int mod = 0; mod < MOD_COUNT; mod++) ops_to_host(e[mod], m.emb[mod], (size_t)lb.n * D * sizeof(float));
        int nv = 0;
        while (nv < lb.n && lb.valid[nv]) nv++;
        for (int i = nv; i < lb.n; i++)
            CHECK(!lb.valid[i], "loader padding rows are not at the end of the block");
        for (int i = 0; i < nv; i++) {
            CHECK(lb.index[i] >= 0 && lb.index[i] < n_ds, "dataset index %lld out of range", (long long)lb.index[i]);
            split[i] = splits[lb.index[i]];
        }
        finish_rows(e, lb.has, nv, D);
        const float *ce[EMB_N];
        for (int s = 0; s < EMB_N; s++) ce[s] = e[s];
        if (emb_writer_write(w, nv ? lb.sample_offset : 0, nv, lb.ids, lb.batch.labels, split, lb.has, lb.index, ce,
                             &err)) {
            if (ok) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
            ok = 0;
        }
    }
    if (emb_writer_close(w, ok, &err)) {
        if (ok && err.msg[0]) fprintf(stderr, "astromm embed: error: %s\n", err.msg);
        status = 1;
    } else if (!opt->quiet && !rank) {
        printf("wrote %s: %lld objects, %d-d embeddings (photometry, spectra, metadata, fused)\n", opt->out,
               (long long)N, D);
    }
out_buffers:
    for (int k = 0; k < EMB_N; k++) free(e[k]);
    free(split);
    device_batch_free(&dev);
out_model:
    astrom3_free(&m);
    loader_close(L);
    free(splits);
    return status;
}
