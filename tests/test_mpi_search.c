// Survey-scale search (issue 18) at 1, 2 and 4 ranks on a clustered synthetic
// embeddings file:
//  - exact search, sharded over the ranks and streamed block by block from the
//    file, 3 threads per rank, is bitwise identical to one single-threaded
//    process holding every target in memory;
//  - FAISS indexes (flat, HNSW, IVF-PQ), one per rank's shard, reach a stated
//    recall@10 against that exact reference, for cosine and Euclidean;
//  - a saved index is reused (not rebuilt) and gives the same hits; rebuild
//    builds again;
//  - an index that no longer matches its file (vectors changed, fewer rows) is
//    refused with an error naming the index and the file;
//  - k larger than a shard pads with row -1; ann_index save/load round trip;
//  - float16 files and the PCA copy of embeddings files (embed.storage, embed.pca).
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "eval/ann_index.h"
#include "eval/embeddings_file.h"
#include "eval/embeddings_pca.h"
#include "eval/pca.h"
#include "eval/search.h"
#include "mpi/comm.h"
#include "mpi_testutil.h"

static const char *const META_ONLY[1] = {""};  // no embedding named: metadata only

enum { N_ROWS = 6000, DIM = 32, N_CLUSTERS = 40, NQ = 60, K = 10 };

static uint64_t lcg_state;
static double uniform01(void) {
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double)(lcg_state >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01()); }

// One embedding "image" of n raw rows around N_CLUSTERS centres; scale
// multiplies every vector (a "re-embedded" file).
static void make_clustered(EmbSet *s, int64_t n, float scale) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->dim = DIM;
    s->n_slots = s->n_has = 1;
    snprintf(s->slot[0], sizeof s->slot[0], "image");
    s->id = malloc((size_t)n * sizeof *s->id);
    s->label = malloc((size_t)n * sizeof *s->label);
    s->split = malloc((size_t)n);
    s->has = malloc((size_t)n);
    s->index = malloc((size_t)n * sizeof *s->index);
    s->emb[0] = malloc((size_t)n * DIM * sizeof(float));
    lcg_state = 777;
    float centre[N_CLUSTERS][DIM];
    for (int c = 0; c < N_CLUSTERS; c++)
        for (int d = 0; d < DIM; d++) centre[c][d] = (float)(2.0 * gauss());
    for (int64_t i = 0; i < n; i++) {
        s->id[i] = 500000 + 3 * i;
        s->label[i] = -1;
        s->split[i] = (uint8_t)(i % 3);
        s->has[i] = 1;
        s->index[i] = i;
        const int c = (int)(uniform01() * N_CLUSTERS);
        for (int d = 0; d < DIM; d++) s->emb[0][i * DIM + d] = scale * (centre[c][d] + (float)(0.6 * gauss()));
    }
    snprintf(s->path, sizeof s->path, "(memory)");
}

static void write_file_pca(const EmbSet *s, const char *path, Comm *comm, int storage, int pca) {
    AmError err = {{0}};
    const char *names[1] = {"image"};
    EmbFileInfo info = {.checkpoint = "ck.safetensors", .dataset = "synthetic", .n = s->n, .dim = DIM, .n_slots = 1,
                        .n_has = 1, .slot_names = names, .storage = storage, .pca = pca};
    EmbWriter *w = NULL;
    REQUIRE(!emb_writer_open(path, comm, &info, &w, &err), "open %s: %s", path, err.msg);
    // each rank writes its own contiguous rows, as embed does
    const int P = comm ? comm_size(comm) : 1, r = comm ? comm_rank(comm) : 0;
    const int64_t r0 = s->n * r / P, r1 = s->n * (r + 1) / P;
    const float *e[1] = {s->emb[0] + r0 * DIM};
    REQUIRE(!emb_writer_write(w, r0, r1 - r0, s->id + r0, s->label + r0, s->split + r0, s->has + r0, s->index + r0, e,
                              &err), "write: %s", err.msg);
    REQUIRE(!emb_writer_close(w, 1, &err), "close: %s", err.msg);
}

static void write_file_as(const EmbSet *s, const char *path, Comm *comm, int storage) {
    write_file_pca(s, path, comm, storage, 0);
}

static void write_file(const EmbSet *s, const char *path, Comm *comm) {
    write_file_as(s, path, comm, EMB_STORAGE_FLOAT32);
}

