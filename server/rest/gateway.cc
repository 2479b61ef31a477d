#include "rest/gateway.h"

#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rest/strings.h"
#include "absl/time/time.h"
#include "rest/json_codec.h"
#include "rest/openapi.h"
#include "sockwire/v1/session.pb.h"

namespace sockwire::server::rest {

namespace pb = google::protobuf;

// The call(s) behind one request: an implicit SessionService.Open, then the
// call itself. Cancel() reaches whichever is current, and any later one.
class PendingCall : public RpcCall {
 public:
  void Cancel() override {
    std::shared_ptr<RpcCall> c;
    {
      std::lock_guard<std::mutex> l(mu_);
      cancelled_ = true;
      c = current_;
    }
    if (c) c->Cancel();
  }
  void Set(std::shared_ptr<RpcCall> c) {
    bool cancel;
    {
      std::lock_guard<std::mutex> l(mu_);
      current_ = c;
      cancel = cancelled_;
    }
    if (cancel && c) c->Cancel();
  }
  bool cancelled() {
    std::lock_guard<std::mutex> l(mu_);
    return cancelled_;
  }

 private:
  std::mutex mu_;
  std::shared_ptr<RpcCall> current_;
  bool cancelled_ = false;
};

// One request's place in the per-session (and stream) accounting. Release
// runs once, when the request's answer is complete; the destructor covers
// paths that never get there.
class Gateway::Slot {
 public:
  Slot(Gateway* gw, std::string session, bool stream) : gw_(gw), session_(std::move(session)), stream_(stream) {}
  ~Slot() { Release(); }
  void Release() {
    if (released_.exchange(true)) return;
    std::lock_guard<std::mutex> l(gw_->slots_mu_);
    auto it = gw_->slots_.find(session_);
    if (it != gw_->slots_.end() && --it->second == 0) gw_->slots_.erase(it);
    if (stream_ && gw_->streams_ > 0) gw_->streams_--;
  }

 private:
  Gateway* gw_;
  std::string session_;
  bool stream_;
  std::atomic<bool> released_{false};
};

namespace {

constexpr char kOpenSession[] = "/sockwire.v1.SessionService/Open";
constexpr char kCloseSession[] = "/sockwire.v1.SessionService/Close";

// A message whose string fields hold invalid UTF-8 (a percent-decoded path
// segment, a JSON \udc80) serializes, but the gRPC server cannot parse it,
// and gRPC's callback API answers a request it cannot parse with a bare
// UNIMPLEMENTED. Catch it here and say what is wrong.
bool ParsesBack(const pb::Message& msg, const std::string& bytes) {
  std::unique_ptr<pb::Message> again(msg.New());
  return again->ParseFromString(bytes);
}

HttpError NotUtf8(const pb::Message& msg) {
  return GatewayError(grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST",
                      absl::StrCat("a string field of ", msg.GetDescriptor()->full_name(),
                                   " (from the path, query or body) is not valid UTF-8"));
}

HttpReply JsonReply(int status, std::string body) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// Constant-time comparison for the bearer token.
bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;  // the length is no secret
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

HttpError ShuttingDown() {
  return GatewayErrorWithStatus(503, grpc::StatusCode::UNAVAILABLE, "SHUTTING_DOWN",
                                "the daemon is shutting down");
}

// An RPC error as HTTP; calls the gateway cancelled for shutdown are 503.
HttpError ErrorFor(const RpcResult& res, bool shutting_down) {
  if (shutting_down && (res.status.error_code() == grpc::StatusCode::CANCELLED ||
                        res.status.error_code() == grpc::StatusCode::UNAVAILABLE)) {
    return ShuttingDown();
  }
  return ErrorFromGrpc(res.status, res.error_detail);
}

// "127.0.0.1:8080", "[::1]:80", "localhost", ... (a DNS name other than
// localhost means the request went through someone's DNS: rebinding).
bool LocalHost(std::string_view host) {
  if (host.empty()) return true;  // HTTP/1.0 clients may omit it
  std::string_view h = host;
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos) return false;
    return h.substr(1, close - 1) == "::1";
  }
  h = h.substr(0, h.find(':'));
  if (h == "localhost") return true;
  if (h.substr(0, 4) != "127.") return false;
  return h.find_first_not_of("0123456789.") == std::string_view::npos;
}

