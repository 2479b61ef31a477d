"""Helpers for the REST gateway tests: a private sockwired, real curl.

Every test starts its own daemon on a temp-dir Unix socket (gRPC) and
127.0.0.1 port 0 (REST), reads the bound addresses from --ready-fd (no
sleeping for readiness), and stops it at the end.
"""

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import unittest

SOCKWIRED = os.environ.get("SOCKWIRED", "")
STUBS = os.environ.get("SOCKWIRE_PYTHON_STUBS", "")
if STUBS and STUBS not in sys.path:
    sys.path.insert(0, STUBS)


class Daemon:
    def __init__(self, *extra):
        if not SOCKWIRED:
            raise RuntimeError("set SOCKWIRED to the sockwired binary")
        self.dir = tempfile.mkdtemp(prefix="sockwire-rest-")
        r, w = os.pipe()
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+b")
        args = [SOCKWIRED, "--listen=unix:%s/d.sock" % self.dir,
                "--rest-listen=tcp:127.0.0.1:0", "--insecure-tcp", "--ready-fd=%d" % w,
                "--log-level=warning"] + list(extra)
        self.proc = subprocess.Popen(args, pass_fds=(w,), stderr=self.stderr,
                                     stdout=subprocess.DEVNULL)
        os.close(w)
        line = b""
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([r], [], [], 30)
            if not ready:
                break
            chunk = os.read(r, 4096)
            if not chunk:
                break
            line += chunk
        os.close(r)
        if not line.endswith(b"\n"):
            self.stop()
            self.stderr.seek(0)
            raise RuntimeError("sockwired did not start: %s" % self.stderr.read().decode(errors="replace"))
        self.ready = json.loads(line)
        self.rest = self.ready["rest"]
        self.grpc = self.ready["grpc"]
        self.base = "http://" + self.rest
        self.host, port = self.rest.rsplit(":", 1)
        self.port = int(port)

    def alive(self):
        return self.proc.poll() is None

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.stderr.closed:
            self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower(), "")

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


def curl(daemon, method, path, body=None, session=None, headers=(), timeout=30):
    """Runs the real curl binary; returns Response(status, headers, body)."""
    work = tempfile.mkdtemp(prefix="curl-", dir=daemon.dir)
    hdr_file = os.path.join(work, "h")
    out_file = os.path.join(work, "b")
    cmd = ["curl", "-sS", "-X", method, "-D", hdr_file, "-o", out_file,
           "--max-time", str(timeout), "-w", "%{http_code}"]
    if session:
        cmd += ["-H", "Sockwire-Session: " + session]
    for h in headers:
        cmd += ["-H", h]
    if body is not None:
        in_file = os.path.join(work, "in")
        with open(in_file, "wb") as f:
            f.write(body if isinstance(body, bytes) else
                    (body if isinstance(body, str) else json.dumps(body)).encode())
        cmd += ["-H", "Content-Type: application/json", "--data-binary", "@" + in_file]
    cmd.append(daemon.base + path)
    p = subprocess.run(cmd, capture_output=True, timeout=timeout + 10)
    status = int(p.stdout.decode() or "0")
    headers = {}
    if os.path.exists(hdr_file):
        with open(hdr_file, "rb") as f:
            for line in f.read().decode(errors="replace").split("\r\n"):
                if line.startswith("HTTP/"):
                    headers = {}  # keep only the last response (after 100 Continue)
                elif ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
    data = b""
    if os.path.exists(out_file):
        with open(out_file, "rb") as f:
            data = f.read()
    shutil.rmtree(work, ignore_errors=True)
    return Response(status, headers, data)


def main():
    unittest.main(verbosity=2)
