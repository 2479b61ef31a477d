#!/usr/bin/env bash
# The systemd units in deploy/systemd, checked and run for real:
#  1. `systemd-analyze verify` on both units prints nothing (it exits 0 on
#     warnings, so stderr is what counts);
#  2. `systemd-analyze security --offline=true` scores sockwired.service at or
#     below SECURITY_THRESHOLD (README, Deploy);
#  3. the service's ExecStart line runs under systemd-socket-activate (which
#     passes the socket as LISTEN_FDS, as sockwired.socket does), as an
#     unprivileged user with only CAP_NET_BIND_SERVICE (the unit's User=,
#     AmbientCapabilities= and NoNewPrivileges=), and the seed's echo runs
#     through it on a privileged port.
# Where systemd is PID 1 this could be `systemctl start`; in containers and
# CI sandboxes it usually is not, and this path works in both.
#
# usage: systemd_test.sh SOURCE_DIR SOCKWIRED ECHO_SERVER ECHO_CLIENT
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SRC=$(realpath "$1") SOCKWIRED=$(realpath "$2") ECHO_SERVER=$(realpath "$3") ECHO_CLIENT=$(realpath "$4")
SECURITY_THRESHOLD=2.0

command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (scripts/deps.sh installs systemd)"
command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"

work=$(mktemp -d /tmp/sockwire-systemd-XXXXXX)
daemon_pid=""
cleanup() {
  [[ -n ${ECHO_SERVER_PID:-} ]] && kill "$ECHO_SERVER_PID" 2>/dev/null || true
  if [[ -n $daemon_pid ]]; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The units as installed, except that ExecStart names the binary under test
# (verify insists that it exists).
# The binary is copied beside them: the unit's unprivileged user may not be
# able to reach the build tree (a checkout under /root, say).
chmod 0755 "$work"
install -m 0755 "$SOCKWIRED" "$work/sockwired"
SOCKWIRED=$work/sockwired
cp "$SRC/deploy/systemd/sockwired.socket" "$work/"
sed "s#/usr/local/bin/sockwired#$SOCKWIRED#" "$SRC/deploy/systemd/sockwired.service" >"$work/sockwired.service"

step "systemd-analyze verify"
(cd "$work" && systemd-analyze verify sockwired.socket sockwired.service) 2>"$work/verify.err" >/dev/null ||
  fail "verify exited non-zero: $(cat "$work/verify.err")"
[[ ! -s $work/verify.err ]] || fail "verify printed: $(cat "$work/verify.err")"

step "systemd-analyze security --offline=true"
(cd "$work" && systemd-analyze security --offline=true --threshold=100 sockwired.service) >"$work/security.out" 2>&1 ||
  fail "security failed: $(tail -5 "$work/security.out")"
score=$(sed -nE 's/.*Overall exposure level for sockwired.service: ([0-9.]+).*/\1/p' "$work/security.out")
[[ -n $score ]] || fail "no score in: $(tail -3 "$work/security.out")"
echo "  exposure score $score (threshold $SECURITY_THRESHOLD)"
awk -v s="$score" -v t="$SECURITY_THRESHOLD" 'BEGIN { exit !(s <= t) }' ||
  fail "exposure $score is above $SECURITY_THRESHOLD: $(grep '✗' "$work/security.out")"

# The ExecStart line of the unit, without the optional $SOCKWIRED_ARGS.
exec_start=$(sed -nE 's/^ExecStart=(.*)$/\1/p' "$work/sockwired.service" | sed 's/ *\$SOCKWIRED_ARGS//')
[[ $exec_start == "$SOCKWIRED"* ]] || fail "unexpected ExecStart: $exec_start"
read -r -a exec_argv <<<"$exec_start"

# The unit's identity and privileges: an unprivileged user (nobody stands in
# for "sockwire"), CAP_NET_BIND_SERVICE only, no new privileges.
run_as=()
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs
    --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service
    --bounding-set=-all,+net_bind_service)
fi

step "systemd-socket-activate ${run_as[*]:+(as nobody, CAP_NET_BIND_SERVICE) }$exec_start"
sock=$work/sockwired.sock
# systemd-socket-activate listens, then on the first connection execs the
# daemon with the socket at fd 3 (LISTEN_FDS=1, LISTEN_FDNAMES=grpc).
mkfifo "$work/daemon.fifo"
systemd-socket-activate -l "$sock" --fdname=grpc "${run_as[@]}" "${exec_argv[@]}" >"$work/daemon.fifo" 2>&1 &
daemon_pid=$!
# Its first line says the socket is bound ("Listening on PATH as 3.").
exec {daemon_fd}<"$work/daemon.fifo"
IFS= read -r -t 60 first <&"$daemon_fd" || true
echo "  $first"
[[ -S $sock ]] || fail "systemd-socket-activate did not create $sock: $first"
cat <&"$daemon_fd" >"$work/daemon.log" &
log_pid=$!
# Anyone may connect to the test's socket, as members of group sockwire may
# to the unit's.
chmod 0666 "$sock"

# A privileged port is the proof that CAP_NET_BIND_SERVICE reached the
# unprivileged daemon; port 0 when not running as root.
port=0
if ((${#run_as[@]})); then
  for p in $(seq 1001 1023); do
    ss -Htln "sport = :$p" | grep -q . || { port=$p; break; }
  done
fi
step "seed's echo through the socket-activated daemon (port $port)"
start_echo_server "$work/echo.fifo" "$ECHO_SERVER" "--target=unix:$sock" "$port"
expect_echo "$ECHO_CLIENT" "--target=unix:$sock" 127.0.0.1 "$ECHO_PORT"
wait "$ECHO_SERVER_PID" || fail "echo_server exited non-zero"
ECHO_SERVER_PID=""
if ((${#run_as[@]})); then
  uid=$(awk '/^Uid:/ {print $2}' "/proc/$daemon_pid/status")
  [[ $uid == 65534 ]] || fail "daemon runs as uid $uid"
fi
kill "$daemon_pid"
wait "$daemon_pid" || fail "daemon exited with $? on SIGTERM: $(cat "$work/daemon.log")"
daemon_pid=""
wait "$log_pid"
grep -q '"grpc":"unix:'"$sock"'"' "$work/daemon.log" || fail "daemon did not serve the inherited socket: $(cat "$work/daemon.log")"
step "passed"
