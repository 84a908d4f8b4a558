#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets, tests/fuzz/corpus/<name>/.

Seeds are tiny valid (or nearly valid) inputs, so libFuzzer starts inside each
format instead of having to discover it: hand-made files, and pieces of the
repository's own fixtures (tests/reference/fixtures, configs). Standard library
only. Re-run after changing it; crash regressions found by fuzzing are added
to the corpus directories by hand (named regress-*) and are kept by this script.
Usage: tests/fuzz/make_corpus.py
"""
import gzip
import json
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
FIX = os.path.join(ROOT, "tests", "reference", "fixtures")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def reset(target):
    """Removes the generated seeds of a target, keeping regress-* inputs."""
    d = os.path.join(OUT, target)
    if os.path.isdir(d):
        for n in os.listdir(d):
            if not n.startswith("regress-"):
                os.remove(os.path.join(d, n))


# ---------------------------------------------------------------- safetensors
def safetensors(tensors, meta=None, pad=True):
    """tensors: list of (name, dtype, shape, bytes)."""
    hdr, data = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def header_of(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return f.read(n)


def make_safetensors():
    reset("safetensors")
    put("safetensors", "empty", safetensors([]))
    put("safetensors", "f32_meta", safetensors([("a", "F32", [2], struct.pack("<2f", 1, 2))], {"format": "pt"}))
    put("safetensors", "dtypes", safetensors([
        ("w.f16", "F16", [2, 2], b"\x00\x3c" * 4), ("w.bf16", "BF16", [1], b"\x80\x3f"),
        ("i64", "I64", [], struct.pack("<q", -5)), ("u8", "U8", [3], b"abc"),
        ("f64", "F64", [1, 1], struct.pack("<d", 0.5)), ("i32", "I32", [0], b""),
        ("\u00e9t\u00e9\\\"", "F32", [1], struct.pack("<f", 3))], {"k": "v", "\u2603": "\ud83d\ude00"}))
    # Out of data order, a gap between the tensors and bytes after the last.
    h = b'{"b":{"dtype":"U8","shape":[2],"data_offsets":[8,10]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    put("safetensors", "gap_and_tail", struct.pack("<Q", len(h)) + h + b"x" * 12)
    # A real fixture (small): the metadata reference.
    shutil.copy(os.path.join(FIX, "meta_ref.safetensors"), os.path.join(OUT, "safetensors", "meta_ref"))


def make_json_header():
    reset("json_header")
    for f in ["meta_ref.safetensors", "astrom3_statedict_small_io.safetensors"]:
        put("json_header", f.split(".")[0], header_of(os.path.join(FIX, f))[:4096])
    put("json_header", "escapes", '"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t" "\\u00e9\\ud83d\\ude00" "\u00e9\u2603\U0001f600"')
    put("json_header", "numbers", "[0, -0, 9223372036854775807, -9223372036854775808, 1.5e3, -2E-7, 12]")
    put("json_header", "structure", '{"x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}  ')


# ---------------------------------------------------------------- config
def make_config():
    reset("config")
    for f in ["tiny.cfg", "quickstart.cfg"]:
        with open(os.path.join(ROOT, "configs", f), "rb") as src:
            put("config", f.split(".")[0], src.read())
    put("config", "sets", b'model = { d_model = 32; n_heads = 2; };\n\0train.lr=1e-3\0run.device="cpu"\0'
                          b"model.spec_channels=[8, 8, 4, 4]\0data.prefetch=false")
    put("config", "types", 'run = { seed = 7L; threads = 0; dir = "runs/x\\"y"; };\n'
                           'train = { schedule = "cosine"; epochs = 20; warmup_epochs = 2; clip_norm = 1e3; };\n'
                           'finetune = { head = "spectra"; freeze = true; subset = "sub10"; };\n')


# ---------------------------------------------------------------- text: light curves, catalogue
def make_lightcurve():
    reset("lightcurve")
    asassn = ("# ASAS-SN light curve\nHJD MAG MAG_ERR FLUX FLUX_ERR\n"
              "2457000.1 12.1 0.02 55.2 1.1\n2457001.7,12.3,0.03,50.1,1.2\n"
              "2457003.2\t12.0\t0.02\t60.3\t1.0\n\n2457005.9 11.9 0.02 61.0 1.0\r\n2457000.1 12.1 0.02 55.2 1.1\n")
    put("lightcurve", "asassn", asassn)
    csv = ("id,hjd,mag,mag_err\n1,2451000.5,10.1,0.01\n1,2451001.5,10.3,0.02\n1,2451002.5,10.0,0.01\n"
           "7,2451000.1,12.5,0.05\n7,2451004.1,12.9,0.04\n9,2452000.0,8.0,0.0\n")
    put("lightcurve", "asas_csv", csv)
    put("lightcurve", "asas_csv.gz", gzip.compress(csv.encode(), mtime=0))


def make_catalog():
    reset("catalog")
    with open(os.path.join(FIX, "meta_catalog.csv")) as f:
        lines = f.read().splitlines()
    put("catalog", "fixture_head", "\n".join(lines[:4]) + "\n")
    # The same rows with a quoted, comma-holding field and CRLF endings.
    quoted = [lines[0]] + ['"' + lines[1].split(",", 1)[0] + '",' + lines[1].split(",", 1)[1]] + lines[2:3]
    put("catalog", "quoted_crlf", "\r\n".join(quoted) + "\r\n")
    put("catalog", "fixture_head.gz", gzip.compress(("\n".join(lines[:3]) + "\n").encode(), mtime=0))


# ---------------------------------------------------------------- FITS
def card(key, value=None, comment=""):
    if value is None:
        s = key.ljust(80)
    else:
        if isinstance(value, bool):
            v = ("T" if value else "F").rjust(20)
        elif isinstance(value, str):
            v = ("'" + value.ljust(8) + "'").ljust(20)
        else:
            v = str(value).rjust(20)
        s = (key.ljust(8) + "= " + v + (" / " + comment if comment else "")).ljust(80)
    assert len(s) == 80, s
    return s.encode("ascii")


def block(b, fill=b"\0"):
    return b + fill * (-len(b) % 2880)


def header(cards):
    return block(b"".join(cards) + card("END"), b" ")


def make_fits():
    reset("fits")
    npix = 8
    flux = [1.0 + 0.1 * i * i for i in range(npix)]
    ivar = [4.0] * npix
    img = header([card("SIMPLE", True), card("BITPIX", -32), card("NAXIS", 2), card("NAXIS1", npix),
                  card("NAXIS2", 2), card("COEFF0", 3.5855), card("COEFF1", 0.053)])
    img += block(struct.pack(">%df" % (2 * npix), *(flux + ivar)))
    put("fits", "lamost_image", img)

    prim = header([card("SIMPLE", True), card("BITPIX", 8), card("NAXIS", 0), card("EXTEND", True)])

    def bintable(cols, rows):
        """cols: (name, tform, struct code, count); rows: per row, per column, list of values."""
        width = sum(struct.calcsize(">" + c) * n for _, _, c, n in cols)
        cards = [card("XTENSION", "BINTABLE"), card("BITPIX", 8), card("NAXIS", 2), card("NAXIS1", width),
                 card("NAXIS2", len(rows)), card("PCOUNT", 0), card("GCOUNT", 1), card("TFIELDS", len(cols))]
        for i, (name, tform, _, _) in enumerate(cols, 1):
            cards += [card("TTYPE%d" % i, name), card("TFORM%d" % i, tform)]
        data = b"".join(b"".join(struct.pack(">%d%s" % (n, c), *v) for (_, _, c, n), v in zip(cols, row))
                        for row in rows)
        return header(cards) + block(data)

    rows = [[[flux[i]], [ivar[i]], [3.5855 + 0.053 * i]] for i in range(npix)]
    put("fits", "table_scalar_loglam",
        prim + bintable([("FLUX", "E", "f", 1), ("IVAR", "E", "f", 1), ("LOGLAM", "D", "d", 1)], rows))
    vec = [[flux, ivar, [3850.0 + 750.0 * i for i in range(npix)]]]
    put("fits", "table_vector_wave",
        prim + bintable([("flux", "%dE" % npix, "f", npix), ("inverse", "%dE" % npix, "f", npix),
                         ("WAVELENGTH", "%dD" % npix, "d", npix)], vec))


# ---------------------------------------------------------------- dataset recipes
def make_dataset():
    reset("dataset")
    # All-zero recipe bytes choose every valid option: one object, no light curve.
    put("dataset", "valid_n1", bytes(1200))
    # n = 4 (first byte 3), valid choices, small varying values afterwards.
    put("dataset", "valid_n4", bytes([3]) + bytes(11) + bytes((i * 37) % 150 for i in range(1400)))
    # Every choice byte in the "other" range: absent / wrong things.
    put("dataset", "all_wrong", bytes([5]) + bytes((160 + i) % 256 for i in range(1400)))


# ---------------------------------------------------------------- image (JPEG / PNG)
def make_image():
    """Small grey, RGB, palette-free PNGs and baseline/progressive JPEGs, made with
    the standard library (zlib) and, for the JPEGs, torchvision when present."""
    import struct, zlib
    reset("image")
    def png(w, h, color_type, channels, bit_depth=8):
        raw = b"".join(b"\0" + bytes(((x * 7 + y * 13 + c * 29) % 256) for x in range(w) for c in range(channels))
                       for y in range(h))
        chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
        ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    put("image", "grey_16x16.png", png(16, 16, 0, 1))
    put("image", "rgb_20x17.png", png(20, 17, 2, 3))
    put("image", "rgba_16x16.png", png(16, 16, 6, 4))
    try:
        import torch, torchvision.io as tio
        g = torch.Generator().manual_seed(1)
        put("image", "rgb_24x24.jpg", bytes(tio.encode_jpeg((torch.rand(3, 24, 24, generator=g) * 255).to(torch.uint8), quality=80).numpy()))
        put("image", "grey_32x16.jpg", bytes(tio.encode_jpeg((torch.rand(1, 16, 32, generator=g) * 255).to(torch.uint8), quality=90).numpy()))
    except ImportError:
        print("make_corpus: torchvision absent, no JPEG seeds")


if __name__ == "__main__":
    make_safetensors()
    make_json_header()
    make_config()
    make_lightcurve()
    make_catalog()
    make_fits()
    make_dataset()
    make_image()
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print("make_corpus: %d bytes in %s" % (total, OUT))
