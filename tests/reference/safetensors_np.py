"""Minimal safetensors load/save with numpy + json (no `safetensors` package).

Same format as src/io/safetensors.c: u64 LE header length N, N bytes of JSON
(padded with spaces to a multiple of 8), then the data buffer. BF16 loads as
float32 (numpy has no bfloat16) and cannot be saved.
"""
import json
import struct

import numpy as np

_DT = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1", "F16": "<f2", "BF16": "<u2"}
_NAME = {np.dtype(v): k for k, v in _DT.items() if k != "BF16"}


def load(path):
    """-> (dict name -> np.ndarray, metadata dict)"""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        a = np.frombuffer(raw, dtype=_DT[info["dtype"]], count=(e - b) // np.dtype(_DT[info["dtype"]]).itemsize,
                          offset=8 + n + b).reshape(info["shape"]).copy()
        if info["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a
    return out, meta


def save(path, tensors, metadata=None):
    """tensors: dict name -> np.ndarray (written in dict order); metadata: dict str -> str."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, a in tensors.items():
        a = np.asarray(a, order="C")  # keeps 0-d arrays 0-d (ascontiguousarray would not)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        blob = a.tobytes()
        header[name] = {"dtype": _NAME[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
