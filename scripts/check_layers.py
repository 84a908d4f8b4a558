#!/usr/bin/env python3
"""Checks that every #include in src/, mpi/ and cuda/ points down the layer order
of docs/architecture.md (or stays in its own layer). Exit 1 and one line per
include that goes up: "file:line: <layer> includes <layer> (path)".

The order, bottom first. A file may include its own layer and any layer below it.
  core                      error, rng, modality, clock
  nn, cpu, cuda             the op interface and its two backends, tensors (params, arena)
  io                        safetensors, text output, parameter files
  mpi                       communication (MPI and NCCL backends)
  data/preprocess           each modality's files read and normalised (AstroM3 preprocessing)
  data/format               the dataset file (HDF5), splits, the Batch struct
  data/ingest, data/loader, data/synth
                            catalogues in, batches out, synthetic datasets
  models, loss, optim       AstroM3, the CLIP loss, Adam
  config                    the run configuration (libconfig keys)
  train, eval               the trainer and its steps; embeddings, search, maps
  app                       commands, CLI, main
Also: MPI types stay below the comm interface, so <mpi.h> and mpi/comm_mpi.h are
included only by mpi/ and by the parallel-HDF5 readers and writers (ALLOW_MPI).
Usage: scripts/check_layers.py [ROOT]   (tests/layers: ctest layer_order)
"""
import os
import re
import sys

ORDER = [
    ["core"],
    ["nn", "cpu", "cuda"],
    ["io"],
    ["mpi"],
    ["data/preprocess"],
    ["data/format", "data"],
    ["data/ingest", "data/loader", "data/synth"],
    ["models", "loss", "optim"],
    ["config"],
    ["train", "eval"],
    ["app"],
]
RANK = {layer: r for r, layers in enumerate(ORDER) for layer in layers}
ALLOW_MPI = ("mpi/", "src/data/loader/", "src/eval/embeddings_file.c")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def layer_of(path):
    """The layer of a path relative to the root (src/x/..., mpi/..., cuda/...)
    or of an include string (x/...); None when it names no layer."""
    p = path[4:] if path.startswith("src/") else path
    parts = p.split("/")
    if len(parts) >= 3 and "/".join(parts[:2]) in RANK:
        return "/".join(parts[:2])
    if len(parts) >= 2 and parts[0] in RANK:
        return parts[0]
    return None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    os.chdir(root)
    bad, files = [], 0
    for top in ("src", "mpi", "cuda"):
        for dirpath, _, names in os.walk(top):
            for name in sorted(names):
                if not name.endswith((".c", ".h", ".cu", ".cuh", ".cc")):
                    continue
                path = os.path.join(dirpath, name)
                me = layer_of(path)
                if me is None:
                    bad.append(f"{path}: lies outside every layer (see scripts/check_layers.py)")
                    continue
                files += 1
                for no, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    kind, target = m.groups()
                    if target in ("mpi.h", "mpi/comm_mpi.h") and not path.startswith(ALLOW_MPI):
                        bad.append(f"{path}:{no}: includes {target}: MPI types stay below mpi/comm.h "
                                   f"(only mpi/ and the parallel-HDF5 files use them)")
                        continue
                    if kind == "<":
                        continue
                    it = layer_of(target)
                    if it is None and "/" not in target:
                        it = me  # same directory
                    if it is None:
                        bad.append(f"{path}:{no}: includes \"{target}\", which is in no layer")
                    elif RANK[it] > RANK[me]:
                        bad.append(f"{path}:{no}: {me} includes {it} ({target}): against the layer order")
    for b in bad:
        print(b)
    print(f"check_layers: {files} files, {len(bad)} include(s) against the layer order")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
