#!/usr/bin/env python3
"""Opens an astromm checkpoint with a plain json+numpy reader and checks that
its tensor names, order-independent, and shapes equal the PyTorch reference
state dict (astrom3_state_dict.txt lines: "name (d0, d1, ...)")."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_np import load  # noqa: E402


def main(ckpt, ref_path):
    tensors, meta = load(ckpt)
    want = {}
    for line in open(ref_path):
        line = line.strip()
        if not line or line.startswith("total"):
            continue
        name, shape = line.split(" ", 1)
        want[name] = tuple(int(x) for x in shape.strip("()").replace(",", " ").split())
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    for k in missing:
        print("missing:", k)
    for k in extra:
        print("unexpected:", k)
    for k in wrong:
        print("shape:", k, got[k], "expected", want[k])
    total = sum(v.size for v in tensors.values())
    print(f"{len(got)} tensors, {total} elements, metadata {meta}")
    assert not (missing or extra or wrong), "checkpoint does not match the reference state dict"
    assert all(str(v.dtype) == "float32" for v in tensors.values())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
