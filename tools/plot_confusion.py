#!/usr/bin/env python3
"""Confusion-matrix heat map (PNG) from a CSV: a header row of class names and one
row per true class (counts, predicted classes as columns). A leading label column is
allowed: the header then has one extra first field (e.g. "true\\pred") and every row
starts with its class name.

usage: tools/plot_confusion.py confusion.csv --out confusion.png [--normalize]
"""
import argparse
import csv
import math
import sys

import plotlib


def fail(msg):
    plotlib.fail("plot_confusion", msg)


def read_confusion(path):
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as e:
        fail(f"{path}: cannot open: {e.strerror}")
    with f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        fail(f"{path}: empty file (expected a header row of class names)")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if not body:
        fail(f"{path}: no matrix rows after the header")
    labelled = len(body[0]) == len(header) and len(header) >= 2 and not _is_num(body[0][0])
    cols = header[1:] if labelled else header
    C = len(cols)
    if C == 0:
        fail(f"{path}: header has no class names")
    names_r, M = [], []
    for ln, r in enumerate(body, start=2):
        if len(r) != len(header):
            fail(f"{path}:{ln}: {len(r)} fields, the header has {len(header)}")
        vals = r[1:] if labelled else r
        try:
            v = [float(x) for x in vals]
        except ValueError:
            fail(f"{path}:{ln}: non-numeric count in {vals}")
        if any(not math.isfinite(x) or x < 0 for x in v):
            fail(f"{path}:{ln}: counts must be finite and >= 0")
        names_r.append(r[0].strip() if labelled else cols[ln - 2] if ln - 2 < C else str(ln - 2))
        M.append(v)
    if len(M) != C:
        fail(f"{path}: {len(M)} rows for {C} classes (need one row per true class)")
    return cols, names_r, M


def _is_num(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def main():
    ap = argparse.ArgumentParser(description="Confusion-matrix heat map (PNG) from a CSV.")
    ap.add_argument("csv", help="header of class names, one row per true class")
    ap.add_argument("--out", required=True, help="output PNG")
    ap.add_argument("--normalize", action="store_true", help="show each row as fractions of its true class")
    ap.add_argument("--title", default=None)
    ap.add_argument("--dpi", type=int, default=150)
    a = ap.parse_args()
    cols, rows, M = read_confusion(a.csv)
    plt = plotlib.pyplot("plot_confusion")
    C = len(cols)
    total = sum(map(sum, M))
    correct = sum(M[i][i] for i in range(C))
    recalls = [M[i][i] / sum(M[i]) for i in range(C) if sum(M[i]) > 0]
    show = [[v / s if s > 0 else 0.0 for v in r] for r, s in ((r, sum(r)) for r in M)] if a.normalize else M
    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 0.7 * C), max(4.0, 1.0 + 0.6 * C)))
    im = ax.imshow(show, cmap="Blues", vmin=0)
    vmax = max(max(r) for r in show) or 1.0
    for i in range(C):
        for j in range(C):
            v = show[i][j]
            txt = f"{v:.2f}" if a.normalize else (f"{int(v)}" if float(v).is_integer() else f"{v:.3g}")
            ax.text(j, i, txt, ha="center", va="center", fontsize=8, color="white" if v > 0.6 * vmax else "black")
    ax.set_xticks(range(C), cols, rotation=45, ha="right")
    ax.set_yticks(range(C), rows)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = correct / total if total > 0 else float("nan")
    bal = sum(recalls) / len(recalls) if recalls else float("nan")
    ax.set_title(a.title if a.title is not None else f"accuracy {acc:.3f}, balanced {bal:.3f}")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    plotlib.save("plot_confusion", fig, a.out, a.dpi)
    print(f"plot_confusion: wrote {a.out} ({C} classes, {int(total)} samples, accuracy {acc:.4f})")


if __name__ == "__main__":
    main()
