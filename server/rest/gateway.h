// The REST gateway proper, independent of the HTTP library: one parsed HTTP
// request in, one reply (or a chunked stream) out.
//
// Each route is (sockwire.v1.http) on an RPC (see route_table.h); the body is
// that RPC's request message in protobuf's canonical JSON (json_codec.h); the
// call goes to the same gRPC method in-process (rpc_bridge.h); the response
// message comes back as JSON, a failed status as the JSON error of errors.h.
//
// Sessions over REST:
//   - The session token travels in the header "Sockwire-Session" and is passed
//     on as gRPC metadata "sockwire-session".
//   - A call outside SessionService without that header gets a fresh session:
//     the gateway calls SessionService.Open first. If the call leaves sockets
//     in it (Create, Accept, CreatePair...), the session lives on and its
//     token is returned in the response header "Sockwire-Session": send it
//     on later calls; each call renews the lease (--session-lease) in the
//     daemon, and a session left alone longer than the lease ends and its
//     sockets close. If the call leaves no socket in it (a lookup, an error),
//     the session is closed before the response and no token is returned, so
//     header-less requests cannot pile up sessions. At most
//     --max-implicit-sessions such sessions live at once (429 after that).
//   - Requests carrying one session may be in flight at most
//     --rest-slots-per-session at a time (429 REST_SLOTS after that), and
//     Hold streams of all sessions together at most 3/4 of the connection
//     cap (429 REST_STREAMS), so long polls cannot lock REST for others.
//   - POST /v1/sessions opens one explicitly (the token is in the body and
//     the header); DELETE /v1/sessions closes it.
//   - SessionService.Hold is server-streaming. Over REST,
//     GET /v1/sessions/hold answers 200 with a chunked
//     application/x-ndjson body, one HoldEvent JSON per line, and keeps the
//     session held for as long as the client keeps the connection open.
//   - Header "Sockwire-Timeout: 5s" (250ms, 2m, ...) sets the call's deadline,
//     as a gRPC deadline would. Without it a blocking call waits until it
//     completes or the HTTP client disconnects, which cancels the call.
//
// Access: with --token-file, every request needs "Authorization: Bearer <token>"
// (WebSocket clients may use ?access_token=). Without a token (loopback or
// --insecure-tcp), requests carrying an Origin header are refused (403), and
// on loopback the Host header must be 127.x/[::1]/localhost, so a web page in
// a browser cannot drive the daemon (CSRF, DNS rebinding).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <variant>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/base/thread_annotations.h"

#include "rest/errors.h"
#include "rest/route_table.h"
#include "rest/rpc_bridge.h"

namespace sockwire::server::rest {

struct Limits {
  size_t max_header_bytes = 8 * 1024;
  // JSON body: --max-message-bytes of payload, base64-encoded (4/3), plus room
  // for the JSON around it.
  uint64_t max_body_bytes = (16u << 20) / 3 * 4 + (64u << 10);
  // Largest WebSocket message accepted from a client (= --max-message-bytes).
  uint64_t max_ws_message = 16u << 20;
  // Time to receive a whole request head once a request has started (and
  // the first byte on a new connection): a slowloris gets cut off.
  std::chrono::milliseconds header_timeout{10000};
  // An idle keep-alive connection is closed after this long.
  std::chrono::milliseconds idle_timeout{60000};
  // Time to receive a request body, and to write a response.
  std::chrono::milliseconds body_timeout{60000};
  std::chrono::milliseconds write_timeout{60000};
  // Open connections (HTTP and WebSocket); more are answered 429 (RESOURCE_EXHAUSTED) and closed.
  size_t max_connections = 512;
  // Requests in flight (a pending call, a Hold stream) that carry one
  // session: one caller cannot take every connection with long polls.
  size_t slots_per_session = 8;
  // Server-streaming requests (Hold) in flight, all sessions together: the
  // rest of the connections stay for ordinary requests. 0 = 3/4 of
  // max_connections.
  size_t max_streams = 0;
};

// One parsed HTTP request.
struct RestRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // before '?', still percent-encoded
  std::string query;   // after '?', "" if none
  std::string body;
  std::string session;        // Sockwire-Session
  std::string authorization;  // Authorization
  std::string timeout;        // Sockwire-Timeout
  std::string origin;         // Origin
  std::string host;           // Host
};

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