static void read_f32(hid_t f, const char *name, float *out) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    REQUIRE(d >= 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0, "read %s", name);
    H5Dclose(d);
}

// The PCA copy (embed.pca): 25000 rows (more than the 20000-row sample), every
// 7th without the embedding, written by the ranks in uneven blocks: mean,
// components and scores equal one process's pca_fit on the stride sample of
// present rows and pca_transform of every row, bitwise, at any rank count;
// absent rows score 0.
static void test_pca_copy(const char *path, Comm *comm) {
    const int64_t n = 25000;
    const int k = 5;
    EmbSet s;
    make_clustered(&s, n, 1.0f);
    for (int64_t i = 0; i < n; i++) s.has[i] = i % 7 != 3;
    char pp[300];
    snprintf(pp, sizeof pp, "%s.pca.h5", path);
    write_file_pca(&s, pp, comm, EMB_STORAGE_FLOAT32, k);
    comm_barrier(comm);
    if (comm_rank(comm) == 0) {
        const int64_t S = EMB_PCA_SAMPLE;
        float *X = malloc((size_t)S * DIM * sizeof *X);
        size_t np = 0;
        for (int64_t i = 0; i < S; i++) {
            const int64_t r = i * n / S;
            if (s.has[r]) memcpy(X + np++ * DIM, s.emb[0] + r * DIM, DIM * sizeof *X);
        }
        PcaModel pm;
        pca_fit(X, np, DIM, k, &pm);
        float *want = malloc((size_t)n * k * sizeof *want), *got = malloc((size_t)n * k * sizeof *got);
        pca_transform(&pm, s.emb[0], (size_t)n, want);
        for (int64_t i = 0; i < n; i++)
            if (!s.has[i]) memset(want + i * k, 0, k * sizeof *want);
        hid_t f = H5Fopen(pp, H5F_ACC_RDONLY, H5P_DEFAULT);
        REQUIRE(f >= 0, "open %s", pp);
        float mean[DIM], comp[5 * DIM];
        read_f32(f, "pca/image/mean", mean);
        read_f32(f, "pca/image/components", comp);
        read_f32(f, "pca/image/scores", got);
        H5Fclose(f);
        int bad = 0;
        for (int c = 0; c < DIM; c++) bad += mean[c] != (float)pm.mean[c];
        for (int c = 0; c < k * DIM; c++) bad += comp[c] != (float)pm.comp[c];
        EXPECT(bad == 0, "PCA copy: %d of mean/components differ from one process's fit", bad);
        EXPECT(!memcmp(got, want, (size_t)n * k * sizeof *got), "PCA copy: scores differ from one process's");
        EXPECT(got[3 * k] == 0.0f && got[10 * k + 1] == 0.0f && got[4 * k] != 0.0f, "absent rows score 0");
        pca_model_free(&pm);
        free(X), free(want), free(got);
        remove(pp);
    }
    emb_free(&s);
    // a PCA wider than the embeddings: refused before anything is written
    AmError err = {{0}};
    const char *names[1] = {"image"};
    EmbFileInfo info = {.n = 10, .dim = DIM, .n_slots = 1, .n_has = 1, .slot_names = names, .pca = DIM + 1};
    EmbWriter *w = NULL;
    EXPECT(emb_writer_open(pp, comm, &info, &w, &err) && strstr(err.msg, "embed.pca"), "pca > dim: %s", err.msg);
}

