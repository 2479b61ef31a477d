// Small wrappers over the generated SocketService stubs for the daemon tests.
//
// Every wrapper makes one RPC and returns a Result<T>: the gRPC status, the
// response, and the sockwire.v1.ErrorDetail decoded from the trailer
// "sockwire-error-bin" (empty when the call succeeded). Tests stay short:
//
//   Client c(daemon);
//   auto s = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
//   ASSERT_OK(s);
//   auto b = Bind(c, s->handle(), Inet("127.0.0.1", 0));
//
// Nothing here waits with a sleep; blocking calls carry a deadline.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "daemon_process.h"
#include "sockwire/v1/common.pb.h"
#include "sockwire/v1/session.grpc.pb.h"
#include "sockwire/v1/socket.grpc.pb.h"

namespace sockwire::testing {

namespace v1 = ::sockwire::v1;

inline constexpr int kDefaultDeadlineMs = 10000;

inline int ErrnoOf(const v1::ErrorDetail& d) { return d.os_errno(); }
inline int ErrnoOf(const v1::ConnectExResponse& r) { return r.os_errno(); }

// Decodes the "sockwire-error-bin" trailer of a finished call; an empty
// detail when absent or unparsable.
inline v1::ErrorDetail DecodeErrorDetail(const grpc::ClientContext& ctx) {
  v1::ErrorDetail detail;
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find("sockwire-error-bin");
  if (it != trailers.end()) {
    detail.ParseFromArray(it->second.data(), static_cast<int>(it->second.size()));
  }
  return detail;
}

// One finished RPC.
template <typename T>
struct Result {
  grpc::Status status;
  T value;
  v1::ErrorDetail detail;
  std::chrono::milliseconds elapsed{0};

  bool ok() const { return status.ok(); }
  grpc::StatusCode code() const { return status.error_code(); }
  const T& operator*() const { return value; }
  const T* operator->() const { return &value; }

  std::string Describe() const {
    std::ostringstream out;
    out << "status=" << static_cast<int>(status.error_code()) << " '" << status.error_message()
        << "' detail={" << detail.ShortDebugString() << "}";
    return out.str();
  }
};

#define SW_ASSERT_OK(r) ASSERT_TRUE((r).ok()) << #r << ": " << (r).Describe()
#define SW_EXPECT_OK(r) EXPECT_TRUE((r).ok()) << #r << ": " << (r).Describe()
#define SW_EXPECT_CODE(r, c) \
  EXPECT_EQ((r).code(), (c)) << #r << ": " << (r).Describe()

// A client of the daemon: its own channel (own connection) and own session.
class Client {
 public:
  explicit Client(const DaemonProcess& d) : Client(d.NewChannel()) {}
  explicit Client(std::shared_ptr<grpc::Channel> channel)
      : channel_(std::move(channel)),
        session_(OpenSession(channel_)),
        stub_(v1::SocketService::NewStub(channel_)),
        session_stub_(v1::SessionService::NewStub(channel_)) {}
  // The same session over another channel.
  Client(std::shared_ptr<grpc::Channel> channel, std::string session)
      : channel_(std::move(channel)),
        session_(std::move(session)),
        stub_(v1::SocketService::NewStub(channel_)),
        session_stub_(v1::SessionService::NewStub(channel_)) {}

