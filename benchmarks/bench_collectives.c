// bench_collectives: all-reduce, all-gather and reduce-scatter bandwidth
// through astromm's own communication layer (mpi/comm.h), measured the way
// nccl-tests measures NCCL: MPI over host buffers on the CPU device, NCCL over
// device buffers after comm_enable_gpu on the CUDA device.
//
// usage: mpirun -np N bench_collectives [--min-bytes 8] [--max-bytes 1G] [--step-factor 2]
//            [--iters 20] [--warmup 5] [--op all|all_reduce,all_gather,reduce_scatter]
//            [--device cpu|cuda|auto] [--json PATH] [--no-check]
//
// Sizes follow nccl-tests: "size" is the bytes of the whole (largest) buffer
// of the collective: the in-place buffer for all-reduce, the gathered output
// (N x per-rank part) for all-gather, the input (N x per-rank part) for
// reduce-scatter; "count" is the float count of that buffer for all-reduce
// and of one rank's part for all-gather and reduce-scatter. Sizes go from
// --min-bytes to --max-bytes multiplying by --step-factor (2 or 4 ...);
// all-gather/reduce-scatter sizes are rounded down to a multiple of 4*N bytes
// (sizes below that are skipped). Suffixes K, M, G (powers of 1024) accepted.
//
// Timing: per iteration every rank enters comm_barrier, then times the one
// collective (on CUDA including ops_synchronize, so the NCCL kernel has
// finished); the iteration's time is the maximum over ranks; the reported
// time is the median over the timed iterations after --warmup untimed ones.
// Large messages get fewer iterations: at most max(3, 4 GiB / size) (the
// "iters" column says how many ran), and one warm-up call once
// warmup * size exceeds 2 GiB.
// algbw = size / time; busbw = algbw * 2(N-1)/N for all-reduce and
// algbw * (N-1)/N for all-gather and reduce-scatter (GB/s = 1e9 B/s).
// "#wrong": elements differing from the exact expected result in one extra
// checked call per size (small integers, exact in float); --no-check skips it.
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "mpi/comm.h"
#include "nn/ops.h"

typedef enum { OP_ALLREDUCE = 0, OP_ALLGATHER = 1, OP_REDUCESCATTER = 2, OP_COUNT = 3 } OpKind;
static const char *const op_names[OP_COUNT] = {"all_reduce", "all_gather", "reduce_scatter"};

typedef struct {
    OpKind op;
    size_t bytes, count;
    int iters;
    double time_us, algbw, busbw;
    long long wrong;
} Row;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// "8", "64K", "1M", "1G" (powers of 1024); 0 on a malformed value.
static size_t parse_bytes(const char *s) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || v < 0) return 0;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = 1024.0; end++; break;
    case 'M': mul = 1024.0 * 1024.0; end++; break;
    case 'G': mul = 1024.0 * 1024.0 * 1024.0; end++; break;
    default: break;
    }
    if (toupper((unsigned char)*end) == 'B') end++;
    if (*end) return 0;
    return (size_t)(v * mul);
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_collectives [--min-bytes 8] [--max-bytes 1G] [--step-factor 2]\n"
               "                        [--iters 20] [--warmup 5]\n"
               "                        [--op all|all_reduce,all_gather,reduce_scatter]\n"
               "                        [--device cpu|cuda|auto] [--json PATH] [--no-check]\n"
               "Run under mpirun; sizes accept K/M/G suffixes (powers of 1024).\n");
}

// Context shared by the per-size runs.
typedef struct {
    Comm *c;
    int rank, size, gpu;
    float *host;       // host staging buffer (GPU: fill/check; CPU: unused)
    size_t host_floats;
} Bench;

static float *buf_alloc(size_t floats, const char *what) {
    return ops_alloc(floats ? floats * sizeof(float) : sizeof(float), what);
}

static float *staging(Bench *B, size_t floats) {
    if (floats > B->host_floats) {
        free(B->host);
        B->host = malloc(floats * sizeof(float));
        if (!B->host) {
            fprintf(stderr, "bench_collectives: out of host memory (%zu bytes)\n", floats * sizeof(float));
            exit(1);
        }
        B->host_floats = floats;
    }
    return B->host;
}

// Writes f(i) for i < n into the (host or device) buffer dst.
typedef float (*FillFn)(size_t i, int rank, int size, size_t n_per_rank);
static void fill(Bench *B, float *dst, size_t n, FillFn fn, size_t n_per_rank) {
    float *h = B->gpu ? staging(B, n) : dst;
    for (size_t i = 0; i < n; i++) h[i] = fn(i, B->rank, B->size, n_per_rank);
    if (B->gpu) ops_to_device(dst, h, n * sizeof(float));
}

