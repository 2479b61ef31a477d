#!/usr/bin/python3
"""Hostile and malformed input to the REST gateway: each gets a clear 4xx or
is cut off, the daemon never crashes, and other clients keep being served
meanwhile (raw sockets, so nothing is tidied up by an HTTP library)."""

import json
import socket
import threading
import time
import unittest

import restlib
from restlib import Daemon, curl


def raw(d, data, read_timeout=15):
    """Sends raw bytes; returns (status, body) of the first response, or
    (None, b"") if the server closed without one."""
    s = socket.create_connection((d.host, d.port), timeout=read_timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                if len(rest) >= length:
                    break
        if not buf:
            return None, b""
        head, _, body = buf.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), body
    finally:
        s.close()


class Watchdog(threading.Thread):
    """Keeps making small requests; records the slowest and any failure."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.d = d
        self.stop = threading.Event()
        self.count = 0
        self.failures = []
        self.slowest = 0.0
        # Set while a test deliberately fills the connection cap.
        self.paused = threading.Event()

    def run(self):
        while not self.stop.is_set():
            if self.paused.is_set():
                self.stop.wait(0.05)
                continue
            t0 = time.monotonic()
            r = curl(self.d, "GET", "/v1/openapi.json", timeout=10)
            dt = time.monotonic() - t0
            self.slowest = max(self.slowest, dt)
            if r.status != 200:
                self.failures.append(r.status)
            self.count += 1
            self.stop.wait(0.05)


class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A small message limit keeps the "huge body" quick: the body limit is
        # 4/3 of it plus 64 KiB.
        cls.d = Daemon("--max-message-bytes=1048576")
        cls.watch = Watchdog(cls.d)
        cls.watch.start()

    @classmethod
    def tearDownClass(cls):
        cls.watch.stop.set()
        cls.watch.join()
        alive = cls.d.alive()
        cls.d.stop()
        assert alive, "sockwired died"
        assert not cls.watch.failures, cls.watch.failures
        assert cls.watch.count > 5, cls.watch.count

    def error(self, r, status, reason=None):
        self.assertEqual(r.status, status, r)
        e = r.json()
        self.assertIn("status", e)
        if reason:
            self.assertEqual(e["reason"], reason, e)
        return e

    def test_malformed_json(self):
        for body in ["{", "[1,2", "{\"family\": }", "nonsense", "\x00\x01\x02", "{\"a\":1}{}"]:
            e = self.error(curl(self.d, "POST", "/v1/sockets", body), 400, "BAD_REQUEST")
            self.assertEqual(e["status"], "INVALID_ARGUMENT")

    def test_unknown_fields(self):
        e = self.error(curl(self.d, "POST", "/v1/sockets", {"famly": "FAMILY_INET"}), 400)
        self.assertIn("famly", e["message"])
        self.error(curl(self.d, "POST", "/v1/sessions", {"x": 1}), 400)

    def test_wrong_types(self):
        for body in [{"family": {"x": 1}}, {"proto": "abc"}, {"nonblock": "maybe"},
                     {"family": "FAMILY_NOPE"}, {"proto": 1e30}, {"type": [1]}]:
            self.error(curl(self.d, "POST", "/v1/sockets", body), 400)
        # bytes must be base64
        pair = curl(self.d, "POST", "/v1/sockets:pair", {})
        s = pair.header("sockwire-session")
        h = pair.json()["first"]["handle"]
        self.error(curl(self.d, "POST", "/v1/sockets/%s:send" % h, {"data": "!!not base64!!"}, session=s),
                   400)
        # A deeply nested document is refused, not a stack overflow.
        deep = "[" * 100000 + "]" * 100000
        self.error(curl(self.d, "POST", "/v1/sockets", deep), 400)
        deep_obj = '{"address":' * 20000 + "{}" + "}" * 20000
        self.error(curl(self.d, "POST", "/v1/sockets:dial", deep_obj, session=s), 400)

    def test_huge_body(self):
        # Announced: refused from the header alone.
        status, body = raw(self.d, b"POST /v1/sockets HTTP/1.1\r\nHost: x\r\n"
                                   b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{")
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(body)["reason"], "BODY_TOO_LARGE")
        # Chunked, without a length: cut at the limit.
        s = socket.create_connection((self.d.host, self.d.port), timeout=15)
        s.sendall(b"POST /v1/sockets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        got = b""
        try:
            for _ in range(64):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                got += c
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        if got:
            self.assertIn(b" 413 ", got.split(b"\r\n")[0])
        # A body just over the limit through curl (with 100-continue).
        big = json.dumps({"data": "A" * (2 << 20)})
        r = curl(self.d, "POST", "/v1/sockets/x:send", big)
        self.assertEqual(r.status, 413)

    def test_header_limits(self):
        status, _ = raw(self.d, b"GET /v1/sockets HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        self.assertEqual(status, 431)
        status, _ = raw(self.d, b"GET /v1/" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status, 431)
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
        status, _ = raw(self.d, b"GET /v1/sockets HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        self.assertEqual(status, 431)

    def test_garbage(self):
        for data in [b"\x00\xff\xfe garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"POST /v1/sockets HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                     b"POST /v1/sockets HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                     b"POST /v1/sockets HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]:
            status, _ = raw(self.d, data, read_timeout=12)
            self.assertIn(status, (400, None), data)
        # Percent-escapes and odd paths.
        for path in ["/v1/sockets/%zz", "/v1/sockets/%", "/v1/sockets/%00:bind", "/v1/sockets//x",
                     "/v1/sockets/a%2Fb", "/../../etc/passwd", "/v1/sockets?%=%"]:
            r = curl(self.d, "GET", path)
            self.assertIn(r.status, (400, 404, 405), (path, r))
            json.loads(r.body)

    def test_slowloris_is_cut_off_while_others_are_served(self):
        # Ten connections dribble a request head, one byte a second. The
        # header timeout (10 s) cuts them off; meanwhile the watchdog's
        # requests keep succeeding quickly.
        served_before = self.watch.count
        conns = []
        for _ in range(10):
            s = socket.create_connection((self.d.host, self.d.port))
            s.settimeout(30)
            conns.append(s)
        head = b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        t0 = time.monotonic()
        cut = set()
        i = 0
        while len(cut) < len(conns) and time.monotonic() - t0 < 25:
            for k, s in enumerate(conns):
                if k in cut:
                    continue
                try:
                    s.send(head[i:i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    cut.add(k)
            i = min(i + 1, len(head) - 1)
            time.sleep(1)
        elapsed = time.monotonic() - t0
        for s in conns:
            s.close()
        self.assertEqual(len(cut), len(conns), "not all slow clients were cut off")
        self.assertLess(elapsed, 20)
        self.assertGreater(self.watch.count, served_before + 10)
        self.assertLess(self.watch.slowest, 5)

    def test_idle_connection_limit_and_recovery(self):
        # Many idle connections do not stop service; they are bounded by the
        # connection cap (then 429), and service resumes when they go.
        conns = []
        statuses = set()
        self.watch.paused.set()
        time.sleep(1)  # the watchdog's request in flight finishes
        try:
            for _ in range(600):
                s = socket.create_connection((self.d.host, self.d.port))
                conns.append(s)
            # Past the cap (512) the gateway answers 429 and closes.
            s = conns[-1]
            s.settimeout(5)
            try:
                first = s.recv(200)
            except (socket.timeout, ConnectionResetError):
                first = b""
            statuses.add(first.split(b" ")[1] if first else b"")
        except OSError:
            pass  # a low fd limit in this test process: fine, fewer conns
        finally:
            for s in conns:
                s.close()
        if len(conns) >= 600:
            self.assertIn(b"429", statuses)
        deadline = time.monotonic() + 10
        while True:
            r = curl(self.d, "GET", "/v1/openapi.json")
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.watch.paused.clear()
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    restlib.main()
