#!/usr/bin/env bash
# One command: install dependencies, build, start sockwired on its safe default
# (a 0600 Unix socket in the runtime directory; no TCP). Extra flags pass through,
# e.g. scripts/run.sh --rest-listen=tcp:127.0.0.1:8080 --token-file=$HOME/.sockwire-token
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
exec ./build/server/sockwired "$@"
