// scaling_model: an analytic (alpha-beta) model of one distributed AstroM3 CLIP
// pre-training step on 1..1024 GPUs: step time, samples/s and scaling
// efficiency, for weak scaling (fixed per-GPU batch) and strong scaling (fixed
// global batch), global or local CLIP loss scope, fp32 or bf16 gradient
// all-reduce, with and without overlap of the gradient all-reduce with the
// backward. Nothing here is measured: every input is a flag, and the defaults
// are estimates documented below and in docs/scaling.md.
//
// usage: scaling_model [--step-ms T] [--batch 512] [--csv PATH] [--md PATH] [--max-gpus 1024]
//                      [--gpus-per-node 8] [--nics-per-node 8] [--nvlink-busbw 370]
//                      [--nic-gbs 46] [--alpha-nvlink-us 1] [--alpha-ib-us 4] [--launch-us 8]
//                      [--peak-tflops 67] [--mfu 0.4] [--loss-mfu 0.7] [--loss-peak-tflops P]
//                      [--emb-bytes 4] [--hbm-tbs 3.35]
//                      [--flops-per-sample 2.04e9] [--params 15869827] [--proj-params 13107712]
//                      [--grad fp32|bf16] [--overlap-frac 0.6] [--step-overhead-ms 1.5]
//
// The step at W GPUs with b samples per GPU (global batch W*b):
//   t_step = t_compute(b) + t_loss_extra(W, b) + t_allgather + t_reducescatter
//            + t_grad_allreduce_exposed + t_small
// * t_compute(b): the single-GPU step (forward, backward, Adam) at batch b:
//   --step-ms when measured (for --batch samples), else an ESTIMATE:
//   b * flops_per_sample / (peak * mfu); plus a fixed per-step overhead
//   (kernel launches, --step-overhead-ms) that matters at small b. t_compute
//   includes the CLIP loss of a b x b matrix (W = 1).
// * flops_per_sample (default 2.04 GFLOP = 3 x 0.68 GFLOP forward): photometry
//   Informer 8 layers x 200 tokens x (4*128^2 + 2*128*512) MACs = 315M MACs,
//   photometry projection 25600*512 = 13.1M, spectra CNN ~11M, metadata MLP and
//   projections ~0.5M: ~340M MACs = 0.68 GFLOP forward; backward ~2x.
// * t_loss_extra: the global CLIP loss computes, per pair (3) and per rank, the
//   logits b x (W b) (forward GEMM 2 b Wb D FLOPs; backward: gradients of own
//   rows and of all gathered columns, 4 b Wb D) = 18 b (W b) D FLOPs per step
//   (D = 512), at peak * loss_mfu, plus the memory-bound softmax/CE passes
//   (12 passes of 4 bytes over 3 b Wb logits at --hbm-tbs); minus the W = 1
//   value already in t_compute (--loss-peak-tflops: a different peak for the
//   loss GEMMs, e.g. bf16 tensor cores). Local scope: 0 (the matrices stay
//   b x b). Node scope: negatives from the min(W, G) GPUs of one node.
// * Collectives (NCCL-like, GPU g of G per node, N = ceil(W/G) nodes): the
//   bus bandwidth is --nvlink-busbw inside a node and min(nvlink, nics * nic)
//   across nodes (rail-optimised: each channel's ring crosses nodes on its own
//   NIC). Ring latency: a chunk traverses W-1 hops, (N-1) of them inter-node
//   (alpha_ib), the rest NVLink (alpha_nvlink); all-reduce twice that.
//   Tree all-reduce: 2 ((G-1) alpha_nvlink + ceil(log2 N) alpha_ib) latency,
//   2 S / busbw bandwidth; the all-reduce takes the faster of ring and tree.
//   Every collective adds --launch-us.
//     all-reduce   t = lat + S 2(W-1)/W / busbw      (ring)
//     all-gather   t = lat + S (W-1)/W / busbw       (S = total gathered bytes)
//     reduce-scat. t = lat + S (W-1)/W / busbw
// * Global scope: 3 all-gathers (forward) and 3 reduce-scatters (backward) of
//   W b D floats each (--emb-bytes 4: fp32, 2: bf16), all on the critical path (the loss needs the
//   gathered columns; the projection backward needs the scattered gradients).
// * Gradient all-reduce of --params floats (fp32: 4 B, bf16: 2 B), in 25 MiB
//   buckets (one collective each). Without overlap it is fully exposed. With
//   overlap (dist_step's buckets): the photometry projection gradient
//   (--proj-params, ready right after its backward, before the encoders'
//   backward) overlaps with --overlap-frac of t_compute (the encoders'
//   backward); the rest of the gradients (encoders: ready at the end of the
//   backward) is exposed.
// * t_small: 2 small all-reduces per step (loss and accuracy statistics).
// Weak-scaling efficiency = t_step(1) / t_step(W) (per-GPU batch fixed);
// strong-scaling efficiency = t_step(1) / (W t_step(W)) (global batch fixed).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double step_ms;          // measured single-GPU step (0: estimate)
    int batch;               // batch of step_ms / the recipe batch
    int max_gpus, gpn, nics;
    double nvl_busbw, nic_gbs, a_nvl, a_ib, launch;  // GB/s, GB/s, us, us, us
    double peak_tflops, mfu, loss_mfu, hbm_tbs, flops_per_sample;
    double params, proj_params, overlap_frac, overhead_ms;
    double loss_peak_tflops;  // peak for the loss GEMMs (0: peak_tflops)
    int dim, emb_bytes;
} Model;