static long long check(Bench *B, const float *src, size_t n, FillFn expect, size_t n_per_rank) {
    const float *h = src;
    if (B->gpu) {
        float *s = staging(B, n);
        ops_synchronize();
        ops_to_host(s, src, n * sizeof(float));
        h = s;
    }
    long long wrong = 0;
    for (size_t i = 0; i < n; i++)
        if (h[i] != expect(i, B->rank, B->size, n_per_rank)) wrong++;
    return wrong;
}

// Small integers: every sum below is exact in float for any sane rank count.
static float ar_in(size_t i, int r, int w, size_t np) { (void)w; (void)np; return (float)(r + 1) + (float)(i % 7); }
static float ar_out(size_t i, int r, int w, size_t np) {
    (void)r; (void)np;
    return (float)((double)w * (w + 1) / 2 + (double)w * (double)(i % 7));
}
static float ag_in(size_t i, int r, int w, size_t np) { (void)w; (void)np; return (float)(r + 1) + (float)(i % 5); }
static float ag_out(size_t i, int r, int w, size_t np) { (void)r; (void)w; return (float)(i / np + 1) + (float)((i % np) % 5); }
// Rank k's input element j (destined to rank j/np, position j%np).
static float rs_in(size_t j, int k, int w, size_t np) { (void)w; return (float)(k + 1) + (float)((j / np) % 3) + (float)((j % np) % 5); }
static float rs_out(size_t i, int r, int w, size_t np) {
    (void)np;
    return (float)((double)w * (w + 1) / 2 + (double)w * (double)(r % 3) + (double)w * (double)(i % 5));
}

static void run_op(Bench *B, OpKind op, float *a, float *b, size_t n) {
    switch (op) {
    case OP_ALLREDUCE: comm_allreduce_sum(B->c, a, n); break;
    case OP_ALLGATHER: comm_allgather(B->c, b, a, n); break;  // a: recv [size*n], b: send [n]
    case OP_REDUCESCATTER: comm_reduce_scatter_sum(B->c, a, b, n); break;  // a: send [size*n], b: recv [n]
    default: break;
    }
}