// A float16 file: half the bytes, read back as float32 equal to the values
// rounded to binary16 (round to nearest even, as _Float16 does); it records
// normalized = 0 and storage "float16"; its search equals the search of the
// rounded vectors held in memory, bitwise.
static void test_float16(const EmbSet *mem, const char *path, Comm *comm, const int64_t *q) {
    char p16[300];
    snprintf(p16, sizeof p16, "%s.f16.h5", path);
    write_file_as(mem, p16, comm, EMB_STORAGE_FLOAT16);
    EmbSet b;
    AmError err = {{0}};
    REQUIRE(!emb_read(p16, &b, &err), "read float16 file: %s", err.msg);
    size_t off = 0;
    for (size_t i = 0; i < (size_t)N_ROWS * DIM; i++) {
        if (b.emb[0][i] != (float)(_Float16)mem->emb[0][i] && off < 5)
            fprintf(stderr, "%zu: %.9g -> file %.9g, _Float16 %.9g\n", i, mem->emb[0][i], b.emb[0][i],
                    (float)(_Float16)mem->emb[0][i]);
        off += b.emb[0][i] != (float)(_Float16)mem->emb[0][i];
    }
    EXPECT(off == 0, "float16 file: %zu of %d values differ from their binary16 rounding", off, N_ROWS * DIM);
    EXPECT(b.normalized == 0, "a float16 file says normalized = 0");
    EmbSet r;  // the rounded vectors in memory
    make_clustered(&r, N_ROWS, 1.0f);
    memcpy(r.emb[0], b.emb[0], (size_t)N_ROWS * DIM * sizeof(float));
    emb_free(&b);
    EmbSet meta;
    static const char *const none[1] = {""};
    REQUIRE(!emb_read_some(p16, none, 0, &meta, &err), "metadata: %s", err.msg);
    SearchHit a[NQ * K], c[NQ * K];
    SearchOptions o = {.query_mod = 0, .target_mod = 0, .k = K, .target_split = -1, .metric = SEARCH_COSINE,
                       .quiet = 1, .block = 700};
    REQUIRE(search_topk(&meta, q, NQ, &o, comm, a, NULL, &err) == N_ROWS, "float16 search: %s", err.msg);
    REQUIRE(search_topk(&r, q, NQ, &o, NULL, c, NULL, &err) == N_ROWS, "rounded search: %s", err.msg);
    EXPECT(!memcmp(a, c, sizeof a), "float16 file search == search of the rounded vectors");
    EXPECT(a[0].row == q[0] && fabsf(a[0].score - 1.0f) < 1e-6f, "float16: the query first at cosine %.7f",
           a[0].score);
    emb_free(&meta);
    emb_free(&r);
    comm_barrier(comm);
    if (comm_rank(comm) == 0) {
        struct stat s32, s16;
        EXPECT(!stat(path, &s32) && !stat(p16, &s16) && s16.st_size < s32.st_size * 6 / 10,
               "float16 file %lld bytes vs float32 %lld", (long long)s16.st_size, (long long)s32.st_size);
        remove(p16);
    }
}

