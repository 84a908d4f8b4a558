// MPI implementation of mpi/comm.h over host buffers.
//
// The communicator is a duplicate of MPI_COMM_WORLD (so library traffic never
// matches user messages) with MPI_ERRORS_RETURN: every call's return code is
// checked and turned into a CHECK failure naming the call, the rank and MPI's
// error text; the abort hook then takes the whole job down with MPI_Abort.
//
// CUDA builds: buffers in GPU memory (ops_is_device_ptr) go to NCCL
// (mpi/nccl.cu) after comm_enable_gpu, and are staged through host memory to
// MPI without it (ranks sharing a GPU); host buffers always go to MPI, as do
// comm_allreduce_sum_double and comm_barrier.
#include "mpi/comm.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "mpi/comm_mpi.h"
#ifdef ASTROMM_HAVE_CUDA
#include "mpi/comm_nccl.h"
#include "nn/ops.h"
#endif

struct Comm {
    MPI_Comm world;      // dup of MPI_COMM_WORLD
    MPI_Comm local;      // ranks sharing memory with this one
    int rank, size, local_rank, local_size;
    int owns_mpi;        // comm_init called MPI_Init
    size_t max_count;    // largest count per MPI call
    int nccl;            // comm_enable_gpu done: device buffers go to NCCL
    int thread_multiple; // MPI provides MPI_THREAD_MULTIPLE
};

// Bound on the temporary buffer of the strided (chunked) allgather and
// reduce-scatter paths, in floats over all ranks (256 MiB).
#define COMM_PACK_FLOATS ((size_t)1 << 26)

static void comm_check(int rc, const char *call, int rank, size_t n, int line) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING + 1];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
    text[len] = '\0';
    am_die(__FILE__, line, "rank %d: %s (count %zu) failed with MPI error %d: %s", rank, call, n,
           rc, len ? text : "(no error text)");
}
#define MPI_OK(c, call, n) comm_check((call), #call, (c)->rank, (size_t)(n), __LINE__)

static void comm_abort_hook(int code) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
}

Comm *comm_init(int *argc, char ***argv) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    CHECK(!fin, "comm_init after MPI_Finalize: create the communicator once per process");
    Comm *c = am_calloc(1, sizeof *c, "communicator");
    if (!init) {
        int provided = 0;
        // OpenMP threads never call MPI, but the data loader's I/O thread runs
        // collective MPI-IO reads (on its own communicator) while the main thread
        // communicates: that needs MPI_THREAD_MULTIPLE. Without it the loader
        // reads synchronously (comm_thread_multiple() tells it).
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
        CHECK(rc == MPI_SUCCESS,
              "MPI_Init_thread failed (error %d): is Open MPI installed and, when run as "
              "root, are OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 set?", rc);
        c->owns_mpi = 1;
        c->thread_multiple = provided >= MPI_THREAD_MULTIPLE;
    } else {
        int provided = 0;
        MPI_Query_thread(&provided);
        c->thread_multiple = provided >= MPI_THREAD_MULTIPLE;
    }
    am_set_abort_hook(comm_abort_hook);
    c->rank = 0;
    c->max_count = (size_t)INT_MAX;
    MPI_OK(c, MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), 0);
    MPI_OK(c, MPI_Comm_rank(MPI_COMM_WORLD, &c->rank), 0);
    MPI_OK(c, MPI_Comm_dup(MPI_COMM_WORLD, &c->world), 0);
    MPI_OK(c, MPI_Comm_set_errhandler(c->world, MPI_ERRORS_RETURN), 0);
    MPI_OK(c, MPI_Comm_size(c->world, &c->size), 0);
    MPI_OK(c, MPI_Comm_split_type(c->world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL,
                                  &c->local), 0);
    MPI_OK(c, MPI_Comm_set_errhandler(c->local, MPI_ERRORS_RETURN), 0);
    MPI_OK(c, MPI_Comm_rank(c->local, &c->local_rank), 0);
    MPI_OK(c, MPI_Comm_size(c->local, &c->local_size), 0);
    return c;
}