  v1::SocketService::Stub* stub() const { return stub_.get(); }
  v1::SessionService::Stub* session_stub() const { return session_stub_.get(); }
  const std::string& session() const { return session_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  std::unique_ptr<grpc::ClientContext> Context(int deadline_ms = kDefaultDeadlineMs) const {
    return SessionContext(session_, deadline_ms);
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::string session_;
  std::unique_ptr<v1::SocketService::Stub> stub_;
  std::unique_ptr<v1::SessionService::Stub> session_stub_;
};

// Makes one unary call `method` on `stub` with `ctx` and collects everything.
template <typename Stub, typename Req, typename Resp>
Result<Resp> InvokeWith(Stub* stub,
                        grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                        grpc::ClientContext* ctx, const Req& req) {
  Result<Resp> r;
  auto start = std::chrono::steady_clock::now();
  r.status = (stub->*method)(ctx, req, &r.value);
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (!r.status.ok()) r.detail = DecodeErrorDetail(*ctx);
  return r;
}

template <typename Req, typename Resp>
Result<Resp> Invoke(const Client& c,
                    grpc::Status (v1::SocketService::Stub::*method)(grpc::ClientContext*,
                                                                    const Req&, Resp*),
                    const Req& req, int deadline_ms = kDefaultDeadlineMs) {
  auto ctx = c.Context(deadline_ms);
  return InvokeWith(c.stub(), method, ctx.get(), req);
}

// ---- Addresses -------------------------------------------------------------

inline v1::Address Inet(const std::string& host, uint32_t port) {
  v1::Address a;
  a.mutable_inet()->set_host(host);
  a.mutable_inet()->set_port(port);
  return a;
}

inline v1::Address Inet6(const std::string& host, uint32_t port) {
  v1::Address a;
  a.mutable_inet6()->set_host(host);
  a.mutable_inet6()->set_port(port);
  return a;
}

inline v1::Address UnixPath(const std::string& path) {
  v1::Address a;
  a.mutable_unix_domain()->set_path(path);
  return a;
}

inline v1::Address UnixAbstract(const std::string& name) {
  v1::Address a;
  a.mutable_unix_domain()->set_abstract(name);
  return a;
}

// The port of an inet or inet6 address, 0 otherwise.
inline uint32_t PortOf(const v1::Address& a) {
  if (a.has_inet()) return a.inet().port();
  if (a.has_inet6()) return a.inet6().port();
  return 0;
}

// ---- SocketService wrappers ------------------------------------------------

inline Result<v1::SocketInfo> Create(const Client& c, v1::Family family, v1::SocketType type,
                                     int proto = 0, bool nonblock = false) {
  v1::CreateRequest req;
  req.set_family(family);
  req.set_type(type);
  req.set_proto(proto);
  req.set_nonblock(nonblock);
  return Invoke(c, &v1::SocketService::Stub::Create, req);
}

inline Result<v1::CreatePairResponse> CreatePair(const Client& c, v1::Family family,
                                                 v1::SocketType type, int proto = 0) {
  v1::CreatePairRequest req;
  req.set_family(family);
  req.set_type(type);
  req.set_proto(proto);
  return Invoke(c, &v1::SocketService::Stub::CreatePair, req);
}

inline Result<v1::SocketInfo> CreateConnection(const Client& c, const v1::Address& address) {
  v1::CreateConnectionRequest req;
  *req.mutable_address() = address;
  return Invoke(c, &v1::SocketService::Stub::CreateConnection, req);
}

inline v1::HandleRequest HandleReq(const std::string& handle) {
  v1::HandleRequest req;
  req.set_handle(handle);
  return req;
}

inline Result<v1::Empty> Close(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::Close, HandleReq(h));
}
inline Result<v1::SocketInfo> Dup(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::Dup, HandleReq(h));
}
inline Result<v1::DetachResponse> Detach(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::Detach, HandleReq(h));
}
inline Result<v1::SocketInfo> Attach(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::Attach, HandleReq(h));
}
inline Result<v1::ShareResponse> Share(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::Share, HandleReq(h));
}
inline Result<v1::SocketInfo> FromShare(const Client& c, const std::string& token) {
  v1::FromShareRequest req;
  req.set_token(token);
  return Invoke(c, &v1::SocketService::Stub::FromShare, req);
}
inline Result<v1::SocketInfo> GetInfo(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::GetInfo, HandleReq(h));
}
inline Result<v1::ListResponse> List(const Client& c) {
  return Invoke(c, &v1::SocketService::Stub::List, v1::ListRequest());
}

