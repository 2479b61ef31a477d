"""Shared pieces of the sockwire CLI tests: a private sockwired (readiness
from --ready-fd, a policy granting the temp dir for AF_UNIX), the CLI's path,
and helpers to start the CLI and read its "Listening on HOST PORT" line."""

import json
import os
import re
import shutil
import subprocess
import tempfile

SOCKWIRED = os.environ.get("SOCKWIRED", "")
SOCKWIRE = os.environ.get("SOCKWIRE", "")


class Daemon:
    def __init__(self, *extra_args):
        self.tmp = tempfile.mkdtemp(prefix="sockwire-cli-")
        read_end, write_end = os.pipe()
        policy = os.path.join(self.tmp, "policy.json")
        with open(policy, "w") as f:
            json.dump({"rules": [{"action": "allow", "paths": [self.tmp + "/"]}]}, f)
        args = [SOCKWIRED, "--listen=unix:%s/sockwired.sock" % self.tmp,
                "--policy-file=" + policy, "--ready-fd=%d" % write_end,
                "--log-level=warning"]
        args += [a.replace("{tmp}", self.tmp) for a in extra_args]
        self.proc = subprocess.Popen(args, pass_fds=(write_end,))
        os.close(write_end)
        with os.fdopen(read_end) as ready:
            line = ready.readline()
        if not line:
            self.proc.wait(10)
            raise RuntimeError("sockwired exited before it was ready: %r" % self.proc.returncode)
        self.ready = json.loads(line)
        self.target = self.ready["grpc"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def cli(daemon, *args, env=None, **kw):
    """Runs the CLI to completion; returns CompletedProcess (bytes)."""
    kw.setdefault("timeout", 60)
    kw.setdefault("capture_output", True)
    return subprocess.run([SOCKWIRE, "--daemon", daemon.target] + list(args),
                          env=_env(env), **kw)


def spawn(daemon, *args, env=None, **kw):
    kw.setdefault("stdin", subprocess.PIPE)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([SOCKWIRE, "--daemon", daemon.target] + list(args),
                            env=_env(env), **kw)


def _env(extra):
    env = dict(os.environ)
    env.pop("SOCKWIRE_DAEMON", None)
    if extra:
        env.update(extra)
    return env


LISTENING = re.compile(rb"(?:Listening on|Forwarding (?:local|remote)) (\S+) (\d+)")


def read_port(stream):
    """Reads stderr lines until the CLI says where it listens; the port."""
    seen = b""
    while True:
        line = stream.readline()
        if not line:
            raise AssertionError("no listening line; stderr: %r" % seen)
        seen += line
        m = LISTENING.search(line)
        if m:
            return int(m.group(2))


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for s in (proc.stdin, proc.stdout, proc.stderr):
        if s:
            s.close()
