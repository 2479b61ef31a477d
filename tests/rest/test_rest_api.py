#!/usr/bin/python3
"""The REST gateway driven by real curl: the seed's echo example, sessions,
REST <-> gRPC on the same handles, every error status, binary data, Hold,
and the OpenAPI document listing every RPC.

Usage: SOCKWIRED=.../sockwired SOCKWIRE_PYTHON_STUBS=.../proto/python test_rest_api.py
"""

import base64
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

import restlib
from restlib import Daemon, curl

SOCKET = "/v1/sockets"
STREAM = {"family": "FAMILY_INET", "type": "SOCKET_TYPE_STREAM"}


def b64(data):
    return base64.b64encode(data).decode()


def unb64(s):
    return base64.b64decode(s)


class RestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.policy = os.path.join("/tmp", "sockwire-rest-policy-%d.json" % os.getpid())
        with open(cls.policy, "w") as f:
            json.dump({"rules": [{"action": "deny", "ops": ["connect"], "cidr": "10.0.0.0/8"}]}, f)
        cls.d = Daemon("--max-handles-per-session=12", "--policy-file=" + cls.policy)

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        os.unlink(cls.policy)

    # ---- helpers ----

    def call(self, method, path, body=None, session=None, expect=200, headers=()):
        r = curl(self.d, method, path, body, session=session, headers=headers)
        self.assertEqual(r.status, expect, "%s %s -> %r" % (method, path, r))
        self.assertEqual(r.header("content-type").split(";")[0],
                         "application/json" if "hold" not in path else "application/x-ndjson")
        return r

    def session(self):
        r = self.call("POST", "/v1/sessions")
        tok = r.json()["session"]
        self.assertEqual(r.header("sockwire-session"), tok)
        return tok

    def create(self, s, **kw):
        body = dict(STREAM)
        body.update(kw)
        return self.call("POST", SOCKET, body, session=s).json()["handle"]

    def listener(self, s):
        srv = self.create(s)
        self.call("POST", "%s/%s:bind" % (SOCKET, srv),
                  {"address": {"inet": {"host": "127.0.0.1", "port": 0}}}, session=s)
        self.call("POST", "%s/%s:listen" % (SOCKET, srv), {"backlog": 4}, session=s)
        port = self.call("GET", "%s/%s/sockname" % (SOCKET, srv), session=s).json()["inet"]["port"]
        return srv, port

    def assert_error(self, r, http_status, grpc_status, reason=None, errno_name=None, kind=None):
        self.assertEqual(r.status, http_status, r)
        e = r.json()
        self.assertEqual(e["status"], grpc_status, e)
        self.assertIsInstance(e["code"], int)
        for k in ("message", "errno", "errno_name", "kind", "reason", "eai_code"):
            self.assertIn(k, e)
        if reason is not None:
            self.assertEqual(e["reason"], reason, e)
        if errno_name is not None:
            self.assertEqual(e["errno_name"], errno_name, e)
        if kind is not None:
            self.assertEqual(e["kind"], kind, e)
        return e

    # ---- the seed's echo example, entirely over REST ----

    def test_echo_example(self):
        s = self.session()
        srv, port = self.listener(s)
        cli = self.create(s)
        self.call("POST", "%s/%s:connect" % (SOCKET, cli),
                  {"address": {"inet": {"host": "127.0.0.1", "port": port}}}, session=s)
        acc = self.call("POST", "%s/%s:accept" % (SOCKET, srv), session=s).json()
        conn = acc["socket"]["handle"]
        self.assertEqual(acc["address"]["inet"]["host"], "127.0.0.1")
        peer = self.call("GET", "%s/%s/peername" % (SOCKET, cli), session=s).json()
        self.assertEqual(peer["inet"]["port"], port)

        msg = b"Hello, world"
        sent = self.call("POST", "%s/%s:sendall" % (SOCKET, cli), {"data": b64(msg)}, session=s).json()
        self.assertEqual(int(sent["sent"]), len(msg))
        data = unb64(self.call("POST", "%s/%s:recv" % (SOCKET, conn), {"bufsize": 1024},
                               session=s).json()["data"])
        self.assertEqual(data, msg)
        self.call("POST", "%s/%s:sendall" % (SOCKET, conn), {"data": b64(data)}, session=s)
        echoed = unb64(self.call("POST", "%s/%s:recv" % (SOCKET, cli), {"bufsize": 1024},
                                 session=s).json()["data"])
        self.assertEqual(echoed, msg)

        # EOF after the peer closes: recv gives empty data ("data": "").
        self.call("DELETE", "%s/%s" % (SOCKET, cli), session=s)
        eof = self.call("POST", "%s/%s:recv" % (SOCKET, conn), {"bufsize": 16}, session=s).json()
        self.assertEqual(eof["data"], "")
        listed = [x["handle"] for x in self.call("GET", SOCKET, session=s).json()["sockets"]]
        self.assertIn(conn, listed)
        self.assertNotIn(cli, listed)
        for h in (conn, srv):
            self.call("DELETE", "%s/%s" % (SOCKET, h), session=s)
        self.call("DELETE", "/v1/sessions", session=s)

    def test_binary_data_with_nul_bytes(self):
        s = self.session()
        pair = self.call("POST", SOCKET + ":pair", {}, session=s).json()
        a, b = pair["first"]["handle"], pair["second"]["handle"]
        blob = bytes(range(256)) * 64 + b"\x00\x00\xff\x00"
        self.call("POST", "%s/%s:sendall" % (SOCKET, a), {"data": b64(blob)}, session=s)
        got = b""
        while len(got) < len(blob):
            got += unb64(self.call("POST", "%s/%s:recv" % (SOCKET, b), {"bufsize": 65536},
                                   session=s).json()["data"])
        self.assertEqual(got, blob)
        # URL-safe base64 is accepted as well (protobuf's JSON mapping).
        self.call("POST", "%s/%s:send" % (SOCKET, a),
                  {"data": base64.urlsafe_b64encode(b"\xfb\xff\x00").decode()}, session=s)
        self.assertEqual(unb64(self.call("POST", "%s/%s:recv" % (SOCKET, b), {"bufsize": 10},
                                         session=s).json()["data"]), b"\xfb\xff\x00")

    def test_implicit_session_header(self):
        r = self.call("POST", SOCKET, STREAM)
        tok = r.header("sockwire-session")
        self.assertTrue(tok, r.headers)
        h = r.json()["handle"]
        # The token the gateway made works for later calls...
        info = self.call("GET", "%s/%s" % (SOCKET, h), session=tok).json()
        self.assertEqual(info["handle"], h)
        self.assertEqual(info["family"], "FAMILY_INET")
        # ...another session sees NOT_FOUND, exactly as for an unknown handle.
        other = self.session()
        self.assert_error(curl(self.d, "GET", "%s/%s" % (SOCKET, h), session=other),
                          404, "NOT_FOUND")
        # Query parameters fill GET requests (here: none allowed but known).
        self.call("POST", "/v1/sessions:renew", session=tok)

    def test_hold_streams_ndjson(self):
        s = self.session()
        p = subprocess.Popen(["curl", "-sS", "-N", "-H", "Sockwire-Session: " + s,
                              self.d.base + "/v1/sessions/hold"], stdout=subprocess.PIPE)
        try:
            first = json.loads(p.stdout.readline())
            self.assertEqual(first["kind"], "KIND_HELD")
            # The stream stays open while held.
            self.assertIsNone(p.poll())
        finally:
            p.kill()
            p.communicate()
        self.assert_error(curl(self.d, "GET", "/v1/sessions/hold"), 401, "UNAUTHENTICATED")

    # ---- REST <-> gRPC ----

    def test_rest_and_grpc_share_handles(self):
        import grpc
        from sockwire.v1 import common_pb2, socket_pb2, socket_pb2_grpc

        s = self.session()
        md = (("sockwire-session", s),)
        ch = grpc.insecure_channel(self.d.grpc)
        stub = socket_pb2_grpc.SocketServiceStub(ch)

        # Made over REST, used over gRPC.
        rest_handle = self.create(s)
        info = stub.GetInfo(socket_pb2.HandleRequest(handle=rest_handle), metadata=md, timeout=10)
        self.assertEqual(info.handle, rest_handle)
        self.assertEqual(info.family, common_pb2.FAMILY_INET)

        # Made over gRPC, used over REST.
        pair = stub.CreatePair(socket_pb2.CreatePairRequest(), metadata=md, timeout=10)
        self.call("POST", "%s/%s:sendall" % (SOCKET, pair.first.handle),
                  {"data": b64(b"over rest")}, session=s)
        got = stub.Recv(socket_pb2.RecvRequest(handle=pair.second.handle, bufsize=100),
                        metadata=md, timeout=10)
        self.assertEqual(got.data, b"over rest")
        stub.SendAll(socket_pb2.SendRequest(handle=pair.second.handle, data=b"over grpc\0"),
                     metadata=md, timeout=10)
        back = self.call("POST", "%s/%s:recv" % (SOCKET, pair.first.handle), {"bufsize": 100},
                         session=s).json()
        self.assertEqual(unb64(back["data"]), b"over grpc\0")
        # The REST error and the gRPC error agree.
        with self.assertRaises(grpc.RpcError) as cm:
            stub.GetInfo(socket_pb2.HandleRequest(handle="nonsense"), metadata=md, timeout=10)
        rest = self.assert_error(curl(self.d, "GET", SOCKET + "/nonsense", session=s),
                                 400, "INVALID_ARGUMENT")
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(rest["code"], grpc.StatusCode.INVALID_ARGUMENT.value[0])
        ch.close()

    # ---- every error status ----

    def test_error_statuses(self):
        s = self.session()
        good = self.create(s)
        epoch = good.split(".")[1]
        # 404: a well-formed handle nobody has.
        self.assert_error(curl(self.d, "GET", "%s/sw1.%s.%s" % (SOCKET, epoch, "0" * 32), session=s),
                          404, "NOT_FOUND")
        # 400: a malformed handle; malformed input.
        self.assert_error(curl(self.d, "POST", SOCKET + "/xyz:recv", {"bufsize": 1}, session=s),
                          400, "INVALID_ARGUMENT", kind="ERROR_KIND_REQUEST")
        # 401: unknown session.
        self.assert_error(curl(self.d, "GET", SOCKET, session="ses1.00.nope"), 401, "UNAUTHENTICATED")
        # 504: the socket's timeout passes (settimeout(0.2) then accept).
        srv, port = self.listener(s)
        self.call("POST", "%s/%s:settimeout" % (SOCKET, srv), {"timeout": "0.2s"}, session=s)
        self.assertEqual(self.call("GET", "%s/%s/timeout" % (SOCKET, srv), session=s).json()
                         ["mode"]["timeout"], "0.200s")
        self.assert_error(curl(self.d, "POST", "%s/%s:accept" % (SOCKET, srv), session=s),
                          504, "DEADLINE_EXCEEDED", kind="ERROR_KIND_TIMEOUT")
        # 409: EAGAIN on a non-blocking socket (UNAVAILABLE/WOULD_BLOCK).
        self.call("POST", "%s/%s:setblocking" % (SOCKET, srv), {"blocking": False}, session=s)
        self.assert_error(curl(self.d, "POST", "%s/%s:accept" % (SOCKET, srv), session=s),
                          409, "UNAVAILABLE", reason="WOULD_BLOCK", errno_name="EAGAIN")
        # 409: a non-blocking connect in progress (EINPROGRESS).
        nb = self.create(s, nonblock=True)
        r = curl(self.d, "POST", "%s/%s:connect" % (SOCKET, nb),
                 {"address": {"inet": {"host": "127.0.0.1", "port": port}}}, session=s)
        if r.status != 200:  # loopback may also connect at once
            self.assert_error(r, 409, "UNAVAILABLE", errno_name="EINPROGRESS")
        # 409: EADDRINUSE (ALREADY_EXISTS) and ENOTCONN (FAILED_PRECONDITION, an OS state).
        dup = self.create(s)
        self.assert_error(curl(self.d, "POST", "%s/%s:bind" % (SOCKET, dup),
                               {"address": {"inet": {"host": "127.0.0.1", "port": port}}}, session=s),
                          409, "ALREADY_EXISTS", errno_name="EADDRINUSE")
        self.assert_error(curl(self.d, "GET", "%s/%s/peername" % (SOCKET, dup), session=s),
                          409, "FAILED_PRECONDITION", errno_name="ENOTCONN")
        # 502: the network refused (ECONNREFUSED is UNAVAILABLE, not "shutting down").
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        free_port = free.getsockname()[1]
        free.close()
        c = self.create(s)
        self.assert_error(curl(self.d, "POST", "%s/%s:connect" % (SOCKET, c),
                               {"address": {"inet": {"host": "127.0.0.1", "port": free_port}}},
                               session=s),
                          502, "UNAVAILABLE", errno_name="ECONNREFUSED", kind="ERROR_KIND_OS")
        # connect_ex gives the errno in the body instead.
        c2 = self.create(s)
        ex = self.call("POST", "%s/%s:connect_ex" % (SOCKET, c2),
                       {"address": {"inet": {"host": "127.0.0.1", "port": free_port}}},
                       session=s).json()
        self.assertEqual(ex["errno_name"] if "errno_name" in ex else ex["errnoName"], "ECONNREFUSED")
        # 403: refused by policy (connect to 10/8), and SCM_RIGHTS in sendmsg.
        c3 = self.create(s)
        self.assert_error(curl(self.d, "POST", "%s/%s:connect" % (SOCKET, c3),
                               {"address": {"inet": {"host": "10.1.2.3", "port": 80}}}, session=s),
                          403, "PERMISSION_DENIED", kind="ERROR_KIND_POLICY")
        # 403 from the gateway itself: a browser's cross-origin request.
        self.assert_error(curl(self.d, "GET", SOCKET, session=s,
                               headers=("Origin: http://evil.example",)),
                          403, "PERMISSION_DENIED", reason="CROSS_ORIGIN")
        # ...and DNS rebinding: a loopback listener wants a local Host.
        self.assert_error(curl(self.d, "GET", SOCKET, session=s,
                               headers=("Host: rebind.evil.example",)),
                          403, "PERMISSION_DENIED", reason="BAD_HOST")
        self.call("GET", SOCKET, session=s, headers=("Host: localhost:%d" % self.d.port,))
        # 429: over the handle quota (--max-handles-per-session=12).
        s2 = self.session()
        statuses = [curl(self.d, "POST", SOCKET, STREAM, session=s2).status for _ in range(12)]
        self.assertEqual(statuses, [200] * 12)
        self.assert_error(curl(self.d, "POST", SOCKET, STREAM, session=s2), 429, "RESOURCE_EXHAUSTED")
        # 404 for an unknown route, 405 for a known path with the wrong verb.
        self.assert_error(curl(self.d, "GET", "/v1/nothing", session=s), 404, "NOT_FOUND",
                          reason="NO_ROUTE")
        self.assert_error(curl(self.d, "POST", "%s/%s:frobnicate" % (SOCKET, good), {}, session=s),
                          404, "NOT_FOUND", reason="NO_ROUTE")
        r = curl(self.d, "PUT", "%s/%s" % (SOCKET, good), session=s)
        self.assert_error(r, 405, "INVALID_ARGUMENT", reason="METHOD_NOT_ALLOWED")
        self.assertIn("GET", r.header("allow"))
        self.assertIn("DELETE", r.header("allow"))
        # 426: the stream endpoint without a WebSocket upgrade.
        self.assertEqual(curl(self.d, "GET", "%s/%s/stream" % (SOCKET, good), session=s).status, 426)
        # A bad Sockwire-Timeout.
        self.assert_error(curl(self.d, "GET", SOCKET, session=s, headers=("Sockwire-Timeout: soon",)),
                          400, "INVALID_ARGUMENT", reason="BAD_TIMEOUT")

    def test_deadline_header(self):
        s = self.session()
        srv, _ = self.listener(s)
        t0 = time.monotonic()
        r = curl(self.d, "POST", "%s/%s:accept" % (SOCKET, srv), session=s,
                 headers=("Sockwire-Timeout: 300ms",))
        self.assert_error(r, 504, "DEADLINE_EXCEEDED")
        self.assertLess(time.monotonic() - t0, 10)

    def test_client_disconnect_cancels_blocking_call(self):
        s = self.session()
        srv, port = self.listener(s)
        # A blocking accept whose HTTP client gives up after 0.5 s...
        p = subprocess.run(["curl", "-sS", "--max-time", "0.5", "-X", "POST", "-H",
                            "Sockwire-Session: " + s, "%s%s/%s:accept" % (self.d.base, SOCKET, srv)],
                           capture_output=True)
        self.assertEqual(p.returncode, 28)
        # ...must not swallow the next connection: a new accept gets it. (The
        # cancellation is asynchronous, as over gRPC: give it a moment, else
        # the dying accept may still take the connection on a loaded machine.
        # Without cancellation the old accept would wait forever and win.)
        time.sleep(1.0)
        c = socket.create_connection(("127.0.0.1", port))
        acc = self.call("POST", "%s/%s:accept" % (SOCKET, srv), session=s,
                        headers=("Sockwire-Timeout: 10s",)).json()
        self.assertIn("handle", acc["socket"])
        c.close()

    def test_query_parameters_and_bodies(self):
        s = self.session()
        h = self.create(s)
        # Path variable and body must agree.
        self.assert_error(curl(self.d, "POST", "%s/%s:listen" % (SOCKET, h),
                               {"handle": "sw1.other", "backlog": 1}, session=s),
                          400, "INVALID_ARGUMENT")
        # Both JSON names and proto names are accepted in bodies.
        self.call("POST", "%s/%s:setblocking" % (SOCKET, h), {"blocking": False}, session=s)
        self.assertFalse(self.call("GET", "%s/%s/blocking" % (SOCKET, h), session=s)
                         .json()["blocking"])
        # GET query parameters fill scalar fields (here a wrong one is refused).
        self.assert_error(curl(self.d, "GET", "%s/%s?bufsize=1" % (SOCKET, h), session=s),
                          400, "INVALID_ARGUMENT")
        # Resolver routes (when the resolver service is present).
        r = curl(self.d, "POST", "/v1/resolver:getaddrinfo",
                 {"host": "127.0.0.1", "portNumber": 80, "type": "SOCKET_TYPE_STREAM"}, session=s)
        if r.status != 404:
            self.assertEqual(r.status, 200, r)
            self.assertIn("127.0.0.1", r.body.decode())
        r = curl(self.d, "GET", "/v1/resolver/hostname", session=s)
        if r.status != 404:
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["hostname"] if "hostname" in r.json() else
                             list(r.json().values())[0], socket.gethostname())

    # ---- routes and the OpenAPI document ----

    def test_every_rpc_has_a_route_in_openapi(self):
        from google.protobuf import descriptor_pb2  # noqa: F401
        from sockwire.v1 import annotations_pb2
        import importlib
        import pkgutil
        import sockwire.v1 as pkg

        doc = self.call("GET", "/v1/openapi.json").json()
        self.assertTrue(doc["openapi"].startswith("3."))
        ops = {}
        for path, item in doc["paths"].items():
            for verb, op in item.items():
                if "x-grpc-method" in op:
                    ops[op["x-grpc-method"]] = (verb.upper(), path)
        missing = []
        count = 0
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.endswith("_pb2"):
                continue
            m = importlib.import_module("sockwire.v1." + mod.name)
            for svc in m.DESCRIPTOR.services_by_name.values():
                for meth in svc.methods:
                    count += 1
                    grpc_path = "/%s/%s" % (svc.full_name, meth.name)
                    opts = meth.GetOptions()
                    if opts.HasExtension(annotations_pb2.http):
                        want = opts.Extensions[annotations_pb2.http]
                        if ops.get(grpc_path) != (want.method, want.path):
                            missing.append("%s: %s" % (grpc_path, ops.get(grpc_path)))
                    elif grpc_path not in ops:
                        missing.append(grpc_path + " (no http option, no route)")
        self.assertGreater(count, 40)
        self.assertEqual(missing, [])
        # Schemas exist for what the routes reference.
        schemas = doc["components"]["schemas"]
        self.assertIn("sockwire.v1.AddressRequest", schemas)
        props = schemas["sockwire.v1.SendRequest"]["properties"]
        self.assertEqual(props["data"]["format"], "byte")
        self.assertEqual(props["handle"]["type"], "string")
        text = json.dumps(doc)
        for ref in set(x.split('"')[0] for x in text.split('"#/components/schemas/')[1:]):
            self.assertIn(ref, schemas)


