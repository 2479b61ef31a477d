#include "rest/http_session.h"

#include "ops/ops.h"

#include <sys/socket.h>

#include <cerrno>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "absl/strings/str_cat.h"
#include "rest/json_codec.h"
#include "rest/websocket.h"
#include "sockwire/v1/socket.pb.h"

namespace sockwire::server::rest {
namespace {

namespace http = beast::http;

template <class P>
class HttpSession : public ResponseSink,
                    public Connection,
                    public std::enable_shared_from_this<HttpSession<P>> {
 public:
  HttpSession(typename P::socket&& socket, Gateway& gateway, std::shared_ptr<ConnectionSlot> slot)
      : ex_(socket.get_executor()),
        stream_(std::move(socket)),
        gw_(gateway),
        limits_(gateway.limits()),
        slot_(std::move(slot)) {}

  void Start() {
    slot_->Bind(this->weak_from_this());
    net::dispatch(ex_, [self = this->shared_from_this()] { self->WaitForRequest(); });
  }

  // ---- Connection ----
  void Abort() override {
    net::post(ex_, [self = this->shared_from_this()] { self->CloseNow(); });
  }

  // ---- ResponseSink (any thread) ----
  void Complete(HttpReply reply) override {
    net::post(ex_, [self = this->shared_from_this(), reply = std::move(reply)]() mutable {
      self->OnComplete(std::move(reply));
    });
  }
  void Begin(HttpReply head) override {
    net::post(ex_, [self = this->shared_from_this(), head = std::move(head)]() mutable {
      self->OnBegin(std::move(head));
    });
  }
  void Chunk(std::string data, std::function<void()> written) override {
    net::post(ex_, [self = this->shared_from_this(), data = std::move(data),
                    written = std::move(written)]() mutable {
      self->chunks_.emplace_back(std::move(data), std::move(written));
      self->FlushChunks();
    });
  }
  void End() override {
    net::post(ex_, [self = this->shared_from_this()] {
      self->end_pending_ = true;
      self->FlushChunks();
    });
  }

 private:
  // ---- Reading a request ----

  void WaitForRequest() {
    if (closed_) return;
    if (buffer_.size() > 0) {
      ReadHeader();
      return;
    }
    // A new connection must start its request promptly; a kept-alive one may
    // idle longer. The head itself then has header_timeout.
    stream_.expires_after(first_ ? limits_.header_timeout : limits_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->CloseNow();
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits_.max_header_bytes));
    parser_->body_limit(limits_.max_body_bytes);
    stream_.expires_after(limits_.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (closed_) return;
    if (ec) return OnReadError(ec);
    auto& req = parser_->get();
    if (beast::websocket::is_upgrade(req)) return OnUpgrade();
    if (beast::iequals(req[http::field::expect], "100-continue") && !parser_->is_done()) {
      // curl waits a second for this before sending a large body.
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      stream_.expires_after(limits_.write_timeout);
      http::async_write(stream_, *cont,
                        [self = this->shared_from_this(), cont](beast::error_code ec, size_t) {
                          if (ec) return self->CloseNow();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return OnRequest();
    stream_.expires_after(limits_.body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (self->closed_) return;
                       if (ec) return self->OnReadError(ec);
                       self->OnRequest();
                     });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == beast::error::timeout || ec == net::error::operation_aborted) {
      // Closed between requests, or too slow (Beast has already closed the
      // socket on a timeout): cut off without a word.
      return CloseNow();
    }
    if (ec == http::error::header_limit) {
      return ReplyAndClose(ToReply(GatewayErrorWithStatus(
          431, grpc::StatusCode::INVALID_ARGUMENT, "HEADER_TOO_LARGE",
          absl::StrCat("the request head exceeds ", limits_.max_header_bytes, " bytes"))));
    }
    if (ec == http::error::body_limit || ec == http::error::buffer_overflow) {
      return ReplyAndClose(ToReply(GatewayErrorWithStatus(
          413, grpc::StatusCode::RESOURCE_EXHAUSTED, "BODY_TOO_LARGE",
          absl::StrCat("the request body exceeds ", limits_.max_body_bytes,
                       " bytes (--max-message-bytes, base64-encoded)"))));
    }
    ReplyAndClose(ToReply(GatewayError(grpc::StatusCode::INVALID_ARGUMENT, "BAD_HTTP",
                                       absl::StrCat("malformed HTTP request: ", ec.message()))));
  }

  RestRequest ToRestRequest(const http::request<http::string_body>& req) {
    RestRequest r;
    r.method = std::string(req.method_string());
    std::string_view target = req.target();
    auto q = target.find('?');
    r.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
    r.session = std::string(req["Sockwire-Session"]);
    r.authorization = std::string(req[http::field::authorization]);
    r.timeout = std::string(req["Sockwire-Timeout"]);
    r.origin = std::string(req[http::field::origin]);
    r.host = std::string(req[http::field::host]);
    return r;
  }

  void OnRequest() {
    http::request<http::string_body> req = parser_->release();
    parser_.reset();
    first_ = false;
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    bool has_body = !req.body().empty();
    RestRequest r = ToRestRequest(req);
    r.body = std::move(req.body());
    if (ops::IsOpsPath(r.path)) {
      // Probes carry no token; /metrics is as protected as the API.
      if (r.path == "/metrics") {
        if (auto deny = gw_.CheckAccess(r, ""); deny) return WriteReply(std::move(*deny), keep_alive_);
      }
      ops::OpsReply o;
      ops::HandleOpsPath(r.method, r.path, &o);
      HttpReply reply;
      reply.status = o.status;
      reply.content_type = o.content_type;
      reply.body = std::move(o.body);
      return WriteReply(std::move(reply), keep_alive_ && !has_body);
    }
    if (Gateway::MatchStreamPath(r.path)) {
      HttpReply reply = ToReply(GatewayErrorWithStatus(
          426, grpc::StatusCode::INVALID_ARGUMENT, "UPGRADE_REQUIRED",
          "this is the WebSocket byte stream; connect with a WebSocket client"));
      reply.headers.emplace_back("Upgrade", "websocket");
      return WriteReply(std::move(reply), keep_alive_ && !has_body);
    }
    if (auto deny = gw_.CheckAccess(r, ""); deny) return WriteReply(std::move(*deny), keep_alive_);
    stream_.expires_never();
    in_call_ = true;
    client_gone_ = false;
    pending_ = gw_.Handle(std::move(r), this->shared_from_this());
    WatchDisconnect();
  }

  // ---- While a call is pending: notice a client that goes away ----

  void WatchDisconnect() {
    uint64_t gen = ++watch_gen_;
    stream_.socket().async_wait(net::socket_base::wait_read,
                                [self = this->shared_from_this(), gen](beast::error_code ec) {
                                  self->OnReadable(ec, gen);
                                });
  }

  void OnReadable(beast::error_code ec, uint64_t gen) {
    if (ec || gen != watch_gen_ || !in_call_ || closed_) return;
    char c;
    ssize_t n = ::recv(stream_.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      client_gone_ = true;
      if (pending_) pending_->Cancel();
      return;
    }
    if (n < 0) return WatchDisconnect();
    // A pipelined next request: it waits in the kernel until this one is done.
  }

  void StopWatch() {
    ++watch_gen_;
    beast::error_code ec;
    stream_.socket().cancel(ec);
  }

  // ---- Unary replies ----

  void OnComplete(HttpReply reply) {
    if (closed_ || !in_call_) return;
    in_call_ = false;
    pending_.reset();
    StopWatch();
    if (client_gone_) return CloseNow();
    WriteReply(std::move(reply), keep_alive_);
  }

  std::shared_ptr<http::response<http::string_body>> MakeResponse(HttpReply& reply, bool keep) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(reply.status));
    if (reply.status == 499) res->reason("Client Closed Request");
    res->set(http::field::server, "sockwired");
    res->set(http::field::content_type, reply.content_type);
    res->set(http::field::cache_control, "no-store");
    for (auto& [k, v] : reply.headers) res->set(k, v);
    res->body() = std::move(reply.body);
    res->keep_alive(keep);
    res->prepare_payload();
    return res;
  }

