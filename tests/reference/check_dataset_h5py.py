#!/usr/bin/env python3
"""Checks an astromm dataset file with h5py (layout: docs/data-format.md).

Usage: check_dataset_h5py.py FILE [EXPECTED_N]
Exits 0 when the file is well formed, 1 with a message otherwise.
"""
import sys

import h5py
import numpy as np

SPEC_LEN = 2575


def fail(msg):
    print(f"check_dataset_h5py: {sys.argv[1]}: {msg}", file=sys.stderr)
    sys.exit(1)


def need(cond, msg):
    if not cond:
        fail(msg)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    path = sys.argv[1]
    with h5py.File(path, "r") as f:
        a = f.attrs
        need(text(a["format"]) == "astromm-dataset", f"format = {a['format']!r}")
        need(int(a["version"]) == 1, f"version = {a['version']!r}")
        n = int(a["n_objects"])
        if len(sys.argv) > 2:
            need(n == int(sys.argv[2]), f"n_objects = {n}, expected {sys.argv[2]}")
        classes = [text(c) for c in a["classes"]]
        need(len(classes) >= 1, "no classes")
        shapes = {
            "id": ((n,), np.int64),
            "label": ((n,), np.int32),
            "split": ((n,), np.uint8),
            "has": ((n, 3), np.uint8),
            "photometry/offsets": ((n + 1,), np.int64),
            "photometry/scalars": ((n, 2), np.float32),
            "photometry/photo_columns": ((n, 4), np.float32),
            "photometry/photo_mean": ((4,), np.float32),
            "photometry/photo_std": ((4,), np.float32),
            "spectra": ((n, 3, SPEC_LEN), np.float32),
            "metadata/raw": ((n, 34), np.float32),
            "metadata/mean": ((34,), np.float32),
            "metadata/std": ((34,), np.float32),
        }
        if "subset" in f:
            shapes["subset"] = ((n,), np.uint8)
        for name, (shape, dtype) in shapes.items():
            need(name in f, f"missing dataset /{name}")
            d = f[name]
            need(d.shape == shape, f"/{name} shape {d.shape}, expected {shape}")
            need(d.dtype == dtype, f"/{name} dtype {d.dtype}, expected {np.dtype(dtype)}")
        vals = f["photometry/values"]
        need(vals.ndim == 2 and vals.shape[1] == 3 and vals.dtype == np.float32,
             f"/photometry/values shape {vals.shape} dtype {vals.dtype}")
        off = f["photometry/offsets"][:]
        need(off[0] == 0, "offsets[0] != 0")
        need(np.all(np.diff(off) >= 0), "offsets decrease")
        need(off[-1] == vals.shape[0], f"offsets[-1] = {off[-1]}, values rows = {vals.shape[0]}")
        has = f["has"][:]
        need(np.all(has <= 1), "has not 0/1")
        need(np.array_equal(np.diff(off) > 0, has[:, 0] == 1), "has[:,0] disagrees with offsets")
        lab = f["label"][:]
        need(np.all((lab >= -1) & (lab < len(classes))), "label out of range")
        need(np.all(f["split"][:] <= 2), "split out of range")
        for g in ("metadata", "photometry"):
            need(text(f[g].attrs["stats_split"]) == "train", f"/{g}/stats_split")
        # Every light curve's t01 lies in [0, 1] and starts at 0.
        v = vals[:]
        for i in range(n):
            if off[i + 1] > off[i]:
                t = v[off[i]:off[i + 1], 0]
                need(t[0] == 0 and np.all((t >= 0) & (t <= 1)), f"object {i}: t01 outside [0, 1]")
        spec = f["spectra"][:]
        need(np.all(spec[has[:, 1] == 0] == 0), "absent spectra are not zero")
        meta = f["metadata/raw"][:]
        need(np.all(np.isnan(meta[has[:, 2] == 0])), "absent metadata is not NaN")
    print(f"check_dataset_h5py: {path}: OK ({n} objects, {vals.shape[0]} light-curve steps)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main()
