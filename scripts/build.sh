#!/usr/bin/env bash
# Configures and builds astromm into build/ (CUDA backend when nvcc exists).
# Usage: scripts/build.sh [extra cmake args...]   e.g. -DASTROMM_CUDA=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
