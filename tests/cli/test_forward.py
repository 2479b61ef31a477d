#!/usr/bin/python3
"""sockwire forward -L and -R, each with 20 concurrent connections whose
bytes are checksummed both ways through a real echo server."""

import hashlib
import os
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cliharness import Daemon, read_port, spawn, stop  # noqa: E402

CONNECTIONS = 20
PER_CONNECTION = 2 << 20


class EchoServer:
    """A real threaded TCP echo server on 127.0.0.1 port 0; echoes until EOF,
    then half-closes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.echo, args=(c,), daemon=True).start()

    @staticmethod
    def echo(c):
        with c:
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)

    def close(self):
        self.sock.close()


def one_connection(port, results, i):
    try:
        payload = os.urandom(PER_CONNECTION)
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        got = hashlib.sha256()
        n = 0

        def reader():
            nonlocal n
            while True:
                b = s.recv(1 << 16)
                if not b:
                    break
                got.update(b)
                n += len(b)
        t = threading.Thread(target=reader)
        t.start()
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        t.join(60)
        s.close()
        results[i] = (n == len(payload) and got.hexdigest() == hashlib.sha256(payload).hexdigest(),
                      n)
    except Exception as e:  # noqa: BLE001 - reported by the assertion
        results[i] = (False, repr(e))


class CliForward(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        # Data channel and local descriptors allowed: the fast paths.
        cls.fast = Daemon("--data-listen=unix:{tmp}/data.sock", "--allow-fd-passing")
        cls.echo = EchoServer()

    @classmethod
    def tearDownClass(cls):
        cls.echo.close()
        cls.d.stop()
        cls.fast.stop()

    def run_concurrently(self, port):
        results = [None] * CONNECTIONS
        threads = [threading.Thread(target=one_connection, args=(port, results, i))
                   for i in range(CONNECTIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual([r[0] for r in results], [True] * CONNECTIONS, results)

    def test_local_forward_20_concurrent(self):
        fwd = spawn(self.d, "forward", "-L", "127.0.0.1:0:127.0.0.1:%d" % self.echo.port)
        try:
            self.run_concurrently(read_port(fwd.stderr))
        finally:
            stop(fwd)

    def test_remote_forward_20_concurrent(self):
        fwd = spawn(self.d, "forward", "-R", "127.0.0.1:0:127.0.0.1:%d" % self.echo.port)
        try:
            self.run_concurrently(read_port(fwd.stderr))
        finally:
            stop(fwd)

    def fast_path(self, path, flag):
        if True:
            if True:
                fwd = spawn(self.fast, "forward", flag, "127.0.0.1:0:127.0.0.1:%d" % self.echo.port,
                            env={"SOCKWIRE_CLI_PATH": path})
                try:
                    self.run_concurrently(read_port(fwd.stderr))
                finally:
                    stop(fwd)

    def test_local_forward_over_local_descriptors(self):
        self.fast_path("descriptor", "-L")

    def test_remote_forward_over_local_descriptors(self):
        self.fast_path("descriptor", "-R")

    def test_local_forward_over_data_channels(self):
        self.fast_path("channel", "-L")

    def test_remote_forward_over_data_channels(self):
        self.fast_path("channel", "-R")

    def test_local_forward_to_a_closed_port_reports_and_closes(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
        s.close()
        fwd = spawn(self.d, "forward", "-L", "0:127.0.0.1:%d" % dead)
        try:
            c = socket.create_connection(("127.0.0.1", read_port(fwd.stderr)), timeout=20)
            self.assertEqual(c.recv(10), b"")  # closed, nothing relayed
            c.close()
            line = fwd.stderr.readline()
            self.assertIn(b"ECONNREFUSED (Connection refused)", line)
        finally:
            stop(fwd)

    def test_bad_spec_is_a_usage_error(self):
        fwd = spawn(self.d, "forward", "-L", "nonsense")
        try:
            self.assertEqual(fwd.wait(20), 2)
        finally:
            stop(fwd)


if __name__ == "__main__":
    unittest.main()