// Turns a finished unary call into the HTTP reply.
HttpReply ReplyFor(const Route& route, const RpcResult& res, const std::string& created_session,
                   bool shutting_down) {
  HttpReply reply;
  if (!res.status.ok()) {
    reply = ToReply(ErrorFor(res, shutting_down));
  } else {
    auto msg = NewMessage(route.method->output_type());
    if (msg == nullptr || !msg->ParseFromString(res.response)) {
      reply = ToReply(GatewayError(grpc::StatusCode::INTERNAL, "BAD_RESPONSE",
                                   "the daemon's response did not parse"));
    } else if (auto json = MessageToJson(*msg); !json.ok()) {
      reply = ToReply(GatewayError(grpc::StatusCode::INTERNAL, "BAD_RESPONSE",
                                   std::string(json.status().message())));
    } else {
      reply = JsonReply(200, *std::move(json));
      // An explicit Open also hands the token out as the header, so a client
      // can treat every response alike.
      if (route.grpc_path == kOpenSession) {
        const pb::FieldDescriptor* f = msg->GetDescriptor()->FindFieldByName("session");
        if (f != nullptr && f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
          reply.headers.emplace_back("Sockwire-Session", msg->GetReflection()->GetString(*msg, f));
        }
      }
    }
  }
  if (!created_session.empty()) reply.headers.emplace_back("Sockwire-Session", created_session);
  return reply;
}

}  // namespace

HttpReply ToReply(HttpError e) { return JsonReply(e.http_status, std::move(e.body)); }

Gateway::Gateway(std::shared_ptr<grpc::Channel> in_process, Limits limits, std::string token)
    : limits_(limits),
      token_(std::move(token)),
      bridge_(std::move(in_process)),
      routes_(RouteTable::FromGeneratedPool(&problems_)) {
  openapi_ = BuildOpenApi(routes_);
}

Gateway::~Gateway() = default;

