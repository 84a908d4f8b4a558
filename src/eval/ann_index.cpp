// FAISS behind ann_index.h: the only C++ in astromm.
#include "eval/ann_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <exception>
#include <string>

struct AnnIndex {
    faiss::Index *index;
    int serial_add;
};

extern "C" const char *ann_type_name(int type) {
    switch (type) {
    case ANN_FLAT: return "flat";
    case ANN_HNSW: return "hnsw";
    case ANN_IVFPQ: return "ivfpq";
    default: return "exact";
    }
}

static int auto_nlist(const AnnParams *p, int64_t n) {
    if (p->ivf_nlist > 0) return p->ivf_nlist;
    int64_t nl = (int64_t)std::lround(4.0 * std::sqrt((double)(n > 0 ? n : 1)));
    if (nl > n / 39) nl = n / 39;  // FAISS wants >= 39 training points per cell
    return nl < 1 ? 1 : (int)nl;
}

static int auto_pq_m(const AnnParams *p, int d) {
    if (p->pq_m > 0) return p->pq_m;
    for (int m = d / 8; m > 1; m--)
        if (d % m == 0) return m;
    return 1;
}

extern "C" void ann_describe(const AnnParams *p, int d, int64_t n, char *buf, int cap) {
    switch (p->type) {
    case ANN_HNSW: std::snprintf(buf, (size_t)cap, "HNSW%d,Flat", p->hnsw_m); break;
    case ANN_IVFPQ:
        std::snprintf(buf, (size_t)cap, "IVF%d,PQ%dx%d", auto_nlist(p, n), auto_pq_m(p, d), p->pq_nbits);
        break;
    default: std::snprintf(buf, (size_t)cap, "Flat"); break;
    }
}

extern "C" int64_t ann_training_advice(const AnnParams *p, int d, int64_t n) {
    if (p->type != ANN_IVFPQ) return 0;
    (void)d;
    const int64_t cells = 39 * (int64_t)auto_nlist(p, n), codes = 39 * ((int64_t)1 << p->pq_nbits);
    return cells > codes ? cells : codes;
}

extern "C" void ann_set_search_params(AnnIndex *ix, const AnnParams *p) {
    if (auto *h = dynamic_cast<faiss::IndexHNSW *>(ix->index)) h->hnsw.efSearch = p->ef_search;
    if (auto *v = dynamic_cast<faiss::IndexIVF *>(ix->index)) v->nprobe = (size_t)p->ivf_nprobe;
}

extern "C" int ann_create(AnnIndex **out, const AnnParams *p, int d, int64_t n, const float *train_x,
                          int64_t n_train, AmError *err) {
    *out = nullptr;
    char desc[64];
    ann_describe(p, d, n, desc, sizeof desc);
    if (p->type == ANN_IVFPQ && d % auto_pq_m(p, d) != 0)
        return am_error_set(err, "search.pq_m = %d does not divide the dimension %d", p->pq_m, d);
    try {
        faiss::Index *index = faiss::index_factory(d, desc, faiss::METRIC_L2);
        if (auto *h = dynamic_cast<faiss::IndexHNSW *>(index)) h->hnsw.efConstruction = p->ef_construction;
        if (!index->is_trained) {
            const int64_t need = p->type == ANN_IVFPQ ? ((int64_t)1 << p->pq_nbits) : 1;
            if (n_train < need) {
                delete index;
                return am_error_set(err, "index %s needs at least %lld training vectors, got %lld (a larger "
                                         "target set, or search.index = \"hnsw\" / \"flat\")",
                                    desc, (long long)need, (long long)n_train);
            }
            if (auto *v = dynamic_cast<faiss::IndexIVF *>(index)) {
                v->cp.seed = 1234;  // fixed k-means start
                v->cp.min_points_per_centroid = 1;  // thin training is reported by the caller
            }
            // FAISS prints its own warning below 39 points per PQ centroid; the
            // caller reports thin training (ann_training_advice) in its words.
            if (auto *v = dynamic_cast<faiss::IndexIVFPQ *>(index)) {
                v->pq.cp.min_points_per_centroid = 1;
                // The factory turns on polysemous training (a Hamming-order
                // fit of the codes, minutes per index) for a polysemous
                // search astromm never uses.
                v->do_polysemous_training = false;
            }
            index->train((faiss::Index::idx_t)n_train, train_x);
        }
        *out = new AnnIndex{index, p->serial_add};
        ann_set_search_params(*out, p);
        return 0;
    } catch (const std::exception &e) {
        return am_error_set(err, "FAISS index %s (d %d): %s", desc, d, e.what());
    }
}

extern "C" int ann_add(AnnIndex *ix, const float *x, int64_t n, AmError *err) {
    const int threads = omp_get_max_threads();
    if (ix->serial_add) omp_set_num_threads(1);
    int rc = 0;
    try {
        ix->index->add((faiss::Index::idx_t)n, x);
    } catch (const std::exception &e) {
        rc = am_error_set(err, "FAISS add of %lld vectors: %s", (long long)n, e.what());
    }
    if (ix->serial_add) omp_set_num_threads(threads);
    return rc;
}

extern "C" int ann_search(AnnIndex *ix, const float *q, int64_t nq, int k, float *dist2, int64_t *labels,
                          AmError *err) {
    static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "FAISS labels are 64-bit");
    try {
        ix->index->search((faiss::Index::idx_t)nq, q, (faiss::Index::idx_t)k, dist2, reinterpret_cast<faiss::Index::idx_t *>(labels));
        return 0;
    } catch (const std::exception &e) {
        return am_error_set(err, "FAISS search (k %d): %s", k, e.what());
    }
}

extern "C" int64_t ann_count(const AnnIndex *ix) { return (int64_t)ix->index->ntotal; }
extern "C" int ann_dim(const AnnIndex *ix) { return ix->index->d; }

extern "C" int ann_save(const AnnIndex *ix, const char *path, AmError *err) {
    // a name of this process's own: two searches building the same index write
    // their own files, and each rename is whole
    const std::string tmp = std::string(path) + ".tmp." + std::to_string((long)getpid());
    try {
        faiss::write_index(ix->index, tmp.c_str());
    } catch (const std::exception &e) {
        std::remove(tmp.c_str());
        return am_error_set(err, "%s: writing the index: %s", path, e.what());
    }
    if (std::rename(tmp.c_str(), path) != 0) {
        std::remove(tmp.c_str());
        return am_error_set(err, "%s: cannot rename the written index into place", path);
    }
    return 0;
}

extern "C" int ann_load(AnnIndex **out, const char *path, AmError *err) {
    *out = nullptr;
    try {
        *out = new AnnIndex{faiss::read_index(path), 0};
        return 0;
    } catch (const std::exception &e) {
        return am_error_set(err, "%s: not a readable FAISS index: %s", path, e.what());
    }
}

extern "C" void ann_free(AnnIndex *ix) {
    if (!ix) return;
    delete ix->index;
    delete ix;
}