HttpReply ToReply(HttpError e);

// Where a request's answer goes; implemented by the HTTP connection. Calls
// may come from any thread; the implementation serializes them.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  // One complete response. Called at most once, instead of Begin/Chunk/End.
  virtual void Complete(HttpReply reply) = 0;
  // A streamed (chunked) response: Begin once, Chunk any number of times,
  // End once. `written` runs when the chunk went out (flow control).
  virtual void Begin(HttpReply head) = 0;
  virtual void Chunk(std::string data, std::function<void()> written) = 0;
  virtual void End() = 0;
};

class PendingCall;

class Gateway {
 public:
  // `token`: the bearer token required on every request, "" for none.
  Gateway(std::shared_ptr<grpc::Channel> in_process, Limits limits, std::string token);
  ~Gateway();

  const Limits& limits() const { return limits_; }
  const RouteTable& routes() const { return routes_; }
  RpcBridge& bridge() { return bridge_; }
  const std::vector<std::string>& route_problems() const { return problems_; }

  // Bearer token and Origin checks. nullopt when the request may proceed.
  // `query_token` is a ?access_token= value (WebSocket only).
  std::optional<HttpReply> CheckAccess(const RestRequest& r, const std::string& query_token) const;

  // Serves one request. The sink gets exactly one Complete(), or
  // Begin/Chunk*/End. The returned handle cancels the call (client gone).
  std::shared_ptr<RpcCall> Handle(RestRequest r, std::shared_ptr<ResponseSink> sink);

  // The "authorization" metadata for in-process calls of a request that
  // passed CheckAccess(): the daemon checks the same bearer token on gRPC.
  std::string ForwardedAuthorization() const { return token_.empty() ? "" : "Bearer " + token_; }

  // From now on a cancelled call is answered 503 UNAVAILABLE "shutting
  // down" (the daemon is cancelling it), as are new calls.
  void BeginShutdown() { shutting_down_ = true; }

  // Set by the listener before it accepts: a loopback TCP listener without a
  // token also requires a numeric or "localhost" Host header, which defeats
  // DNS rebinding (a browser's same-origin GETs carry no Origin header).
  void set_local_only(bool on) { local_only_ = on; }
  bool has_token() const { return !token_.empty(); }
  bool shutting_down() const { return shutting_down_; }

  // A slot for a WebSocket byte stream of `session` (it counts as a stream
  // and as one of the session's requests for as long as `*slot` lives).
  // nullopt and `*slot` set, or the 429 reply.
  std::optional<HttpReply> TakeStreamSlot(const std::string& session, std::shared_ptr<void>* slot);

  // A unary call with a typed request, for the WebSocket relay.
  std::shared_ptr<RpcCall> Call(const std::string& grpc_path, const google::protobuf::Message& req,
                                const RpcOptions& options, std::function<void(RpcResult)> done);

  // "/v1/sockets/{handle}/stream" -> the handle.
  static std::optional<std::string> MatchStreamPath(std::string_view path);
  // The session token, a WebSocket ?session= value or a header: printable
  // ASCII without spaces, at most 512 bytes.
  static bool ValidToken(std::string_view s);

 private:
  class Slot;
  // A slot for one request of `session` ("" = none needed); an error reply
  // when the session (or, for streams, the gateway) has none left.
  std::variant<std::shared_ptr<Slot>, HttpError> AcquireSlot(const std::string& session, bool stream);

  void HandleStream(const Route& route, std::string request, RpcOptions options,
                    std::shared_ptr<ResponseSink> sink, std::shared_ptr<PendingCall> pending,
                    std::shared_ptr<Slot> slot);

  std::mutex slots_mu_;
  std::unordered_map<std::string, size_t> slots_ ABSL_GUARDED_BY(slots_mu_);
  size_t streams_ ABSL_GUARDED_BY(slots_mu_) = 0;

  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> local_only_{false};
  Limits limits_;
  std::string token_;
  RpcBridge bridge_;
  RouteTable routes_;
  std::vector<std::string> problems_;
  std::string openapi_;
};

}  // namespace sockwire::server::rest
