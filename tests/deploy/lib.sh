# Shared by the tests/deploy/*.sh scripts. Source it; set -euo pipefail first.
# A test that cannot run here exits 77, which ctest reports as "Skipped"
# (SKIP_RETURN_CODE) with the reason on stdout.

skip() {
  echo "SKIPPED: $*"
  exit 77
}

fail() {
  echo "FAILED: $*" >&2
  exit 1
}

# Seconds since the script started, for the timing lines.
_deploy_t0=${EPOCHREALTIME/./}
step() {
  local us=$((${EPOCHREALTIME/./} - _deploy_t0))
  printf '[%4d.%ds] %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*"
}

# Runs "$@" (the seed's echo server, through a daemon) in the background with
# its output on a FIFO; sets ECHO_SERVER_PID and ECHO_PORT once it listens
# (a blocking read of its first line, "Listening on ('0.0.0.0', PORT)").
start_echo_server() {
  local fifo=$1
  shift
  rm -f "$fifo"
  mkfifo "$fifo"
  "$@" >"$fifo" 2>&1 &
  ECHO_SERVER_PID=$!
  exec {ECHO_FD}<"$fifo"
  local line=""
  IFS= read -r -t 120 line <&"$ECHO_FD" || true
  [[ $line == Listening* ]] || fail "echo_server did not listen: '$line'"
  ECHO_PORT=$(sed -E 's/.*, ([0-9]+)\)$/\1/' <<<"$line")
}

# The echo client's line, checked.
expect_echo() {
  local got
  got=$("$@" 2>&1) || fail "echo_client failed: $got"
  [[ $got == "Received b'Hello, world'" ]] || fail "echo_client printed: $got"
  echo "  $got"
}
