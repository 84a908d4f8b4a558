#!/usr/bin/env python3
"""Scatter plot of an `astromm map` CSV (id,label[,class],x,y), coloured by label.

usage: tools/plot_map.py MAP.csv --out MAP.png [--title T] [--point-size S]
"""
import argparse
import csv
import math
import sys

import plotlib


def fail(msg):
    plotlib.fail("plot_map", msg)


def read_map(path):
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as e:
        fail(f"{path}: cannot open: {e.strerror}")
    with f:
        r = csv.reader(f)
        header = next(r, None)
        if header is None:
            fail(f"{path}: empty file (expected a header id,label,x,y)")
        header = [h.strip() for h in header]
        need = ["label", "x", "y"]
        missing = [c for c in need if c not in header]
        if missing:
            fail(f"{path}: header lacks column(s) {', '.join(missing)} (got: {','.join(header)})")
        il, ix, iy = (header.index(c) for c in need)
        ic = header.index("class") if "class" in header else None
        pts = []
        for ln, row in enumerate(r, start=2):
            if not row:
                continue
            if len(row) != len(header):
                fail(f"{path}:{ln}: {len(row)} fields, header has {len(header)}")
            try:
                lab, x, y = int(row[il]), float(row[ix]), float(row[iy])
            except ValueError:
                fail(f"{path}:{ln}: label must be an integer and x, y numbers (got {row[il]!r}, {row[ix]!r}, {row[iy]!r})")
            if not (math.isfinite(x) and math.isfinite(y)):
                fail(f"{path}:{ln}: non-finite coordinate")
            pts.append((lab, row[ic] if ic is not None else "", x, y))
    if not pts:
        fail(f"{path}: no data rows")
    return pts


def main():
    ap = argparse.ArgumentParser(description="Scatter plot of an astromm map CSV, coloured by label (PNG).")
    ap.add_argument("csv", help="map CSV written by 'astromm map --out' (columns id,label[,class],x,y)")
    ap.add_argument("--out", required=True, help="output PNG")
    ap.add_argument("--title", default=None, help="plot title (default: the CSV name)")
    ap.add_argument("--point-size", type=float, default=4.0, help="marker size (default 4)")
    ap.add_argument("--dpi", type=int, default=150)
    a = ap.parse_args()
    pts = read_map(a.csv)
    plt = plotlib.pyplot("plot_map")
    labels = sorted({p[0] for p in pts})
    names = {}
    for lab, cls, _, _ in pts:
        names.setdefault(lab, cls or (str(lab) if lab >= 0 else "unlabelled"))
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(7, 6))
    for k, lab in enumerate(labels):
        xs = [p[2] for p in pts if p[0] == lab]
        ys = [p[3] for p in pts if p[0] == lab]
        color = "lightgrey" if lab < 0 else cmap(k % cmap.N)
        ax.scatter(xs, ys, s=a.point_size, color=color, label=f"{names[lab]} ({len(xs)})", linewidths=0, alpha=0.8)
    ax.set_title(a.title if a.title is not None else a.csv)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(markerscale=3, fontsize="small", loc="best", frameon=False)
    fig.tight_layout()
    plotlib.save("plot_map", fig, a.out, a.dpi)
    print(f"plot_map: wrote {a.out} ({len(pts)} points, {len(labels)} labels)")


if __name__ == "__main__":
    main()
