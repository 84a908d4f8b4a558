#!/usr/bin/env python3
"""numpy reference for `astromm outliers` (src/eval/outliers.h).

usage: outliers_ref.py EMBEDDINGS.h5 OUTLIERS.csv [--split test] [--k 20] [--modality all]

Recomputes, per modality, the class centroids over the training-split rows,
score = 1 - cos(embedding, centroid of its class), predicted = nearest centroid,
ranks the rows of the split (score descending, then row) and compares with the
CSV written by astromm outliers: same ids/labels/predictions in the same order
(up to near-ties), scores within 1e-6. Exit 0 when they match.
"""
import argparse
import csv
import sys

import h5py
import numpy as np

MODS = ["photometry", "spectra", "metadata", "fused"]
SPLITS = {"train": 0, "val": 1, "test": 2, "all": -1}


def reference(f, mod, split):
    E = f["embeddings/" + mod][()].astype(np.float64)
    lab = f["label"][()]
    spl = f["split"][()]
    has = f["has"][()]
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in f.attrs["classes"]]
    present = has.any(axis=1) if mod == "fused" else has[:, MODS.index(mod)] == 1
    C = len(classes)
    cen = np.zeros((C, E.shape[1]))
    cnt = np.zeros(C, dtype=np.int64)
    for c in range(C):
        sel = (spl == 0) & (lab == c) & present
        cnt[c] = sel.sum()
        if cnt[c]:
            cen[c] = E[sel].mean(axis=0)
    cn = np.linalg.norm(cen, axis=1)
    ok_c = (cnt > 0) & (cn > 0)
    en = np.linalg.norm(E, axis=1)
    rows = np.where(((spl == split) | (split < 0)) & (lab >= 0) & present & (en > 0))[0]
    rows = rows[ok_c[lab[rows]]]
    cos = (E[rows] @ cen.T) / (en[rows, None] * np.where(cn > 0, cn, 1)[None, :])
    cos[:, ~ok_c] = -np.inf
    score = 1.0 - cos[np.arange(len(rows)), lab[rows]]
    pred = np.argmax(cos, axis=1)
    order = np.lexsort((rows, -score))
    return [(int(f["id"][r]), classes[lab[r]], classes[p], float(s))
            for r, p, s in zip(rows[order], pred[order], score[order])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("emb")
    ap.add_argument("csv")
    ap.add_argument("--split", default="test")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--modality", default="all")
    a = ap.parse_args()
    got = {}
    with open(a.csv) as fh:
        for r in csv.DictReader(fh):
            got.setdefault(r["modality"], []).append(r)
    bad = 0
    checked = 0
    with h5py.File(a.emb, "r") as f:
        for mod in MODS if a.modality == "all" else [a.modality]:
            ref = reference(f, mod, SPLITS[a.split])[: a.k]
            g = got.get(mod, [])
            if len(g) != len(ref):
                print(f"FAIL: {mod}: {len(g)} rows, numpy {len(ref)}")
                bad += 1
                continue
            for i, (r, (rid, rlab, rpred, rs)) in enumerate(zip(g, ref)):
                checked += 1
                s = float(r["score"])
                if int(r["rank"]) != i + 1 or abs(s - rs) > 1e-6:
                    print(f"FAIL: {mod} rank {i + 1}: score {s} vs numpy {rs}")
                    bad += 1
                elif int(r["id"]) != rid and abs(rs - float(g[i - 1]["score"] if i else -1)) > 1e-6 and \
                        (i + 1 >= len(ref) or abs(rs - ref[i + 1][3]) > 1e-6):
                    print(f"FAIL: {mod} rank {i + 1}: id {r['id']} vs numpy {rid}")
                    bad += 1
                elif int(r["id"]) == rid and (r["label"] != rlab or r["predicted"] != rpred):
                    print(f"FAIL: {mod} rank {i + 1}: id {rid} label/predicted {r['label']}/{r['predicted']} "
                          f"vs numpy {rlab}/{rpred}")
                    bad += 1
    print(f"outliers_ref: {checked} rows compared, {bad} mismatches")
    return 1 if bad or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
