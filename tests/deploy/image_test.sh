#!/usr/bin/env bash
# The container image, built and run for real (rootful podman, no registry):
#  1. debian:bookworm-slim from a cached `debootstrap --variant=minbase` of the
#     machine's apt mirror (podman_env.sh), imported into podman's store;
#  2. `podman build --pull=never` of the Dockerfile;
#  3. the container runs with its socket directory bind-mounted from the host,
#     no network but its own loopback, all capabilities dropped but
#     NET_BIND_SERVICE; from the host, the seed's echo example runs through
#     the daemon inside (its sockets live in the container's namespace), on a
#     privileged port, which only the capability allows its non-root user;
#  4. the image's HEALTHCHECK passes, and SIGTERM stops it with status 0.
# Prints the image's size.
#
# usage: image_test.sh SOURCE_DIR ECHO_SERVER ECHO_CLIENT
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/podman_env.sh"
SRC=$(realpath "$1") ECHO_SERVER=$(realpath "$2") ECHO_CLIENT=$(realpath "$3")

SOCKWIRE_TEST_TMP=$(mktemp -d /tmp/sockwire-image-XXXXXX)
name=sockwire-image-test-$$
cleanup() {
  [[ -n ${ECHO_SERVER_PID:-} ]] && kill "$ECHO_SERVER_PID" 2>/dev/null || true
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  rm -rf "$SOCKWIRE_TEST_TMP"
}
trap cleanup EXIT

podman_env
ensure_base_image
build_images
size=$(podman image inspect --format '{{.Size}}' localhost/sockwire:latest)
echo "  image localhost/sockwire:latest: $((size / 1000000)) MB ($size bytes)"

run=$SOCKWIRE_TEST_TMP/run
mkdir -m 0750 "$run"
chown 10001:10001 "$run"
step "podman run (--network=none, --cap-drop=all --cap-add=net_bind_service, -v $run:/run/sockwire)"
# (Its stderr: podman's complaint that without systemd it cannot time the
# periodic HEALTHCHECK; the check is run by hand below.)
podman run -d --name "$name" --network=none --cap-drop=all --cap-add=net_bind_service \
  --read-only -v "$run:/run/sockwire" localhost/sockwire:latest --log-level=info \
  >/dev/null 2>"$SOCKWIRE_TEST_TMP/run.err" || fail "podman run: $(cat "$SOCKWIRE_TEST_TMP/run.err")"
# Ready when it says so ("sockwired: serving {...}"): a blocking read of its log.
exec {logs_fd}< <(exec podman logs -f "$name" 2>&1)
logs_pid=$!
line=""
while IFS= read -r -t 60 line <&"$logs_fd"; do [[ $line == *serving* ]] && break; done
kill "$logs_pid" 2>/dev/null || true
exec {logs_fd}<&-
[[ $line == *'"grpc":"unix:/run/sockwire/sockwired.sock"'* ]] || fail "no serving line: $(podman logs "$name" 2>&1 | tail -5)"
sock=$run/sockwired.sock
[[ -S $sock ]] || fail "no socket at $sock"

step "seed's echo from the host through the daemon in the container (port 80)"
start_echo_server "$SOCKWIRE_TEST_TMP/echo.fifo" "$ECHO_SERVER" "--target=unix:$sock" 80
[[ $ECHO_PORT == 80 ]] || fail "echo_server listens on $ECHO_PORT"
expect_echo "$ECHO_CLIENT" "--target=unix:$sock" 127.0.0.1 80
wait "$ECHO_SERVER_PID" || fail "echo_server exited non-zero"
ECHO_SERVER_PID=""
# Both ends of the echo are the daemon's sockets, in the container's network
# namespace: port 80 there, bound by uid 10001 thanks to the capability.

step "identity and capabilities of the daemon in the container"
status=$(podman exec "$name" cat /proc/1/status)
uid=$(awk '/^Uid:/ {print $2}' <<<"$status")
capeff=$(awk '/^CapEff:/ {print $2}' <<<"$status")
echo "  uid $uid, CapEff $capeff"
[[ $uid == 10001 ]] || fail "daemon runs as uid $uid"
# CAP_NET_BIND_SERVICE is bit 10.
[[ $((16#$capeff)) -eq $((1 << 10)) ]] || fail "CapEff $capeff is not CAP_NET_BIND_SERVICE alone"

step "podman healthcheck run (the image's HEALTHCHECK)"
hc=$(podman healthcheck run "$name" 2>&1) || fail "healthcheck: $hc"

step "podman stop (SIGTERM)"
podman stop -t 10 "$name" >/dev/null 2>>"$SOCKWIRE_TEST_TMP/run.err"
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[[ $code == 0 ]] || fail "daemon exited with $code: $(podman logs "$name" 2>&1 | tail -5)"
[[ ! -e $sock ]] || fail "socket left behind after a clean stop"
step "passed"
