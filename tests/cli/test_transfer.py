#!/usr/bin/python3
"""sockwire send/recv: 256 MiB sha256-checked on each data path, and the
progress bar under a real pseudo-terminal (script(1)) and not without one."""

import hashlib
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cliharness import Daemon, SOCKWIRE, read_port, spawn, stop  # noqa: E402

SIZE = 256 << 20


def make_file(path, size):
    h = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size >> 20):
            chunk = block[i % 7:] + block[:i % 7]  # not one repeated block
            f.write(chunk)
            h.update(chunk)
    return h.hexdigest()


class CliTransfer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.plain = Daemon()
        cls.fast = Daemon("--data-listen=unix:{tmp}/data.sock", "--allow-fd-passing")
        cls.src = os.path.join(cls.plain.tmp, "src.bin")
        cls.digest = make_file(cls.src, SIZE)

    @classmethod
    def tearDownClass(cls):
        cls.plain.stop()
        cls.fast.stop()

    def transfer(self, daemon, path_env):
        env = {"SOCKWIRE_CLI_PATH": path_env} if path_env else None
        out_path = os.path.join(daemon.tmp, "out.bin")
        with open(out_path, "wb") as out:
            rcv = spawn(daemon, "recv", "127.0.0.1", "0", stdout=out, stdin=subprocess.DEVNULL,
                        env=env)
        try:
            port = read_port(rcv.stderr)
            t0 = time.monotonic()
            snd = subprocess.run([SOCKWIRE, "--daemon", daemon.target, "send", self.src,
                                  "127.0.0.1", str(port)], capture_output=True, timeout=120,
                                 env=dict(os.environ, **(env or {})))
            self.assertEqual(snd.returncode, 0, snd.stderr)
            self.assertEqual(rcv.wait(60), 0)
            secs = time.monotonic() - t0
            rest = rcv.stderr.read()
        finally:
            stop(rcv)
        # stderr is not a terminal: no bar drawn on either side.
        self.assertNotIn(b"\r", snd.stderr + rest)
        self.assertNotIn(b"/s", snd.stderr + rest)
        h = hashlib.sha256()
        with open(out_path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        os.unlink(out_path)
        self.assertEqual(h.hexdigest(), self.digest)
        print("\n256 MiB send->recv via %s: %.2f s (%.0f MiB/s)" %
              (path_env or "default", secs, 256 / secs), file=sys.stderr)
        self.assertLess(secs, 60)

    def test_256mib_over_byte_streams(self):
        self.transfer(self.plain, None)

    def test_256mib_over_data_channel(self):
        self.transfer(self.fast, "channel")

    def test_256mib_over_local_descriptor(self):
        self.transfer(self.fast, "descriptor")

    def test_progress_bar_under_a_pty(self):
        size = 64 << 20
        src = os.path.join(self.plain.tmp, "small.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(1 << 20) * (size >> 20))
        rcv = spawn(self.plain, "recv", "127.0.0.1", "0", stdout=subprocess.DEVNULL,
                    stdin=subprocess.DEVNULL)
        try:
            port = read_port(rcv.stderr)
            cmd = "%s --daemon %s send %s 127.0.0.1 %d" % (SOCKWIRE, self.plain.target, src, port)
            # script(1) gives the command a real pseudo-terminal for stderr.
            r = subprocess.run(["script", "-qefc", cmd, "/dev/null"], capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertEqual(rcv.wait(60), 0)
        finally:
            stop(rcv)
        screen = r.stdout
        self.assertIn(b"100%", screen)
        self.assertRegex(screen, rb"[0-9.]+ [KMG]?i?B/s")
        self.assertIn(b"64.0 MiB / 64.0 MiB", screen)
        os.unlink(src)


if __name__ == "__main__":
    unittest.main()
