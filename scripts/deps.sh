#!/usr/bin/env bash
# Installs the Debian packages sockwire needs to build, run and test.
# Idempotent: skips apt entirely when everything is already there.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libssl-dev libc-ares-dev libboost-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  libcli11-dev  # cli/: the sockwire command-line tool
  python3 python3-grpcio python3-protobuf python3-websockets
  curl jq dnsmasq-base iproute2 netbase procps
  # tests/deploy: systemd-analyze and systemd-socket-activate (the units),
  # setpriv (util-linux) for the unit's unprivileged user.
  systemd util-linux
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