// One size of one collective. Returns 0 when the size was skipped.
static int bench_size(Bench *B, OpKind op, size_t bytes, int iters, int warmup, int do_check, Row *row) {
    const size_t W = (size_t)B->size;
    size_t n_big, n_small, count;  // floats in the big buffer, in the per-rank part
    if (op == OP_ALLREDUCE) {
        n_big = bytes / sizeof(float);
        n_small = 0;
        count = n_big;
    } else {
        n_small = bytes / (sizeof(float) * W);
        n_big = n_small * W;
        count = n_small;
    }
    if (count == 0) return 0;
    const size_t real_bytes = n_big * sizeof(float);
    const double cap = 4.0 * 1024 * 1024 * 1024;
    if ((double)real_bytes * iters > cap) {
        int k = (int)(cap / (double)real_bytes);
        iters = k < 3 ? 3 : k;
    }
    if ((double)real_bytes * warmup > cap / 2) warmup = 1;
    float *a = buf_alloc(n_big, "bench_collectives big buffer");
    float *b = n_small ? buf_alloc(n_small, "bench_collectives per-rank buffer") : NULL;
    // Inputs: the timed calls reduce whatever is in the buffers (all-reduce in
    // place grows the values; timing does not depend on them).
    if (op == OP_ALLGATHER) fill(B, b, n_small, ag_in, n_small);
    else fill(B, a, n_big, op == OP_ALLREDUCE ? ar_in : rs_in, n_small);

    long long wrong = 0;
    if (do_check) {
        run_op(B, op, a, b, count);
        if (op == OP_ALLREDUCE) wrong = check(B, a, n_big, ar_out, 0);
        else if (op == OP_ALLGATHER) wrong = check(B, a, n_big, ag_out, n_small);
        else wrong = check(B, b, n_small, rs_out, n_small);
    }
    for (int i = 0; i < warmup; i++) run_op(B, op, a, b, count);
    if (B->gpu) ops_synchronize();

    double *t = calloc((size_t)iters, sizeof *t);
    double *all = calloc((size_t)iters * W, sizeof *all);
    if (!t || !all) {
        fprintf(stderr, "bench_collectives: out of host memory\n");
        exit(1);
    }
    for (int i = 0; i < iters; i++) {
        comm_barrier(B->c);
        const double t0 = am_now_s();
        run_op(B, op, a, b, count);
        if (B->gpu) ops_synchronize();
        t[i] = am_now_s() - t0;
    }
    // Every rank's times to everyone (host doubles, MPI), then max over ranks.
    memcpy(all + (size_t)B->rank * (size_t)iters, t, (size_t)iters * sizeof *t);
    comm_allreduce_sum_host(B->c, all, (size_t)iters * W);
    for (int i = 0; i < iters; i++) {
        double m = 0;
        for (size_t r = 0; r < W; r++) if (all[r * (size_t)iters + (size_t)i] > m) m = all[r * (size_t)iters + (size_t)i];
        t[i] = m;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    const double med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
    // #wrong summed over ranks.
    double wsum = comm_allreduce_sum_double(B->c, (double)wrong);

    row->op = op;
    row->bytes = real_bytes;
    row->count = count;
    row->iters = iters;
    row->time_us = med * 1e6;
    row->algbw = med > 0 ? (double)real_bytes / med / 1e9 : 0;
    const double f = op == OP_ALLREDUCE ? 2.0 * (double)(W - 1) / (double)W : (double)(W - 1) / (double)W;
    row->busbw = row->algbw * f;
    row->wrong = do_check ? (long long)wsum : -1;
    free(t);
    free(all);
    ops_free(a);
    if (b) ops_free(b);
    return 1;
}

static void print_header(OpKind op, int size, const char *backend) {
    printf("#\n# %s (%s, %s, %d ranks; time = median over iterations of the max over ranks)\n#\n",
           op_names[op], op == OP_ALLREDUCE ? "in place, sum" : op == OP_ALLGATHER ? "out of place" : "out of place, sum",
           backend, size);
    printf("#%12s %12s %6s %6s %6s %11s %9s %9s %7s\n", "size", "count", "type", "redop", "iters",
           "time", "algbw", "busbw", "#wrong");
    printf("#%12s %12s %6s %6s %6s %11s %9s %9s %7s\n", "(B)", "(elements)", "", "", "", "(us)",
           "(GB/s)", "(GB/s)", "");
}

static void print_row(const Row *r) {
    char wrong[32];
    if (r->wrong < 0) snprintf(wrong, sizeof wrong, "N/A");
    else snprintf(wrong, sizeof wrong, "%lld", r->wrong);
    printf(" %12zu %12zu %6s %6s %6d %11.2f %9.3f %9.3f %7s\n", r->bytes, r->count, "float",
           r->op == OP_ALLGATHER ? "none" : "sum", r->iters, r->time_us, r->algbw, r->busbw, wrong);
}

static int write_json(const char *path, const Row *rows, int n, int size, const char *backend,
                      const char *device, size_t min_b, size_t max_b, int iters, int warmup) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_collectives: cannot write %s\n", path);
        return 1;
    }
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "{\"benchmark\": \"bench_collectives\", \"ranks\": %d, \"device\": \"%s\", "
               "\"backend\": \"%s\", \"host\": \"%s\", \"date\": \"%s\", \"min_bytes\": %zu, "
               "\"max_bytes\": %zu, \"iters\": %d, \"warmup\": %d,\n \"results\": [\n",
            size, device, backend, host, date, min_b, max_b, iters, warmup);
    for (int i = 0; i < n; i++) {
        const Row *r = &rows[i];
        fprintf(f, "  {\"op\": \"%s\", \"bytes\": %zu, \"count\": %zu, \"iters\": %d, \"time_us\": %.3f, "
                   "\"algbw_gbs\": %.6f, \"busbw_gbs\": %.6f, \"wrong\": %lld}%s\n",
                op_names[r->op], r->bytes, r->count, r->iters, r->time_us, r->algbw, r->busbw, r->wrong,
                i + 1 < n ? "," : "");
    }
    fprintf(f, " ]}\n");
    return fclose(f) ? 1 : 0;
}