void comm_finalize(Comm *c) {
    if (!c) return;
#ifdef ASTROMM_HAVE_CUDA
    if (c->nccl) comm_nccl_finalize();
    c->nccl = 0;
#endif
    MPI_OK(c, MPI_Comm_free(&c->local), 0);
    MPI_OK(c, MPI_Comm_free(&c->world), 0);
    const int owns = c->owns_mpi;
    free(c);
    if (owns) {
        // Past this point MPI_Abort is no longer possible: fall back to exit().
        am_set_abort_hook(NULL);
        int rc = MPI_Finalize();
        CHECK(rc == MPI_SUCCESS, "MPI_Finalize failed (error %d)", rc);
    }
}

int comm_rank(const Comm *c) { return c->rank; }
int comm_size(const Comm *c) { return c->size; }
int comm_local_rank(const Comm *c) { return c->local_rank; }
int comm_local_size(const Comm *c) { return c->local_size; }
int comm_thread_multiple(const Comm *c) { return c->thread_multiple; }

MPI_Comm comm_mpi_dup(const Comm *c) {
    MPI_Comm d = MPI_COMM_NULL;
    MPI_OK(c, MPI_Comm_dup(c->world, &d), 0);
    MPI_OK(c, MPI_Comm_set_errhandler(d, MPI_ERRORS_RETURN), 0);
    return d;
}

void comm_set_max_count(Comm *c, size_t max_count) {
    c->max_count = max_count == 0 || max_count > (size_t)INT_MAX ? (size_t)INT_MAX : max_count;
}

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

#ifdef ASTROMM_HAVE_CUDA
void comm_enable_gpu(Comm *c) {
    CHECK(ops_device() == OPS_CUDA,
          "comm_enable_gpu: select the CUDA device first (ops_set_device(OPS_CUDA, ...))");
    if (c->nccl) return;
    const size_t bytes = comm_nccl_id_size();
    void *id = am_calloc(1, bytes, "NCCL unique id");
    if (c->rank == 0) comm_nccl_get_id(id);
    MPI_OK(c, MPI_Bcast(id, (int)bytes, MPI_BYTE, 0, c->world), bytes);
    comm_nccl_init(c->rank, c->size, id);
    free(id);
    c->nccl = 1;
}

// Where a buffer lives decides its path: host memory always goes to MPI; GPU
// memory goes to NCCL once comm_enable_gpu ran (one GPU per rank), else it is
// staged through host memory and reduced by MPI (ranks that share a GPU, which
// NCCL refuses: "Duplicate GPU detected"). Staging is synchronous and copies
// every byte twice; it exists so that any rank count runs, not for speed.
static int use_nccl(const Comm *c, const void *p) { return c->nccl && ops_is_device_ptr(p); }
static int use_staging(const Comm *c, const void *p) { return !c->nccl && ops_is_device_ptr(p); }
static void *staged_copy(const void *dev, size_t bytes) {
    void *h = am_malloc(bytes ? bytes : 1, "host staging buffer for a collective on GPU memory");
    ops_to_host(h, dev, bytes);
    return h;
}
static void staged_return(void *dev, void *host, size_t bytes) {
    ops_to_device(dev, host, bytes);
    free(host);
}
#else
void comm_enable_gpu(Comm *c) {
    (void)c;
    DIE("comm_enable_gpu: this build has no CUDA/NCCL (rebuild with -DASTROMM_CUDA=ON on a "
        "machine with the CUDA toolkit and NCCL)");
}
#endif

void comm_allreduce_sum(Comm *c, float *buf, size_t n) {
#ifdef ASTROMM_HAVE_CUDA
    if (use_nccl(c, buf)) {
        comm_nccl_allreduce(buf, n, 0);
        return;
    }
    if (use_staging(c, buf)) {
        float *h = staged_copy(buf, n * sizeof(float));
        comm_allreduce_sum(c, h, n);
        staged_return(buf, h, n * sizeof(float));
        return;
    }
#endif
    for (size_t off = 0; off < n; off += c->max_count) {
        const size_t len = min_sz(c->max_count, n - off);
        MPI_OK(c, MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)len, MPI_FLOAT, MPI_SUM, c->world),
               len);
    }
}

