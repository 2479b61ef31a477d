#!/usr/bin/python3
"""Issue 10, resource limits over REST: header-less requests do not pile up
sessions, long polls (Hold streams) cannot take every connection, and a
request the gRPC server could not parse is INVALID_ARGUMENT, not
UNIMPLEMENTED. Each test runs its own sockwired (restlib.Daemon)."""

import socket
import sys
import time
import unittest

import restlib
from restlib import Daemon, curl

SOCKET = "/v1/sockets"
STREAM = {"family": "FAMILY_INET", "type": "SOCKET_TYPE_STREAM"}


def open_hold(d, session):
    """Starts GET /v1/sessions/hold on a raw connection; returns (sock, status)
    once the response head is in (the stream then stays open)."""
    s = socket.create_connection((d.host, d.port), timeout=10)
    s.sendall(("GET /v1/sessions/hold HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Sockwire-Session: %s\r\n\r\n" % session).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    status = int(buf.split(b" ")[1]) if buf else 0
    return s, status, buf


def open_upgrade(d, session, handle):
    """A WebSocket upgrade of /v1/sockets/{handle}/stream; returns (sock,
    status, head)."""
    s = socket.create_connection((d.host, d.port), timeout=10)
    s.sendall(("GET /v1/sockets/%s/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sockwire-Session: %s\r\n\r\n" % (handle, session)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    status = int(buf.split(b" ")[1]) if buf else 0
    return s, status, buf


def rest_of(sock, head, marker):
    """`head` plus what follows until `marker` shows up (or the peer stops)."""
    data = head
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class LimitsRestTest(unittest.TestCase):
    def test_headerless_requests_leave_no_sessions(self):
        # --max-sessions=20: before, the 21st header-less request (and every
        # Open after it) was refused for the length of the lease.
        with Daemon("--max-sessions=20") as d:
            answers = [curl(d, "GET", SOCKET) for _ in range(60)]
            self.assertEqual([r.status for r in answers], [200] * 60, answers[-1])
            r = curl(d, "POST", "/v1/sessions")
            self.assertEqual(r.status, 200, r)
            # No token is handed out for a session that is already gone.
            self.assertEqual({r.header("sockwire-session") for r in answers}, {""})
            # A header-less request that leaves a socket keeps its session,
            # as the REST API has always documented.
            r = curl(d, "POST", SOCKET, STREAM)
            self.assertEqual(r.status, 200, r)
            tok = r.header("sockwire-session")
            self.assertTrue(tok, r.headers)
            h = r.json()["handle"]
            self.assertEqual(curl(d, "GET", "%s/%s" % (SOCKET, h), session=tok).status, 200)
            # A failing header-less request leaves nothing either.
            r = curl(d, "GET", SOCKET + "/sw1.bad")
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.header("sockwire-session"), "", r)

    def test_implicit_sessions_with_sockets_are_capped(self):
        # --max-sessions=20 -> at most 5 implicit sessions (a quarter).
        with Daemon("--max-sessions=20") as d:
            for i in range(5):
                r = curl(d, "POST", SOCKET, STREAM)
                self.assertEqual(r.status, 200, (i, r))
            r = curl(d, "POST", SOCKET, STREAM)
            self.assertEqual(r.status, 429, r)
            self.assertEqual(r.json()["reason"], "TOO_MANY_IMPLICIT_SESSIONS", r)
            # Explicit sessions (and gRPC clients) are still served.
            r = curl(d, "POST", "/v1/sessions")
            self.assertEqual(r.status, 200, r)

    def test_hold_streams_per_session_are_capped(self):
        with Daemon() as d:
            s = curl(d, "POST", "/v1/sessions").json()["session"]
            holds = []
            try:
                for i in range(8):  # --rest-slots-per-session default
                    sock, status, head = open_hold(d, s)
                    holds.append(sock)
                    self.assertEqual(status, 200, (i, head))
                sock, status, head = open_hold(d, s)
                holds.append(sock)
                self.assertEqual(status, 429, head)
                self.assertIn(b"REST_SLOTS", rest_of(sock, head, b"REST_"))
                # Others are served meanwhile, and so is this session's short call
                # once a slot is free.
                self.assertEqual(curl(d, "GET", "/v1/openapi.json").status, 200)
            finally:
                for h in holds:
                    h.close()

    def test_websocket_streams_take_session_slots(self):
        with Daemon() as d:
            s = curl(d, "POST", "/v1/sessions").json()["session"]
            h = curl(d, "POST", SOCKET + ":pair", {}, session=s).json()["first"]["handle"]
            conns = []
            try:
                for i in range(7):
                    sock, status, head = open_hold(d, s)
                    conns.append(sock)
                    self.assertEqual(status, 200, (i, head))
                ws, status, head = open_upgrade(d, s, h)
                conns.append(ws)
                self.assertEqual(status, 101, head)
                # The session's eight slots are taken: a ninth request waits
                # for none of them.
                sock, status, head = open_hold(d, s)
                conns.append(sock)
                self.assertEqual(status, 429, head)
                ws2, status, head = open_upgrade(d, s, h)
                conns.append(ws2)
                self.assertEqual(status, 429, head)
                self.assertIn(b"REST_SLOTS", rest_of(ws2, head, b"REST_"))
            finally:
                for c in conns:
                    c.close()

    def test_hold_streams_leave_connections_for_others(self):
        # 8 connections: Hold streams of all sessions take at most 6.
        with Daemon("--rest-max-connections=8") as d:
            holds = []
            try:
                statuses = []
                for i in range(8):
                    s = curl(d, "POST", "/v1/sessions").json()["session"]
                    sock, status, head = open_hold(d, s)
                    holds.append(sock)
                    statuses.append(status)
                    if status != 200:
                        self.assertIn(b"REST_STREAMS", rest_of(sock, head, b"REST_"))
                        sock.close()
                        holds.pop()
                self.assertEqual(statuses.count(200), 6, statuses)
                r = curl(d, "GET", "/v1/openapi.json")
                self.assertEqual(r.status, 200, r)
            finally:
                for h in holds:
                    h.close()

    def test_request_that_cannot_be_parsed_is_invalid_argument(self):
        with Daemon() as d:
            s = curl(d, "POST", "/v1/sessions").json()["session"]
            # %FF decodes to a byte that is not UTF-8: the protobuf request
            # does not parse on the gRPC side (was: 501 UNIMPLEMENTED).
            r = curl(d, "GET", SOCKET + "/%FF", session=s)
            self.assertEqual(r.status, 400, r)
            body = r.json()
            self.assertEqual(body["status"], "INVALID_ARGUMENT", body)
            self.assertEqual(body["reason"], "BAD_REQUEST", body)
            r = curl(d, "POST", SOCKET + ":pair", body='{"family": "FAMILY_UNIX", "type": "SOCKET_TYPE_STREAM"}',
                     session=s)
            self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    restlib.main()