static double recall(const SearchHit *got, const SearchHit *ref, int nq, int k) {
    int64_t hit = 0;
    for (int q = 0; q < nq; q++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                if (got[q * k + i].row >= 0 && got[q * k + i].row == ref[q * k + j].row) {
                    hit++;
                    break;
                }
    return (double)hit / ((double)nq * k);
}

// 1 when every rank's value is 1.
static int all_ranks(Comm *comm, int v) { return comm_allreduce_sum_double(comm, v) == comm_size(comm); }

int main(int argc, char **argv) {
    Comm *comm = comm_init(&argc, &argv);
    const int rank = comm_rank(comm), P = comm_size(comm);
    // one name per run (rank 0's pid): the singleton and the np1 runs may share /tmp
    const long tag = (long)comm_allreduce_sum_double(comm, rank == 0 ? (double)getpid() : 0.0);
    char path[256], dir[300];
    snprintf(path, sizeof path, "/tmp/astromm_test_mpi_search_%ld_np%d.h5", tag, P);
    snprintf(dir, sizeof dir, "%s.index", path);

    EmbSet mem;
    make_clustered(&mem, N_ROWS, 1.0f);
    write_file(&mem, path, comm);
    EmbSet file;
    AmError err = {{0}};
    REQUIRE(!emb_read_some(path, META_ONLY, 0, &file, &err), "read metadata: %s", err.msg);
    REQUIRE(file.emb[0] == NULL && file.n == N_ROWS, "metadata only: the search streams the vectors");

    int64_t q[NQ];
    for (int i = 0; i < NQ; i++) q[i] = (int64_t)i * (N_ROWS / NQ) + 7;
    SearchHit *ref = malloc(sizeof(SearchHit) * NQ * K), *got = malloc(sizeof(SearchHit) * NQ * K),
              *again = malloc(sizeof(SearchHit) * NQ * K);

    for (int metric = 0; metric < 2; metric++) {
        const char *mname = search_metric_name(metric);
        // the reference: one process, every target in memory
        SearchOptions o = {.query_mod = 0, .target_mod = 0, .k = K, .target_split = -1, .metric = metric,
                           .block = 333, .quiet = 1};
#ifdef _OPENMP
        const int threads = omp_get_max_threads();
        omp_set_num_threads(1);
#endif
        REQUIRE(search_topk(&mem, q, NQ, &o, NULL, ref, NULL, &err) == N_ROWS, "reference: %s", err.msg);
        // sharded over the ranks, streamed from the file, another block size,
        // 3 threads splitting each block: bitwise
#ifdef _OPENMP
        omp_set_num_threads(3);
#endif
        o.block = 512;
        SearchStats st = {0};
        REQUIRE(search_topk(&file, q, NQ, &o, comm, got, &st, &err) == N_ROWS, "sharded exact: %s", err.msg);
        EXPECT(!memcmp(got, ref, sizeof(SearchHit) * NQ * K), "%s: sharded streamed exact search == one process",
               mname);
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
        EXPECT(comm_allreduce_sum_double(comm, (double)st.shard) == N_ROWS, "the shards cover the targets once");
        // the query itself comes first (distance 0 / cosine 1)
        EXPECT(ref[0].row == q[0], "%s: the query first", mname);

        // approximate indexes on each shard against the exact reference
        const struct { int type; double min_recall; } ann[] = {{ANN_FLAT, 0.99}, {ANN_HNSW, 0.95}, {ANN_IVFPQ, 0.6}};
        for (int a = 0; a < 3; a++) {
            SearchOptions oa = o;
            oa.ann = (AnnParams){.type = ann[a].type, .hnsw_m = 16, .ef_construction = 40, .ef_search = 64,
                                 .ivf_nprobe = 8, .pq_m = 8, .pq_nbits = 8};
            oa.index_dir = dir;
            SearchStats s1 = {0}, s2 = {0};
            REQUIRE(search_topk(&file, q, NQ, &oa, comm, got, &s1, &err) == N_ROWS, "%s %s: %s", mname,
                    ann_type_name(ann[a].type), err.msg);
            const double r = recall(got, ref, NQ, K);
            if (rank == 0) printf("%s %-6s recall@%d = %.3f at %d ranks\n", mname, ann_type_name(ann[a].type), K, r, P);
            EXPECT(r >= ann[a].min_recall, "%s %s: recall@%d %.3f < %.2f", mname, ann_type_name(ann[a].type), K, r,
                   ann[a].min_recall);
            EXPECT(all_ranks(comm, s1.built == 1), "%s %s: first search builds every shard's index", mname,
                   ann_type_name(ann[a].type));
            REQUIRE(search_topk(&file, q, NQ, &oa, comm, again, &s2, &err) == N_ROWS, "reuse: %s", err.msg);
            EXPECT(all_ranks(comm, s2.built == 0), "%s %s: the saved index is reused", mname,
                   ann_type_name(ann[a].type));
            EXPECT(!memcmp(got, again, sizeof(SearchHit) * NQ * K), "%s %s: the reused index gives the same hits",
                   mname, ann_type_name(ann[a].type));
            // search.refine: 4 K candidates re-ranked by their exact scores: recall
            // cannot drop, and every hit carries the brute force's score, bit for bit;
            // the flat index with every target a candidate gives the exact result
            SearchOptions orf = oa;
            orf.refine = 4;
            REQUIRE(search_topk(&file, q, NQ, &orf, comm, again, NULL, &err) == N_ROWS, "refine: %s", err.msg);
            const double rr = recall(again, ref, NQ, K);
            if (rank == 0) printf("%s %-6s refine 4: recall@%d = %.3f\n", mname, ann_type_name(ann[a].type), K, rr);
            EXPECT(rr >= r, "%s %s: refine 4 recall %.3f < unrefined %.3f", mname, ann_type_name(ann[a].type), rr, r);
            int exact_scores = 1;
            for (int i = 0; i < NQ * K; i++)
                for (int j = (i / K) * K; j < (i / K + 1) * K; j++)
                    if (again[i].row == ref[j].row && memcmp(&again[i].score, &ref[j].score, sizeof(float)))
                        exact_scores = 0;
            EXPECT(exact_scores, "%s %s: refined hits carry the brute force's scores", mname, ann_type_name(ann[a].type));
            if (ann[a].type == ANN_FLAT) {
                orf.refine = N_ROWS;
                REQUIRE(search_topk(&file, q, NQ, &orf, comm, again, NULL, &err) == N_ROWS, "refine all: %s", err.msg);
                EXPECT(!memcmp(again, ref, sizeof(SearchHit) * NQ * K),
                       "%s flat refined over every target == the exact search", mname);
            }
            oa.rebuild_index = 1;
            REQUIRE(search_topk(&file, q, NQ, &oa, comm, again, &s2, &err) == N_ROWS, "rebuild: %s", err.msg);
            EXPECT(all_ranks(comm, s2.built == 1), "rebuild builds again");
            // (FAISS inserts into HNSW on several threads: a rebuild may differ
            // by thread timing; its saved index is what makes searches repeatable)
            if (ann[a].type != ANN_HNSW)
                EXPECT(!memcmp(got, again, sizeof(SearchHit) * NQ * K), "%s %s: a rebuilt index gives the same hits",
                       mname, ann_type_name(ann[a].type));
        }
    }

    // PCA space (Zoobot's search: --pca): HNSW shards against the exact search in the same space
    {
        SearchOptions o = {.query_mod = 0, .target_mod = 0, .k = K, .target_split = -1, .metric = SEARCH_EUCLIDEAN,
                           .quiet = 1, .pca = 8, .block = 512};
        REQUIRE(search_topk(&mem, q, NQ, &o, NULL, ref, NULL, &err) == N_ROWS, "pca exact: %s", err.msg);
        o.index_dir = dir;
        o.ann = (AnnParams){.type = ANN_HNSW, .hnsw_m = 16, .ef_construction = 40, .ef_search = 64};
        SearchStats s1 = {0};
        REQUIRE(search_topk(&file, q, NQ, &o, comm, got, &s1, &err) == N_ROWS, "pca hnsw: %s", err.msg);
        const double r = recall(got, ref, NQ, K);
        EXPECT(r >= 0.95, "pca 8 hnsw recall@%d %.3f", K, r);
        EXPECT(all_ranks(comm, s1.built == 1), "a PCA-space index is its own (built, not the raw-space one)");
        char ip[400];
        snprintf(ip, sizeof ip, "%s/image-all-euclidean-pca8-HNSW16_Flat-shard%dof%d.faiss", dir, rank, P);
        EXPECT(access(ip, F_OK) == 0, "index named after its PCA space: %s", ip);
    }
    test_float16(&mem, path, comm, q);
    test_pca_copy(path, comm);

    // k larger than every shard: hits past the targets are row -1
    {
        SearchOptions o = {.query_mod = 0, .target_mod = 0, .k = 5, .target_split = -1, .metric = SEARCH_EUCLIDEAN,
                           .quiet = 1, .ann = {.type = ANN_HNSW, .hnsw_m = 16, .ef_construction = 40, .ef_search = 64}};
        EmbSet small;  // its index goes next to its (nominal) path
        make_clustered(&small, 3, 1.0f);
        SearchHit h[5];
        char spath[300];
        snprintf(spath, sizeof spath, "/tmp/astromm_test_mpi_search_%ld_np%d_small.h5", tag, P);
        snprintf(small.path, sizeof small.path, "%s", spath);
        const int64_t q0 = 0;
        REQUIRE(search_topk(&small, &q0, 1, &o, comm, h, NULL, &err) == 3, "3 targets: %s", err.msg);
        EXPECT(h[0].row == 0 && h[1].row >= 0 && h[2].row >= 0 && h[3].row == -1 && h[4].row == -1,
               "k 5 of 3 targets: rows %lld %lld %lld %lld %lld", (long long)h[0].row, (long long)h[1].row,
               (long long)h[2].row, (long long)h[3].row, (long long)h[4].row);
        emb_free(&small);
        comm_barrier(comm);
        if (rank == 0) {
            char cmd[700];
            snprintf(cmd, sizeof cmd, "rm -rf '%s.index'", spath);
            EXPECT(system(cmd) == 0, "clean %s.index", spath);
        }
    }

    // the file changes under its index: refused, naming both
    SearchOptions oh = {.query_mod = 0, .target_mod = 0, .k = K, .target_split = -1, .metric = SEARCH_COSINE,
                        .quiet = 1, .index_dir = dir, .ann = {.type = ANN_HNSW, .hnsw_m = 16, .ef_construction = 40,
                                                              .ef_search = 64}};
    emb_free(&file);
    EmbSet changed;
    make_clustered(&changed, N_ROWS, 1.5f);  // same ids and count, other vectors (re-embedded)
    comm_barrier(comm);
    write_file(&changed, path, comm);
    REQUIRE(!emb_read_some(path, META_ONLY, 0, &file, &err), "read: %s", err.msg);
    AmError e2 = {{0}};
    // (the default block of 4096 targets leaves some ranks without a shard:
    // they report that another rank failed)
    int mine = search_topk(&file, q, NQ, &oh, comm, got, NULL, &e2) == -1 && strstr(e2.msg, "does not match") &&
               strstr(e2.msg, path) && strstr(e2.msg, "rebuild");
    EXPECT(mine || strstr(e2.msg, "another rank failed"), "changed vectors: %s", e2.msg);
    EXPECT(comm_allreduce_sum_double(comm, mine) >= 1, "changed vectors: an index refused, naming index and file");
    emb_free(&file);
    emb_free(&changed);
    make_clustered(&changed, N_ROWS - 100, 1.0f);  // fewer rows
    comm_barrier(comm);
    write_file(&changed, path, comm);
    REQUIRE(!emb_read_some(path, META_ONLY, 0, &file, &err), "read: %s", err.msg);
    memset(&e2, 0, sizeof e2);
    mine = search_topk(&file, q, NQ / 2, &oh, comm, got, NULL, &e2) == -1 && strstr(e2.msg, "does not match");
    EXPECT(mine || strstr(e2.msg, "another rank failed"), "fewer rows: %s", e2.msg);
    EXPECT(comm_allreduce_sum_double(comm, mine) >= 1, "fewer rows: an index refused");
    oh.rebuild_index = 1;
    memset(&e2, 0, sizeof e2);
    EXPECT(search_topk(&file, q, NQ / 2, &oh, comm, got, NULL, &e2) == N_ROWS - 100, "rebuild after the change: %s",
           e2.msg);
    emb_free(&file);
    emb_free(&changed);

    // ann_index alone: describe, save, load
    if (rank == 0) {
        char desc[64];
        AnnParams p = {.type = ANN_IVFPQ, .pq_nbits = 8};
        ann_describe(&p, 512, 1000000, desc, sizeof desc);
        EXPECT(!strcmp(desc, "IVF4000,PQ64x8"), "auto IVF-PQ for 10^6 x 512: %s", desc);
        p = (AnnParams){.type = ANN_HNSW, .hnsw_m = 32};
        ann_describe(&p, 64, 10, desc, sizeof desc);
        EXPECT(!strcmp(desc, "HNSW32,Flat"), "hnsw: %s", desc);
        AnnIndex *ix = NULL, *back = NULL;
        REQUIRE(!ann_create(&ix, &p, DIM, 200, NULL, 0, &err), "create: %s", err.msg);
        REQUIRE(!ann_add(ix, mem.emb[0], 200, &err), "add: %s", err.msg);
        char ip[320];
        snprintf(ip, sizeof ip, "%s/alone.faiss", dir);
        REQUIRE(!ann_save(ix, ip, &err), "save: %s", err.msg);
        REQUIRE(!ann_load(&back, ip, &err), "load: %s", err.msg);
        EXPECT(ann_count(back) == 200 && ann_dim(back) == DIM, "loaded %lld x %d", (long long)ann_count(back),
               ann_dim(back));
        float d1[K], d2[K];
        int64_t l1[K], l2[K];
        ann_set_search_params(back, &(AnnParams){.type = ANN_HNSW, .ef_search = 64});
        ann_set_search_params(ix, &(AnnParams){.type = ANN_HNSW, .ef_search = 64});
        REQUIRE(!ann_search(ix, mem.emb[0] + 5 * DIM, 1, K, d1, l1, &err) &&
                    !ann_search(back, mem.emb[0] + 5 * DIM, 1, K, d2, l2, &err), "search: %s", err.msg);
        EXPECT(!memcmp(l1, l2, sizeof l1) && !memcmp(d1, d2, sizeof d1) && l1[0] == 5 && d1[0] == 0.0f,
               "loaded index answers as the saved one (first %lld at %g)", (long long)l1[0], d1[0]);
        ann_free(ix);
        ann_free(back);
        EXPECT(ann_load(&back, "/nonexistent/x.faiss", &err) && strstr(err.msg, "/nonexistent/x.faiss"),
               "missing index named: %s", err.msg);
    }

    comm_barrier(comm);
    if (rank == 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", path, dir);
        EXPECT(system(cmd) == 0, "clean up %s", path);
    }
    emb_free(&mem);
    free(ref), free(got), free(again);
    return mpi_finish(comm, "test_mpi_search");
}
