#!/usr/bin/env python3
"""Loss and accuracy curves from a run directory's metrics.jsonl (astromm train / finetune).

Lines with "kind": "step" give the training curves against the optimiser step (loss,
the per-pair losses loss_*, and every *acc* field); lines with "kind": "epoch" give the
validation curves (val_*loss*, val_*acc*) at the step where the epoch ended. Other kinds
(resume, ...) are ignored.

usage: tools/plot_metrics.py RUN_DIR|metrics.jsonl --out curves.png [--smooth 20]
"""
import argparse
import json
import math
import os
import sys

import plotlib


def fail(msg):
    plotlib.fail("plot_metrics", msg)


def read_metrics(path):
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        fail(f"{path}: cannot open: {e.strerror}")
    steps, epochs = [], []
    last = max((i for i, l in enumerate(lines) if l.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if i == last:  # a run still writing may leave a partial last line
                print(f"plot_metrics: warning: {path}:{i + 1}: incomplete last line skipped", file=sys.stderr)
                continue
            fail(f"{path}:{i + 1}: not JSON ({e.msg})")
        if not isinstance(rec, dict):
            fail(f"{path}:{i + 1}: not a JSON object")
        kind = rec.get("kind")
        if kind in ("step", "epoch"):
            if not isinstance(rec.get("step"), (int, float)):
                fail(f"{path}:{i + 1}: '{kind}' line without a numeric \"step\"")
            (steps if kind == "step" else epochs).append(rec)
    if not steps and not epochs:
        fail(f"{path}: no \"step\" or \"epoch\" lines (is this an astromm metrics.jsonl?)")
    return path, steps, epochs


def series(recs, key):
    xs, ys = [], []
    for r in recs:
        v = r.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            xs.append(r["step"])
            ys.append(v)
    return xs, ys


def smooth(ys, w):
    if w <= 1 or len(ys) < 2:
        return ys
    out, acc = [], 0.0
    for i, y in enumerate(ys):
        acc += y
        if i >= w:
            acc -= ys[i - w]
        out.append(acc / min(i + 1, w))
    return out


def main():
    ap = argparse.ArgumentParser(description="Loss/accuracy curves (PNG) from an astromm metrics.jsonl.")
    ap.add_argument("run", help="run directory (holding metrics.jsonl) or the metrics.jsonl file")
    ap.add_argument("--out", required=True, help="output PNG")
    ap.add_argument("--smooth", type=int, default=20, help="moving-average window over steps (default 20; 1 = off)")
    ap.add_argument("--title", default=None)
    ap.add_argument("--dpi", type=int, default=150)
    a = ap.parse_args()
    if a.smooth < 1:
        ap.error("--smooth must be >= 1")
    path, steps, epochs = read_metrics(a.run)
    plt = plotlib.pyplot("plot_metrics")
    keys_s = sorted({k for r in steps for k in r})
    keys_e = sorted({k for r in epochs for k in r})
    loss_s = [k for k in keys_s if k == "loss" or k.startswith("loss_")]
    acc_s = [k for k in keys_s if "acc" in k]
    loss_e = [k for k in keys_e if k.startswith("val_") and "loss" in k]
    acc_e = [k for k in keys_e if k.startswith("val_") and "acc" in k]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    n_lines = 0
    for ax, ks, ke, what in ((ax1, loss_s, loss_e, "loss"), (ax2, acc_s, acc_e, "accuracy")):
        for k in ks:
            xs, ys = series(steps, k)
            if xs:
                main_key = k in ("loss", "clip_acc", "acc")
                ax.plot(xs, smooth(ys, a.smooth), label=f"train {k}" + (f" (avg {a.smooth})" if a.smooth > 1 else ""),
                        lw=1.5 if main_key else 0.8, alpha=1.0 if main_key else 0.6)
                n_lines += 1
        for k in ke:
            xs, ys = series(epochs, k)
            if xs:
                ax.plot(xs, ys, "o-", label=k, lw=1.8, ms=4)
                n_lines += 1
        ax.set_xlabel("step")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small", frameon=False)
        else:
            ax.text(0.5, 0.5, f"no {what} fields", ha="center", va="center", transform=ax.transAxes)
    if n_lines == 0:
        fail(f"{path}: the step/epoch lines hold no loss or accuracy values")
    fig.suptitle(a.title if a.title is not None else path)
    fig.tight_layout()
    plotlib.save("plot_metrics", fig, a.out, a.dpi)
    print(f"plot_metrics: wrote {a.out} ({len(steps)} step and {len(epochs)} epoch records)")


if __name__ == "__main__":
    main()