void comm_allreduce_mean(Comm *c, float *buf, size_t n) {
#ifdef ASTROMM_HAVE_CUDA
    if (use_nccl(c, buf)) {
        comm_nccl_allreduce(buf, n, 1);
        return;
    }
    if (use_staging(c, buf)) {
        float *h = staged_copy(buf, n * sizeof(float));
        comm_allreduce_mean(c, h, n);
        staged_return(buf, h, n * sizeof(float));
        return;
    }
#endif
    comm_allreduce_sum(c, buf, n);
    if (c->size == 1) return;
    const float w = (float)c->size;
    for (size_t i = 0; i < n; i++) buf[i] /= w;
}

double comm_allreduce_sum_double(Comm *c, double v) {
    double out = 0.0;
    MPI_OK(c, MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_SUM, c->world), 1);
    return out;
}

int comm_any_failed(Comm *c, int failed) { return comm_allreduce_sum_double(c, failed ? 1.0 : 0.0) > 0.0; }

// Rows in pieces of at most max_count bytes (and at least one row): each piece
// is gathered contiguously, then spread out to its rank's place.
static void gather_rows(Comm *c, const void *send, void *recv, size_t row_bytes, size_t n_rows, int root) {
    const size_t W = (size_t)c->size, total = row_bytes * n_rows;
    const char *s = send;
    char *r = recv;
    if (total == 0) return;
    size_t rows_per = c->max_count / row_bytes;
    if (rows_per < 1) rows_per = 1;
    CHECK(rows_per * row_bytes <= INT_MAX, "comm_gather_rows: a row of %zu bytes is too large for MPI", row_bytes);
    const int all = root < 0, me_root = all || c->rank == root;
    char *tmp = me_root ? am_malloc(W * min_sz(rows_per, n_rows) * row_bytes, "gather chunk buffer") : NULL;
    for (size_t r0 = 0; r0 < n_rows; r0 += rows_per) {
        const size_t len = min_sz(rows_per, n_rows - r0) * row_bytes;
        if (all)
            MPI_OK(c, MPI_Allgather(s + r0 * row_bytes, (int)len, MPI_BYTE, tmp, (int)len, MPI_BYTE, c->world), len);
        else
            MPI_OK(c, MPI_Gather(s + r0 * row_bytes, (int)len, MPI_BYTE, tmp, (int)len, MPI_BYTE, root, c->world),
                   len);
        if (me_root)
            for (size_t k = 0; k < W; k++) memcpy(r + k * total + r0 * row_bytes, tmp + k * len, len);
    }
    free(tmp);
}

void comm_gather_rows(Comm *c, const void *send, void *recv, size_t row_bytes, size_t n_rows, int root) {
    CHECK(root >= 0 && root < c->size, "comm_gather_rows: root %d is not a rank (size %d)", root, c->size);
    gather_rows(c, send, recv, row_bytes, n_rows, root);
}

void comm_allgather_bytes(Comm *c, const void *send, void *recv, size_t bytes) {
    gather_rows(c, send, recv, 1, bytes, -1);
}

void comm_allreduce_sum_host(Comm *c, double *buf, size_t n) {
    for (size_t off = 0; off < n; off += c->max_count) {
        const size_t len = min_sz(c->max_count, n - off);
        MPI_OK(c, MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)len, MPI_DOUBLE, MPI_SUM, c->world),
               len);
    }
}

struct CommRequest {
    Comm *comm;
    float *buf;
    size_t n;
    int mean;            // divide by size in comm_wait
    int n_req;           // MPI requests (one per chunk); 0 when already complete
    int done;            // every request completed
    MPI_Request *req;
    void *nccl;          // NCCL mode: the collective's completion event
};