  void WriteReply(HttpReply reply, bool keep) {
    if (closed_) return;
    auto res = MakeResponse(reply, keep);
    stream_.expires_after(limits_.write_timeout);
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res, keep](beast::error_code ec, size_t) {
                        if (ec) return self->CloseNow();
                        if (!keep) return self->Linger();
                        self->WaitForRequest();
                      });
  }

  void ReplyAndClose(HttpReply reply) {
    keep_alive_ = false;
    WriteReply(std::move(reply), false);
  }

  // After a final response: stop sending, then drain what the client still
  // sends for a moment, so closing with unread data does not reset the
  // connection before the client has read the response (e.g. a 413).
  void Linger() {
    if (closed_) return;
    beast::error_code ec;
    stream_.socket().shutdown(net::socket_base::shutdown_send, ec);
    drain_deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    Drain();
  }

  void Drain() {
    auto left = drain_deadline_ - std::chrono::steady_clock::now();
    if (closed_ || left <= std::chrono::steady_clock::duration::zero() || drained_ > (64u << 20)) {
      return CloseNow();
    }
    stream_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(left));
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(65536),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->CloseNow();
                              self->drained_ += n;
                              self->Drain();
                            });
  }

  // ---- Streamed replies (server-streaming RPCs) ----

  void OnBegin(HttpReply head) {
    if (closed_ || !in_call_) return;
    if (client_gone_) return CloseNow();
    streaming_ = true;
    keep_alive_ = false;  // the stream ends the connection
    head_ = std::make_shared<http::response<http::empty_body>>();
    head_->version(version_);
    head_->result(static_cast<unsigned>(head.status));
    head_->set(http::field::server, "sockwired");
    head_->set(http::field::content_type, head.content_type);
    head_->set(http::field::cache_control, "no-store");
    for (auto& [k, v] : head.headers) head_->set(k, v);
    head_->keep_alive(false);
    head_->chunked(true);
    serializer_ = std::make_shared<http::response_serializer<http::empty_body>>(*head_);
    writing_ = true;
    stream_.expires_after(limits_.write_timeout);
    http::async_write_header(stream_, *serializer_,
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               self->writing_ = false;
                               if (ec) return self->CloseNow();
                               self->FlushChunks();
                             });
  }

  void FlushChunks() {
    if (closed_ || writing_ || !streaming_) return;
    if (!chunks_.empty()) {
      auto data = std::make_shared<std::string>(std::move(chunks_.front().first));
      auto written = std::move(chunks_.front().second);
      chunks_.pop_front();
      writing_ = true;
      stream_.expires_after(limits_.write_timeout);
      net::async_write(stream_, http::make_chunk(net::buffer(*data)),
                       [self = this->shared_from_this(), data, written](beast::error_code ec, size_t) {
                         self->writing_ = false;
                         if (ec) return self->CloseNow();
                         if (written) written();
                         self->FlushChunks();
                       });
      return;
    }
    if (end_pending_) {
      end_pending_ = false;
      writing_ = true;
      stream_.expires_after(limits_.write_timeout);
      net::async_write(stream_, http::make_chunk_last(),
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         self->writing_ = false;
                         self->in_call_ = false;
                         self->pending_.reset();
                         if (ec) return self->CloseNow();
                         self->Linger();
                       });
    }
  }

  // ---- WebSocket upgrade ----

  void OnUpgrade() {
    auto& req = parser_->get();
    first_ = false;
    version_ = req.version();
    RestRequest r = ToRestRequest(req);
    std::optional<std::string> handle = Gateway::MatchStreamPath(r.path);
    if (!handle || req.method() != http::verb::get) {
      return ReplyAndClose(ToReply(GatewayErrorWithStatus(
          404, grpc::StatusCode::NOT_FOUND, "NO_ROUTE",
          "WebSocket upgrades are served only on GET /v1/sockets/{handle}/stream")));
    }
    std::string query_session, query_token;
    for (auto& [k, v] : ParseQueryLoose(r.query)) {
      if (k == "session") query_session = v;
      if (k == "access_token") query_token = v;
    }
    if (auto deny = gw_.CheckAccess(r, query_token); deny) return ReplyAndClose(std::move(*deny));
    StreamTarget target;
    target.handle = *handle;
    target.options.session = r.session.empty() ? query_session : r.session;
    if (!Gateway::ValidToken(target.options.session)) {
      return ReplyAndClose(ToReply(GatewayError(grpc::StatusCode::UNAUTHENTICATED, "BAD_SESSION",
                                                "malformed session token")));
    }
    target.options.authorization = gw_.ForwardedAuthorization();
    // A byte stream is a long-lived request of its session.
    std::shared_ptr<void> stream_slot;
    if (auto deny = gw_.TakeStreamSlot(target.options.session, &stream_slot); deny) {
      return ReplyAndClose(std::move(*deny));
    }
    slot_->Hold(std::move(stream_slot));
    // Check the handle (and session) with a real call first, so a bad handle
    // gets the usual JSON error instead of a WebSocket that closes at once.
    sockwire::v1::HandleRequest check;
    check.set_handle(target.handle);
    in_call_ = true;
    stream_.expires_never();
    pending_ = gw_.Call("/sockwire.v1.SocketService/GetInfo", check, target.options,
                        [self = this->shared_from_this(), target](RpcResult res) mutable {
                          net::post(self->ex_, [self, target = std::move(target),
                                                res = std::move(res)]() mutable {
                            self->OnUpgradeChecked(std::move(target), std::move(res));
                          });
                        });
  }

  static std::vector<std::pair<std::string, std::string>> ParseQueryLoose(const std::string& q) {
    auto parsed = ParseQuery(q);
    if (!parsed.ok()) return {};
    return *std::move(parsed);
  }

  void OnUpgradeChecked(StreamTarget target, RpcResult res) {
    in_call_ = false;
    pending_.reset();
    if (closed_) return;
    if (!res.status.ok()) return ReplyAndClose(ToReply(ErrorFromGrpc(res.status, res.error_detail)));
    closed_ = true;  // the relay owns the connection from here on
    RunWebSocket(std::move(stream_), parser_->release(), std::move(target), gw_, slot_);
  }

  void CloseNow() {
    if (closed_) return;
    closed_ = true;
    if (pending_) pending_->Cancel();
    pending_.reset();
    beast::error_code ec;
    stream_.socket().shutdown(net::socket_base::shutdown_both, ec);
    stream_.close();
  }

  net::any_io_executor ex_;
  Stream<P> stream_;
  Gateway& gw_;
  const Limits& limits_;
  std::shared_ptr<ConnectionSlot> slot_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;

  bool closed_ = false;
  bool first_ = true;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  bool in_call_ = false;
  bool client_gone_ = false;
  uint64_t watch_gen_ = 0;
  std::shared_ptr<RpcCall> pending_;
  std::chrono::steady_clock::time_point drain_deadline_;
  size_t drained_ = 0;

  bool streaming_ = false;
  bool writing_ = false;
  bool end_pending_ = false;
  std::shared_ptr<http::response<http::empty_body>> head_;
  std::shared_ptr<http::response_serializer<http::empty_body>> serializer_;
  std::deque<std::pair<std::string, std::function<void()>>> chunks_;
};

template <class P>
void Serve(typename P::socket socket, Gateway& gateway, std::shared_ptr<ConnectionSlot> slot) {
  auto session = std::make_shared<HttpSession<P>>(std::move(socket), gateway, std::move(slot));
  session->Start();
}

}  // namespace

void ServeHttp(net::ip::tcp::socket socket, Gateway& gateway, std::shared_ptr<ConnectionSlot> slot) {
  beast::error_code ec;
  socket.set_option(net::ip::tcp::no_delay(true), ec);
  Serve<net::ip::tcp>(std::move(socket), gateway, std::move(slot));
}

void ServeHttp(net::local::stream_protocol::socket socket, Gateway& gateway,
               std::shared_ptr<ConnectionSlot> slot) {
  Serve<net::local::stream_protocol>(std::move(socket), gateway, std::move(slot));
}

}  // namespace sockwire::server::rest
