#!/usr/bin/python3
"""sockwire connect/listen/resolve/health/ls and their errors, against a real
sockwired and real peers."""

import os
import re
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cliharness import Daemon, cli, read_port, spawn, stop, SOCKWIRE  # noqa: E402


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CliBasic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_http_get_through_connect(self):
        root = os.path.join(self.d.tmp, "www")
        os.mkdir(root)
        body = b"hello from http.server\n" * 100
        with open(os.path.join(root, "f.txt"), "wb") as f:
            f.write(body)
        # Port 0: the server binds and prints the port it got.
        srv = subprocess.Popen(["/usr/bin/python3", "-u", "-m", "http.server", "0",
                                "--bind", "127.0.0.1", "--directory", root],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            line = srv.stdout.readline()
            port = int(re.search(rb"port (\d+)", line).group(1))
            r = cli(self.d, "connect", "127.0.0.1", str(port),
                    input=b"GET /f.txt HTTP/1.0\r\nHost: x\r\n\r\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            head, _, got = r.stdout.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.0 200"), head)
            self.assertEqual(got, body)
        finally:
            stop(srv)

    def test_connect_and_listen_against_each_other(self):
        lst = spawn(self.d, "listen", "127.0.0.1", "0")
        try:
            port = read_port(lst.stderr)
            con = spawn(self.d, "connect", "127.0.0.1", str(port))
            request = os.urandom(300000)
            # connect's stdin ends: listen sees EOF and answers.
            out, err = None, None

            def talk():
                nonlocal out, err
                out, err = con.communicate(request, timeout=30)
            t = threading.Thread(target=talk)
            t.start()
            got = b""
            while len(got) < len(request):
                chunk = lst.stdout.read1(1 << 16)
                if not chunk:
                    break
                got += chunk
            self.assertEqual(got, request)
            lst.stdin.write(b"pong\n")
            lst.stdin.close()
            t.join(30)
            self.assertEqual(con.returncode, 0, err)
            self.assertEqual(out, b"pong\n")
            self.assertEqual(lst.wait(30), 0)
        finally:
            stop(lst)

    def test_connect_and_listen_on_the_fast_paths(self):
        fast = Daemon("--data-listen=unix:{tmp}/data.sock", "--allow-fd-passing")
        try:
            for path in ("descriptor", "channel", "stream"):
                env = {"SOCKWIRE_CLI_PATH": path}
                lst = spawn(fast, "listen", "127.0.0.1", "0", env=env)
                try:
                    port = read_port(lst.stderr)
                    request = os.urandom(1 << 20)
                    con = spawn(fast, "connect", "127.0.0.1", str(port), env=env)
                    lst.stdin.write(b"answer")
                    lst.stdin.close()
                    got = []  # Read concurrently: the pipes hold less than 1 MiB.
                    reader = threading.Thread(target=lambda: got.append(lst.stdout.read()))
                    reader.start()
                    out, err = con.communicate(request, timeout=30)
                    self.assertEqual((con.returncode, out), (0, b"answer"), (path, err))
                    reader.join(30)
                    got = got[0]
                    self.assertEqual(lst.wait(30), 0, path)
                    self.assertEqual(got, request, path)
                finally:
                    stop(lst)
        finally:
            fast.stop()

    def test_listen_k_serves_connections_in_turn(self):
        lst = spawn(self.d, "listen", "-k", "127.0.0.1", "0", stdin=subprocess.DEVNULL)
        try:
            port = read_port(lst.stderr)
            for i in range(3):
                r = cli(self.d, "connect", "127.0.0.1", str(port), input=b"n%d\n" % i)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(lst.stdout.readline(), b"n%d\n" % i)
        finally:
            stop(lst)

    def test_unix_socket(self):
        path = os.path.join(self.d.tmp, "echo.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen()

        def echo():
            c, _ = srv.accept()
            data = b""
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
            c.sendall(data.upper())
            c.close()
        t = threading.Thread(target=echo)
        t.start()
        r = cli(self.d, "connect", "--unix", path, input=b"over unix\n")
        t.join(10)
        srv.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"OVER UNIX\n")

    def test_udp_connect_both_ways(self):
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(20)
        con = spawn(self.d, "connect", "-u", "127.0.0.1", str(peer.getsockname()[1]))
        try:
            con.stdin.write(b"ping")
            con.stdin.flush()
            data, addr = peer.recvfrom(100)
            self.assertEqual(data, b"ping")
            peer.sendto(b"pong\n", addr)
            self.assertEqual(con.stdout.read1(100), b"pong\n")
        finally:
            stop(con)
            peer.close()

    def test_udp_listen_both_ways(self):
        lst = spawn(self.d, "listen", "-u", "127.0.0.1", "0")
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.settimeout(20)
        try:
            port = read_port(lst.stderr)
            peer.sendto(b"hello\n", ("127.0.0.1", port))
            self.assertEqual(lst.stdout.readline(), b"hello\n")
            lst.stdin.write(b"back")
            lst.stdin.flush()
            data, addr = peer.recvfrom(100)
            self.assertEqual((data, addr[1]), (b"back", port))
        finally:
            stop(lst)
            peer.close()

    def test_connection_refused(self):
        r = cli(self.d, "connect", "127.0.0.1", str(free_port()), input=b"")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"connect: ECONNREFUSED (Connection refused)", r.stderr)

    def test_unknown_name_is_a_gaierror(self):
        r = cli(self.d, "connect", "no-such-host.invalid", "80", input=b"")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, rb"connect: (Name or service not known|"
                                   rb"Temporary failure in name resolution|No address)")
        r = cli(self.d, "resolve", "no-such-host.invalid")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"resolve: no-such-host.invalid: ", r.stderr)

    def test_daemon_not_there_names_the_address(self):
        target = "unix:%s/nobody-here.sock" % self.d.tmp
        for args in (["connect", "127.0.0.1", "80"], ["health", "--timeout", "2"], ["ls"]):
            r = subprocess.run([SOCKWIRE, "--daemon", target] + args, capture_output=True,
                               input=b"", timeout=30)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(b"cannot reach sockwired at " + target.encode(), r.stderr, args)
        # The environment variable is the default.
        env = dict(os.environ, SOCKWIRE_DAEMON=target)
        r = subprocess.run([SOCKWIRE, "health", "--timeout", "2"], capture_output=True, env=env,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(target.encode(), r.stderr)

    def test_policy_denial_is_eacces(self):
        r = cli(self.d, "connect", "--unix", "/run/not-granted.sock", input=b"")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"connect: EACCES (Permission denied)", r.stderr)

    def test_listen_address_in_use(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        try:
            r = cli(self.d, "listen", "127.0.0.1", str(s.getsockname()[1]), input=b"")
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"listen: EADDRINUSE (Address already in use)", r.stderr)
        finally:
            s.close()

    def test_usage_errors_exit_2(self):
        for args in (["listen", "127.0.0.1", "notaport"], ["connect", "onlyhost"], []):
            r = cli(self.d, *args, input=b"")
            self.assertEqual(r.returncode, 2, (args, r.stderr))

    def test_resolve(self):
        r = cli(self.d, "resolve", "localhost", "80")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rb"(127\.0\.0\.1|::1) 80 AF_INET6? SOCK_STREAM")

    def test_health(self):
        r = cli(self.d, "health")
        self.assertEqual((r.returncode, r.stdout), (0, b"SERVING\n"), r.stderr)

    def test_ls_prints_a_table(self):
        r = cli(self.d, "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(b"HANDLE\tFAMILY"), r.stdout)

    def test_help_reads_like_a_man_page(self):
        for sub in ("connect", "listen", "send", "recv", "forward", "resolve", "health", "ls"):
            r = subprocess.run([SOCKWIRE, sub, "--help"], capture_output=True, timeout=10)
            self.assertEqual(r.returncode, 0, sub)
            self.assertIn(b"DESCRIPTION", r.stdout, sub)


if __name__ == "__main__":
    unittest.main()