bool Gateway::ValidToken(std::string_view s) {
  if (s.size() > 512) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::optional<std::string> Gateway::MatchStreamPath(std::string_view path) {
  std::vector<std::string_view> parts = SplitView(path, '/');
  // "", "v1", "sockets", handle, "stream"
  if (parts.size() != 5 || !parts[0].empty() || parts[1] != "v1" || parts[2] != "sockets" ||
      parts[4] != "stream") {
    return std::nullopt;
  }
  auto h = PercentDecode(parts[3], false);
  if (!h || h->empty()) return std::nullopt;
  return h;
}

std::optional<HttpReply> Gateway::CheckAccess(const RestRequest& r,
                                              const std::string& query_token) const {
  if (!token_.empty()) {
    std::string_view auth = r.authorization;
    std::string_view presented;
    if (absl::StartsWithIgnoreCase(AV(auth), "Bearer ")) {
      presented = auth.substr(7);
    } else if (auth.empty()) {
      presented = query_token;
    }
    if (presented.empty() || !SameSecret(presented, token_)) {
      HttpReply reply = ToReply(GatewayError(grpc::StatusCode::UNAUTHENTICATED, "BAD_TOKEN",
                                             "a valid \"Authorization: Bearer <token>\" is required"));
      reply.headers.emplace_back("WWW-Authenticate", "Bearer");
      return reply;
    }
    return std::nullopt;
  }
  if (local_only_ && !LocalHost(r.host)) {
    return ToReply(GatewayError(grpc::StatusCode::PERMISSION_DENIED, "BAD_HOST",
                                "on a loopback listener without a token the Host header must be "
                                "127.0.0.1, [::1] or localhost (with the port)",
                                sockwire::v1::ERROR_KIND_POLICY));
  }
  if (!r.origin.empty()) {
    return ToReply(GatewayError(grpc::StatusCode::PERMISSION_DENIED, "CROSS_ORIGIN",
                                "requests from web pages (with an Origin header) are refused unless "
                                "the daemon requires a bearer token (--token-file)",
                                sockwire::v1::ERROR_KIND_POLICY));
  }
  return std::nullopt;
}

std::variant<std::shared_ptr<Gateway::Slot>, HttpError> Gateway::AcquireSlot(const std::string& session,
                                                                               bool stream) {
  std::lock_guard<std::mutex> l(slots_mu_);
  size_t max_streams = limits_.max_streams != 0 ? limits_.max_streams
                                                : std::max<size_t>(1, limits_.max_connections * 3 / 4);
  if (stream && streams_ >= max_streams) {
    return GatewayError(grpc::StatusCode::RESOURCE_EXHAUSTED, "REST_STREAMS",
                        absl::StrCat(streams_, " streaming requests (Hold) are open; at most ", max_streams,
                                     " (3/4 of --rest-max-connections) may be, so that other requests "
                                     "still find a connection"),
                        sockwire::v1::ERROR_KIND_POLICY);
  }
  size_t& n = slots_[session];
  if (n >= limits_.slots_per_session) {
    return GatewayError(grpc::StatusCode::RESOURCE_EXHAUSTED, "REST_SLOTS",
                        absl::StrCat("this session already has ", n,
                                     " REST requests in flight (--rest-slots-per-session)"),
                        sockwire::v1::ERROR_KIND_POLICY);
  }
  ++n;
  if (stream) ++streams_;
  return std::make_shared<Slot>(this, session, stream);
}

std::optional<HttpReply> Gateway::TakeStreamSlot(const std::string& session, std::shared_ptr<void>* slot) {
  auto got = AcquireSlot(session, /*stream=*/true);
  if (auto* e = std::get_if<HttpError>(&got)) return ToReply(std::move(*e));
  *slot = std::get<std::shared_ptr<Slot>>(std::move(got));
  return std::nullopt;
}

std::shared_ptr<RpcCall> Gateway::Call(const std::string& grpc_path, const pb::Message& req,
                                       const RpcOptions& options,
                                       std::function<void(RpcResult)> done) {
  std::string bytes = req.SerializeAsString();
  if (!ParsesBack(req, bytes)) {
    RpcResult r;
    r.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a string field is not valid UTF-8");
    sockwire::v1::ErrorDetail d;
    d.set_kind(sockwire::v1::ERROR_KIND_REQUEST);
    d.set_reason("BAD_REQUEST");
    d.set_message(absl::StrCat("a string field of ", req.GetDescriptor()->full_name(), " is not valid UTF-8"));
    r.error_detail = d.SerializeAsString();
    done(std::move(r));
    return std::make_shared<PendingCall>();
  }
  return bridge_.Unary(grpc_path, std::move(bytes), options, std::move(done));
}

std::shared_ptr<RpcCall> Gateway::Handle(RestRequest r, std::shared_ptr<ResponseSink> sink) {
  auto pending = std::make_shared<PendingCall>();
  auto fail = [&](HttpError e) {
    sink->Complete(ToReply(std::move(e)));
    return pending;
  };

  if (r.path == "/v1/openapi.json") {
    if (r.method != "GET") {
      HttpReply reply = ToReply(GatewayErrorWithStatus(405, grpc::StatusCode::INVALID_ARGUMENT,
                                                       "METHOD_NOT_ALLOWED", "use GET"));
      reply.headers.emplace_back("Allow", "GET");
      sink->Complete(std::move(reply));
      return pending;
    }
    sink->Complete(JsonReply(200, openapi_));
    return pending;
  }

  RouteMatch match = routes_.Find(r.method, r.path);
  if (match.route == nullptr) {
    if (!match.allowed_methods.empty()) {
      HttpReply reply = ToReply(GatewayErrorWithStatus(
          405, grpc::StatusCode::INVALID_ARGUMENT, "METHOD_NOT_ALLOWED",
          absl::StrCat(r.method.substr(0, 16), " is not allowed here; use ",
                       absl::StrJoin(match.allowed_methods, ", "))));
      reply.headers.emplace_back("Allow", absl::StrJoin(match.allowed_methods, ", "));
      sink->Complete(std::move(reply));
      return pending;
    }
    return fail(GatewayErrorWithStatus(404, grpc::StatusCode::NOT_FOUND, "NO_ROUTE",
                                       "no such route; see GET /v1/openapi.json"));
  }
  const Route& route = *match.route;

  auto msg = NewMessage(route.method->input_type());
  if (msg == nullptr) {
    return fail(GatewayError(grpc::StatusCode::INTERNAL, "NO_MESSAGE_TYPE",
                             "no generated type for " + route.method->input_type()->full_name()));
  }
  if (absl::Status st = BuildRequest(r.body, match.params, r.query, msg.get()); !st.ok()) {
    return fail(GatewayError(grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST",
                             std::string(st.message())));
  }

  RpcOptions options;
  if (!r.session.empty()) {
    if (!ValidToken(r.session)) {
      return fail(GatewayError(grpc::StatusCode::UNAUTHENTICATED, "BAD_SESSION",
                               "malformed Sockwire-Session header"));
    }
    options.session = r.session;
  }
  options.authorization = ForwardedAuthorization();
  if (!r.timeout.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(r.timeout, &d) || d <= absl::ZeroDuration() ||
        d > absl::Hours(24 * 365)) {
      return fail(GatewayError(grpc::StatusCode::INVALID_ARGUMENT, "BAD_TIMEOUT",
                               "Sockwire-Timeout must be a positive duration like 250ms, 5s, 2m"));
    }
    options.deadline = std::chrono::system_clock::now() + absl::ToChronoNanoseconds(d);
  }

  std::string request = msg->SerializeAsString();
  if (!ParsesBack(*msg, request)) return fail(NotUtf8(*msg));

  // Requests that carry a session take one of its slots until answered.
  std::shared_ptr<Slot> slot;
  if (!options.session.empty()) {
    auto got = AcquireSlot(options.session, route.method->server_streaming());
    if (auto* e = std::get_if<HttpError>(&got)) return fail(std::move(*e));
    slot = std::get<std::shared_ptr<Slot>>(std::move(got));
  }

  if (route.method->server_streaming()) {
    HandleStream(route, std::move(request), std::move(options), std::move(sink), pending, std::move(slot));
    return pending;
  }

  auto call = [this, route_ptr = &route, sink, pending, slot](std::string request, RpcOptions options,
                                                              std::string created) {
    pending->Set(bridge_.Unary(
        route_ptr->grpc_path, std::move(request), options,
        [this, route_ptr, sink, created, slot, options](RpcResult res) {
          if (slot) slot->Release();
          if (created.empty()) {
            sink->Complete(ReplyFor(*route_ptr, res, created, shutting_down_));
            return;
          }
          // A header-less request's session outlives it only if the call left
          // sockets in it (see gateway.h): the daemon closes it if it is empty
          // and refuses (FAILED_PRECONDITION) if not.
          RpcOptions close_opts;
          close_opts.session = created;
          close_opts.authorization = options.authorization;
          close_opts.metadata.emplace_back("sockwire-close-if-empty", "1");
          bridge_.Unary(kCloseSession, sockwire::v1::CloseSessionRequest().SerializeAsString(), close_opts,
                        [this, route_ptr, sink, created, res](RpcResult closed) {
                          bool kept = !closed.status.ok();
                          sink->Complete(ReplyFor(*route_ptr, res, kept ? created : "", shutting_down_));
                        });
        }));
  };

  if (!options.session.empty() || route.session_service) {
    call(std::move(request), std::move(options), "");
    return pending;
  }
  // No session on a socket/resolver call: open one first (see gateway.h).
  RpcOptions open_opts;
  open_opts.authorization = options.authorization;
  open_opts.deadline = options.deadline;
  open_opts.metadata.emplace_back("sockwire-implicit", "1");
  pending->Set(bridge_.Unary(
      kOpenSession, sockwire::v1::OpenSessionRequest().SerializeAsString(), open_opts,
      [this, call, sink, pending, request = std::move(request), options](RpcResult res) mutable {
        sockwire::v1::OpenSessionResponse open;
        if (!res.status.ok()) {
          sink->Complete(ToReply(ErrorFor(res, shutting_down_)));
          return;
        }
        if (!open.ParseFromString(res.response) || open.session().empty()) {
          sink->Complete(ToReply(GatewayError(grpc::StatusCode::INTERNAL, "BAD_RESPONSE",
                                              "SessionService.Open returned no session")));
          return;
        }
        if (pending->cancelled()) {
          sink->Complete(ToReply(GatewayError(grpc::StatusCode::CANCELLED, "CANCELLED",
                                              "the client went away")));
          return;
        }
        options.session = open.session();
        call(std::move(request), std::move(options), open.session());
      }));
  return pending;
}

