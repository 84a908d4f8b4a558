// The PCA-reduced copy of an embeddings file: see embeddings_pca.h.
#include "eval/embeddings_pca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/format/dataset_h5.h"
#include "eval/pca.h"

enum { PCA_BLOCK = 4096 };  // rows per read / transform / write

struct EmbPca {
    int k, d, n_slots, n_has;
    int64_t n, S;
    float *sample;   // [n_slots, S, d]: the sample rows this rank wrote (0 elsewhere)
    float *present;  // [n_slots, S]: 1 where the sample row has the embedding
    int64_t *r0, *nr;  // the row ranges this rank wrote
    int nranges, cap;
};

EmbPca *emb_pca_new(int k, int64_t n, int d, int n_slots, int n_has) {
    EmbPca *p = am_calloc(1, sizeof *p, "pca copy");
    p->k = k, p->d = d, p->n = n, p->n_slots = n_slots, p->n_has = n_has;
    p->S = n < EMB_PCA_SAMPLE ? n : EMB_PCA_SAMPLE;
    p->sample = am_calloc((size_t)n_slots * p->S * d, sizeof *p->sample, "pca sample");
    p->present = am_calloc((size_t)n_slots * p->S, sizeof *p->present, "pca sample presence");
    return p;
}

void emb_pca_free(EmbPca *p) {
    if (!p) return;
    free(p->sample), free(p->present), free(p->r0), free(p->nr);
    free(p);
}

static int slot_present(const EmbPca *p, const uint8_t *has_row, int m) {
    if (m < p->n_has) return has_row[m] != 0;
    for (int c = 0; c < p->n_has; c++)
        if (has_row[c]) return 1;
    return 0;
}

void emb_pca_collect(EmbPca *p, int64_t row0, int64_t nrows, const uint8_t *has, const float *const *emb) {
    if (nrows <= 0) return;
    if (p->nranges == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->r0 = am_realloc(p->r0, (size_t)p->cap * sizeof *p->r0, "pca ranges");
        p->nr = am_realloc(p->nr, (size_t)p->cap * sizeof *p->nr, "pca ranges");
    }
    p->r0[p->nranges] = row0, p->nr[p->nranges] = nrows, p->nranges++;
    for (int64_t j = 0; j < nrows; j++) {
        const int64_t r = row0 + j, i = (r * p->S + p->n - 1) / p->n;  // the sample i with floor(i n / S) = r, if any
        if (i >= p->S || i * p->n / p->S != r) continue;
        for (int m = 0; m < p->n_slots; m++) {
            memcpy(p->sample + ((size_t)m * p->S + i) * p->d, emb[m] + (size_t)j * p->d, (size_t)p->d * sizeof(float));
            p->present[(size_t)m * p->S + i] = (float)slot_present(p, has + (size_t)j * p->n_has, m);
        }
    }
}

static hid_t create(hid_t loc, const char *name, int rank, const hsize_t *dims) {
    hid_t s = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (s >= 0 && dcpl >= 0) H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t d = s < 0 || dcpl < 0 ? -1 : H5Dcreate2(loc, name, H5T_IEEE_F32LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    h5_close_id(&dcpl);
    h5_close_id(&s);
    return d;
}

// Collective write of rows [row0, row0 + nrows) of a [*, cols] dataset (nrows 0: nothing, still collective).
static int write_rows(hid_t ds, hid_t dxpl, int64_t row0, int64_t nrows, hsize_t cols, int rank, const float *buf) {
    hid_t fs = H5Dget_space(ds), ms = -1;
    int bad = fs < 0;
    const hsize_t start[2] = {(hsize_t)row0, 0}, count[2] = {(hsize_t)nrows, cols};
    if (!bad && nrows > 0) {
        bad = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0;
        ms = H5Screate_simple(rank, count, NULL);
    } else if (!bad) {
        bad = H5Sselect_none(fs) < 0;
        const hsize_t one[2] = {1, 1};
        ms = H5Screate_simple(rank, one, NULL);
        if (ms >= 0) H5Sselect_none(ms);
    }
    static const float dummy[2];
    if (!bad) bad = ms < 0 || H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, fs, dxpl, nrows > 0 ? buf : dummy) < 0;
    h5_close_id(&ms);
    h5_close_id(&fs);
    return bad;
}

// Collective read of rows [row0, row0 + nrows) of a [*, cols] dataset into out.
static int read_rows(hid_t ds, hid_t dxpl, hid_t mtype, int64_t row0, int64_t nrows, hsize_t cols, void *out) {
    hid_t fs = H5Dget_space(ds), ms = -1;
    int bad = fs < 0;
    const hsize_t start[2] = {(hsize_t)row0, 0}, count[2] = {(hsize_t)(nrows > 0 ? nrows : 1), cols};
    if (!bad) {
        ms = H5Screate_simple(2, count, NULL);
        if (nrows > 0) bad = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0;
        else bad = H5Sselect_none(fs) < 0 || (ms >= 0 && H5Sselect_none(ms) < 0);
    }
    if (!bad && ms >= 0) {
        if (mtype == H5T_NATIVE_FLOAT)
            bad = h5_read_floats(ds, ms, fs, dxpl, (size_t)(nrows > 0 ? nrows : 0) * cols, out) < 0;
        else
            bad = H5Dread(ds, mtype, ms, fs, dxpl, out) < 0;
    } else {
        bad = 1;
    }
    h5_close_id(&ms);
    h5_close_id(&fs);
    return bad;
}

