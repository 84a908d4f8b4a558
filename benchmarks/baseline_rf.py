#!/usr/bin/python3
"""The classic variable-star pipeline, as the baseline astromm must beat on real light
curves (issue 14): Lomb-Scargle period + amplitude/shape + 3-harmonic Fourier
features -> random forest (scikit-learn, 500 trees, class_weight="balanced").

Independent of astromm's C code: the period comes from astropy's LombScargle
(autopower, method "fast", 0.001-20 d^-1, 5 samples per peak, magnitudes with their
errors), every other feature from numpy. Needs Debian python3-astropy, python3-sklearn.

Usage (from the repository root, /usr/bin/python3):
  benchmarks/baseline_rf.py folds --catalog C.csv --out folds.csv [--k 5] [--seed 0]
      Stratified folds of the labelled objects (class column non-empty): per class,
      ids in a seeded random order dealt to folds 0..k-1. real_table.sh uses the same file.
  benchmarks/baseline_rf.py features --lightcurves L.csv.gz --ids folds.csv --out F.csv [--workers N]
      Features of every object of the folds file (cached by the caller: ~1.5 s a curve).
  benchmarks/baseline_rf.py cv --features F.csv --folds folds.csv [--seeds 3] [--budget 1.0] --out R.json
      (F.csv: this script's features, or any id + feature columns table, such as
      astromm ingest --features-out)
      For each fold k: train on the other folds (a fraction --budget of each class, at
      least one object), test on fold k; per seed. Writes accuracy, balanced accuracy
      and per-class recall per fold and seed, and prints the means.
  benchmarks/baseline_rf.py manifest --folds folds.csv --catalog C.csv --fold k --out m.csv [--lightcurve-prefix asas:]
      astromm's manifest for fold k (id,class[,lightcurve],split): fold k is the test set,
      fold k+1 the validation set, the rest (and the catalogue's objects in no fold, i.e.
      unlabelled) train.
  benchmarks/baseline_rf.py table [--order A,B,...] --row "NAME=GLOB" ... 
      The markdown table of the benchmarks: one row per NAME whose GLOB matches astromm
      eval metrics.json files or one forest result (cv --out); mean ± std over runs of
      accuracy and balanced accuracy, mean recall per class (--order, default: the
      classes of the first row by support). Rows that match nothing are left out.
"""
import argparse
import csv
import gzip
import json
import math
import multiprocessing
import sys

import numpy as np

FEATURES = ["log10_period", "ls_power", "amplitude", "std", "skew", "kurtosis", "beyond1std", "mad",
            "a1", "r21", "r31", "phi21_cos", "phi21_sin", "phi31_cos", "phi31_sin", "log10_n", "log10_span"]


def cmd_folds(a):
    rows = [r for r in csv.DictReader(open(a.catalog)) if r["class"]]
    rng = np.random.default_rng(a.seed)
    out = []
    for cls in sorted({r["class"] for r in rows}):
        ids = sorted(int(r["id"]) for r in rows if r["class"] == cls)
        for j, i in enumerate(rng.permutation(ids)):
            out.append((int(i), cls, j % a.k))
    out.sort()
    with open(a.out, "w") as f:
        f.write("id,class,fold\n")
        for i, c, k in out:
            f.write(f"{i},{c},{k}\n")
    print(f"folds: {len(out)} labelled objects, {a.k} folds -> {a.out}")


def read_curves(path, ids):
    cur, rows = None, []
    with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as f:
        next(f)
        for line in f:
            i, t, m, e = line.split(",")
            i = int(i)
            if i != cur and rows:
                if cur in ids:
                    yield cur, np.array(rows)
                rows = []
            cur = i
            rows.append((float(t), float(m), float(e)))
    if rows and cur in ids:
        yield cur, np.array(rows)


