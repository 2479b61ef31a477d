#!/usr/bin/python3
"""The seed's echo example driven through sockwired from another language.

Runs with Debian's /usr/bin/python3 and python3-grpcio; the sockwire.v1 stubs
are generated from proto/ at build time and found through PYTHONPATH. The
daemon binary comes from $SOCKWIRED (set by ctest) or argv[1].

A tiny socket-like wrapper (RemoteSocket) turns each method of Python's socket
object into the matching RPC, so the echo server and client below read like
the seed's own example; the daemon owns every real socket.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

import grpc

from sockwire.v1 import common_pb2
from sockwire.v1 import session_pb2
from sockwire.v1 import session_pb2_grpc
from sockwire.v1 import socket_pb2
from sockwire.v1 import socket_pb2_grpc

SOCKWIRED = os.environ.get("SOCKWIRED", "")
ERROR_TRAILER = "sockwire-error-bin"
DEADLINE = 10  # seconds, for every RPC


class Daemon:
    """A private sockwired: Unix-socket listener in a temp dir, readiness read
    from --ready-fd (a pipe), stopped with SIGTERM."""

    def __init__(self, *extra_args):
        self.tmp = tempfile.mkdtemp(prefix="sockwire-py-")
        read_end, write_end = os.pipe()
        # The daemon grants no AF_UNIX path by default: grant this temp dir.
        policy = os.path.join(self.tmp, "policy.json")
        with open(policy, "w") as f:
            json.dump({"rules": [{"action": "allow", "paths": [self.tmp + "/"]}]}, f)
        args = [
            SOCKWIRED,
            "--listen=unix:%s/sockwired.sock" % self.tmp,
            "--policy-file=" + policy,
            "--ready-fd=%d" % write_end,
            "--log-level=warning",
        ] + list(extra_args)
        self.proc = subprocess.Popen(args, pass_fds=(write_end,))
        os.close(write_end)
        with os.fdopen(read_end) as ready:
            line = ready.readline()  # blocks until the daemon serves
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
        return self.proc.returncode


class Session:
    """One client: a channel, a session token, the SocketService stub."""

    def __init__(self, daemon):
        self.channel = grpc.insecure_channel(daemon.target)
        sessions = session_pb2_grpc.SessionServiceStub(self.channel)
        opened = sessions.Open(session_pb2.OpenSessionRequest(), timeout=DEADLINE)
        self.metadata = (("sockwire-session", opened.session),)
        self.stub = socket_pb2_grpc.SocketServiceStub(self.channel)

    def call(self, method, request, timeout=DEADLINE):
        try:
            return getattr(self.stub, method)(request, metadata=self.metadata, timeout=timeout)
        except grpc.RpcError as e:
            raise to_exception(e) from None

    def close(self):
        self.channel.close()


def error_detail(rpc_error):
    """The sockwire.v1.ErrorDetail from a failed call's trailing metadata."""
    for key, value in rpc_error.trailing_metadata() or ():
        if key == ERROR_TRAILER:
            detail = common_pb2.ErrorDetail()
            detail.ParseFromString(value)
            return detail
    return None


def detail_errno(detail):
    return detail.os_errno  # "errno" in JSON; os_errno because errno is a C macro


class RemoteError(Exception):
    def __init__(self, rpc_error, detail):
        super().__init__("%s: %s" % (rpc_error.code(), rpc_error.details()))
        self.code = rpc_error.code()
        self.detail = detail


def to_exception(rpc_error):
    """Rebuilds Python's exception type from the status and the detail."""
    detail = error_detail(rpc_error)
    if detail is not None:
        if detail.kind == common_pb2.ERROR_KIND_OS and detail_errno(detail):
            err = OSError(detail_errno(detail), detail.message or rpc_error.details())
            err.rpc_error = rpc_error
            err.detail = detail
            return err
        if detail.kind == common_pb2.ERROR_KIND_TIMEOUT:
            err = socket.timeout(detail.message or "timed out")
            err.detail = detail
            return err
    return RemoteError(rpc_error, detail)


