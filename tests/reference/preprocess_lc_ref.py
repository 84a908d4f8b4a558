#!/usr/bin/python3
"""Reference light-curve preprocessing (numpy only) for tests/test_lightcurve.c.

Reads ../shared/data/asas/lightcurves.csv.gz (id,hjd,mag,mag_err), takes the fixed
objects IDS below (every class of the dev set, short n < 200 and long curves), and
applies ../shared/reference/astrom3.md "Preprocessing -> Light curve" in float64:
  flux = 10^(-0.4 (mag - 20)), flux_err = 0.4 ln(10) flux mag_err;
  drop duplicate rows and sort (np.unique(X, axis=0): lexicographic on t, flux, err);
  mad = median(|flux - median(flux)|); flux_n = (flux - mean)/mad; err_n = err/mad;
  dt = (t_max - t_min)/365; t01 = (t - t_min)/(t_max - t_min);
then casts to float32 and builds the [200, 9] tensor with the centred crop
((n - 200)//2) or zero padding, channels [t01, flux_n, err_n, photo_cols[0..3],
log10_mad, dt].

Writes tests/reference/fixtures/lightcurves_ref.safetensors:
  photo_cols  F32 [4]          the fixed photo columns used for every object
  lc.<id>.x   F32 [200, 9]
  lc.<id>.mask F32 [200]
  lc.<id>.n   I32 []           unique rows after deduplication
  lc.<id>.log10_mad F32 [], lc.<id>.dt F32 []
  metadata: ids (comma separated), seq_len, source
Usage: /usr/bin/python3 tests/reference/preprocess_lc_ref.py  (from the repository root)
"""
import gzip
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "..", "shared", "data", "asas", "lightcurves.csv.gz")
OUT = os.path.join(ROOT, "tests", "reference", "fixtures", "lightcurves_ref.safetensors")
L = 200
PHOTO_COLS = np.array([0.25, -1.5, 0.75, 2.0], dtype=np.float32)
# short (n < 200): CBES 149459, Detached 162369, Delta Sct 161011, RRAB 160813, RRC 155601, Mira 159498
# long: CBES 150509, Detached 156992, Contact 160833, Delta Sct 159557, RRAB 162776, Mira 160603
# medium: Semidetached 163120, Contact 158952 (165 points)
IDS = [149459, 162369, 161011, 160813, 155601, 159498, 158952,
       150509, 156992, 160833, 159557, 162776, 160603, 163120]


def read_objects(path, ids):
    want = set(ids)
    rows = {i: [] for i in ids}
    with gzip.open(path, "rt") as f:
        assert f.readline().strip() == "id,hjd,mag,mag_err"
        for line in f:
            p = line.rstrip("\r\n").split(",")
            i = int(p[0])
            if i in want:
                rows[i].append((float(p[1]), float(p[2]), float(p[3])))
    return {i: np.array(r, dtype=np.float64) for i, r in rows.items()}


def preprocess(raw):
    t, mag, merr = raw[:, 0], raw[:, 1], raw[:, 2]
    flux = 10.0 ** (-0.4 * (mag - 20.0))
    ferr = 0.4 * np.log(10.0) * flux * merr
    X = np.unique(np.stack([t, flux, ferr], axis=1), axis=0)
    t, flux, err = X[:, 0], X[:, 1], X[:, 2]
    mean = flux.mean()
    mad = np.median(np.abs(flux - np.median(flux)))
    assert mad > 0
    span = t.max() - t.min()
    t01 = (t - t.min()) / span if span > 0 else np.zeros_like(t)
    return (t01.astype(np.float32), ((flux - mean) / mad).astype(np.float32), (err / mad).astype(np.float32),
            np.float32(np.log10(mad)), np.float32(span / 365.0))


def to_tensor(t01, fn, en, log10_mad, dt):
    n = len(t01)
    x = np.zeros((L, 9), dtype=np.float32)
    mask = np.zeros(L, dtype=np.float32)
    start = (n - L) // 2 if n > L else 0
    take = min(n, L)
    sl = slice(start, start + take)
    x[:take, 0], x[:take, 1], x[:take, 2] = t01[sl], fn[sl], en[sl]
    x[:take, 3:7] = PHOTO_COLS
    x[:take, 7], x[:take, 8] = log10_mad, dt
    mask[:take] = 1
    return x, mask


def main():
    objs = read_objects(SRC, IDS)
    tensors = {"photo_cols": PHOTO_COLS}
    for i in IDS:
        t01, fn, en, lm, dt = preprocess(objs[i])
        x, mask = to_tensor(t01, fn, en, lm, dt)
        tensors[f"lc.{i}.x"] = x
        tensors[f"lc.{i}.mask"] = mask
        tensors[f"lc.{i}.n"] = np.array(len(t01), dtype=np.int32)
        tensors[f"lc.{i}.log10_mad"] = np.array(lm, dtype=np.float32)
        tensors[f"lc.{i}.dt"] = np.array(dt, dtype=np.float32)
        print(f"{i}: raw {len(objs[i])} unique {len(t01)} log10_mad {lm:.4f} dt {dt:.3f}")
    safetensors_np.save(OUT, tensors, {"ids": ",".join(map(str, IDS)), "seq_len": str(L),
                                       "source": "../shared/data/asas/lightcurves.csv.gz"})
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
