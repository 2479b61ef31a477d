"""Operations (issue 12) against a real sockwired and a real Prometheus.

Each test starts its own daemon (temp dir, port 0, addresses read from
--ready-fd); Prometheus listens on a free loopback port and scrapes the
daemon's --metrics-listen every second. Nothing sleeps for readiness: every
wait polls with a deadline.
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rest"))
import restlib  # noqa: E402
from restlib import Daemon, curl  # noqa: E402

import grpc  # noqa: E402

SOCKET = "/v1/sockets"
STREAM = {"family": "FAMILY_INET", "type": "SOCKET_TYPE_STREAM"}
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def b64(b):
    return base64.b64encode(b).decode()


def http_get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def poll(fn, what, deadline_s=60):
    """Calls fn() until it returns a truthy value or the deadline passes."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            last = fn()
        except (OSError, ValueError, KeyError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)  # a polling interval, not a readiness guess
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Prometheus:
    """A real Prometheus scraping `target` ("127.0.0.1:PORT") every second."""

    def __init__(self, target):
        self.dir = tempfile.mkdtemp(prefix="sockwire-prom-")
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: sockwired\n"
                    "    static_configs:\n      - targets: ['%s']\n" % target)
        self.log = open(os.path.join(self.dir, "log"), "w+b")
        # The port is free when chosen; another process may take it before
        # Prometheus binds, so retry with a new one if it exits at once.
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [PROMETHEUS, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
                stdout=subprocess.DEVNULL, stderr=self.log)
            self.base = "http://127.0.0.1:%d" % self.port
            try:
                poll(lambda: self.proc.poll() is not None or http_get(self.base + "/-/ready", 2)[0] == 200,
                     "prometheus ready", 60)
            except AssertionError:
                self.stop()
                raise
            if self.proc.poll() is None:
                return
        raise RuntimeError("prometheus did not start")

    def query(self, q):
        status, body = http_get(self.base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        if status != 200:
            raise ValueError(body)
        return json.loads(body)["data"]["result"]

    def value(self, q):
        """The single sample's value of instant query q, or None if absent."""
        r = self.query(q)
        return float(r[0]["value"][1]) if len(r) == 1 else None

    def wait_value(self, q, want, deadline_s=60):
        poll(lambda: self.value(q) == want, "%s == %s (now %s)" % (q, want, self.value(q)), deadline_s)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def call(d, method, path, body=None, session=None, want=200):
    r = curl(d, method, path, body, session=session)
    if want is not None and r.status != want:
        raise AssertionError("%s %s: %r" % (method, path, r))
    return r


def health(grpc_target):
    """grpc.health.v1.Health/Check for the whole server: 1 SERVING, 2 NOT_SERVING."""
    with grpc.insecure_channel(grpc_target) as ch:
        check = ch.unary_unary("/grpc.health.v1.Health/Check",
                               request_serializer=lambda b: b, response_deserializer=lambda b: b)
        resp = check(b"", timeout=5)
        return resp[1] if len(resp) >= 2 and resp[0] == 0x08 else 0


class ObsTest(unittest.TestCase):
    def test_prometheus_scrapes_bytes_handles_and_denials(self):
        with Daemon("--metrics-listen=tcp:127.0.0.1:0", "--log-level=info") as d:
            metrics = d.ready["metrics"]
            prom = Prometheus(metrics)
            try:
                prom.wait_value('up{job="sockwired"}', 1)
                s = call(d, "POST", "/v1/sessions").json()["session"]
                pair = call(d, "POST", SOCKET + ":pair", {}, session=s).json()
                a, b = pair["first"]["handle"], pair["second"]["handle"]
                total = 0
                for size in (1000, 65536, 7):
                    blob = os.urandom(size)
                    call(d, "POST", "%s/%s:sendall" % (SOCKET, a), {"data": b64(blob)}, session=s)
                    total += size
                got = 0
                while got < total:
                    r = call(d, "POST", "%s/%s:recv" % (SOCKET, b), {"bufsize": 65536}, session=s).json()
                    got += len(base64.b64decode(r.get("data", "")))
                self.assertEqual(got, total)
                # A denial: a caller's socket may not reach the daemon's own REST listener.
                c = call(d, "POST", SOCKET, STREAM, session=s).json()["handle"]
                r = call(d, "POST", "%s/%s:connect" % (SOCKET, c),
                         {"address": {"inet": {"host": "127.0.0.1", "port": d.port}}}, session=s, want=None)
                self.assertEqual(r.status, 403, r)
                reason = r.json()["reason"]
                prom.wait_value('sockwire_sockets_open{family="unix",type="stream"}', 2)
                prom.wait_value('sockwire_sockets_open{family="inet",type="stream"}', 1)
                for h in (a, b, c):
                    call(d, "DELETE", "%s/%s" % (SOCKET, h), session=s)

                prom.wait_value('sockwire_bytes_total{path="unary",direction="in"}', total)
                prom.wait_value('sockwire_bytes_total{path="unary",direction="out"}', total)
                prom.wait_value('sum(sockwire_sockets_open)', 0)
                prom.wait_value('sockwire_policy_denials_total{reason="%s"}' % reason, 1)
                prom.wait_value('sockwire_calls_total{service="sockwire.v1.SocketService",method="Connect",'
                                'code="PERMISSION_DENIED"}', 1)
                self.assertGreater(prom.value('sum(sockwire_call_duration_seconds_count)'), 5)
                print("measured: bytes in/out %d/%d, denial reason %s, sockets_open back to 0" %
                      (total, total, reason), file=sys.stderr)
                # The exposition also passes promtool, from both listeners.
                for url in ("http://" + metrics + "/metrics", d.base + "/metrics"):
                    status, body = http_get(url)
                    self.assertEqual(status, 200)
                    p = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True)
                    self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            finally:
                prom.stop()

    def test_json_logs_parse_and_carry_fields(self):
        with Daemon("--log-format=json", "--log-level=info") as d:
            s = call(d, "POST", "/v1/sessions").json()["session"]
            c = call(d, "POST", SOCKET, STREAM, session=s).json()["handle"]
            r = call(d, "POST", "%s/%s:connect" % (SOCKET, c),
                     {"address": {"inet": {"host": "127.0.0.1", "port": d.port}}}, session=s, want=None)
            self.assertEqual(r.status, 403, r)
            call(d, "DELETE", "/v1/sessions", session=s)
            d.proc.send_signal(signal.SIGTERM)
            d.proc.wait(30)
            d.stderr.seek(0)
            lines = [l for l in d.stderr.read().decode().splitlines() if l.strip()]
            events = {}
            for l in lines:
                j = json.loads(l)  # every line is one JSON object
                for k in ("ts", "level", "event"):
                    self.assertIn(k, j, l)
                self.assertIn(j["level"], ("debug", "info", "warning", "error"), l)
                events.setdefault(j["event"], j)
            for e in ("started", "session_open", "session_close", "policy_denied", "signal", "draining", "stopped"):
                self.assertIn(e, events, lines)
            self.assertEqual(events["started"]["rest"], d.rest)
            self.assertEqual(events["policy_denied"]["reason"], r.json()["reason"])
            self.assertEqual(events["policy_denied"]["method"], "Connect")
            self.assertTrue(events["session_open"]["session"].startswith("sid."))

    def test_denial_flood_is_rate_limited(self):
        with Daemon("--log-format=json", "--log-level=info") as d:
            s = call(d, "POST", "/v1/sessions").json()["session"]
            c = call(d, "POST", SOCKET, STREAM, session=s).json()["handle"]
            n = 60
            for _ in range(n):
                call(d, "POST", "%s/%s:connect" % (SOCKET, c),
                     {"address": {"inet": {"host": "127.0.0.1", "port": d.port}}}, session=s, want=403)
            status, body = http_get(d.base + "/metrics")
            self.assertIn(b"sockwire_policy_denials_total{reason=", body)
            d.stop_proc = True
            d.proc.send_signal(signal.SIGTERM)
            d.proc.wait(30)
            d.stderr.seek(0)
            denied = [json.loads(l) for l in d.stderr.read().decode().splitlines()
                      if '"policy_denied"' in l]
            self.assertLess(len(denied), n, "every denial of a flood was logged")
            self.assertGreaterEqual(len(denied), 1)

    def test_readyz_and_grpc_health_flip_during_drain(self):
        with Daemon("--metrics-listen=tcp:127.0.0.1:0", "--drain-period=3s") as d:
            m = "http://" + d.ready["metrics"]
            self.assertEqual(http_get(m + "/readyz")[0], 200)
            self.assertEqual(http_get(d.base + "/readyz")[0], 200)
            self.assertEqual(http_get(m + "/healthz")[0], 200)
            self.assertEqual(health(d.grpc), 1)
            d.proc.send_signal(signal.SIGTERM)
            poll(lambda: http_get(m + "/readyz")[0] == 503, "/readyz 503 on the metrics listener", 10)
            # Still alive and still serving while draining.
            self.assertEqual(http_get(m + "/healthz")[0], 200)
            self.assertEqual(http_get(d.base + "/readyz")[0], 503)
            self.assertEqual(health(d.grpc), 2)
            self.assertEqual(call(d, "POST", "/v1/sessions").status, 200)
            self.assertIsNone(d.proc.poll())
            self.assertEqual(d.proc.wait(30), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