int emb_pca_write(EmbPca *p, hid_t file, const hid_t *emb_dsets, hid_t has_dset, const char *const *names, hid_t dxpl,
                  Comm *comm, const char *where, AmError *err) {
    const int rank = comm_rank(comm), P = comm_size(comm), d = p->d, k = p->k;
    comm_allreduce_sum(comm, p->sample, (size_t)p->n_slots * p->S * d);  // one rank wrote each row: exact
    comm_allreduce_sum(comm, p->present, (size_t)p->n_slots * p->S);
    // blocks of this rank (the ranges cut into PCA_BLOCK rows) and the most any rank has
    int64_t mine = 0;
    for (int r = 0; r < p->nranges; r++) mine += (p->nr[r] + PCA_BLOCK - 1) / PCA_BLOCK;
    double *counts = am_calloc((size_t)P, sizeof *counts, "pca block counts");
    counts[rank] = (double)mine;
    comm_allreduce_sum_host(comm, counts, (size_t)P);
    int64_t most = 0;
    for (int r = 0; r < P; r++) most = counts[r] > most ? (int64_t)counts[r] : most;
    free(counts);
    hid_t g = H5Gcreate2(file, "pca", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int fail = g < 0;
    float *X = am_malloc((size_t)p->S * d * sizeof *X + 4, "pca fit rows");
    float *rows = am_malloc((size_t)PCA_BLOCK * d * sizeof *rows, "pca rows");
    float *scores = am_malloc((size_t)PCA_BLOCK * k * sizeof *scores, "pca scores");
    uint8_t *has = am_malloc((size_t)PCA_BLOCK * p->n_has + 1, "pca presence");
    for (int m = 0; m < p->n_slots; m++) {  // every collective call on every rank, failed or not
        // the model: the sample rows that have the embedding (none: zeros)
        size_t np = 0;
        for (int64_t i = 0; i < p->S; i++)
            if (p->present[(size_t)m * p->S + i] > 0)
                memcpy(X + np++ * d, p->sample + ((size_t)m * p->S + i) * d, (size_t)d * sizeof *X);
        PcaModel pm = {0};
        float *mean = am_calloc((size_t)d, sizeof *mean, "pca mean"), *comp = am_calloc((size_t)k * d, sizeof *comp, "pca comp");
        if (np > 0) {
            pca_fit(X, np, (size_t)d, k, &pm);
            for (int c = 0; c < d; c++) mean[c] = (float)pm.mean[c];
            for (size_t c = 0; c < (size_t)k * d; c++) comp[c] = (float)pm.comp[c];
        }
        char name[96];
        snprintf(name, sizeof name, "pca/%s", names[m]);
        hid_t sg = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const hsize_t dm[1] = {(hsize_t)d}, dc[2] = {(hsize_t)k, (hsize_t)d}, ds[2] = {(hsize_t)p->n, (hsize_t)k};
        hid_t dmean = sg < 0 ? -1 : create(sg, "mean", 1, dm), dcomp = sg < 0 ? -1 : create(sg, "components", 2, dc),
              dscore = sg < 0 ? -1 : create(sg, "scores", 2, ds);
        fail |= dmean < 0 || dcomp < 0 || dscore < 0;
        fail |= write_rows(dmean, dxpl, 0, rank == 0 ? d : 0, 1, 1, mean);
        fail |= write_rows(dcomp, dxpl, 0, rank == 0 ? k : 0, (hsize_t)d, 2, comp);
        // scores of this rank's rows, block by block; every rank takes part in every round
        int r = 0;
        int64_t off = 0;
        for (int64_t b = 0; b < most; b++) {
            int64_t row0 = 0, nb = 0;
            if (r < p->nranges) {
                row0 = p->r0[r] + off;
                nb = p->nr[r] - off < PCA_BLOCK ? p->nr[r] - off : PCA_BLOCK;
                off += nb;
                if (off == p->nr[r]) r++, off = 0;
            }
            int bad = read_rows(emb_dsets[m], dxpl, H5T_NATIVE_FLOAT, row0, nb, (hsize_t)d, rows);
            bad |= read_rows(has_dset, dxpl, H5T_NATIVE_UINT8, row0, nb, (hsize_t)p->n_has, has);
            if (!bad && nb > 0) {
                if (np > 0) pca_transform(&pm, rows, (size_t)nb, scores);
                for (int64_t j = 0; j < nb; j++)
                    if (np == 0 || !slot_present(p, has + (size_t)j * p->n_has, m))
                        memset(scores + (size_t)j * k, 0, (size_t)k * sizeof *scores);
            }
            bad |= write_rows(dscore, dxpl, row0, bad ? 0 : nb, (hsize_t)k, 2, scores);
            fail |= bad;
        }
        h5_close_id(&dmean), h5_close_id(&dcomp), h5_close_id(&dscore), h5_close_id(&sg);
        if (np > 0) pca_model_free(&pm);
        free(mean), free(comp);
    }
    h5_close_id(&g);
    free(X), free(rows), free(scores), free(has);
    if (fail) return h5_fail(err, where, "cannot write the PCA copy (/pca)");
    return 0;
}
