#!/usr/bin/python3
"""Reference catalogue preprocessing (numpy only) for tests/test_metadata.c.

Builds a deterministic synthetic catalogue (N = 40 rows, numpy seed 20240611) with
realistic values: Gaia/2MASS/WISE magnitudes and errors, parallaxes including
<= 0 rows, proper motions, galactic l in [0, 360) and b in [-90, 90] (negative
b included), and the photometric columns amplitude, period (> 0),
lksl_statistic, rfr_score. The CSV has the columns in a shuffled order, an extra
`name` column (quoted, containing commas) that the reader must ignore, and an
`id` column.

Then applies ../shared/reference/astrom3.md "Preprocessing -> Metadata" in float64:
  the 11 apparent magnitudes (mean_vmag, phot_g_mean_mag, phot_bp_mean_mag,
  phot_rp_mean_mag, j_mag, h_mag, k_mag, w1_mag, w2_mag, w3_mag, w4_mag)
  -> m - 10 + 5 log10(p), p = parallax or 1 where parallax <= 0 (the parallax
  column itself unchanged); l -> cos(l deg); b -> sin(b deg); period -> log10;
  z-score with the mean and population std (ddof 0) of the training rows
  (train = even id); std == 0 -> 1.

Writes:
  tests/reference/fixtures/meta_catalog.csv
  tests/reference/fixtures/meta_ref.safetensors:
    id          I64 [N]        file order
    meta        F32 [N, 34]    META_COLUMNS order, transformed + z-scored
    photo       F32 [N, 4]     amplitude, log10 period, lksl_statistic, rfr_score, z-scored
    meta_mean, meta_std   F64 [34]  training-split stats (after the transforms)
    photo_mean, photo_std F64 [4]
    metadata: n, n_train, meta_columns, photo_columns (comma separated)
Usage: /usr/bin/python3 tests/reference/preprocess_meta_ref.py  (from the repository root)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

META = ["mean_vmag", "phot_g_mean_mag", "e_phot_g_mean_mag", "phot_bp_mean_mag", "e_phot_bp_mean_mag",
        "phot_rp_mean_mag", "e_phot_rp_mean_mag", "bp_rp", "parallax", "parallax_error",
        "parallax_over_error", "pmra", "pmra_error", "pmdec", "pmdec_error", "j_mag", "e_j_mag", "h_mag",
        "e_h_mag", "k_mag", "e_k_mag", "w1_mag", "e_w1_mag", "w2_mag", "e_w2_mag", "w3_mag", "w4_mag",
        "j_k", "w1_w2", "w3_w4", "pm", "ruwe", "l", "b"]
PHOTO = ["amplitude", "period", "lksl_statistic", "rfr_score"]
MAGS = ["mean_vmag", "phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag", "j_mag", "h_mag", "k_mag",
        "w1_mag", "w2_mag", "w3_mag", "w4_mag"]
N = 40
SEED = 20240611
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures")


def synth(rng):
    c = {}
    g = rng.uniform(9.0, 16.5, N)
    c["phot_g_mean_mag"] = g
    c["mean_vmag"] = g + rng.normal(0.1, 0.2, N)
    bp_rp = rng.uniform(0.2, 2.5, N)
    c["phot_bp_mean_mag"] = g + 0.4 * bp_rp
    c["phot_rp_mean_mag"] = g - 0.6 * bp_rp
    c["bp_rp"] = bp_rp
    for k in ("g", "bp", "rp"):
        c[f"e_phot_{k}_mean_mag"] = rng.uniform(0.0003, 0.02, N)
    plx = rng.uniform(0.05, 5.0, N)
    plx[[3, 8, 17, 30]] = [-0.35, 0.0, -1.2, -0.02]  # parallax <= 0 rows (ids 3, 8, 17, 30)
    c["parallax"] = plx
    c["parallax_error"] = rng.uniform(0.01, 0.3, N)
    c["parallax_over_error"] = plx / c["parallax_error"]
    c["pmra"] = rng.normal(0, 8, N)
    c["pmdec"] = rng.normal(-3, 8, N)
    c["pmra_error"] = rng.uniform(0.01, 0.2, N)
    c["pmdec_error"] = rng.uniform(0.01, 0.2, N)
    c["pm"] = np.hypot(c["pmra"], c["pmdec"])
    j = g - bp_rp * rng.uniform(0.8, 1.2, N)
    c["j_mag"] = j
    c["h_mag"] = j - rng.uniform(0.1, 0.6, N)
    c["k_mag"] = c["h_mag"] - rng.uniform(0.02, 0.3, N)
    for k in ("j", "h", "k"):
        c[f"e_{k}_mag"] = rng.uniform(0.015, 0.05, N)
    c["w1_mag"] = c["k_mag"] - rng.uniform(0.0, 0.2, N)
    c["w2_mag"] = c["w1_mag"] - rng.uniform(-0.1, 0.2, N)
    c["w3_mag"] = c["w2_mag"] - rng.uniform(0.0, 0.5, N)
    c["w4_mag"] = c["w3_mag"] - rng.uniform(0.0, 0.8, N)
    c["e_w1_mag"] = rng.uniform(0.02, 0.05, N)
    c["e_w2_mag"] = rng.uniform(0.02, 0.06, N)
    c["j_k"] = c["j_mag"] - c["k_mag"]
    c["w1_w2"] = c["w1_mag"] - c["w2_mag"]
    c["w3_w4"] = c["w3_mag"] - c["w4_mag"]
    c["ruwe"] = rng.uniform(0.8, 2.5, N)
    c["l"] = rng.uniform(0.0, 360.0, N)
    c["b"] = rng.uniform(-90.0, 90.0, N)
    c["b"][:4] = [-45.5, -3.25, 0.0, 12.0]
    c["amplitude"] = rng.uniform(0.05, 2.5, N)
    c["period"] = 10.0 ** rng.uniform(-1.3, 2.8, N)
    c["lksl_statistic"] = rng.uniform(0.0, 1.0, N)
    c["rfr_score"] = rng.uniform(0.3, 1.0, N)
    return c


def write_csv(path, ids, cols, rng):
    names = META + PHOTO
    order = list(rng.permutation(len(names)))
    header = [names[i] for i in order]
    header.insert(7, "id")
    header.insert(20, "name")  # extra column, quoted with commas inside
    lines = [",".join(header)]
    for r in range(N):
        fields = []
        for h in header:
            if h == "id":
                fields.append(str(ids[r]))
            elif h == "name":
                fields.append(f'"ASASSN-V J{r:04d}, ""var"", {r % 3}"')
            else:
                fields.append(repr(float(cols[h][r])))
        lines.append(",".join(fields))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    rng = np.random.default_rng(SEED)
    cols = synth(rng)
    ids = np.arange(N, dtype=np.int64) * 3 + 1000  # ids 1000, 1003, ... (half even)
    ids = ids[rng.permutation(N)]
    os.makedirs(OUT_DIR, exist_ok=True)
    csv_path = os.path.join(OUT_DIR, "meta_catalog.csv")
    write_csv(csv_path, ids, cols, rng)

    meta = np.stack([np.asarray(cols[k], dtype=np.float64) for k in META], axis=1)
    photo = np.stack([np.asarray(cols[k], dtype=np.float64) for k in PHOTO], axis=1)
    plx = meta[:, META.index("parallax")]
    p = np.where(plx <= 0, 1.0, plx)
    for k in MAGS:
        i = META.index(k)
        meta[:, i] = meta[:, i] - 10 + 5 * np.log10(p)
    meta[:, META.index("l")] = np.cos(np.deg2rad(meta[:, META.index("l")]))
    meta[:, META.index("b")] = np.sin(np.deg2rad(meta[:, META.index("b")]))
    photo[:, 1] = np.log10(photo[:, 1])

    train = ids % 2 == 0
    mm, ms = meta[train].mean(0), meta[train].std(0)
    pm, ps = photo[train].mean(0), photo[train].std(0)
    ms = np.where(ms == 0, 1.0, ms)
    ps = np.where(ps == 0, 1.0, ps)
    meta_z = (meta - mm) / ms
    photo_z = (photo - pm) / ps

    safetensors_np.save(os.path.join(OUT_DIR, "meta_ref.safetensors"), {
        "id": ids,
        "meta": meta_z.astype(np.float32),
        "photo": photo_z.astype(np.float32),
        "meta_mean": mm, "meta_std": ms, "photo_mean": pm, "photo_std": ps,
    }, {"n": N, "n_train": int(train.sum()), "meta_columns": ",".join(META), "photo_columns": ",".join(PHOTO),
        "source": "tests/reference/preprocess_meta_ref.py"})
    print(f"wrote {csv_path} and meta_ref.safetensors: {N} rows, {int(train.sum())} training")


if __name__ == "__main__":
    main()
