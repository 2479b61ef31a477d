#include "rest/websocket.h"

#include <poll.h>

#include <algorithm>
#include <functional>

#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "sockwire/v1/common.pb.h"
#include "sockwire/v1/socket.pb.h"

namespace sockwire::server::rest {
namespace {

namespace http = beast::http;
namespace websocket = beast::websocket;
namespace v1 = sockwire::v1;

constexpr char kSend[] = "/sockwire.v1.SocketService/Send";
constexpr char kRecv[] = "/sockwire.v1.SocketService/Recv";
constexpr char kPoll[] = "/sockwire.v1.SocketService/Poll";
constexpr char kShutdown[] = "/sockwire.v1.SocketService/Shutdown";
// One Recv (one message to the client) at most this big.
constexpr int64_t kRecvChunk = 256 * 1024;
// One Send at most this big (well under --max-message-bytes).
constexpr size_t kSendChunk = 1024 * 1024;

// What to do about a failed Send/Recv: wait for readiness, retry, stop.
enum class Retry { kPoll, kAgain, kCancelled, kFail };

Retry Classify(const RpcResult& r) {
  v1::ErrorDetail d;
  if (!r.error_detail.empty()) d.ParseFromString(r.error_detail);
  switch (r.status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return d.reason() == "WOULD_BLOCK" ? Retry::kPoll : Retry::kFail;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      // The socket's own timeout (settimeout(t)) passed: a stream has no
      // deadline, so wait again.
      return d.kind() == v1::ERROR_KIND_TIMEOUT ? Retry::kAgain : Retry::kFail;
    case grpc::StatusCode::CANCELLED:
      return Retry::kCancelled;
    default:
      return Retry::kFail;
  }
}

// The relay's Send/Recv calls are counted as path="websocket" (metrics).
inline StreamTarget WithPath(StreamTarget t) {
  t.options.metadata.emplace_back("sockwire-data-path", "websocket");
  return t;
}

template <class P>
class WsRelay : public Connection, public std::enable_shared_from_this<WsRelay<P>> {
 public:
  WsRelay(Stream<P>&& stream, UpgradeRequest req, StreamTarget target, Gateway& gateway,
          std::shared_ptr<ConnectionSlot> slot)
      : ex_(stream.get_executor()),
        ws_(std::move(stream)),
        req_(std::move(req)),
        t_(WithPath(std::move(target))),
        gw_(gateway),
        slot_(std::move(slot)) {}