def features(item):
    from astropy.timeseries import LombScargle
    oid, a = item
    t, m, e = a[:, 0], a[:, 1], a[:, 2]
    ls = LombScargle(t, m, e)
    f, p = ls.autopower(method="fast", minimum_frequency=0.001, maximum_frequency=20, samples_per_peak=5)
    b = int(np.argmax(p))
    f0 = f[b]
    # Weighted 3-harmonic fit at the period.
    th = 2 * np.pi * f0 * (t - t.min())
    cols = [np.ones_like(t)]
    for h in (1, 2, 3):
        cols += [np.cos(h * th), np.sin(h * th)]
    X = np.stack(cols, 1) / e[:, None]
    coef = np.linalg.lstsq(X, m / e, rcond=None)[0]
    amp = [math.hypot(coef[2 * h - 1], coef[2 * h]) for h in (1, 2, 3)]
    phi = [math.atan2(-coef[2 * h], coef[2 * h - 1]) for h in (1, 2, 3)]
    p21, p31 = phi[1] - 2 * phi[0], phi[2] - 3 * phi[0]
    d = m - m.mean()
    sd = m.std(ddof=1)
    row = {
        "log10_period": math.log10(1 / f0), "ls_power": float(p[b]),
        "amplitude": float(np.percentile(m, 95) - np.percentile(m, 5)), "std": float(sd),
        "skew": float((d ** 3).mean() / (d ** 2).mean() ** 1.5), "kurtosis": float((d ** 4).mean() / (d ** 2).mean() ** 2 - 3),
        "beyond1std": float((np.abs(d) > sd).mean()), "mad": float(np.median(np.abs(m - np.median(m)))),
        "a1": amp[0], "r21": amp[1] / amp[0] if amp[0] > 0 else 0.0, "r31": amp[2] / amp[0] if amp[0] > 0 else 0.0,
        "phi21_cos": math.cos(p21), "phi21_sin": math.sin(p21), "phi31_cos": math.cos(p31), "phi31_sin": math.sin(p31),
        "log10_n": math.log10(len(t)), "log10_span": math.log10(t.max() - t.min()),
    }
    return oid, row


def cmd_features(a):
    ids = {int(r["id"]) for r in csv.DictReader(open(a.ids))}
    curves = list(read_curves(a.lightcurves, ids))
    with multiprocessing.Pool(a.workers) as pool:
        res = pool.map(features, curves, chunksize=4)
    with open(a.out, "w") as f:
        f.write("id," + ",".join(FEATURES) + "\n")
        for oid, row in sorted(res):
            f.write(f"{oid}," + ",".join(repr(row[k]) for k in FEATURES) + "\n")
    print(f"features: {len(res)} curves -> {a.out}")


def budget_mask(y, idx, frac, rng):
    keep = []
    for c in np.unique(y[idx]):
        ci = idx[y[idx] == c]
        n = max(1, int(round(frac * len(ci))))
        keep += list(rng.permutation(ci)[:n])
    return np.array(sorted(keep))


def cmd_cv(a):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score
    folds = {int(r["id"]): (r["class"], int(r["fold"])) for r in csv.DictReader(open(a.folds))}
    rd = csv.DictReader(open(a.features))
    # This script's features, or any table with an id column (e.g. astromm ingest
    # --features-out: every column, its period as log10).
    cols = FEATURES if all(k in rd.fieldnames for k in FEATURES) else [k for k in rd.fieldnames if k != "id"]
    val = lambda r, k: math.log10(float(r[k])) if k == "period" else float(r[k])
    feats = {int(r["id"]): [val(r, k) for k in cols] for r in rd}
    ids = sorted(i for i in folds if i in feats)
    X = np.array([feats[i] for i in ids])
    y = np.array([folds[i][0] for i in ids])
    fold = np.array([folds[i][1] for i in ids])
    classes = sorted(set(y))
    runs = []
    for k in sorted(set(fold)):
        for s in range(a.seeds):
            rng = np.random.default_rng(1000 * k + s)
            tr = budget_mask(y, np.flatnonzero(fold != k), a.budget, rng)
            te = np.flatnonzero(fold == k)
            rf = RandomForestClassifier(n_estimators=500, class_weight="balanced", random_state=s, n_jobs=a.jobs)
            rf.fit(X[tr], y[tr])
            pred = rf.predict(X[te])
            rec = recall_score(y[te], pred, labels=classes, average=None, zero_division=0)
            runs.append({"fold": int(k), "seed": s, "n_train": int(len(tr)), "n_test": int(len(te)),
                         "accuracy": accuracy_score(y[te], pred), "balanced_accuracy": balanced_accuracy_score(y[te], pred),
                         "recall": dict(zip(classes, map(float, rec)))})
    acc = [r["accuracy"] for r in runs]
    bal = [r["balanced_accuracy"] for r in runs]
    out = {"model": "random forest (500 trees, balanced) on classic features", "budget": a.budget, "classes": classes,
           "accuracy_mean": float(np.mean(acc)), "accuracy_std": float(np.std(acc)),
           "balanced_accuracy_mean": float(np.mean(bal)), "balanced_accuracy_std": float(np.std(bal)),
           "recall_mean": {c: float(np.mean([r["recall"][c] for r in runs])) for c in classes}, "runs": runs}
    json.dump(out, open(a.out, "w"), indent=1)
    print(f"rf budget {a.budget}: accuracy {100 * out['accuracy_mean']:.1f} ± {100 * out['accuracy_std']:.1f} %, "
          f"balanced {100 * out['balanced_accuracy_mean']:.1f} ± {100 * out['balanced_accuracy_std']:.1f} % "
          f"({len(runs)} runs)")


