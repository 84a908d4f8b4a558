#!/usr/bin/python3
"""Reference AstroM3 spectrum preprocessing for tests/test_spectrum.c.

Run from the repository root with /usr/bin/python3 (Debian python3-astropy + numpy):
    /usr/bin/python3 tests/reference/preprocess_spec_ref.py
Reads FILES from ../shared/data/lamost/fits, applies the preprocessing of
../shared/reference/astrom3.md ("Preprocessing -> Spectrum"; the same reading
as src/data/preprocess/spectrum.h) in float64 and writes the float32 [3, 2575] result of
each file as tensor "spec.<basename without .fits>" to
tests/reference/fixtures/spectra_ref.safetensors.
"""
import os
import sys

import numpy as np
from astropy.io import fits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

FITS_DIR = "../shared/data/lamost/fits"
OUT = "tests/reference/fixtures/spectra_ref.safetensors"
# Two files per coarse MK type (catalog.csv coarse_type): A, F, G, K, M.
FILES = [
    "spec-55862-B6212_sp06-011.fits",  # A
    "spec-55862-B6212_sp06-013.fits",  # A
    "spec-55862-B6212_sp06-003.fits",  # F
    "spec-55862-B6212_sp06-008.fits",  # F
    "spec-55862-B6212_sp06-023.fits",  # G
    "spec-55862-B6212_sp06-024.fits",  # G
    "spec-55862-B6212_sp06-006.fits",  # K
    "spec-55862-B6212_sp06-007.fits",  # K
    "spec-55862-B6212_sp06-005.fits",  # M
    "spec-55862-B6212_sp06-014.fits",  # M
]
SPEC_LEN, WAVE_MIN, WAVE_STEP = 2575, 3850, 2


def read_lamost(path):
    """Layout (a) only (all shipped files): -> (wave, flux, ivar) float64."""
    with fits.open(path) as hdul:
        assert len(hdul) == 1, path
        h, d = hdul[0].header, hdul[0].data.astype(np.float64)
        n = h["NAXIS1"]
        assert d.shape == (h["NAXIS2"], n) and d.shape[0] >= 2, (path, d.shape)
        wave = 10.0 ** (h["COEFF0"] + np.arange(n, dtype=np.float64) * h["COEFF1"])
        # Cross-check the COEFF formula against the FITS WCS keys (log-linear axis).
        assert h.get("WFITTYPE", "LOG-LINEAR") == "LOG-LINEAR", path
        crpix = h.get("CRPIX1", 1.0)
        wcs = 10.0 ** (h["CRVAL1"] + (np.arange(n) + 1 - crpix) * h["CD1_1"])
        np.testing.assert_allclose(wave, wcs, rtol=1e-12, err_msg=path)
        return wave, d[0], d[1]


def preprocess(wave, flux, ivar):
    order = np.argsort(wave, kind="stable")
    wave, flux, ivar = wave[order], flux[order], ivar[order]
    grid = WAVE_MIN + WAVE_STEP * np.arange(SPEC_LEN, dtype=np.float64)  # == np.arange(3850, 9000, 2)
    assert np.array_equal(grid, np.arange(3850, 9000, 2))
    f = np.interp(grid, wave, flux)
    e = np.interp(grid, wave, ivar)  # "err" = interpolated inverse variance, literally
    mean = np.mean(f)
    nz = f[f != 0]
    assert nz.size > 0
    mad = np.median(np.abs(nz - np.median(nz)))  # scipy median_abs_deviation, scale 1
    assert mad > 0
    return np.stack([(f - mean) / mad, e / mad, np.full_like(f, np.log10(mad))]).astype(np.float32)


def main():
    tensors = {}
    for name in FILES:
        w, f, iv = read_lamost(os.path.join(FITS_DIR, name))
        tensors["spec." + name[:-len(".fits")]] = preprocess(w, f, iv)
    safetensors_np.save(OUT, tensors, {"files": ",".join(FILES), "spec_len": SPEC_LEN,
                                       "wave_min": WAVE_MIN, "wave_step": WAVE_STEP})
    print(f"wrote {OUT}: {len(tensors)} spectra, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