  void Start() {
    slot_->Bind(this->weak_from_this());
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "sockwired"); }));
    ws_.read_message_max(gw_.limits().max_ws_message);
    ws_.auto_fragment(false);
    ws_.binary(true);
    ws_.async_accept(req_, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return self->Finish();
      self->DoRead();
      self->DoRecv();
    });
  }

  void Abort() override {
    net::post(ex_, [self = this->shared_from_this()] { self->Finish(); });
  }

 private:
  // Runs `fn` on this connection's strand once an RPC completes.
  std::function<void(RpcResult)> OnStrand(void (WsRelay::*fn)(RpcResult)) {
    return [self = this->shared_from_this(), fn](RpcResult r) {
      net::post(self->ex_, [self, fn, r = std::move(r)]() mutable { ((*self).*fn)(std::move(r)); });
    };
  }

  // ---- client -> socket ----

  void DoRead() {
    if (finished_) return;
    ws_.async_read(rbuf_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->OnRead(ec);
    });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec == websocket::error::closed && !client_eof_ && !finished_) {
        // The client closed without the empty end-of-stream message: it will
        // send nothing more, so the peer sees EOF (best effort).
        ShutdownWrite(nullptr);
      }
      return Finish();
    }
    std::string data = beast::buffers_to_string(rbuf_.data());
    rbuf_.consume(rbuf_.size());
    if (finished_) return;
    if (close_started_) return DoRead();  // draining until the close reply
    if (client_eof_) {
      CloseWith(websocket::close_code::policy_error, "data after the end-of-stream message");
      return DoRead();
    }
    if (data.empty()) {
      client_eof_ = true;
      ShutdownWrite([self = this->shared_from_this()] {
        if (self->sock_eof_ && !self->writing_) self->CloseWith(websocket::close_code::normal, "");
        self->DoRead();
      });
      return;
    }
    send_buf_ = std::move(data);
    send_off_ = 0;
    SendMore();
  }

  void SendMore() {
    if (finished_ || close_started_) return;
    v1::SendRequest req;
    req.set_handle(t_.handle);
    // Each Send stays within --max-message-bytes.
    size_t limit = static_cast<size_t>(
        std::max<uint64_t>(1, std::min<uint64_t>(kSendChunk, gw_.limits().max_ws_message)));
    size_t n = std::min(limit, send_buf_.size() - send_off_);
    req.set_data(send_buf_.substr(send_off_, n));
    send_call_ = gw_.Call(kSend, req, t_.options, OnStrand(&WsRelay::OnSent));
  }

  void OnSent(RpcResult r) {
    send_call_.reset();
    if (finished_ || close_started_) return;
    if (!r.status.ok()) {
      switch (Classify(r)) {
        case Retry::kPoll: return PollThen(POLLOUT, /*recv_side=*/false);
        case Retry::kAgain: return SendMore();
        case Retry::kCancelled: return;
        case Retry::kFail:
          CloseWithError(r);
          return DoRead();
      }
    }
    v1::SendResponse resp;
    if (!resp.ParseFromString(r.response) || resp.sent() <= 0) {
      return PollThen(POLLOUT, /*recv_side=*/false);
    }
    send_off_ += static_cast<size_t>(resp.sent());
    if (send_off_ < send_buf_.size()) return SendMore();
    send_buf_.clear();
    DoRead();  // only now: backpressure towards the client
  }

  void ShutdownWrite(std::function<void()> then) {
    v1::ShutdownRequest req;
    req.set_handle(t_.handle);
    req.set_how(v1::SHUTDOWN_HOW_WR);
    gw_.Call(kShutdown, req, t_.options,
             [self = this->shared_from_this(), then = std::move(then)](RpcResult r) mutable {
               net::post(self->ex_, [self, then = std::move(then), r = std::move(r)] {
                 if (self->finished_ || !then) return;
                 v1::ErrorDetail d;
                 if (!r.error_detail.empty()) d.ParseFromString(r.error_detail);
                 // ENOTCONN: the peer is gone already; nothing left to shut.
                 if (!r.status.ok() && d.errno_name() != "ENOTCONN") self->CloseWithError(r);
                 then();
               });
             });
  }

  // ---- socket -> client ----

  void DoRecv() {
    if (finished_ || close_started_ || sock_eof_) return;
    v1::RecvRequest req;
    req.set_handle(t_.handle);
    req.set_bufsize(std::max<int64_t>(
        1, std::min<int64_t>(kRecvChunk, static_cast<int64_t>(gw_.limits().max_ws_message))));
    recv_call_ = gw_.Call(kRecv, req, t_.options, OnStrand(&WsRelay::OnRecv));
  }

  void OnRecv(RpcResult r) {
    recv_call_.reset();
    if (finished_ || close_started_) return;
    if (!r.status.ok()) {
      switch (Classify(r)) {
        case Retry::kPoll: return PollThen(POLLIN, /*recv_side=*/true);
        case Retry::kAgain: return DoRecv();
        case Retry::kCancelled: return;
        case Retry::kFail: return CloseWithError(r);
      }
    }
    v1::RecvResponse resp;
    if (!resp.ParseFromString(r.response)) {
      return CloseWith(websocket::close_code::internal_error, "bad Recv response");
    }
    if (resp.data().empty()) {
      // EOF: tell the client with an empty message.
      sock_eof_ = true;
      return Write("", [this] {
        if (client_eof_) CloseWith(websocket::close_code::normal, "");
      });
    }
    Write(std::move(*resp.mutable_data()), [this] { DoRecv(); });
  }

  void Write(std::string data, std::function<void()> then) {
    out_ = std::move(data);
    writing_ = true;
    ws_.async_write(net::buffer(out_), [self = this->shared_from_this(), then = std::move(then)](
                                           beast::error_code ec, size_t) {
      self->writing_ = false;
      self->out_.clear();
      if (ec) return self->Finish();
      if (self->close_pending_) return self->DoClose();
      if (self->finished_ || self->close_started_) return;
      then();
    });
  }

  // ---- readiness on non-blocking sockets ----

  void PollThen(int events, bool recv_side) {
    v1::PollRequest req;
    auto* item = req.add_items();
    item->set_handle(t_.handle);
    item->set_events(events);
    auto call = gw_.Call(kPoll, req, t_.options,
                         [self = this->shared_from_this(), recv_side](RpcResult r) {
                           net::post(self->ex_, [self, recv_side, r = std::move(r)] {
                             self->OnPolled(r, recv_side);
                           });
                         });
    (recv_side ? recv_call_ : send_call_) = std::move(call);
  }

  void OnPolled(const RpcResult& r, bool recv_side) {
    (recv_side ? recv_call_ : send_call_).reset();
    if (finished_ || close_started_) return;
    if (!r.status.ok()) {
      if (r.status.error_code() == grpc::StatusCode::CANCELLED) return;
      CloseWithError(r);
      if (!recv_side) DoRead();
      return;
    }
    recv_side ? DoRecv() : SendMore();
  }

  // ---- closing ----

  void CloseWithError(const RpcResult& r) {
    std::string body = ErrorFromGrpc(r.status, r.error_detail).body;
    if (!body.empty() && body.back() == '\n') body.pop_back();
    CloseWith(websocket::close_code::internal_error, body);
  }

  void CloseWith(websocket::close_code code, std::string reason) {
    if (close_started_ || finished_) return;
    close_started_ = true;
    // A close reason holds at most 123 bytes.
    if (reason.size() > 123) reason.resize(123);
    close_reason_ = websocket::close_reason(code, reason);
    if (recv_call_) recv_call_->Cancel();
    if (send_call_) send_call_->Cancel();
    if (writing_) {
      close_pending_ = true;
      return;
    }
    DoClose();
  }

  void DoClose() {
    close_pending_ = false;
    if (finished_) return;
    ws_.async_close(close_reason_, [self = this->shared_from_this()](beast::error_code) {
      self->Finish();
    });
  }

  void Finish() {
    if (finished_) return;
    finished_ = true;
    if (recv_call_) recv_call_->Cancel();
    if (send_call_) send_call_->Cancel();
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(net::socket_base::shutdown_both, ec);
    beast::get_lowest_layer(ws_).close();
  }

  net::any_io_executor ex_;
  websocket::stream<Stream<P>> ws_;
  UpgradeRequest req_;
  StreamTarget t_;
  Gateway& gw_;
  std::shared_ptr<ConnectionSlot> slot_;

  beast::flat_buffer rbuf_;
  std::string send_buf_;
  size_t send_off_ = 0;
  std::string out_;
  std::shared_ptr<RpcCall> recv_call_;
  std::shared_ptr<RpcCall> send_call_;
  websocket::close_reason close_reason_;

  bool writing_ = false;
  bool client_eof_ = false;
  bool sock_eof_ = false;
  bool close_started_ = false;
  bool close_pending_ = false;
  bool finished_ = false;
};

template <class P>
void Run(Stream<P>&& stream, UpgradeRequest req, StreamTarget target, Gateway& gateway,
         std::shared_ptr<ConnectionSlot> slot) {
  auto relay = std::make_shared<WsRelay<P>>(std::move(stream), std::move(req), std::move(target),
                                            gateway, std::move(slot));
  relay->Start();
}

}  // namespace

void RunWebSocket(Stream<net::ip::tcp>&& stream, UpgradeRequest req, StreamTarget target,
                  Gateway& gateway, std::shared_ptr<ConnectionSlot> slot) {
  Run<net::ip::tcp>(std::move(stream), std::move(req), std::move(target), gateway, std::move(slot));
}

void RunWebSocket(Stream<net::local::stream_protocol>&& stream, UpgradeRequest req,
                  StreamTarget target, Gateway& gateway, std::shared_ptr<ConnectionSlot> slot) {
  Run<net::local::stream_protocol>(std::move(stream), std::move(req), std::move(target), gateway,
                                   std::move(slot));
}

}  // namespace sockwire::server::rest