// GLOBAL: negatives from all W GPUs; LOCAL: from the own batch only (the
// AstroM3 reference under DDP); NODE: gathered among the GPUs of one node
// (min(W, G) ranks over NVLink), a proposed middle ground.
typedef enum { SCOPE_GLOBAL = 0, SCOPE_LOCAL = 1, SCOPE_NODE = 2 } Scope;

typedef struct {
    const char *name;
    int weak;      // 1: b fixed per GPU; 0: global batch fixed
    Scope scope;
    int grad_bytes;
    int overlap;
} Scenario;

typedef struct {
    int W, nodes, b, global;
    double t_comp, t_loss, t_ag, t_rs, t_ar, t_ar_exposed, t_small, t_step, sps, eff;
} Point;

static double sample_ms(const Model *m) {  // single-GPU compute per sample (ms)
    if (m->step_ms > 0) return (m->step_ms - m->overhead_ms) / m->batch;
    return m->flops_per_sample / (m->peak_tflops * 1e12 * m->mfu) * 1e3;
}

static double busbw(const Model *m, int W) {  // GB/s
    if (W <= m->gpn) return m->nvl_busbw;
    const double ib = m->nics * m->nic_gbs;
    return ib < m->nvl_busbw ? ib : m->nvl_busbw;
}

static int nodes_of(const Model *m, int W) { return (W + m->gpn - 1) / m->gpn; }

// One-way latency of a ring pass over W ranks (s).
static double ring_lat(const Model *m, int W) {
    if (W <= 1) return 0;
    const int N = nodes_of(m, W);
    const int inter = N > 1 ? N - 1 : 0;
    return ((W - 1 - inter) * m->a_nvl + inter * m->a_ib) * 1e-6;
}

// Seconds for an all-reduce of S bytes.
static double t_allreduce(const Model *m, int W, double S) {
    if (W <= 1) return 0;
    const double bw = busbw(m, W) * 1e9;
    const double ring = 2 * ring_lat(m, W) + S * 2.0 * (W - 1) / W / bw;
    const int N = nodes_of(m, W);
    const int g = W < m->gpn ? W : m->gpn;
    const double tree = 2 * ((g - 1) * m->a_nvl + ceil(log2((double)N)) * m->a_ib) * 1e-6 + 2.0 * S / bw;
    return m->launch * 1e-6 + (ring < tree ? ring : tree);
}

// Seconds for an all-gather / reduce-scatter whose whole buffer is S bytes.
static double t_gather(const Model *m, int W, double S) {
    if (W <= 1) return 0;
    return m->launch * 1e-6 + ring_lat(m, W) + S * (double)(W - 1) / W / (busbw(m, W) * 1e9);
}

// Global-loss compute (s) at local batch b with n_global columns.
static double t_loss(const Model *m, int b, double n_global) {
    const double flops = 18.0 * b * n_global * m->dim;
    const double bytes = 12.0 * 4.0 * 3.0 * b * n_global;
    const double peak = m->loss_peak_tflops > 0 ? m->loss_peak_tflops : m->peak_tflops;
    return flops / (peak * 1e12 * m->loss_mfu) + bytes / (m->hbm_tbs * 1e12);
}

