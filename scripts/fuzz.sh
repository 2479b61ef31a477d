#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang-14 with ASan + UBSan) into
# $FUZZ_BUILD_DIR (default build-fuzz/) and runs each one on its seed corpus.
#   scripts/fuzz.sh                       every fuzzer, FUZZ_SECONDS each (default 600)
#   FUZZ_SECONDS=15 scripts/fuzz.sh       CI's short run (scripts/test.sh)
#   scripts/fuzz.sh fuzz_policy           only the named ones
# New inputs go to a scratch corpus ($FUZZ_WORK, default build-fuzz/work/<name>),
# never into the seeds in fuzz/corpus/; add the interesting ones by hand.
# A crash fails the script and leaves the reproducer in build-fuzz/artifacts/.
# Prints each fuzzer's execution count (libFuzzer's stat::number_of_executed_units).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-600}
{
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSOCKWIRE_FUZZ=ON -DBUILD_TESTING=OFF ${FUZZ_CMAKE_ARGS:-} &&
  cmake --build "$BUILD" --target fuzzers -j"$(nproc)"
} >"$BUILD.log" 2>&1 || { tail -60 "$BUILD.log" >&2; exit 1; }
names=("$@")
if ((${#names[@]} == 0)); then
  names=(fuzz_frame_codec fuzz_rest_request fuzz_address fuzz_policy)
fi
work=${FUZZ_WORK:-$BUILD/work}
mkdir -p "$BUILD/artifacts"
status=0
for name in "${names[@]}"; do
  seeds=fuzz/corpus/${name#fuzz_}
  mkdir -p "$work/$name"
  log=$BUILD/$name.log
  if "$BUILD/fuzz/$name" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
       -artifact_prefix="$BUILD/artifacts/$name-" -close_fd_mask=3 \
       "$work/$name" "$seeds" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "fuzz: $name $result: ${execs:-?} executions in ${SECONDS_EACH}s (log $log)"
  if [[ $result != ok ]]; then tail -40 "$log" >&2; fi
done
exit $status