def to_address(family, address):
    if family == socket.AF_UNIX:
        return common_pb2.Address(unix_domain=common_pb2.UnixAddress(path=address))
    host, port = address[0], address[1]
    if family == socket.AF_INET6:
        return common_pb2.Address(inet6=common_pb2.Inet6Address(host=host, port=port))
    return common_pb2.Address(inet=common_pb2.InetAddress(host=host, port=port))


def from_address(address):
    kind = address.WhichOneof("kind")
    if kind == "inet":
        return (address.inet.host, address.inet.port)
    if kind == "inet6":
        a = address.inet6
        return (a.host, a.port, a.flowinfo, a.scope_id)
    if kind == "unix_domain":
        u = address.unix_domain
        return u.path if u.WhichOneof("name") == "path" else b"\0" + u.abstract
    return None


class RemoteSocket:
    """The socket object of the seed, each method one RPC on a handle."""

    def __init__(self, session, family=socket.AF_INET, type=socket.SOCK_STREAM, proto=0,
                 handle=None):
        self._s = session
        self.family = family
        self.type = type
        if handle is None:
            info = session.call("Create", socket_pb2.CreateRequest(family=family, type=type, proto=proto))
            handle = info.handle
        self.handle = handle

    def _req(self, **kw):
        return socket_pb2.HandleRequest(handle=self.handle, **kw)

    def fileno(self):
        return self.handle

    def bind(self, address):
        self._s.call("Bind", socket_pb2.AddressRequest(handle=self.handle,
                                                        address=to_address(self.family, address)))

    def listen(self, backlog=None):
        req = socket_pb2.ListenRequest(handle=self.handle)
        if backlog is not None:
            req.backlog = backlog
        self._s.call("Listen", req)

    def accept(self):
        resp = self._s.call("Accept", self._req(), timeout=30)
        conn = RemoteSocket(self._s, self.family, self.type, handle=resp.socket.handle)
        return conn, from_address(resp.address)

    def connect(self, address):
        self._s.call("Connect", socket_pb2.AddressRequest(handle=self.handle,
                                                           address=to_address(self.family, address)))

    def connect_ex(self, address):
        resp = self._s.call("ConnectEx", socket_pb2.AddressRequest(
            handle=self.handle, address=to_address(self.family, address)))
        return resp.os_errno

    def getsockname(self):
        return from_address(self._s.call("GetSockName", self._req()))

    def settimeout(self, value):
        req = socket_pb2.SetTimeoutRequest(handle=self.handle)
        if value is not None:
            req.timeout.FromNanoseconds(int(value * 1e9))
        self._s.call("SetTimeout", req)

    def sendall(self, data, flags=0):
        self._s.call("SendAll", socket_pb2.SendRequest(handle=self.handle, data=data, flags=flags))

    def recv(self, bufsize, flags=0):
        return self._s.call("Recv", socket_pb2.RecvRequest(handle=self.handle, bufsize=bufsize,
                                                           flags=flags), timeout=30).data

    def close(self):
        if self.handle is not None:
            self._s.call("Close", self._req())
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def echo_server(session, family, bind_address, ready, result):
    """The seed's echo server, verbatim but for the socket class and port 0."""
    try:
        with RemoteSocket(session, family, socket.SOCK_STREAM) as s:
            s.bind(bind_address)
            s.listen(1)
            result["address"] = s.getsockname()
            ready.set()
            conn, addr = s.accept()
            with conn:
                result["peer"] = addr
                while True:
                    data = conn.recv(1024)
                    if not data: break
                    conn.sendall(data)
    except Exception as e:  # reported by the test thread
        result["error"] = e
        ready.set()


def echo_client(session, family, address):
    """The seed's echo client."""
    with RemoteSocket(session, family, socket.SOCK_STREAM) as s:
        s.connect(address)
        s.sendall(b'Hello, world')
        data = s.recv(1024)
    return data