static CommRequest *iallreduce(Comm *c, float *buf, size_t n, int mean) {
    CommRequest *r = am_calloc(1, sizeof *r, "communication request");
    r->comm = c;
    r->buf = buf;
    r->n = n;
    r->mean = mean;
#ifdef ASTROMM_HAVE_CUDA
    if (use_nccl(c, buf)) {  // NCCL averages itself; the compute stream waits in comm_wait
        r->nccl = comm_nccl_allreduce_async(buf, n, mean);
        r->mean = 0;
        return r;
    }
    if (use_staging(c, buf)) {  // staged: completed here, comm_wait has nothing left to do
        if (mean) comm_allreduce_mean(c, buf, n);
        else comm_allreduce_sum(c, buf, n);
        r->mean = 0;
        r->done = 1;
        return r;
    }
#endif
    const size_t chunks = n == 0 ? 0 : (n - 1) / c->max_count + 1;
    CHECK(chunks <= (size_t)INT_MAX, "comm_iallreduce: %zu chunks", chunks);
    r->n_req = (int)chunks;
    r->req = am_malloc((chunks ? chunks : 1) * sizeof *r->req, "communication requests");
    size_t k = 0;
    for (size_t off = 0; off < n; off += c->max_count, k++) {
        const size_t len = min_sz(c->max_count, n - off);
        MPI_OK(c, MPI_Iallreduce(MPI_IN_PLACE, buf + off, (int)len, MPI_FLOAT, MPI_SUM, c->world,
                                 &r->req[k]), len);
    }
    r->done = r->n_req == 0;
    return r;
}

CommRequest *comm_iallreduce_sum(Comm *c, float *buf, size_t n) { return iallreduce(c, buf, n, 0); }
CommRequest *comm_iallreduce_mean(Comm *c, float *buf, size_t n) { return iallreduce(c, buf, n, 1); }

int comm_test(CommRequest *r) {
    if (r->done) return 1;
#ifdef ASTROMM_HAVE_CUDA
    if (r->nccl) return r->done = comm_nccl_test(r->nccl);
#endif
    int flag = 0;
    MPI_OK(r->comm, MPI_Testall(r->n_req, r->req, &flag, MPI_STATUSES_IGNORE), r->n);
    r->done = flag != 0;
    return r->done;
}

void comm_wait(CommRequest *r) {
    if (!r) return;
#ifdef ASTROMM_HAVE_CUDA
    if (r->nccl) {
        comm_nccl_wait(r->nccl);
        free(r);
        return;
    }
#endif
    if (!r->done) MPI_OK(r->comm, MPI_Waitall(r->n_req, r->req, MPI_STATUSES_IGNORE), r->n);
    if (r->mean && r->comm->size > 1) {
        const float w = (float)r->comm->size;
        for (size_t i = 0; i < r->n; i++) r->buf[i] /= w;
    }
    free(r->req);
    free(r);
}

// Elements per rank of one piece of the strided chunked paths: within the
// count limit and keeping the packed buffer (size * len floats) bounded.
static size_t pack_len(const Comm *c) {
    size_t len = COMM_PACK_FLOATS / (size_t)c->size;
    if (len < 1) len = 1;
    return min_sz(len, c->max_count);
}

void comm_allgather(Comm *c, const float *send, float *recv, size_t n) {
    const size_t W = (size_t)c->size;
#ifdef ASTROMM_HAVE_CUDA
    if (use_nccl(c, recv)) {
        comm_nccl_allgather(send, recv, n);
        return;
    }
    if (use_staging(c, recv)) {
        float *hs = staged_copy(send, n * sizeof(float));
        float *hr = am_malloc((W * n > 0 ? W * n : 1) * sizeof(float), "host staging buffer (allgather)");
        comm_allgather(c, hs, hr, n);
        free(hs);
        staged_return(recv, hr, W * n * sizeof(float));
        return;
    }
#endif
    const int in_place = send == recv + (size_t)c->rank * n;
    if (n <= c->max_count) {
        MPI_OK(c, MPI_Allgather(in_place ? MPI_IN_PLACE : send, (int)n, MPI_FLOAT, recv, (int)n,
                                MPI_FLOAT, c->world), n);
        return;
    }
    // Rank r's piece [off, off+len) lands at recv + r*n + off: gather the pieces
    // contiguously, then spread them out.
    const size_t plen = pack_len(c);
    float *tmp = am_malloc(W * plen * sizeof(float), "allgather chunk buffer");
    for (size_t off = 0; off < n; off += plen) {
        const size_t len = min_sz(plen, n - off);
        MPI_OK(c, MPI_Allgather(send + off, (int)len, MPI_FLOAT, tmp, (int)len, MPI_FLOAT,
                                c->world), len);
        for (size_t r = 0; r < W; r++)
            memcpy(recv + r * n + off, tmp + r * len, len * sizeof(float));
    }
    free(tmp);
}