static Point model_point(const Model *m, const Scenario *s, int W, int global_fixed) {
    Point p = {0};
    p.W = W;
    p.nodes = nodes_of(m, W);
    p.b = s->weak ? m->batch : global_fixed / W;
    p.global = p.b * W;
    const double t_sample = sample_ms(m) * 1e-3;
    p.t_comp = m->overhead_ms * 1e-3 + p.b * t_sample;
    // Extra loss compute beyond the b x b already in t_comp.
    const int Wg = s->scope == SCOPE_GLOBAL ? W : s->scope == SCOPE_NODE ? (W < m->gpn ? W : m->gpn) : 1;
    p.t_loss = t_loss(m, p.b, (double)p.b * Wg) - t_loss(m, p.b, p.b);
    if (Wg > 1) {
        const double S = (double)p.b * Wg * m->dim * m->emb_bytes;
        p.t_ag = 3 * t_gather(m, Wg, S);
        p.t_rs = 3 * t_gather(m, Wg, S);
    }
    const double bucket = 25.0 * 1024 * 1024;
    const double proj = m->proj_params * s->grad_bytes, rest = (m->params - m->proj_params) * s->grad_bytes;
    double t_proj = 0, t_rest = 0;
    for (double left = proj; left > 0; left -= bucket) t_proj += t_allreduce(m, W, left < bucket ? left : bucket);
    for (double left = rest; left > 0; left -= bucket) t_rest += t_allreduce(m, W, left < bucket ? left : bucket);
    p.t_ar = t_proj + t_rest;
    if (s->overlap) {
        const double window = m->overlap_frac * p.t_comp;
        p.t_ar_exposed = (t_proj > window ? t_proj - window : 0) + t_rest;
    } else {
        p.t_ar_exposed = p.t_ar;
    }
    p.t_small = W > 1 ? 2 * t_allreduce(m, W, 64) : 0;
    p.t_step = p.t_comp + p.t_loss + p.t_ag + p.t_rs + p.t_ar_exposed + p.t_small;
    p.sps = p.global / p.t_step;
    return p;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: scaling_model [--step-ms T] [--batch 512] [--csv PATH] [--md PATH] [--max-gpus 1024]\n"
            "  [--gpus-per-node 8] [--nics-per-node 8] [--nvlink-busbw 370] [--nic-gbs 46]\n"
            "  [--alpha-nvlink-us 1] [--alpha-ib-us 4] [--launch-us 8] [--peak-tflops 67] [--mfu 0.4]\n"
            "  [--loss-mfu 0.7] [--loss-peak-tflops P] [--emb-bytes 4] [--hbm-tbs 3.35] [--flops-per-sample 2.04e9] [--params 15869827]\n"
            "  [--proj-params 13107712] [--overlap-frac 0.6] [--step-overhead-ms 1.5]\n"
            "--step-ms: a measured single-GPU step time (ms) at --batch samples; without it the\n"
            "single-GPU step is ESTIMATED as batch * flops-per-sample / (peak-tflops * mfu) + overhead.\n");
}