class EchoThroughDaemon(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.returncode = cls.daemon.stop()

    def setUp(self):
        self.server_session = Session(self.daemon)
        self.client_session = Session(self.daemon)

    def tearDown(self):
        self.server_session.close()
        self.client_session.close()

    def run_echo(self, family, bind_address, connect_address):
        ready = threading.Event()
        result = {}
        t = threading.Thread(target=echo_server,
                             args=(self.server_session, family, bind_address, ready, result))
        t.start()
        self.assertTrue(ready.wait(DEADLINE))
        self.assertNotIn("error", result)
        data = echo_client(self.client_session, family, connect_address(result["address"]))
        t.join(30)
        self.assertFalse(t.is_alive())
        self.assertNotIn("error", result, result.get("error"))
        return data, result

    def test_seed_echo_tcp_ipv4(self):
        data, result = self.run_echo(socket.AF_INET, ('', 0),
                                     lambda bound: ('127.0.0.1', bound[1]))
        print('Received', repr(data))
        self.assertEqual(data, b'Hello, world')
        self.assertEqual(result["peer"][0], '127.0.0.1')

    def test_seed_echo_tcp_ipv6(self):
        data, _ = self.run_echo(socket.AF_INET6, ('::1', 0), lambda bound: ('::1', bound[1]))
        self.assertEqual(data, b'Hello, world')

    def test_seed_echo_unix(self):
        path = os.path.join(self.daemon.tmp, "echo-%d.sock" % os.getpid())
        data, _ = self.run_echo(socket.AF_UNIX, path, lambda bound: path)
        self.assertEqual(data, b'Hello, world')

    def test_connect_refused_carries_errno_in_trailer(self):
        # Reserve a port with the daemon, free it, connect to it.
        with RemoteSocket(self.client_session) as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        s = RemoteSocket(self.client_session)
        try:
            with self.assertRaises(grpc.RpcError) as raw:
                self.client_session.stub.Connect(
                    socket_pb2.AddressRequest(handle=s.handle,
                                              address=to_address(socket.AF_INET, ('127.0.0.1', port))),
                    metadata=self.client_session.metadata, timeout=DEADLINE)
            detail = error_detail(raw.exception)
            self.assertIsNotNone(detail, "no %s trailer" % ERROR_TRAILER)
            self.assertEqual(detail.kind, common_pb2.ERROR_KIND_OS)
            self.assertEqual(detail_errno(detail), 111)
            self.assertEqual(detail.errno_name, "ECONNREFUSED")
            self.assertEqual(raw.exception.code(), grpc.StatusCode.UNAVAILABLE)
        finally:
            s.close()
        # The same through the wrapper: Python's own exception type.
        with RemoteSocket(self.client_session) as s2:
            with self.assertRaises(ConnectionRefusedError):
                s2.connect(('127.0.0.1', port))
        with RemoteSocket(self.client_session) as s3:
            self.assertEqual(s3.connect_ex(('127.0.0.1', port)), 111)

    def test_accept_timeout_is_socket_timeout(self):
        with RemoteSocket(self.server_session) as s:
            s.bind(('127.0.0.1', 0))
            s.listen(1)
            s.settimeout(0.1)
            with self.assertRaises(socket.timeout) as cm:
                s.accept()
            self.assertEqual(cm.exception.detail.kind, common_pb2.ERROR_KIND_TIMEOUT)

    def test_malformed_handle_is_invalid_argument(self):
        with self.assertRaises(RemoteError) as cm:
            self.client_session.call("GetInfo", socket_pb2.HandleRequest(handle="abc"))
        self.assertEqual(cm.exception.code, grpc.StatusCode.INVALID_ARGUMENT)

    def test_health_check_serving(self):
        check = self.server_session.channel.unary_unary("/grpc.health.v1.Health/Check")
        # HealthCheckRequest{service: ""} is empty; the reply is {status: SERVING(1)}.
        self.assertEqual(check(b"", timeout=DEADLINE), b"\x08\x01")


def main():
    global SOCKWIRED
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        SOCKWIRED = sys.argv.pop(1)
    if not SOCKWIRED:
        sys.stderr.write("usage: SOCKWIRED=/path/to/sockwired test_echo.py (or pass it as argv[1])\n")
        return 2
    program = unittest.main(exit=False)
    ok = program.result.wasSuccessful()
    # The daemon must also have exited cleanly on SIGTERM.
    rc = getattr(EchoThroughDaemon, "returncode", 0)
    if rc not in (0, None):
        sys.stderr.write("sockwired exited with %r\n" % rc)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