void Gateway::HandleStream(const Route& route, std::string request, RpcOptions options,
                           std::shared_ptr<ResponseSink> sink,
                           std::shared_ptr<PendingCall> pending, std::shared_ptr<Slot> slot) {
  // Shared between the callbacks: whether the response head went out, and
  // the stream (which the first message may beat out of ServerStream()).
  struct State {
    std::mutex mu;
    std::shared_ptr<RpcStream> stream;
    bool next_wanted = false;
    bool began = false;
  };
  auto state = std::make_shared<State>();
  const Route* route_ptr = &route;
  auto want_next = [state]() {
    std::shared_ptr<RpcStream> s;
    {
      std::lock_guard<std::mutex> l(state->mu);
      if (!state->stream) {
        state->next_wanted = true;
        return;
      }
      s = state->stream;
    }
    s->Next();
  };
  auto stream = bridge_.ServerStream(
      route.grpc_path, std::move(request), options,
      [state, sink, route_ptr, want_next](std::string bytes) {
        auto msg = NewMessage(route_ptr->method->output_type());
        std::string line;
        if (msg != nullptr && msg->ParseFromString(bytes)) {
          auto json = MessageToJson(*msg);
          line = json.ok() ? *std::move(json) : "{}\n";
        } else {
          line = "{}\n";
        }
        bool first;
        {
          std::lock_guard<std::mutex> l(state->mu);
          first = !state->began;
          state->began = true;
        }
        if (first) {
          HttpReply head;
          head.content_type = "application/x-ndjson";
          sink->Begin(std::move(head));
        }
        sink->Chunk(std::move(line), want_next);
      },
      [this, state, sink, slot](RpcResult res) {
        if (slot) slot->Release();
        bool began;
        {
          std::lock_guard<std::mutex> l(state->mu);
          began = state->began;
          state->stream.reset();  // breaks the stream <-> callback cycle
        }
        if (!began) {
          if (res.status.ok()) {
            HttpReply head;
            head.content_type = "application/x-ndjson";
            sink->Begin(std::move(head));
            sink->End();
          } else {
            sink->Complete(ToReply(ErrorFor(res, shutting_down_)));
          }
          return;
        }
        if (!res.status.ok()) {
          // The head is out; the error becomes the last line.
          std::string body = ErrorFor(res, shutting_down_).body;
          if (!body.empty() && body.back() == '\n') body.pop_back();
          sink->Chunk(absl::StrCat("{\"error\":", body, "}\n"), [] {});
        }
        sink->End();
      });
  bool next;
  {
    std::lock_guard<std::mutex> l(state->mu);
    next = state->next_wanted;
    state->stream = stream;
  }
  pending->Set(stream);
  if (next) stream->Next();
}

}  // namespace sockwire::server::rest
