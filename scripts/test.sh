#!/usr/bin/env bash
# One command: install dependencies, build, run every test (ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh -DSOCKWIRE_WERROR=ON
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j"${CTEST_JOBS:-2}" --timeout 600 "$@"