void comm_reduce_scatter_sum(Comm *c, const float *send, float *recv, size_t n) {
    const size_t W = (size_t)c->size;
#ifdef ASTROMM_HAVE_CUDA
    if (use_nccl(c, recv)) {
        comm_nccl_reduce_scatter_sum(send, recv, n);
        return;
    }
    if (use_staging(c, recv)) {
        float *hs = staged_copy(send, W * n * sizeof(float));
        float *hr = am_malloc((n > 0 ? n : 1) * sizeof(float), "host staging buffer (reduce-scatter)");
        comm_reduce_scatter_sum(c, hs, hr, n);
        free(hs);
        staged_return(recv, hr, n * sizeof(float));
        return;
    }
#endif
    if (n <= c->max_count) {
        MPI_OK(c, MPI_Reduce_scatter_block(send, recv, (int)n, MPI_FLOAT, MPI_SUM, c->world), n);
        return;
    }
    // Pack the piece [off, off+len) of every rank's block contiguously, then
    // reduce-scatter that.
    const size_t plen = pack_len(c);
    float *tmp = am_malloc(W * plen * sizeof(float), "reduce-scatter chunk buffer");
    for (size_t off = 0; off < n; off += plen) {
        const size_t len = min_sz(plen, n - off);
        for (size_t r = 0; r < W; r++)
            memcpy(tmp + r * len, send + r * n + off, len * sizeof(float));
        MPI_OK(c, MPI_Reduce_scatter_block(tmp, recv + off, (int)len, MPI_FLOAT, MPI_SUM,
                                           c->world), len);
    }
    free(tmp);
}

void comm_broadcast(Comm *c, void *buf, size_t bytes, int root) {
    CHECK(root >= 0 && root < c->size, "comm_broadcast: root %d is not a rank (size %d)", root,
          c->size);
#ifdef ASTROMM_HAVE_CUDA
    if (use_nccl(c, buf)) {
        comm_nccl_broadcast(buf, bytes, root);
        return;
    }
    if (use_staging(c, buf)) {
        void *h = staged_copy(buf, bytes);
        comm_broadcast(c, h, bytes, root);
        staged_return(buf, h, bytes);
        return;
    }
#endif
    char *p = buf;
    for (size_t off = 0; off < bytes; off += c->max_count) {
        const size_t len = min_sz(c->max_count, bytes - off);
        MPI_OK(c, MPI_Bcast(p + off, (int)len, MPI_BYTE, root, c->world), len);
    }
}

void comm_barrier(Comm *c) { MPI_OK(c, MPI_Barrier(c->world), 0); }

int comm_node_key_shared(Comm *c, const void *key, size_t bytes) {
    enum { KEY_MAX = 64 };
    CHECK(bytes > 0 && bytes <= KEY_MAX, "comm_node_key_shared: key of %zu bytes (1..%d)", bytes, KEY_MAX);
    unsigned char *all = am_malloc((size_t)c->local_size * KEY_MAX, "node keys"), mine[KEY_MAX] = {0};
    memcpy(mine, key, bytes);
    MPI_OK(c, MPI_Allgather(mine, KEY_MAX, MPI_BYTE, all, KEY_MAX, MPI_BYTE, c->local), KEY_MAX);
    int shared = 0;
    for (int r = 0; r < c->local_size; r++)
        if (r != c->local_rank && !memcmp(all + (size_t)r * KEY_MAX, mine, KEY_MAX)) shared = 1;
    free(all);
    return shared;
}
