#!/usr/bin/env python3
"""Scaling curves: modelled (benchmarks/scaling_model --csv) and measured
(slurm/scaling_study.sh collect, or the CPU np 1 -> 2 points) efficiency and
throughput against the number of GPUs / ranks.

    tools/plot_scaling.py --model model.csv [--measured scaling.csv]
                          [--cpu 1:37.0,2:66.7] [--scenarios weak_global_fp32_overlap,...]
                          --out scaling.png

Modelled curves are drawn as lines, measured points as markers, and the legend
says which is which ("model" / "measured"). --cpu takes rank:samples_per_s pairs
of a measured CPU weak-scaling run (benchmarks/results/cpu.md) and plots their
efficiency samples/s(W) / (W x samples/s(1)). Needs matplotlib (Agg backend).
"""
import argparse
import csv
import math
import sys

import plotlib


def fail(msg):
    print(f"plot_scaling.py: {msg}", file=sys.stderr)
    sys.exit(2)


def read_csv(path):
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")


def num(r, key):
    try:
        v = float(r.get(key, "nan"))
    except ValueError:
        return math.nan
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="CSV from benchmarks/scaling_model --csv")
    ap.add_argument("--measured", help="CSV from slurm/scaling_study.sh collect")
    ap.add_argument("--cpu", help="measured CPU weak scaling as ranks:samples_per_s pairs, e.g. 1:37.0,2:66.7")
    ap.add_argument("--scenarios", default="weak_global_fp32_overlap,weak_global_fp32_nooverlap,"
                    "weak_local_fp32_overlap,strong_global_fp32_overlap",
                    help="comma-separated model scenarios to draw (default: %(default)s)")
    ap.add_argument("--title", default="AstroM3 CLIP pre-training scaling")
    ap.add_argument("--out", required=True, help="output image (PNG/SVG/PDF)")
    a = ap.parse_args()
    if not (a.model or a.measured or a.cpu):
        fail("give at least one of --model, --measured, --cpu")

    model = read_csv(a.model) if a.model else []
    measured = read_csv(a.measured) if a.measured else []
    cpu = []
    if a.cpu:
        try:
            cpu = sorted((int(k), float(v)) for k, v in (p.split(":") for p in a.cpu.split(",")))
        except ValueError:
            fail("--cpu wants ranks:samples_per_s pairs, e.g. 1:37.0,2:66.7")
        if not cpu or cpu[0][1] <= 0:
            fail("--cpu needs a positive first point")
    want = [s for s in a.scenarios.split(",") if s]
    known = {r.get("scenario") for r in model}
    for s in want:
        if model and s not in known:
            fail(f"scenario '{s}' is not in {a.model} (have: {', '.join(sorted(known))})")

    plt = plotlib.pyplot("plot_scaling.py", code=2)

    fig, (ax_e, ax_t) = plt.subplots(1, 2, figsize=(13, 5))
    for s in want:
        pts = sorted((int(num(r, "gpus")), num(r, "efficiency"), num(r, "samples_per_s"))
                     for r in model if r.get("scenario") == s)
        if not pts:
            continue
        src = pts and next(r for r in model if r.get("scenario") == s).get("single_gpu_step", "")
        lab = f"model: {s}" + (" (1-GPU step estimated)" if src == "estimate" else "")
        ls = "-" if s.startswith("weak") else "--"
        ax_e.plot([p[0] for p in pts], [100 * p[1] for p in pts], ls, label=lab)
        ax_t.plot([p[0] for p in pts], [p[2] for p in pts], ls, label=lab)
    for sweep in sorted({r.get("sweep") for r in measured}):
        pts = sorted((int(num(r, "gpus")), num(r, "efficiency"), num(r, "samples_per_s"))
                     for r in measured if r.get("sweep") == sweep and not math.isnan(num(r, "samples_per_s")))
        if not pts:
            continue
        ax_e.plot([p[0] for p in pts], [100 * p[1] for p in pts], "o", ms=7, label=f"measured: {sweep} (GPU)")
        ax_t.plot([p[0] for p in pts], [p[2] for p in pts], "o", ms=7, label=f"measured: {sweep} (GPU)")
    if cpu:
        w0, s0 = cpu[0]
        ax_e.plot([w for w, _ in cpu], [100 * s / (w / w0 * s0) for w, s in cpu], "s", ms=8, color="k",
                  label="measured: CPU ranks (2-core VM)")
        ax_t.plot([w for w, _ in cpu], [s for _, s in cpu], "s", ms=8, color="k",
                  label="measured: CPU ranks (2-core VM)")
    for ax in (ax_e, ax_t):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("GPUs (ranks)")
        ax.grid(True, which="both", alpha=0.3)
    ax_e.axhline(95, color="grey", lw=0.8, ls=":")
    ax_e.axvline(64, color="grey", lw=0.8, ls=":")
    ax_e.set_ylabel("scaling efficiency (%)")
    ax_e.set_ylim(0, 105)
    ax_e.set_title("efficiency (target: >= 95 % weak at 64 GPUs)")
    ax_t.set_yscale("log")
    ax_t.set_ylabel("samples/s")
    ax_t.set_title("throughput")
    ax_t.legend(fontsize=7, loc="upper left")
    fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
