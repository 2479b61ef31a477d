// GET /v1/sockets/{handle}/stream: a WebSocket byte pipe over one socket.
//
// Bytes go through the same RPCs a gRPC client would use (Send, Recv, Poll,
// Shutdown, in-process), so the socket's session, timeout mode and errors
// behave as over gRPC.
//
// Protocol:
//   - client -> socket: every binary (or text) message is sent in full
//     (Send in a loop; on a non-blocking socket, Poll(POLLOUT) on EAGAIN).
//     The next message is read only once the previous one was sent
//     (backpressure).
//   - socket -> client: one Recv of at most 256 KiB at a time, written as one
//     binary message; the socket is read again only once that write
//     completed (backpressure). A socket timeout just retries; EAGAIN on a
//     non-blocking socket waits with Poll(POLLIN).
//   - half-close: an EMPTY message from the client means "no more data":
//     shutdown(SHUT_WR) on the socket, and the socket keeps being relayed to
//     the client until EOF. At EOF the gateway sends an empty message. Once
//     both directions have ended it closes with 1000.
//   - A close frame from the client also shuts the socket's write side, but
//     ends the relay at once: RFC 6455 lets no data follow a close frame,
//     and Beast answers a close frame immediately, so "close = SHUT_WR, keep
//     sending until EOF" cannot be expressed in WebSocket; the empty message
//     is the half-close.
//   - A socket error closes with 1011 and the JSON error (truncated to the
//     123 bytes a close reason may hold).
//   - The socket itself stays open (and in its session) after the stream.
#pragma once

#include <memory>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "rest/connection.h"
#include "rest/gateway.h"

namespace sockwire::server::rest {

struct StreamTarget {
  std::string handle;
  RpcOptions options;  // session and authorization
};

using UpgradeRequest = beast::http::request<beast::http::string_body>;

void RunWebSocket(Stream<net::ip::tcp>&& stream, UpgradeRequest req, StreamTarget target,
                  Gateway& gateway, std::shared_ptr<ConnectionSlot> slot);
void RunWebSocket(Stream<net::local::stream_protocol>&& stream, UpgradeRequest req,
                  StreamTarget target, Gateway& gateway, std::shared_ptr<ConnectionSlot> slot);

}  // namespace sockwire::server::rest
