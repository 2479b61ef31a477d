#!/usr/bin/env bash
# Installs the Debian packages sockwire needs to build, run and test, and the
# npm packages of tests/deploy/validate (the offline Kubernetes schemas).
# Idempotent: skips apt (and npm) entirely when everything is already there.
#
#   scripts/deps.sh          everything: developers and CI
#   scripts/deps.sh build    only what compiles sockwired (the Dockerfile's build stage)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libssl-dev libc-ares-dev libboost-dev nlohmann-json3-dev
  libspdlog-dev  # server/obs/: logging
  libcli11-dev  # cli/: the sockwire command-line tool (configure needs it)
)
PACKAGES=(
  "${BUILD_PACKAGES[@]}" git
  libgtest-dev libgmock-dev
  prometheus  # tests/obs: a real Prometheus scrapes a test daemon; promtool
  python3 python3-grpcio python3-protobuf python3-websockets
  curl jq dnsmasq-base iproute2 netbase procps
  # tests/deploy: systemd-analyze and systemd-socket-activate (the units),
  # setpriv (util-linux) for the unit's unprivileged user.
  systemd util-linux
  # tests/deploy: the image and the sidecar pod under rootful podman (runc:
  # crun refuses hybrid cgroup hosts), from a debootstrap'd base image.
  podman buildah runc conmon netavark aardvark-dns catatonit uidmap fuse-overlayfs
  debootstrap debian-archive-keyring
  # fuzz/ (scripts/fuzz.sh): Debian's clang and libFuzzer.
  clang-14 libfuzzer-14-dev
)
mode=${1:-all}
case $mode in
  build) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  all)
    # Node.js and npm for tests/deploy/validate; a machine with another
    # Node.js (which brings its own npm) keeps it.
    command -v npm >/dev/null || PACKAGES+=(nodejs npm)
    ;;
  *)
    echo "usage: $0 [build]" >&2
    exit 2
    ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ $mode == all ]]; then
  # The exact versions of package-lock.json, once (node_modules is ignored by git).
  v=tests/deploy/validate
  if [[ ! -f $v/node_modules/.package-lock.json || $v/package-lock.json -nt $v/node_modules/.package-lock.json ]]; then
    echo "deps: npm ci in $v" >&2
    npm ci --prefix "$v" --no-audit --no-fund --loglevel=error
  fi
fi