class LifecycleTest(unittest.TestCase):
    """Leases, bearer tokens, Unix-socket listeners, shutdown under load."""

    def test_expired_lease_closes_sockets(self):
        with Daemon("--session-lease=1s", "--session-grace=100ms") as d:
            r = curl(d, "POST", SOCKET, STREAM)
            s = r.header("sockwire-session")
            srv = r.json()["handle"]
            curl(d, "POST", "%s/%s:bind" % (SOCKET, srv),
                 {"address": {"inet": {"host": "127.0.0.1", "port": 0}}}, session=s)
            curl(d, "POST", "%s/%s:listen" % (SOCKET, srv), {}, session=s)
            port = curl(d, "GET", "%s/%s/sockname" % (SOCKET, srv), session=s).json()["inet"]["port"]
            socket.create_connection(("127.0.0.1", port)).close()  # listening now
            # Nothing renews the lease: the session ends, its socket closes.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except ConnectionRefusedError:
                    break
                time.sleep(0.2)
            else:
                self.fail("the expired session's listening socket is still open")
            e = curl(d, "GET", "%s/%s" % (SOCKET, srv), session=s)
            self.assertEqual(e.status, 401, e)

    def test_bearer_token(self):
        tok_file = os.path.join("/tmp", "sockwire-rest-token-%d" % os.getpid())
        with open(tok_file, "w") as f:
            f.write("s3cret-token\n")
        try:
            with Daemon("--token-file=" + tok_file) as d:
                r = curl(d, "GET", SOCKET)
                self.assertEqual(r.status, 401, r)
                self.assertEqual(r.header("www-authenticate"), "Bearer")
                self.assertEqual(curl(d, "GET", SOCKET, headers=("Authorization: Bearer nope",)).status, 401)
                r = curl(d, "POST", SOCKET, STREAM, headers=("Authorization: Bearer s3cret-token",))
                self.assertEqual(r.status, 200, r)
                # With a token, browsers' Origin is no reason to refuse.
                r = curl(d, "GET", SOCKET, session=r.header("sockwire-session"),
                         headers=("Authorization: Bearer s3cret-token", "Origin: http://x"))
                self.assertEqual(r.status, 200, r)
        finally:
            os.unlink(tok_file)

    def test_unix_socket_listener(self):
        tmp = tempfile.mkdtemp(prefix="sockwire-rest-unix-")
        path = os.path.join(tmp, "rest.sock")
        r, w = os.pipe()
        p = subprocess.Popen([restlib.SOCKWIRED, "--listen=unix:%s/g.sock" % tmp,
                              "--rest-listen=unix:" + path, "--ready-fd=%d" % w, "--log-level=warning"],
                             pass_fds=(w,))
        os.close(w)
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(r, 4096)
            if not chunk:
                break
            line += chunk
        os.close(r)
        try:
            self.assertEqual(json.loads(line)["rest"], "unix:" + path)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            out = subprocess.run(["curl", "-sS", "--unix-socket", path, "-X", "POST", "http://x/v1/sessions"],
                                 capture_output=True, timeout=30)
            self.assertIn(b'"session"', out.stdout)
        finally:
            p.terminate()
            p.wait(10)
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)

    def test_shutdown_with_pending_calls(self):
        d = Daemon()
        try:
            s = curl(d, "POST", "/v1/sessions").json()["session"]
            srv = curl(d, "POST", SOCKET, STREAM, session=s).json()["handle"]
            curl(d, "POST", "%s/%s:bind" % (SOCKET, srv),
                 {"address": {"inet": {"host": "127.0.0.1", "port": 0}}}, session=s)
            curl(d, "POST", "%s/%s:listen" % (SOCKET, srv), {}, session=s)
            hold = subprocess.Popen(["curl", "-sS", "-N", "-H", "Sockwire-Session: " + s,
                                     d.base + "/v1/sessions/hold"], stdout=subprocess.PIPE)
            self.addCleanup(hold.kill)
            self.assertIn(b"KIND_HELD", hold.stdout.readline())
            accept = subprocess.Popen(["curl", "-sS", "-X", "POST", "-w", "\\n%{http_code}", "-H",
                                       "Sockwire-Session: " + s, "%s%s/%s:accept" % (d.base, SOCKET, srv)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # Let the accept reach the daemon (where it just waits): a round
            # trip on another connection, and a moment for a loaded machine.
            curl(d, "GET", SOCKET, session=s)
            time.sleep(0.5)
            t0 = time.monotonic()
            d.proc.terminate()
            self.assertEqual(d.proc.wait(15), 0)
            self.assertLess(time.monotonic() - t0, 10)
            # The pending calls are answered "shutting down", not dropped.
            out, _ = accept.communicate(timeout=10)
            self.assertTrue(out.endswith(b"503"), out)
            self.assertIn(b"SHUTTING_DOWN", out)
            rest_of_hold, _ = hold.communicate(timeout=10)
            self.assertIn(b"SHUTTING_DOWN", rest_of_hold)
        finally:
            d.stop()


if __name__ == "__main__":
    restlib.main()
