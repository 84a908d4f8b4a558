#!/usr/bin/env bash
# First run on a fresh machine: installs what is missing, builds, and runs the
# main job on its embedded default. Until the data and trainer land this is a
# smoke run of the full AstroM3 model (published sizes) on generated tensors:
# a few CLIP training steps, printing the loss and samples/s.
# Usage: scripts/quickstart.sh [astromm smoke options...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
exec ./build/astromm smoke --config configs/astrom3.cfg --steps 8 --batch 32 "$@"
