#!/usr/bin/env bash
# The test command: installs what is missing, builds with warnings as errors,
# runs every ctest test (unit, reference, MPI, CLI). Non-zero on any failure.
# Usage: scripts/test.sh [ctest args...]   e.g. -L quick
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh -DASTROMM_WERROR=ON
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 "$@"
