#!/bin/sh
# Installs the peers, builds sockwired and the benchmark, and prints the table.
#   bench/run.sh            full run (1 GiB bulk, 5 repetitions, 100,000 handles)
#   bench/run.sh --quick    small sizes (what CI runs through ctest)
# Extra arguments go to sockwire_bench (--reps=N, --bulk-mib=N, --no-scale).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SOCKWIRE_BENCH_BUILD:-$root/build-bench}

# Peers from Debian 12: dante-server (danted), microsocks, socat. A package
# the archive does not have is reported and its peer skipped.
want=""
for pkg in dante-server microsocks socat; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    if apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      want="$want $pkg"
    else
      echo "run.sh: $pkg is not in this system's archive; its peer is skipped" >&2
    fi
  fi
done
if [ -n "$want" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends $want >/dev/null || echo "run.sh: apt-get install$want failed; those peers are skipped" >&2
fi
# danted must not run as a system service on its default port meanwhile.
command -v systemctl >/dev/null 2>&1 && systemctl stop danted >/dev/null 2>&1 || true

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOCKWIRE_REST=OFF >/dev/null
ninja -C "$build" -j"${JOBS:-2}" sockwired sockwire_bench
exec "$build/bench/sockwire_bench" "$@"
