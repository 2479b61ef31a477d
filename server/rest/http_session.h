// One HTTP/1.1 connection: reads requests with limits and timeouts, hands
// each to the Gateway, writes the reply, keeps the connection alive; hands a
// WebSocket upgrade on /v1/sockets/{handle}/stream to the relay.
//
// Limits (from Limits): request head <= 8 KiB (431), body <= the scaled
// --max-message-bytes (413), the head must arrive within header_timeout of
// its first byte (slowloris: 408 and close), idle keep-alive connections
// close after idle_timeout. Hostile input never throws: every Beast call uses
// its error_code form; a parse error is a 400 and the connection closes.
//
// While a call is pending the connection watches its socket: if the client
// disconnects, the call is cancelled (a blocking accept over REST does not
// outlive its caller).
#pragma once

#include <memory>

#include "rest/connection.h"
#include "rest/gateway.h"

namespace sockwire::server::rest {

void ServeHttp(net::ip::tcp::socket socket, Gateway& gateway, std::shared_ptr<ConnectionSlot> slot);
void ServeHttp(net::local::stream_protocol::socket socket, Gateway& gateway,
               std::shared_ptr<ConnectionSlot> slot);

}  // namespace sockwire::server::rest
