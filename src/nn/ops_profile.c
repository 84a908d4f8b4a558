// Per-op time profile behind ops_profile_enable (see ops.h). The generated
// dispatch (src/nn/ops_dispatch.c) brackets each op_* call with
// ops_profile_begin/end when ops_profiling is set; ops_to_host/ops_to_device
// report their copies here. Synchronising around every op measures each op
// alone (its kernels plus launch latency), not the overlapped step.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "nn/ops.h"

int ops_profiling = 0;

#define MAX_OPS 128
static struct {
    const char *name;
    double seconds;
    long calls;
} g_ops[MAX_OPS];
static long g_copies;
static double g_copy_bytes;

void ops_profile_reset(void) {
    memset(g_ops, 0, sizeof g_ops);
    g_copies = 0;
    g_copy_bytes = 0;
}

void ops_profile_enable(int on) {
    if (on) ops_synchronize();
    ops_profiling = on != 0;
}

double ops_profile_begin(void) {
    ops_synchronize();
    return am_now_s();
}

void ops_profile_end(int op_id, const char *name, double t0) {
    ops_synchronize();
    if (op_id < 0 || op_id >= MAX_OPS) return;
    g_ops[op_id].name = name;
    g_ops[op_id].seconds += am_now_s() - t0;
    g_ops[op_id].calls++;
}

void ops_profile_copy(size_t bytes) {
    if (!ops_profiling) return;
    g_copies++;
    g_copy_bytes += (double)bytes;
}

static int by_time(const void *a, const void *b) {
    const int i = *(const int *)a, j = *(const int *)b;
    return (g_ops[j].seconds > g_ops[i].seconds) - (g_ops[j].seconds < g_ops[i].seconds);
}

void ops_profile_report(FILE *out, int steps) {
    if (steps < 1) steps = 1;
    int idx[MAX_OPS], n = 0;
    double total = 0;
    for (int i = 0; i < MAX_OPS && i < ops_profile_slots(); i++)
        if (g_ops[i].calls) {
            idx[n++] = i;
            total += g_ops[i].seconds;
        }
    qsort(idx, (size_t)n, sizeof *idx, by_time);
    fprintf(out, "op profile (%s, %s, per step over %d steps; each op synchronised alone):\n",
            ops_device_name(), ops_precision_name(ops_precision()), steps);
    fprintf(out, "  %-36s %10s %8s %7s\n", "op", "ms/step", "calls", "share");
    for (int k = 0; k < n; k++) {
        const int i = idx[k];
        fprintf(out, "  %-36s %10.3f %8.1f %6.1f%%\n", g_ops[i].name, 1e3 * g_ops[i].seconds / steps,
                (double)g_ops[i].calls / steps, total > 0 ? 100.0 * g_ops[i].seconds / total : 0.0);
    }
    fprintf(out, "  %-36s %10.3f\n", "all ops", 1e3 * total / steps);
    fprintf(out, "  host<->device copies: %.1f per step, %.2f MB per step\n", (double)g_copies / steps,
            g_copy_bytes / steps / 1e6);
}