inline v1::AddressRequest AddressReq(const std::string& h, const v1::Address& a) {
  v1::AddressRequest req;
  req.set_handle(h);
  *req.mutable_address() = a;
  return req;
}

inline Result<v1::Empty> Bind(const Client& c, const std::string& h, const v1::Address& a) {
  return Invoke(c, &v1::SocketService::Stub::Bind, AddressReq(h, a));
}
inline Result<v1::Empty> Listen(const Client& c, const std::string& h,
                                std::optional<int> backlog = std::nullopt) {
  v1::ListenRequest req;
  req.set_handle(h);
  if (backlog) req.set_backlog(*backlog);
  return Invoke(c, &v1::SocketService::Stub::Listen, req);
}
inline Result<v1::AcceptResponse> Accept(const Client& c, const std::string& h,
                                         int deadline_ms = kDefaultDeadlineMs) {
  return Invoke(c, &v1::SocketService::Stub::Accept, HandleReq(h), deadline_ms);
}
inline Result<v1::Empty> Connect(const Client& c, const std::string& h, const v1::Address& a,
                                 int deadline_ms = kDefaultDeadlineMs) {
  return Invoke(c, &v1::SocketService::Stub::Connect, AddressReq(h, a), deadline_ms);
}
inline Result<v1::ConnectExResponse> ConnectEx(const Client& c, const std::string& h,
                                               const v1::Address& a) {
  return Invoke(c, &v1::SocketService::Stub::ConnectEx, AddressReq(h, a));
}
inline Result<v1::Empty> Shutdown(const Client& c, const std::string& h, v1::ShutdownHow how) {
  v1::ShutdownRequest req;
  req.set_handle(h);
  req.set_how(how);
  return Invoke(c, &v1::SocketService::Stub::Shutdown, req);
}
inline Result<v1::Address> GetSockName(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::GetSockName, HandleReq(h));
}
inline Result<v1::Address> GetPeerName(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::GetPeerName, HandleReq(h));
}

inline Result<v1::Empty> SetOpt(const Client& c, const std::string& h, v1::OptionName name,
                                int64_t value) {
  v1::SetSockOptRequest req;
  req.set_handle(h);
  req.set_name(name);
  req.mutable_value()->set_int_value(value);
  return Invoke(c, &v1::SocketService::Stub::SetSockOpt, req);
}
inline Result<v1::Empty> SetOpt(const Client& c, const std::string& h, v1::OptionName name,
                                const v1::OptionValue& value) {
  v1::SetSockOptRequest req;
  req.set_handle(h);
  req.set_name(name);
  *req.mutable_value() = value;
  return Invoke(c, &v1::SocketService::Stub::SetSockOpt, req);
}
inline Result<v1::OptionValue> GetOpt(const Client& c, const std::string& h,
                                      v1::OptionName name) {
  v1::GetSockOptRequest req;
  req.set_handle(h);
  req.set_name(name);
  return Invoke(c, &v1::SocketService::Stub::GetSockOpt, req);
}
inline Result<v1::Empty> SetRawOpt(const Client& c, const std::string& h, int level, int optname,
                                   const v1::OptionValue& value) {
  v1::SetSockOptRequest req;
  req.set_handle(h);
  req.mutable_raw()->set_level(level);
  req.mutable_raw()->set_optname(optname);
  *req.mutable_value() = value;
  return Invoke(c, &v1::SocketService::Stub::SetSockOpt, req);
}
inline Result<v1::OptionValue> GetRawOpt(const Client& c, const std::string& h, int level,
                                         int optname, uint32_t buflen = 0) {
  v1::GetSockOptRequest req;
  req.set_handle(h);
  req.mutable_raw()->set_level(level);
  req.mutable_raw()->set_optname(optname);
  req.set_buflen(buflen);
  return Invoke(c, &v1::SocketService::Stub::GetSockOpt, req);
}

