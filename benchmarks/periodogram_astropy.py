#!/usr/bin/python3
"""astropy's side of benchmarks/periodogram.sh: the best Lomb-Scargle period of the
first N curves of an ASAS CSV, as a user would get it from astropy (Debian
python3-astropy): LombScargle(t, mag, mag_err).autopower(method="fast",
minimum_frequency=0.001, maximum_frequency=20, samples_per_peak=5) (Press-Rybicki,
astropy's defaults), the argmax, and its Baluev false-alarm probability. That is
the same grid and the same outputs as astromm's ls_best (which also refines the
top peaks). Prints "best <id> <freq>" per curve with --print and one timing line.
Usage: periodogram_astropy.py CSV N [--print]
"""
import gzip
import sys
import time

import numpy as np
from astropy.timeseries import LombScargle


def curves(path, limit):
    cur, rows, out = None, [], []
    with gzip.open(path, "rt") as f:
        next(f)
        for line in f:
            i, t, m, e = line.split(",")
            if i != cur and rows:
                out.append((int(cur), np.array(rows)))
                rows = []
                if len(out) == limit:
                    return out
            cur = i
            rows.append((float(t), float(m), float(e)))
    if rows and len(out) < limit:
        out.append((int(cur), np.array(rows)))
    return out


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    data = curves(path, n)
    best = []
    t0 = time.perf_counter()
    for oid, a in data:
        ls = LombScargle(a[:, 0], a[:, 1], a[:, 2])
        f, p = ls.autopower(method="fast", minimum_frequency=0.001, maximum_frequency=20, samples_per_peak=5)
        b = int(np.argmax(p))
        ls.false_alarm_probability(p[b], method="baluev", minimum_frequency=0.001, maximum_frequency=20)
        best.append((oid, f[b]))
    dt = time.perf_counter() - t0
    if "--print" in sys.argv:
        for oid, f in best:
            print(f"best {oid} {f:.10g}")
    print(f"astropy period: {len(data)} curves, 1 threads, {dt:.3f} s, {len(data) / dt:.2f} curves/s, "
          f"{1e3 * dt / len(data):.2f} ms/curve/thread, 0 failed")


if __name__ == "__main__":
    main()
