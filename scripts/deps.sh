#!/usr/bin/env bash
# Installs the Debian packages astromm needs, only those missing.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
      hdf5-tools libconfig-dev libopenblas-dev libopenblas-openmp-dev libcfitsio-dev libfftw3-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev liblapacke-dev libfaiss-dev python3 python3-numpy python3-h5py python3-matplotlib
      slurm-wlm munge clang libclang-rt-dev libomp-dev "$@")
# libjpeg62-turbo-dev, libpng-dev: galaxy images (src/io/image_codec.c). liblapacke-dev:
# LAPACKE (Cholesky of the anomaly finder's Gaussian process, src/eval/gp.c) over OpenBLAS's LAPACK.
# libfaiss-dev: FAISS nearest-neighbour indexes (src/eval/ann_index.cpp; static, linked to OpenBLAS).
# slurm-wlm, munge: tests/slurm (a real Slurm on localhost). clang, libclang-rt-dev
# (libFuzzer) and libomp-dev (clang's OpenMP): the fuzz build, benchmarks/fuzz.sh.
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