// timeout_ms: nullopt = None (blocking), 0 = non-blocking, > 0 = timeout.
inline Result<v1::Empty> SetTimeout(const Client& c, const std::string& h,
                                    std::optional<int64_t> timeout_ms) {
  v1::SetTimeoutRequest req;
  req.set_handle(h);
  if (timeout_ms) {
    req.mutable_timeout()->set_seconds(*timeout_ms / 1000);
    req.mutable_timeout()->set_nanos(static_cast<int32_t>((*timeout_ms % 1000) * 1000000));
  }
  return Invoke(c, &v1::SocketService::Stub::SetTimeout, req);
}
inline Result<v1::TimeoutResponse> GetTimeout(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::GetTimeout, HandleReq(h));
}
inline Result<v1::Empty> SetBlocking(const Client& c, const std::string& h, bool blocking) {
  v1::SetBlockingRequest req;
  req.set_handle(h);
  req.set_blocking(blocking);
  return Invoke(c, &v1::SocketService::Stub::SetBlocking, req);
}
inline Result<v1::BlockingResponse> GetBlocking(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::GetBlocking, HandleReq(h));
}
inline Result<v1::Empty> SetInheritable(const Client& c, const std::string& h, bool on) {
  v1::SetInheritableRequest req;
  req.set_handle(h);
  req.set_inheritable(on);
  return Invoke(c, &v1::SocketService::Stub::SetInheritable, req);
}
inline Result<v1::InheritableResponse> GetInheritable(const Client& c, const std::string& h) {
  return Invoke(c, &v1::SocketService::Stub::GetInheritable, HandleReq(h));
}
inline Result<v1::IoctlResponse> Ioctl(const Client& c, const std::string& h,
                                       v1::IoctlRequestCode code) {
  v1::IoctlRequest req;
  req.set_handle(h);
  req.set_request(code);
  return Invoke(c, &v1::SocketService::Stub::Ioctl, req);
}

inline v1::SendRequest SendReq(const std::string& h, const std::string& data, int flags) {
  v1::SendRequest req;
  req.set_handle(h);
  req.set_data(data);
  req.set_flags(flags);
  return req;
}
inline Result<v1::SendResponse> Send(const Client& c, const std::string& h,
                                     const std::string& data, int flags = 0) {
  return Invoke(c, &v1::SocketService::Stub::Send, SendReq(h, data, flags));
}
inline Result<v1::SendResponse> SendAll(const Client& c, const std::string& h,
                                        const std::string& data, int flags = 0) {
  return Invoke(c, &v1::SocketService::Stub::SendAll, SendReq(h, data, flags));
}
inline Result<v1::SendResponse> SendTo(const Client& c, const std::string& h,
                                       const std::string& data, const v1::Address& a,
                                       int flags = 0) {
  v1::SendToRequest req;
  req.set_handle(h);
  req.set_data(data);
  req.set_flags(flags);
  *req.mutable_address() = a;
  return Invoke(c, &v1::SocketService::Stub::SendTo, req);
}
inline Result<v1::SendResponse> SendMsg(const Client& c, const v1::SendMsgRequest& req) {
  return Invoke(c, &v1::SocketService::Stub::SendMsg, req);
}

inline v1::RecvRequest RecvReq(const std::string& h, int64_t bufsize, int flags) {
  v1::RecvRequest req;
  req.set_handle(h);
  req.set_bufsize(bufsize);
  req.set_flags(flags);
  return req;
}
inline Result<v1::RecvResponse> Recv(const Client& c, const std::string& h, int64_t bufsize,
                                     int flags = 0, int deadline_ms = kDefaultDeadlineMs) {
  return Invoke(c, &v1::SocketService::Stub::Recv, RecvReq(h, bufsize, flags), deadline_ms);
}
inline Result<v1::RecvFromResponse> RecvFrom(const Client& c, const std::string& h,
                                             int64_t bufsize, int flags = 0,
                                             int deadline_ms = kDefaultDeadlineMs) {
  return Invoke(c, &v1::SocketService::Stub::RecvFrom, RecvReq(h, bufsize, flags), deadline_ms);
}
inline Result<v1::RecvMsgResponse> RecvMsg(const Client& c, const std::string& h, int64_t bufsize,
                                           int64_t ancbufsize, int flags = 0) {
  v1::RecvMsgRequest req;
  req.set_handle(h);
  req.set_bufsize(bufsize);
  req.set_ancbufsize(ancbufsize);
  req.set_flags(flags);
  return Invoke(c, &v1::SocketService::Stub::RecvMsg, req);
}