def cmd_manifest(a):
    folds = {r["id"]: int(r["fold"]) for r in csv.DictReader(open(a.folds))}
    k = len(set(folds.values()))
    with open(a.out, "w") as f:
        f.write("id,class" + (",lightcurve" if a.lightcurve_prefix else "") + ",split\n")
        for r in csv.DictReader(open(a.catalog)):
            fo = folds.get(r["id"])
            split = "train" if fo is None else "test" if fo == a.fold else "val" if fo == (a.fold + 1) % k else "train"
            lc = f",{a.lightcurve_prefix}{r['id']}" if a.lightcurve_prefix else ""
            f.write(f"{r['id']},{r['class']}{lc},{split}\n")


def cmd_table(a):
    import glob
    rows, order = [], a.order.split(",") if a.order else None
    for spec in a.row:
        name, pattern = spec.split("=", 1)
        paths = sorted(glob.glob(pattern))
        if not paths:
            continue
        if len(paths) == 1 and "runs" in json.load(open(paths[0])):  # a forest: cv --out
            r = json.load(open(paths[0]))
            runs = [(x["accuracy"], x["balanced_accuracy"], x["recall"]) for x in r["runs"]]
            support = None
        else:  # astromm eval metrics.json files
            ms = [json.load(open(p)) for p in paths]
            runs = [(m["accuracy"], m["balanced_accuracy"],
                     {c: v["recall"] for c, v in m["per_class"].items() if v["support"] > 0}) for m in ms]
            support = {c: v["support"] for c, v in ms[0]["per_class"].items()}
        if order is None:
            order = sorted(support, key=lambda c: -support[c]) if support else sorted(runs[0][2])
        rows.append((name, runs))
    if order is None:
        return
    print("| model | runs | accuracy | balanced accuracy | recall " + " / ".join(order) + " |")
    print("|---|---|---|---|---|")
    for name, runs in rows:
        acc, bal = [x[0] for x in runs], [x[1] for x in runs]
        rec = {c: [x[2][c] for x in runs if c in x[2]] for c in order}
        rs = " / ".join(f"{100 * np.mean(rec[c]):.0f}" if rec[c] else "-" for c in order)
        print(f"| {name} | {len(runs)} | {100 * np.mean(acc):.1f} ± {100 * np.std(acc):.1f} % | "
              f"{100 * np.mean(bal):.1f} ± {100 * np.std(bal):.1f} % | {rs} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("folds")
    f.add_argument("--catalog", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--k", type=int, default=5)
    f.add_argument("--seed", type=int, default=0)
    g = sub.add_parser("features")
    g.add_argument("--lightcurves", required=True)
    g.add_argument("--ids", required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--workers", type=int, default=multiprocessing.cpu_count())
    c = sub.add_parser("cv")
    c.add_argument("--features", required=True)
    c.add_argument("--folds", required=True)
    c.add_argument("--seeds", type=int, default=3)
    c.add_argument("--budget", type=float, default=1.0)
    c.add_argument("--jobs", type=int, default=multiprocessing.cpu_count())
    c.add_argument("--out", required=True)
    m = sub.add_parser("manifest")
    m.add_argument("--folds", required=True)
    m.add_argument("--catalog", required=True)
    m.add_argument("--fold", type=int, required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--lightcurve-prefix", default="")
    t = sub.add_parser("table")
    t.add_argument("--order", default="")
    t.add_argument("--row", action="append", default=[])
    a = p.parse_args()
    {"folds": cmd_folds, "features": cmd_features, "cv": cmd_cv, "manifest": cmd_manifest, "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