int main(int argc, char **argv) {
    Model m = {.step_ms = 0, .batch = 512, .max_gpus = 1024, .gpn = 8, .nics = 8,
               .nvl_busbw = 370, .nic_gbs = 46, .a_nvl = 1.0, .a_ib = 4.0, .launch = 8.0,
               .peak_tflops = 67, .mfu = 0.4, .loss_mfu = 0.7, .hbm_tbs = 3.35,
               .flops_per_sample = 2.04e9, .params = 15869827, .proj_params = 13107712,
               .overlap_frac = 0.6, .overhead_ms = 1.5, .loss_peak_tflops = 0, .dim = 512, .emb_bytes = 4};
    const char *csv = NULL, *md = NULL;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "scaling_model: '%s' needs a value\n", s);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(s, "--step-ms")) m.step_ms = atof(v);
        else if (!strcmp(s, "--batch")) m.batch = atoi(v);
        else if (!strcmp(s, "--csv")) csv = v;
        else if (!strcmp(s, "--md")) md = v;
        else if (!strcmp(s, "--max-gpus")) m.max_gpus = atoi(v);
        else if (!strcmp(s, "--gpus-per-node")) m.gpn = atoi(v);
        else if (!strcmp(s, "--nics-per-node")) m.nics = atoi(v);
        else if (!strcmp(s, "--nvlink-busbw")) m.nvl_busbw = atof(v);
        else if (!strcmp(s, "--nic-gbs")) m.nic_gbs = atof(v);
        else if (!strcmp(s, "--alpha-nvlink-us")) m.a_nvl = atof(v);
        else if (!strcmp(s, "--alpha-ib-us")) m.a_ib = atof(v);
        else if (!strcmp(s, "--launch-us")) m.launch = atof(v);
        else if (!strcmp(s, "--peak-tflops")) m.peak_tflops = atof(v);
        else if (!strcmp(s, "--mfu")) m.mfu = atof(v);
        else if (!strcmp(s, "--loss-mfu")) m.loss_mfu = atof(v);
        else if (!strcmp(s, "--loss-peak-tflops")) m.loss_peak_tflops = atof(v);
        else if (!strcmp(s, "--emb-bytes")) m.emb_bytes = atoi(v);
        else if (!strcmp(s, "--hbm-tbs")) m.hbm_tbs = atof(v);
        else if (!strcmp(s, "--flops-per-sample")) m.flops_per_sample = atof(v);
        else if (!strcmp(s, "--params")) m.params = atof(v);
        else if (!strcmp(s, "--proj-params")) m.proj_params = atof(v);
        else if (!strcmp(s, "--overlap-frac")) m.overlap_frac = atof(v);
        else if (!strcmp(s, "--step-overhead-ms")) m.overhead_ms = atof(v);
        else {
            fprintf(stderr, "scaling_model: unknown argument '%s'\n", s);
            usage(stderr);
            return 2;
        }
    }
    if (m.batch < 1 || m.max_gpus < 1 || m.gpn < 1 || m.nics < 1 || m.nvl_busbw <= 0 || m.nic_gbs <= 0 ||
        m.peak_tflops <= 0 || m.mfu <= 0 || m.loss_mfu <= 0 || m.hbm_tbs <= 0 || m.params < m.proj_params ||
        m.overlap_frac < 0 || m.loss_peak_tflops < 0 || (m.emb_bytes != 2 && m.emb_bytes != 4) || m.overlap_frac > 1 || m.overhead_ms < 0 ||
        (m.step_ms > 0 && m.step_ms <= m.overhead_ms)) {
        fprintf(stderr, "scaling_model: inconsistent parameters (see --help)\n");
        return 2;
    }

    static const Scenario sc[] = {
        {"weak_global_fp32_overlap", 1, SCOPE_GLOBAL, 4, 1},
        {"weak_global_fp32_nooverlap", 1, SCOPE_GLOBAL, 4, 0},
        {"weak_global_bf16_overlap", 1, SCOPE_GLOBAL, 2, 1},
        {"weak_local_fp32_overlap", 1, SCOPE_LOCAL, 4, 1},
        {"weak_local_fp32_nooverlap", 1, SCOPE_LOCAL, 4, 0},
        {"weak_node_fp32_overlap", 1, SCOPE_NODE, 4, 1},
        {"strong_global_fp32_overlap", 0, SCOPE_GLOBAL, 4, 1},
        {"strong_global_fp32_nooverlap", 0, SCOPE_GLOBAL, 4, 0},
        {"strong_local_fp32_overlap", 0, SCOPE_LOCAL, 4, 1},
    };
    const int nsc = (int)(sizeof sc / sizeof sc[0]);
    enum { MAXW = 32 };
    int Ws[MAXW], nW = 0;
    for (int w = 1; w <= m.max_gpus && nW < MAXW; w *= 2) Ws[nW++] = w;
    Point pts[16][MAXW];
    for (int k = 0; k < nsc; k++) {
        const Point p1 = model_point(&m, &sc[k], 1, m.batch);
        for (int j = 0; j < nW; j++) {
            Point p = model_point(&m, &sc[k], Ws[j], m.batch);
            if (!sc[k].weak && p.b < 1) {  // global batch smaller than the GPU count
                p.t_step = 0;
                p.eff = 0;
            } else {
                p.eff = sc[k].weak ? p1.t_step / p.t_step : p1.t_step / (Ws[j] * p.t_step);
            }
            pts[k][j] = p;
        }
    }
    const double step1 = model_point(&m, &sc[0], 1, m.batch).t_step * 1e3;

    FILE *fc = csv ? fopen(csv, "w") : NULL;
    if (csv && !fc) {
        fprintf(stderr, "scaling_model: cannot write %s\n", csv);
        return 1;
    }
    if (fc) {
        fprintf(fc, "scenario,gpus,nodes,local_batch,global_batch,t_compute_ms,t_loss_extra_ms,t_allgather_ms,"
                    "t_reducescatter_ms,t_grad_allreduce_ms,t_grad_allreduce_exposed_ms,t_small_ms,t_step_ms,"
                    "samples_per_s,efficiency,single_gpu_step,source\n");
        for (int k = 0; k < nsc; k++)
            for (int j = 0; j < nW; j++) {
                const Point *p = &pts[k][j];
                if (p->t_step <= 0) continue;
                fprintf(fc, "%s,%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.1f,%.4f,%s,model\n",
                        sc[k].name, p->W, p->nodes, p->b, p->global, p->t_comp * 1e3, p->t_loss * 1e3,
                        p->t_ag * 1e3, p->t_rs * 1e3, p->t_ar * 1e3, p->t_ar_exposed * 1e3, p->t_small * 1e3,
                        p->t_step * 1e3, p->sps, p->eff, m.step_ms > 0 ? "measured" : "estimate");
            }
        if (fclose(fc)) return 1;
    }

    FILE *fm = md ? fopen(md, "w") : stdout;
    if (!fm) {
        fprintf(stderr, "scaling_model: cannot write %s\n", md);
        return 1;
    }
    fprintf(fm, "## Modelled scaling (scaling_model; an alpha-beta MODEL, not a measurement)\n\n");
    if (m.step_ms > 0)
        fprintf(fm, "Single-GPU step: **measured** %.2f ms at batch %d (given with --step-ms).\n\n", m.step_ms,
                m.batch);
    else
        fprintf(fm, "Single-GPU step: **ESTIMATE** %.2f ms at batch %d = %d x %.3g FLOP / (%.0f TFLOP/s x MFU %.2f)"
                    " + %.1f ms overhead (no GPU was measured).\n\n",
                step1, m.batch, m.batch, m.flops_per_sample, m.peak_tflops, m.mfu, m.overhead_ms);
    fprintf(fm, "Network: %d GPUs/node, NVLink busbw %.0f GB/s, %d x %.0f GB/s NICs per node "
                "(inter-node busbw %.0f GB/s), alpha %.1f us NVLink hop / %.1f us IB hop, %.0f us per "
                "collective launch; gradients %.0f floats (%.0f in the photometry projection), 25 MiB buckets; "
                "loss GEMMs at %.0f%% of %.0f TFLOP/s; embeddings exchanged as %d-byte floats.\n\n",
            m.gpn, m.nvl_busbw, m.nics, m.nic_gbs, busbw(&m, m.gpn + 1), m.a_nvl, m.a_ib, m.launch, m.params,
            m.proj_params, m.loss_mfu * 100, m.loss_peak_tflops > 0 ? m.loss_peak_tflops : m.peak_tflops,
            m.emb_bytes);
    fprintf(fm, "Efficiency (weak: t(1)/t(W) at %d samples per GPU; strong: t(1)/(W t(W)) at global batch %d):\n\n",
            m.batch, m.batch);
    fprintf(fm, "| GPUs |");
    for (int k = 0; k < nsc; k++) fprintf(fm, " %s |", sc[k].name);
    fprintf(fm, "\n|---|");
    for (int k = 0; k < nsc; k++) fprintf(fm, "---|");
    fprintf(fm, "\n");
    for (int j = 0; j < nW; j++) {
        fprintf(fm, "| %d |", Ws[j]);
        for (int k = 0; k < nsc; k++) {
            if (pts[k][j].t_step <= 0) fprintf(fm, " - |");
            else fprintf(fm, " %.1f %% |", 100 * pts[k][j].eff);
        }
        fprintf(fm, "\n");
    }
    fprintf(fm, "\nBreakdown, %s (ms per step):\n\n", sc[0].name);
    fprintf(fm, "| GPUs | nodes | global batch | compute | extra loss compute | all-gather x3 | reduce-scatter x3 "
                "| grad all-reduce (exposed / total) | small | step | samples/s | efficiency |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int j = 0; j < nW; j++) {
        const Point *p = &pts[0][j];
        fprintf(fm, "| %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f / %.2f | %.3f | %.2f | %.0f | %.1f %% |\n",
                p->W, p->nodes, p->global, p->t_comp * 1e3, p->t_loss * 1e3, p->t_ag * 1e3, p->t_rs * 1e3,
                p->t_ar_exposed * 1e3, p->t_ar * 1e3, p->t_small * 1e3, p->t_step * 1e3, p->sps, 100 * p->eff);
    }
    if (md && fclose(fm)) return 1;
    return 0;
}