// Poll on `items` (handle, events); timeout_ms < 0 = no timeout field.
inline Result<v1::PollResponse> Poll(const Client& c,
                                     const std::vector<std::pair<std::string, int>>& items,
                                     int64_t timeout_ms, int deadline_ms = kDefaultDeadlineMs) {
  v1::PollRequest req;
  for (const auto& [h, ev] : items) {
    auto* item = req.add_items();
    item->set_handle(h);
    item->set_events(ev);
  }
  if (timeout_ms >= 0) {
    req.mutable_timeout()->set_seconds(timeout_ms / 1000);
    req.mutable_timeout()->set_nanos(static_cast<int32_t>((timeout_ms % 1000) * 1000000));
  }
  return Invoke(c, &v1::SocketService::Stub::Poll, req, deadline_ms);
}

// ---- SessionService wrappers -----------------------------------------------

inline Result<v1::CloseSessionResponse> CloseSession(const Client& c) {
  auto ctx = c.Context();
  return InvokeWith(c.session_stub(), &v1::SessionService::Stub::Close, ctx.get(),
                    v1::CloseSessionRequest());
}

inline Result<v1::RenewResponse> RenewSession(const Client& c) {
  auto ctx = c.Context();
  return InvokeWith(c.session_stub(), &v1::SessionService::Stub::Renew, ctx.get(),
                    v1::RenewRequest());
}

// ---- Composite helpers -----------------------------------------------------