int main(int argc, char **argv) {
    Comm *c = comm_init(&argc, &argv);
    const int rank = comm_rank(c), size = comm_size(c);
    size_t min_b = 8, max_b = (size_t)1 << 30;
    double factor = 2;
    int iters = 20, warmup = 5, do_check = 1;
    int want[OP_COUNT] = {1, 1, 1};
    const char *json = NULL, *device = "auto";
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            if (rank == 0) usage(stdout);
            comm_finalize(c);
            return 0;
        } else if (!strcmp(s, "--no-check")) do_check = 0;
        else if (!v) bad = 1;
        else if (!strcmp(s, "--min-bytes")) { min_b = parse_bytes(v); i++; bad = min_b == 0; }
        else if (!strcmp(s, "--max-bytes")) { max_b = parse_bytes(v); i++; bad = max_b == 0; }
        else if (!strcmp(s, "--step-factor")) { factor = atof(v); i++; bad = factor < 1.5; }
        else if (!strcmp(s, "--iters")) { iters = atoi(v); i++; bad = iters < 1; }
        else if (!strcmp(s, "--warmup")) { warmup = atoi(v); i++; bad = warmup < 0; }
        else if (!strcmp(s, "--json")) { json = v; i++; }
        else if (!strcmp(s, "--device")) {
            device = v;
            i++;
            bad = strcmp(v, "cpu") && strcmp(v, "cuda") && strcmp(v, "auto");
        } else if (!strcmp(s, "--op")) {
            i++;
            if (strcmp(v, "all")) {
                for (int k = 0; k < OP_COUNT; k++) want[k] = strstr(v, op_names[k]) != NULL;
                bad = !want[0] && !want[1] && !want[2];
            }
        } else bad = 1;
        if (bad && rank == 0) fprintf(stderr, "bench_collectives: bad or unknown argument '%s'\n", s);
    }
    if (!bad && min_b > max_b) {
        bad = 1;
        if (rank == 0) fprintf(stderr, "bench_collectives: --min-bytes exceeds --max-bytes\n");
    }
    if (bad) {
        if (rank == 0) usage(stderr);
        comm_finalize(c);
        return 2;
    }

    ops_init(1);
    int gpu = 0;
    const int have_gpu = ops_cuda_available();
    if (!strcmp(device, "cuda") && !have_gpu) {
        if (rank == 0)
            fprintf(stderr, "bench_collectives: --device cuda but %s; use --device cpu (MPI on host "
                            "buffers) or auto\n",
#ifdef ASTROMM_HAVE_CUDA
                    "no usable GPU was found (check nvidia-smi / CUDA_VISIBLE_DEVICES)"
#else
                    "this build has no CUDA/NCCL (rebuild with -DASTROMM_CUDA=ON)"
#endif
            );
        comm_finalize(c);
        return 3;
    }
    if (!strcmp(device, "auto") && !have_gpu && rank == 0) {
#ifdef ASTROMM_HAVE_CUDA
        printf("# --device auto: CUDA build but no usable GPU: falling back to MPI on host buffers\n");
#else
        printf("# --device auto: build without CUDA: MPI on host buffers\n");
#endif
    }
    if (strcmp(device, "cpu") && have_gpu) {
#ifdef ASTROMM_HAVE_CUDA
        const int ndev = ops_cuda_device_count();
        ops_set_device(OPS_CUDA, ndev > 0 ? comm_local_rank(c) % ndev : 0);
        comm_enable_gpu(c);
        gpu = 1;
#endif
    }
    const char *backend = gpu ? "NCCL, device buffers" : "MPI, host buffers";
    if (rank == 0) {
        printf("# bench_collectives: %d ranks (%d on this node), device %s, backend %s\n", size,
               comm_local_size(c), gpu ? "cuda" : "cpu", backend);
        printf("# sizes %zu .. %zu B x%g, iters %d (at most max(3, 4 GiB/size)), warmup %d, check %s\n",
               min_b, max_b, factor, iters, warmup, do_check ? "on" : "off");
    }

    Bench B = {.c = c, .rank = rank, .size = size, .gpu = gpu};
    int nrows = 0, cap_rows = 0;
    Row *rows = NULL;
    long long wrong_total = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        if (!want[op]) continue;
        if (rank == 0) print_header((OpKind)op, size, backend);
        double bus_sum = 0;
        int bus_n = 0;
        long long op_wrong = 0;
        size_t prev = 0;
        for (double sz = (double)min_b; sz <= (double)max_b * (1 + 1e-9); sz *= factor) {
            Row r;
            if (!bench_size(&B, (OpKind)op, (size_t)sz, iters, warmup, do_check, &r)) continue;
            if (r.bytes == prev) continue;  // rounding made a duplicate size
            prev = r.bytes;
            if (nrows == cap_rows) {
                cap_rows = cap_rows ? 2 * cap_rows : 64;
                rows = realloc(rows, (size_t)cap_rows * sizeof *rows);
                if (!rows) return 1;
            }
            rows[nrows++] = r;
            if (r.wrong > 0) op_wrong += r.wrong;
            bus_sum += r.busbw;
            bus_n++;
            if (rank == 0) {
                print_row(&r);
                fflush(stdout);
            }
        }
        if (rank == 0) {
            if (do_check) printf("# %s: out of bounds values : %lld %s\n", op_names[op], op_wrong, op_wrong ? "ERROR" : "OK");
            else printf("# %s: out of bounds values : N/A (--no-check)\n", op_names[op]);
            printf("# %s: avg bus bandwidth    : %.4f GB/s\n", op_names[op], bus_n ? bus_sum / bus_n : 0.0);
        }
        wrong_total += op_wrong;
    }
    int rc = wrong_total ? 1 : 0;
    if (rank == 0 && json) rc |= write_json(json, rows, nrows, size, backend, gpu ? "cuda" : "cpu", min_b,
                                            max_b, iters, warmup);
    free(rows);
    free(B.host);
    comm_finalize(c);
    return rc;
}