// A listening TCP socket on `host`:0 (family chosen by the caller); returns
// its handle and fills `address` with the bound address. Fails the test on
// any error (use with ASSERT_NO_FATAL_FAILURE).
inline void MakeTcpListener(const Client& c, v1::Family family, const std::string& host,
                            std::string* handle, v1::Address* address, int backlog = 16) {
  auto s = Create(c, family, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  *handle = s->handle();
  auto bound = Bind(c, *handle,
                    family == v1::FAMILY_INET6 ? Inet6(host, 0) : Inet(host, 0));
  SW_ASSERT_OK(bound);
  auto listened = Listen(c, *handle, backlog);
  SW_ASSERT_OK(listened);
  auto name = GetSockName(c, *handle);
  SW_ASSERT_OK(name);
  ASSERT_NE(PortOf(*name), 0u);
  *address = *name;
}

// A connected TCP pair over 127.0.0.1: `client_handle` owned by `client`,
// `server_handle` (the accepted socket) owned by `server`.
inline void MakeTcpPair(const Client& server, const Client& client, std::string* server_handle,
                        std::string* client_handle) {
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(MakeTcpListener(server, v1::FAMILY_INET, "127.0.0.1", &listener,
                                          &address));
  auto s = Create(client, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  *client_handle = s->handle();
  // The listener is listening: connect completes through the backlog
  // before accept is called.
  auto connected = Connect(client, *client_handle, address);
  SW_ASSERT_OK(connected);
  auto accepted = Accept(server, listener);
  SW_ASSERT_OK(accepted);
  *server_handle = accepted->socket().handle();
  auto closed = Close(server, listener);
  SW_ASSERT_OK(closed);
}

// Polls `pred` every 10 ms until it holds or `limit` passes; returns whether
// it held. For conditions the daemon reaches asynchronously (fd counts after
// a disconnect), never as a readiness wait for a call we make.
inline bool WaitFor(const std::function<bool()>& pred,
                    std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// The seed's echo server, through the daemon: bind, listen(1), accept one
// connection, recv(1024)/sendall until the peer closes. Returns the accepted
// peer address. `bind_address` chooses the family; `bound` gets the real
// address once listening (call from the test thread, then run Serve on
// another thread).
class EchoServer {
 public:
  EchoServer(const Client& c, v1::Family family, v1::Address bind_address)
      : c_(c), family_(family), bind_address_(std::move(bind_address)) {}

  // socket(), bind(), listen(1); fills `bound`.
  void Setup(v1::Address* bound) {
    auto s = Create(c_, family_, v1::SOCKET_TYPE_STREAM);
    SW_ASSERT_OK(s);
    handle_ = s->handle();
    auto b = Bind(c_, handle_, bind_address_);
    SW_ASSERT_OK(b);
    auto l = Listen(c_, handle_, 1);
    SW_ASSERT_OK(l);
    auto name = GetSockName(c_, handle_);
    SW_ASSERT_OK(name);
    *bound = *name;
  }

  // accept(); loop recv(1024) / sendall until empty. Runs on its own thread;
  // records failures instead of asserting off the main thread.
  void Serve() {
    auto accepted = Accept(c_, handle_, 20000);
    if (!accepted.ok()) {
      error_ = "accept: " + accepted.Describe();
      return;
    }
    peer_ = accepted->address();
    const std::string conn = accepted->socket().handle();
    for (;;) {
      auto data = Recv(c_, conn, 1024, 0, 20000);
      if (!data.ok()) {
        error_ = "recv: " + data.Describe();
        break;
      }
      if (data->data().empty()) break;
      received_ += data->data();
      auto sent = SendAll(c_, conn, data->data());
      if (!sent.ok()) {
        error_ = "sendall: " + sent.Describe();
        break;
      }
    }
    Close(c_, conn);
    Close(c_, handle_);
  }

  const std::string& error() const { return error_; }
  const std::string& received() const { return received_; }
  const v1::Address& peer() const { return peer_; }

 private:
  const Client& c_;
  v1::Family family_;
  v1::Address bind_address_;
  std::string handle_;
  std::string error_;
  std::string received_;
  v1::Address peer_;
};

// The seed's echo client, through the daemon: connect, sendall
// "Hello, world", recv(1024), close. Returns what came back.
inline std::string EchoClient(const Client& c, v1::Family family, const v1::Address& address) {
  auto s = Create(c, family, v1::SOCKET_TYPE_STREAM);
  EXPECT_TRUE(s.ok()) << s.Describe();
  if (!s.ok()) return "<create failed>";
  const std::string h = s->handle();
  auto connected = Connect(c, h, address);
  EXPECT_TRUE(connected.ok()) << connected.Describe();
  if (!connected.ok()) return "<connect failed>";
  auto sent = SendAll(c, h, "Hello, world");
  EXPECT_TRUE(sent.ok()) << sent.Describe();
  auto data = Recv(c, h, 1024);
  EXPECT_TRUE(data.ok()) << data.Describe();
  auto closed = Close(c, h);
  EXPECT_TRUE(closed.ok()) << closed.Describe();
  return data->data();
}

// A full echo round trip over TCP/IPv4 with fresh clients; the check that a
// daemon still serves everyone after a bad request.
inline void ExpectEchoRoundTrip(const DaemonProcess& d) {
  Client server_client(d);
  Client client(d);
  EchoServer server(server_client, v1::FAMILY_INET, Inet("127.0.0.1", 0));
  v1::Address bound;
  ASSERT_NO_FATAL_FAILURE(server.Setup(&bound));
  std::thread t([&] { server.Serve(); });
  std::string reply = EchoClient(client, v1::FAMILY_INET, bound);
  t.join();
  EXPECT_EQ(reply, "Hello, world");
  EXPECT_EQ(server.error(), "");
  EXPECT_EQ(server.received(), "Hello, world");
}

}  // namespace sockwire::testing
