// Socket-object operations through sockwired: timeouts and non-blocking
// mode, connect errors, half-close, options, ancillary data, Poll, handle
// management (info, list, dup, detach/attach, share), ioctl and recv flags.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "daemon_process.h"
#include "rpc_helpers.h"

namespace sockwire::testing {
namespace {

using std::chrono::milliseconds;

class SocketOps : public ::testing::Test {
 protected:
  DaemonProcess d_;
  Client c_{d_};

  // A Unix stream socketpair owned by c_.
  void UnixPair(std::string* a, std::string* b,
                v1::SocketType type = v1::SOCKET_TYPE_STREAM) {
    auto pair = CreatePair(c_, v1::FAMILY_UNIX, type);
    SW_ASSERT_OK(pair);
    *a = pair->first().handle();
    *b = pair->second().handle();
  }

  // Waits (daemon-side, bounded) until `h` is readable.
  void WaitReadable(const std::string& h) {
    auto r = Poll(c_, {{h, POLLIN}}, 5000);
    SW_ASSERT_OK(r);
    ASSERT_EQ(r->ready_size(), 1);
    ASSERT_NE(r->ready(0).revents() & POLLIN, 0);
  }
};

// ---- Timeouts and blocking mode --------------------------------------------

TEST_F(SocketOps, AcceptTimeoutExpires) {
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(MakeTcpListener(c_, v1::FAMILY_INET, "127.0.0.1", &listener, &address));
  SW_ASSERT_OK(SetTimeout(c_, listener, 100));
  auto r = Accept(c_, listener);
  EXPECT_EQ(r.code(), grpc::StatusCode::DEADLINE_EXCEEDED) << r.Describe();
  EXPECT_EQ(r.detail.kind(), v1::ERROR_KIND_TIMEOUT) << r.Describe();
  EXPECT_FALSE(r.status.error_message().empty());
  EXPECT_GE(r.elapsed.count(), 90);
  EXPECT_LT(r.elapsed.count(), 5000);
  // The listener still works after a timeout.
  auto cl = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(cl);
  SW_ASSERT_OK(Connect(c_, cl->handle(), address));
  SW_EXPECT_OK(Accept(c_, listener));
}

TEST_F(SocketOps, AcceptNonBlockingWouldBlock) {
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(MakeTcpListener(c_, v1::FAMILY_INET, "127.0.0.1", &listener, &address));
  SW_ASSERT_OK(SetBlocking(c_, listener, false));
  auto r = Accept(c_, listener);
  EXPECT_EQ(r.code(), grpc::StatusCode::UNAVAILABLE) << r.Describe();
  EXPECT_EQ(r.detail.kind(), v1::ERROR_KIND_OS) << r.Describe();
  EXPECT_EQ(ErrnoOf(r.detail), EAGAIN) << r.Describe();
  EXPECT_EQ(r.detail.errno_name(), "EAGAIN") << r.Describe();
  EXPECT_EQ(r.detail.reason(), "WOULD_BLOCK") << r.Describe();
  EXPECT_LT(r.elapsed.count(), 2000);
}

TEST_F(SocketOps, RecvTimeoutExpires) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  SW_ASSERT_OK(SetTimeout(c_, b, 100));
  auto r = Recv(c_, b, 1024);
  EXPECT_EQ(r.code(), grpc::StatusCode::DEADLINE_EXCEEDED) << r.Describe();
  EXPECT_EQ(r.detail.kind(), v1::ERROR_KIND_TIMEOUT) << r.Describe();
  EXPECT_GE(r.elapsed.count(), 90);
}

TEST_F(SocketOps, RecvNonBlockingWouldBlock) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  SW_ASSERT_OK(SetTimeout(c_, b, 0));
  auto r = Recv(c_, b, 1024);
  EXPECT_EQ(r.code(), grpc::StatusCode::UNAVAILABLE) << r.Describe();
  EXPECT_EQ(ErrnoOf(r.detail), EAGAIN) << r.Describe();
  EXPECT_EQ(r.detail.reason(), "WOULD_BLOCK") << r.Describe();
}

TEST_F(SocketOps, ShorterGrpcDeadlineWins) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  // Blocking socket, 200 ms gRPC deadline. MSG_PEEK: the daemon's side of
  // the call expires a few ms after the client's (the timeout travels with
  // the call), and a peek completing in that window takes nothing.
  auto r = Recv(c_, b, 1024, MSG_PEEK, 200);
  EXPECT_EQ(r.code(), grpc::StatusCode::DEADLINE_EXCEEDED) << r.Describe();
  EXPECT_GE(r.elapsed.count(), 150);
  EXPECT_LT(r.elapsed.count(), 5000);
  // The socket serves the next call.
  SW_ASSERT_OK(SendAll(c_, a, "kept"));
  auto got = Recv(c_, b, 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "kept");
}

TEST_F(SocketOps, TimeoutModesRoundTrip) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  const std::string h = s->handle();
  auto t = GetTimeout(c_, h);
  SW_ASSERT_OK(t);
  EXPECT_FALSE(t->mode().has_timeout()) << "default is None (blocking)";
  auto b = GetBlocking(c_, h);
  SW_ASSERT_OK(b);
  EXPECT_TRUE(b->blocking());

  SW_ASSERT_OK(SetTimeout(c_, h, 1500));
  t = GetTimeout(c_, h);
  SW_ASSERT_OK(t);
  ASSERT_TRUE(t->mode().has_timeout());
  EXPECT_EQ(t->mode().timeout().seconds(), 1);
  EXPECT_EQ(t->mode().timeout().nanos(), 500000000);
  b = GetBlocking(c_, h);
  SW_ASSERT_OK(b);
  EXPECT_TRUE(b->blocking()) << "a timeout > 0 is still blocking, as in Python";

  SW_ASSERT_OK(SetBlocking(c_, h, false));
  t = GetTimeout(c_, h);
  SW_ASSERT_OK(t);
  ASSERT_TRUE(t->mode().has_timeout());
  EXPECT_EQ(t->mode().timeout().seconds(), 0);
  EXPECT_EQ(t->mode().timeout().nanos(), 0);
  b = GetBlocking(c_, h);
  SW_ASSERT_OK(b);
  EXPECT_FALSE(b->blocking());

  SW_ASSERT_OK(SetBlocking(c_, h, true));
  t = GetTimeout(c_, h);
  SW_ASSERT_OK(t);
  EXPECT_FALSE(t->mode().has_timeout());

  SW_ASSERT_OK(SetTimeout(c_, h, 250));
  SW_ASSERT_OK(SetTimeout(c_, h, std::nullopt));
  t = GetTimeout(c_, h);
  SW_ASSERT_OK(t);
  EXPECT_FALSE(t->mode().has_timeout());

  auto info = GetInfo(c_, h);
  SW_ASSERT_OK(info);
  EXPECT_FALSE(info->timeout().has_timeout());
}

TEST_F(SocketOps, NonblockFlagAtCreateMeansTimeoutZero) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM, 0, /*nonblock=*/true);
  SW_ASSERT_OK(s);
  auto b = GetBlocking(c_, s->handle());
  SW_ASSERT_OK(b);
  EXPECT_FALSE(b->blocking());
  auto t = GetTimeout(c_, s->handle());
  SW_ASSERT_OK(t);
  ASSERT_TRUE(t->mode().has_timeout());
  EXPECT_EQ(t->mode().timeout().seconds(), 0);
  EXPECT_EQ(t->mode().timeout().nanos(), 0);
}

TEST_F(SocketOps, NegativeTimeoutIsInvalid) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  auto r = SetTimeout(c_, s->handle(), -1000);
  SW_EXPECT_CODE(r, grpc::StatusCode::INVALID_ARGUMENT);
}

// ---- Connect, close, shutdown ----------------------------------------------

TEST_F(SocketOps, ConnectToClosedPortIsRefused) {
  // Reserve a port with the daemon, then free it: nobody listens there.
  auto reserve = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(reserve);
  SW_ASSERT_OK(Bind(c_, reserve->handle(), Inet("127.0.0.1", 0)));
  auto name = GetSockName(c_, reserve->handle());
  SW_ASSERT_OK(name);
  const uint32_t port = PortOf(*name);
  ASSERT_NE(port, 0u);
  SW_ASSERT_OK(Close(c_, reserve->handle()));

  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  auto r = Connect(c_, s->handle(), Inet("127.0.0.1", port));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.code(), grpc::StatusCode::UNAVAILABLE) << r.Describe();
  EXPECT_EQ(r.detail.kind(), v1::ERROR_KIND_OS) << r.Describe();
  EXPECT_EQ(ErrnoOf(r.detail), ECONNREFUSED) << r.Describe();
  EXPECT_EQ(r.detail.errno_name(), "ECONNREFUSED") << r.Describe();
  EXPECT_FALSE(r.detail.message().empty()) << r.Describe();

  auto s2 = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s2);
  auto ex = ConnectEx(c_, s2->handle(), Inet("127.0.0.1", port));
  SW_ASSERT_OK(ex);
  EXPECT_EQ(ErrnoOf(*ex), ECONNREFUSED);
  EXPECT_EQ(ex->errno_name(), "ECONNREFUSED");
}

TEST_F(SocketOps, ConnectExReturnsZeroOnSuccess) {
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(MakeTcpListener(c_, v1::FAMILY_INET, "127.0.0.1", &listener, &address));
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  auto ex = ConnectEx(c_, s->handle(), address);
  SW_ASSERT_OK(ex);
  EXPECT_EQ(ErrnoOf(*ex), 0);
}

TEST_F(SocketOps, ConnectToUnixPathThatDoesNotExist) {
  auto s = Create(c_, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  auto r = Connect(c_, s->handle(), UnixPath(d_.temp_dir() + "/nobody-here.sock"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(ErrnoOf(r.detail), ENOENT) << r.Describe();
  EXPECT_EQ(r.detail.kind(), v1::ERROR_KIND_OS) << r.Describe();
}

TEST_F(SocketOps, RecvAfterPeerClosedReturnsEmpty) {
  std::string server, client;
  ASSERT_NO_FATAL_FAILURE(MakeTcpPair(c_, c_, &server, &client));
  SW_ASSERT_OK(SendAll(c_, client, "last words"));
  SW_ASSERT_OK(Close(c_, client));
  auto r = Recv(c_, server, 1024);
  SW_ASSERT_OK(r);
  EXPECT_EQ(r->data(), "last words");
  r = Recv(c_, server, 1024);
  SW_ASSERT_OK(r);
  EXPECT_EQ(r->data(), "");
  r = Recv(c_, server, 1024);
  SW_ASSERT_OK(r);
  EXPECT_EQ(r->data(), "") << "EOF stays EOF";
}

TEST_F(SocketOps, ShutdownWriteIsSeenByPeerOtherDirectionStillWorks) {
  std::string server, client;
  ASSERT_NO_FATAL_FAILURE(MakeTcpPair(c_, c_, &server, &client));
  SW_ASSERT_OK(SendAll(c_, client, "request"));
  SW_ASSERT_OK(Shutdown(c_, client, v1::SHUTDOWN_HOW_WR));
  std::string got;
  for (;;) {
    auto r = Recv(c_, server, 1024);
    SW_ASSERT_OK(r);
    if (r->data().empty()) break;
    got += r->data();
  }
  EXPECT_EQ(got, "request");
  // The server can still answer on the half-open connection.
  SW_ASSERT_OK(SendAll(c_, server, "response"));
  auto r = Recv(c_, client, 1024);
  SW_ASSERT_OK(r);
  EXPECT_EQ(r->data(), "response");
  // And writing after SHUT_WR fails with EPIPE.
  auto w = Send(c_, client, "more", MSG_NOSIGNAL);
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(ErrnoOf(w.detail), EPIPE) << w.Describe();
}

TEST_F(SocketOps, ShutdownUnconnectedIsENOTCONN) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  auto r = Shutdown(c_, s->handle(), v1::SHUTDOWN_HOW_RDWR);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(ErrnoOf(r.detail), ENOTCONN) << r.Describe();
}

TEST_F(SocketOps, CloseWakesAPendingRecv) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  Result<v1::RecvResponse> pending;
  std::thread t([&] { pending = Recv(c_, b, 1024, 0, 20000); });
  SW_EXPECT_OK(Close(c_, b));
  t.join();
  // Either the recv was waiting (EBADF) or it arrived after the close
  // (NOT_FOUND); it must not sit out its deadline.
  EXPECT_FALSE(pending.ok());
  EXPECT_NE(pending.code(), grpc::StatusCode::DEADLINE_EXCEEDED) << pending.Describe();
  EXPECT_LT(pending.elapsed.count(), 10000);
  if (pending.code() != grpc::StatusCode::NOT_FOUND) {
    EXPECT_EQ(ErrnoOf(pending.detail), EBADF) << pending.Describe();
  }
}

// ---- Options ---------------------------------------------------------------

TEST_F(SocketOps, BooleanAndIntegerOptionsRoundTrip) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  const std::string h = s->handle();
  struct Case {
    v1::OptionName name;
    int64_t value;
  };
  for (Case k : {Case{v1::OPTION_SO_REUSEADDR, 1}, Case{v1::OPTION_SO_REUSEPORT, 1},
                 Case{v1::OPTION_SO_KEEPALIVE, 1}, Case{v1::OPTION_TCP_NODELAY, 1},
                 Case{v1::OPTION_TCP_KEEPIDLE, 30}, Case{v1::OPTION_TCP_KEEPINTVL, 7},
                 Case{v1::OPTION_TCP_KEEPCNT, 4}, Case{v1::OPTION_IP_TTL, 42},
                 Case{v1::OPTION_SO_REUSEADDR, 0}, Case{v1::OPTION_TCP_NODELAY, 0}}) {
    auto set = SetOpt(c_, h, k.name, k.value);
    SW_EXPECT_OK(set) << " option " << v1::OptionName_Name(k.name);
    auto got = GetOpt(c_, h, k.name);
    SW_EXPECT_OK(got) << " option " << v1::OptionName_Name(k.name);
    EXPECT_EQ(got->int_value(), k.value) << v1::OptionName_Name(k.name);
  }
}

TEST_F(SocketOps, ReceiveBufferIsDoubledByTheKernel) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  SW_ASSERT_OK(SetOpt(c_, s->handle(), v1::OPTION_SO_RCVBUF, 65536));
  auto got = GetOpt(c_, s->handle(), v1::OPTION_SO_RCVBUF);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->int_value(), 2 * 65536);
  SW_ASSERT_OK(SetOpt(c_, s->handle(), v1::OPTION_SO_SNDBUF, 65536));
  got = GetOpt(c_, s->handle(), v1::OPTION_SO_SNDBUF);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->int_value(), 2 * 65536);
}

TEST_F(SocketOps, LingerRoundTrip) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  v1::OptionValue v;
  v.mutable_linger()->set_onoff(true);
  v.mutable_linger()->set_seconds(5);
  SW_ASSERT_OK(SetOpt(c_, s->handle(), v1::OPTION_SO_LINGER, v));
  auto got = GetOpt(c_, s->handle(), v1::OPTION_SO_LINGER);
  SW_ASSERT_OK(got);
  ASSERT_TRUE(got->has_linger()) << got->ShortDebugString();
  EXPECT_TRUE(got->linger().onoff());
  EXPECT_EQ(got->linger().seconds(), 5);
}

TEST_F(SocketOps, Ipv6OnlyRoundTrip) {
  auto s = Create(c_, v1::FAMILY_INET6, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  SW_ASSERT_OK(SetOpt(c_, s->handle(), v1::OPTION_IPV6_V6ONLY, 1));
  auto got = GetOpt(c_, s->handle(), v1::OPTION_IPV6_V6ONLY);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->int_value(), 1);
  SW_ASSERT_OK(SetOpt(c_, s->handle(), v1::OPTION_IPV6_V6ONLY, 0));
  got = GetOpt(c_, s->handle(), v1::OPTION_IPV6_V6ONLY);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->int_value(), 0);
}

TEST_F(SocketOps, DatagramOptionsRoundTrip) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(s);
  for (auto [name, value] : {std::pair{v1::OPTION_SO_BROADCAST, int64_t{1}},
                             std::pair{v1::OPTION_IP_MULTICAST_TTL, int64_t{5}},
                             std::pair{v1::OPTION_IP_MULTICAST_LOOP, int64_t{0}}}) {
    SW_EXPECT_OK(SetOpt(c_, s->handle(), name, value)) << v1::OptionName_Name(name);
    auto got = GetOpt(c_, s->handle(), name);
    SW_EXPECT_OK(got) << v1::OptionName_Name(name);
    EXPECT_EQ(got->int_value(), value) << v1::OptionName_Name(name);
  }
}

TEST_F(SocketOps, ReadOnlyOptions) {
  auto tcp = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  auto udp = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(tcp);
  SW_ASSERT_OK(udp);
  auto type = GetOpt(c_, tcp->handle(), v1::OPTION_SO_TYPE);
  SW_ASSERT_OK(type);
  EXPECT_EQ(type->int_value(), SOCK_STREAM);
  type = GetOpt(c_, udp->handle(), v1::OPTION_SO_TYPE);
  SW_ASSERT_OK(type);
  EXPECT_EQ(type->int_value(), SOCK_DGRAM);
  auto err = GetOpt(c_, tcp->handle(), v1::OPTION_SO_ERROR);
  SW_ASSERT_OK(err);
  EXPECT_EQ(err->int_value(), 0);
  auto acc = GetOpt(c_, tcp->handle(), v1::OPTION_SO_ACCEPTCONN);
  SW_ASSERT_OK(acc);
  EXPECT_EQ(acc->int_value(), 0);
  SW_ASSERT_OK(Bind(c_, tcp->handle(), Inet("127.0.0.1", 0)));
  SW_ASSERT_OK(Listen(c_, tcp->handle()));
  acc = GetOpt(c_, tcp->handle(), v1::OPTION_SO_ACCEPTCONN);
  SW_ASSERT_OK(acc);
  EXPECT_EQ(acc->int_value(), 1);
  auto info = GetInfo(c_, tcp->handle());
  SW_ASSERT_OK(info);
  EXPECT_TRUE(info->listening());
  // Setting a read-only option is the kernel's ENOPROTOOPT, as in Python.
  auto set = SetOpt(c_, tcp->handle(), v1::OPTION_SO_TYPE, 1);
  EXPECT_FALSE(set.ok());
  EXPECT_EQ(ErrnoOf(set.detail), ENOPROTOOPT) << set.Describe();
}

TEST_F(SocketOps, RawOptionForm) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  const std::string h = s->handle();
  // setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1); getsockopt(...) -> 1.
  v1::OptionValue one;
  one.set_int_value(1);
  SW_ASSERT_OK(SetRawOpt(c_, h, SOL_SOCKET, SO_KEEPALIVE, one));
  auto got = GetRawOpt(c_, h, SOL_SOCKET, SO_KEEPALIVE);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->int_value(), 1);
  // The typed view agrees.
  auto typed = GetOpt(c_, h, v1::OPTION_SO_KEEPALIVE);
  SW_ASSERT_OK(typed);
  EXPECT_EQ(typed->int_value(), 1);
  // getsockopt(level, optname, buflen) returns bytes.
  auto bytes = GetRawOpt(c_, h, SOL_SOCKET, SO_KEEPALIVE, 4);
  SW_ASSERT_OK(bytes);
  ASSERT_TRUE(bytes->has_bytes_value() || bytes->value_case() == v1::OptionValue::kBytesValue)
      << bytes->ShortDebugString();
  int v = 0;
  ASSERT_EQ(bytes->bytes_value().size(), sizeof v);
  std::memcpy(&v, bytes->bytes_value().data(), sizeof v);
  EXPECT_EQ(v, 1);
  // setsockopt(IPPROTO_TCP, TCP_NODELAY, b'\x01\0\0\0').
  v1::OptionValue raw;
  int on = 1;
  raw.set_bytes_value(std::string(reinterpret_cast<const char*>(&on), sizeof on));
  SW_ASSERT_OK(SetRawOpt(c_, h, IPPROTO_TCP, TCP_NODELAY, raw));
  typed = GetOpt(c_, h, v1::OPTION_TCP_NODELAY);
  SW_ASSERT_OK(typed);
  EXPECT_EQ(typed->int_value(), 1);
  // An option outside the allow-list (here one no kernel knows) never
  // reaches the kernel.
  auto bad = GetRawOpt(c_, h, SOL_SOCKET, 12345);
  SW_EXPECT_CODE(bad, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(bad.detail.reason(), "OPTION_DENIED") << bad.Describe();
}

TEST_F(SocketOps, MulticastMembershipFollowsTheKernel) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(s);
  // What does this kernel say for the same request?
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  ip_mreq mreq{};
  inet_pton(AF_INET, "239.255.10.10", &mreq.imr_multiaddr);
  mreq.imr_interface.s_addr = htonl(INADDR_ANY);
  int rc = setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq);
  int local_errno = rc == 0 ? 0 : errno;
  ::close(fd);

  v1::OptionValue v;
  v.mutable_membership()->set_group("239.255.10.10");
  auto r = SetOpt(c_, s->handle(), v1::OPTION_IP_ADD_MEMBERSHIP, v);
  if (local_errno == 0) {
    SW_EXPECT_OK(r);
    SW_EXPECT_OK(SetOpt(c_, s->handle(), v1::OPTION_IP_DROP_MEMBERSHIP, v));
  } else {
    EXPECT_EQ(ErrnoOf(r.detail), local_errno) << r.Describe();
  }
}

// ---- Ancillary data --------------------------------------------------------

TEST_F(SocketOps, ScmCredentialsThroughSendMsgRecvMsg) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  SW_ASSERT_OK(SetOpt(c_, b, v1::OPTION_SO_PASSCRED, 1));
  auto passcred = GetOpt(c_, b, v1::OPTION_SO_PASSCRED);
  SW_ASSERT_OK(passcred);
  EXPECT_EQ(passcred->int_value(), 1);

  ucred cred{};
  cred.pid = d_.pid();  // the kernel checks these against the sender
  cred.uid = getuid();
  cred.gid = getgid();
  v1::SendMsgRequest req;
  req.set_handle(a);
  req.add_buffers("cred");
  req.add_buffers("entials");
  auto* anc = req.add_ancillary();
  anc->set_level(SOL_SOCKET);
  anc->set_type(SCM_CREDENTIALS);
  anc->set_data(std::string(reinterpret_cast<const char*>(&cred), sizeof cred));
  auto sent = SendMsg(c_, req);
  SW_ASSERT_OK(sent);
  EXPECT_EQ(sent->sent(), 11);

  auto got = RecvMsg(c_, b, 1024, 64);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "credentials");
  ASSERT_EQ(got->ancillary_size(), 1) << got->ShortDebugString();
  const auto& m = got->ancillary(0);
  EXPECT_EQ(m.level(), SOL_SOCKET);
  EXPECT_EQ(m.type(), SCM_CREDENTIALS);
  ASSERT_EQ(m.data().size(), sizeof(ucred));
  ucred seen{};
  std::memcpy(&seen, m.data().data(), sizeof seen);
  EXPECT_EQ(seen.pid, d_.pid());
  EXPECT_EQ(seen.uid, getuid());
  EXPECT_EQ(seen.gid, getgid());
  EXPECT_EQ(got->msg_flags() & MSG_CTRUNC, 0);
}

TEST_F(SocketOps, ScmCredentialsClaimingAnotherProcessAreRefused) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  ucred cred{};
  cred.pid = 1;  // not the daemon: only CAP_SYS_ADMIN may claim it
  cred.uid = getuid();
  cred.gid = getgid();
  v1::SendMsgRequest req;
  req.set_handle(a);
  req.add_buffers("x");
  auto* anc = req.add_ancillary();
  anc->set_level(SOL_SOCKET);
  anc->set_type(SCM_CREDENTIALS);
  anc->set_data(std::string(reinterpret_cast<const char*>(&cred), sizeof cred));
  auto r = SendMsg(c_, req);
  // The daemon is root: the kernel would deliver the lie. The daemon refuses.
  SW_EXPECT_CODE(r, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(r.detail.reason(), "CREDENTIALS_DENIED") << r.Describe();
}

TEST_F(SocketOps, IpPktinfoThroughRecvMsg) {
  auto rx = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  auto tx = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(rx);
  SW_ASSERT_OK(tx);
  SW_ASSERT_OK(Bind(c_, rx->handle(), Inet("127.0.0.1", 0)));
  SW_ASSERT_OK(SetOpt(c_, rx->handle(), v1::OPTION_IP_PKTINFO, 1));
  auto addr = GetSockName(c_, rx->handle());
  SW_ASSERT_OK(addr);
  SW_ASSERT_OK(SendTo(c_, tx->handle(), "pkt", *addr));
  auto txname = GetSockName(c_, tx->handle());
  SW_ASSERT_OK(txname);

  auto got = RecvMsg(c_, rx->handle(), 1024, 64);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "pkt");
  EXPECT_EQ(PortOf(got->address()), PortOf(*txname)) << got->ShortDebugString();
  ASSERT_EQ(got->ancillary_size(), 1) << got->ShortDebugString();
  EXPECT_EQ(got->ancillary(0).level(), IPPROTO_IP);
  EXPECT_EQ(got->ancillary(0).type(), IP_PKTINFO);
  ASSERT_EQ(got->ancillary(0).data().size(), sizeof(in_pktinfo));
  in_pktinfo info{};
  std::memcpy(&info, got->ancillary(0).data().data(), sizeof info);
  EXPECT_EQ(ntohl(info.ipi_addr.s_addr), INADDR_LOOPBACK);
}

TEST_F(SocketOps, RecvMsgWithoutAncillaryRoom) {
  auto rx = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  auto tx = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(rx);
  SW_ASSERT_OK(tx);
  SW_ASSERT_OK(Bind(c_, rx->handle(), Inet("127.0.0.1", 0)));
  SW_ASSERT_OK(SetOpt(c_, rx->handle(), v1::OPTION_IP_PKTINFO, 1));
  auto addr = GetSockName(c_, rx->handle());
  SW_ASSERT_OK(addr);
  SW_ASSERT_OK(SendTo(c_, tx->handle(), "pkt", *addr));
  // ancbufsize 0: no control data, and the kernel flags MSG_CTRUNC.
  auto got = RecvMsg(c_, rx->handle(), 1024, 0);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "pkt");
  EXPECT_EQ(got->ancillary_size(), 0);
  EXPECT_NE(got->msg_flags() & MSG_CTRUNC, 0) << got->msg_flags();
}

// ---- Poll ------------------------------------------------------------------

TEST_F(SocketOps, PollWakesWhenReadable) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  // Nothing to read yet: a zero timeout returns nothing.
  auto idle = Poll(c_, {{b, POLLIN}}, 0);
  SW_ASSERT_OK(idle);
  EXPECT_EQ(idle->ready_size(), 0);

  Result<v1::PollResponse> woke;
  std::thread t([&] { woke = Poll(c_, {{b, POLLIN}}, 5000); });
  SW_ASSERT_OK(SendAll(c_, a, "wake"));
  t.join();
  SW_ASSERT_OK(woke);
  ASSERT_EQ(woke->ready_size(), 1) << woke->ShortDebugString();
  EXPECT_EQ(woke->ready(0).handle(), b);
  EXPECT_NE(woke->ready(0).revents() & POLLIN, 0);
  EXPECT_LT(woke.elapsed.count(), 4500) << "woke on readiness, not on the timeout";
}

TEST_F(SocketOps, PollTimesOutWhenNothingHappens) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  auto r = Poll(c_, {{a, POLLIN}, {b, POLLIN}}, 100);
  SW_ASSERT_OK(r);
  EXPECT_EQ(r->ready_size(), 0) << r->ShortDebugString();
  EXPECT_GE(r.elapsed.count(), 90);
  EXPECT_LT(r.elapsed.count(), 5000);
}

TEST_F(SocketOps, PollReportsOnlyReadyHandles) {
  std::string a1, b1, a2, b2;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a1, &b1));
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a2, &b2));
  SW_ASSERT_OK(SendAll(c_, a2, "x"));
  auto r = Poll(c_, {{b1, POLLIN}, {b2, POLLIN}}, 5000);
  SW_ASSERT_OK(r);
  ASSERT_EQ(r->ready_size(), 1) << r->ShortDebugString();
  EXPECT_EQ(r->ready(0).handle(), b2);
  // POLLOUT on a fresh connected socket is ready at once.
  auto w = Poll(c_, {{a1, POLLOUT}}, 5000);
  SW_ASSERT_OK(w);
  ASSERT_EQ(w->ready_size(), 1);
  EXPECT_NE(w->ready(0).revents() & POLLOUT, 0);
  // A closed peer shows as POLLIN (EOF) / POLLHUP.
  SW_ASSERT_OK(Close(c_, a1));
  auto h = Poll(c_, {{b1, POLLIN}}, 5000);
  SW_ASSERT_OK(h);
  ASSERT_EQ(h->ready_size(), 1);
  EXPECT_NE(h->ready(0).revents() & (POLLIN | POLLHUP), 0);
}

TEST_F(SocketOps, PollWithoutTimeoutWaitsForReadiness) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  Result<v1::PollResponse> woke;
  std::thread t([&] { woke = Poll(c_, {{b, POLLIN}}, -1, 10000); });
  SW_ASSERT_OK(SendAll(c_, a, "x"));
  t.join();
  SW_ASSERT_OK(woke);
  ASSERT_EQ(woke->ready_size(), 1);
  EXPECT_NE(woke->ready(0).revents() & POLLIN, 0);
  // Nothing ready and no timeout: the caller's deadline ends it.
  auto idle = Poll(c_, {{a, POLLIN}}, -1, 200);
  EXPECT_EQ(idle.code(), grpc::StatusCode::DEADLINE_EXCEEDED) << idle.Describe();
}

TEST_F(SocketOps, CancelledAcceptLeavesListenerWorking) {
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(MakeTcpListener(c_, v1::FAMILY_INET, "127.0.0.1", &listener, &address));
  auto gave_up = Accept(c_, listener, 100);  // the caller's deadline, not the socket's
  EXPECT_EQ(gave_up.code(), grpc::StatusCode::DEADLINE_EXCEEDED) << gave_up.Describe();
  auto cl = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(cl);
  SW_ASSERT_OK(Connect(c_, cl->handle(), address));
  auto acc = Accept(c_, listener, 2000);
  if (!acc.ok()) {
    // The client's deadline passes a few ms before the daemon's (the
    // timeout travels with the call), so a connect made at once can race
    // the expiring accept and be taken by it. Then the connection must sit
    // in the session (listed, closed with it), never be lost, and the
    // listener must keep working.
    SW_EXPECT_CODE(acc, grpc::StatusCode::DEADLINE_EXCEEDED);
    auto list = List(c_);
    SW_ASSERT_OK(list);
    EXPECT_EQ(list->sockets_size(), 3) << "listener, client and the raced accept";
    cl = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
    SW_ASSERT_OK(cl);
    SW_ASSERT_OK(Connect(c_, cl->handle(), address));
    acc = Accept(c_, listener);
    SW_ASSERT_OK(acc);
  }
  SW_ASSERT_OK(SendAll(c_, acc->socket().handle(), "hi"));
  auto got = Recv(c_, cl->handle(), 16);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "hi");
}

TEST_F(SocketOps, PollOnListenerWakesOnConnect) {
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(MakeTcpListener(c_, v1::FAMILY_INET, "127.0.0.1", &listener, &address));
  Result<v1::PollResponse> woke;
  std::thread t([&] { woke = Poll(c_, {{listener, POLLIN}}, 5000); });
  auto cl = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(cl);
  SW_ASSERT_OK(Connect(c_, cl->handle(), address));
  t.join();
  SW_ASSERT_OK(woke);
  ASSERT_EQ(woke->ready_size(), 1);
  EXPECT_NE(woke->ready(0).revents() & POLLIN, 0);
  SW_EXPECT_OK(Accept(c_, listener));
}

// ---- Handle management -----------------------------------------------------

TEST_F(SocketOps, GetInfoAndList) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  auto u = Create(c_, v1::FAMILY_INET6, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(u);
  EXPECT_NE(s->handle(), u->handle());
  EXPECT_EQ(s->handle().rfind("sw1.", 0), 0u) << s->handle();

  auto info = GetInfo(c_, s->handle());
  SW_ASSERT_OK(info);
  EXPECT_EQ(info->handle(), s->handle());
  EXPECT_EQ(info->family(), v1::FAMILY_INET);
  EXPECT_EQ(info->type(), v1::SOCKET_TYPE_STREAM);
  EXPECT_EQ(info->proto(), 0);
  EXPECT_FALSE(info->timeout().has_timeout());
  EXPECT_FALSE(info->inheritable());
  EXPECT_FALSE(info->detached());
  EXPECT_FALSE(info->listening());

  SW_ASSERT_OK(Bind(c_, s->handle(), Inet("127.0.0.1", 0)));
  SW_ASSERT_OK(Listen(c_, s->handle(), 5));
  info = GetInfo(c_, s->handle());
  SW_ASSERT_OK(info);
  EXPECT_TRUE(info->listening());
  ASSERT_TRUE(info->local_address().has_inet()) << info->ShortDebugString();
  EXPECT_EQ(info->local_address().inet().host(), "127.0.0.1");
  EXPECT_NE(info->local_address().inet().port(), 0u);

  auto list = List(c_);
  SW_ASSERT_OK(list);
  std::set<std::string> handles;
  for (const auto& i : list->sockets()) handles.insert(i.handle());
  EXPECT_EQ(handles, (std::set<std::string>{s->handle(), u->handle()}));

  SW_ASSERT_OK(Close(c_, u->handle()));
  list = List(c_);
  SW_ASSERT_OK(list);
  ASSERT_EQ(list->sockets_size(), 1);
  EXPECT_EQ(list->sockets(0).handle(), s->handle());
  EXPECT_EQ(list->sockets(0).family(), v1::FAMILY_INET);
}

TEST_F(SocketOps, DupSharesTheSocket) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  auto dup = Dup(c_, a);
  SW_ASSERT_OK(dup);
  EXPECT_NE(dup->handle(), a);
  EXPECT_EQ(dup->family(), v1::FAMILY_UNIX);
  EXPECT_EQ(dup->type(), v1::SOCKET_TYPE_STREAM);
  // Closing the original leaves the duplicate's descriptor open.
  SW_ASSERT_OK(Close(c_, a));
  SW_ASSERT_OK(SendAll(c_, dup->handle(), "via dup"));
  auto got = Recv(c_, b, 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "via dup");
  SW_ASSERT_OK(Close(c_, dup->handle()));
  got = Recv(c_, b, 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "") << "the last descriptor closed";
}

TEST_F(SocketOps, DetachThenAttachInTheSameSession) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  auto detached = Detach(c_, a);
  SW_ASSERT_OK(detached);
  ASSERT_FALSE(detached->handle().empty());
  auto attached = Attach(c_, detached->handle());
  SW_ASSERT_OK(attached);
  EXPECT_EQ(attached->family(), v1::FAMILY_UNIX);
  SW_ASSERT_OK(SendAll(c_, attached->handle(), "reattached"));
  auto got = Recv(c_, b, 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "reattached");
}

TEST_F(SocketOps, DetachedSocketOutlivesItsSessionAndIsAttachedByAnother) {
  Client peer(d_);
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(MakeTcpListener(peer, v1::FAMILY_INET, "127.0.0.1", &listener, &address));
  std::string handle;
  {
    Client first(d_);
    auto s = Create(first, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
    SW_ASSERT_OK(s);
    SW_ASSERT_OK(Connect(first, s->handle(), address));
    auto detached = Detach(first, s->handle());
    SW_ASSERT_OK(detached);
    handle = detached->handle();
    auto info = GetInfo(first, handle);
    if (info.ok()) {
      EXPECT_TRUE(info->detached());
    }
    auto closed = CloseSession(first);
    SW_ASSERT_OK(closed);
    EXPECT_EQ(closed->closed_sockets(), 0) << "detached sockets are not closed";
  }
  auto conn = Accept(peer, listener);
  SW_ASSERT_OK(conn);

  Client second(d_);
  auto attached = Attach(second, handle);
  SW_ASSERT_OK(attached);
  EXPECT_FALSE(attached->detached());
  SW_ASSERT_OK(SendAll(second, attached->handle(), "still connected"));
  auto got = Recv(peer, conn->socket().handle(), 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "still connected");
}

TEST_F(SocketOps, InheritableFlagRoundTripAndSurvivesSessionEnd) {
  std::string a, b;
  Client first(d_);
  auto pair = CreatePair(first, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(pair);
  a = pair->first().handle();
  b = pair->second().handle();
  auto inh = GetInheritable(first, a);
  SW_ASSERT_OK(inh);
  EXPECT_FALSE(inh->inheritable()) << "sockets are non-inheritable by default, as in Python";
  SW_ASSERT_OK(SetInheritable(first, a, true));
  SW_ASSERT_OK(SetInheritable(first, b, true));
  inh = GetInheritable(first, a);
  SW_ASSERT_OK(inh);
  EXPECT_TRUE(inh->inheritable());
  auto info = GetInfo(first, a);
  SW_ASSERT_OK(info);
  EXPECT_TRUE(info->inheritable());
  SW_ASSERT_OK(SetInheritable(first, b, false));
  inh = GetInheritable(first, b);
  SW_ASSERT_OK(inh);
  EXPECT_FALSE(inh->inheritable());
  SW_ASSERT_OK(SetInheritable(first, b, true));

  SW_ASSERT_OK(CloseSession(first));
  Client second(d_);
  auto ta = Attach(second, a);
  auto tb = Attach(second, b);
  SW_ASSERT_OK(ta);
  SW_ASSERT_OK(tb);
  SW_ASSERT_OK(SendAll(second, ta->handle(), "inherited"));
  auto got = Recv(second, tb->handle(), 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "inherited");
}

TEST_F(SocketOps, ShareAndFromShareIntoAnotherSession) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  auto token = Share(c_, a);
  SW_ASSERT_OK(token);
  ASSERT_FALSE(token->token().empty());

  Client other(d_);
  auto shared = FromShare(other, token->token());
  SW_ASSERT_OK(shared);
  EXPECT_NE(shared->handle(), a);
  EXPECT_EQ(shared->family(), v1::FAMILY_UNIX);
  EXPECT_EQ(shared->type(), v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(SendAll(other, shared->handle(), "from the other session"));
  auto got = Recv(c_, b, 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "from the other session");
  // The sharer keeps its own socket.
  SW_ASSERT_OK(SendAll(c_, a, "mine too"));
  got = Recv(c_, b, 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "mine too");
  // A token works once.
  Client third(d_);
  auto again = FromShare(third, token->token());
  EXPECT_FALSE(again.ok()) << "share tokens are one-time";
  // And a made-up token is refused.
  auto bogus = FromShare(third, "not-a-token");
  EXPECT_FALSE(bogus.ok());
}

// ---- ioctl and recv flags --------------------------------------------------

TEST_F(SocketOps, IoctlFionreadCountsWaitingBytes) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  auto empty = Ioctl(c_, b, v1::IOCTL_FIONREAD);
  SW_ASSERT_OK(empty);
  EXPECT_EQ(empty->value(), 0);
  SW_ASSERT_OK(SendAll(c_, a, "12345678"));
  ASSERT_NO_FATAL_FAILURE(WaitReadable(b));
  auto n = Ioctl(c_, b, v1::IOCTL_FIONREAD);
  SW_ASSERT_OK(n);
  EXPECT_EQ(n->value(), 8);
}

TEST_F(SocketOps, IoctlOnTcp) {
  std::string server, client;
  ASSERT_NO_FATAL_FAILURE(MakeTcpPair(c_, c_, &server, &client));
  SW_ASSERT_OK(SendAll(c_, client, "abc"));
  ASSERT_NO_FATAL_FAILURE(WaitReadable(server));
  auto n = Ioctl(c_, server, v1::IOCTL_FIONREAD);
  SW_ASSERT_OK(n);
  EXPECT_EQ(n->value(), 3);
  auto outq = Ioctl(c_, server, v1::IOCTL_SIOCOUTQ);
  SW_ASSERT_OK(outq);
  EXPECT_EQ(outq->value(), 0);
  auto mark = Ioctl(c_, server, v1::IOCTL_SIOCATMARK);
  SW_ASSERT_OK(mark);
  EXPECT_EQ(mark->value(), 0);
}

TEST_F(SocketOps, MsgPeekLeavesDataQueued) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  SW_ASSERT_OK(SendAll(c_, a, "peekaboo"));
  ASSERT_NO_FATAL_FAILURE(WaitReadable(b));
  auto peek = Recv(c_, b, 1024, MSG_PEEK);
  SW_ASSERT_OK(peek);
  EXPECT_EQ(peek->data(), "peekaboo");
  auto got = Recv(c_, b, 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "peekaboo");
}

TEST_F(SocketOps, MsgWaitallGathersEveryByte) {
  std::string server, client;
  ASSERT_NO_FATAL_FAILURE(MakeTcpPair(c_, c_, &server, &client));
  Result<v1::RecvResponse> got;
  std::thread t([&] { got = Recv(c_, server, 10, MSG_WAITALL, 20000); });
  SW_ASSERT_OK(SendAll(c_, client, "12345"));
  SW_ASSERT_OK(SendAll(c_, client, "67890"));
  t.join();
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "1234567890");
}

TEST_F(SocketOps, RecvReturnsAtMostBufsize) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  SW_ASSERT_OK(SendAll(c_, a, "abcdefgh"));
  ASSERT_NO_FATAL_FAILURE(WaitReadable(b));
  auto r = Recv(c_, b, 3);
  SW_ASSERT_OK(r);
  EXPECT_EQ(r->data(), "abc");
  r = Recv(c_, b, 1024);
  SW_ASSERT_OK(r);
  EXPECT_EQ(r->data(), "defgh");
  // bufsize 0 is allowed and returns nothing at once, as in Python.
  auto zero = Recv(c_, b, 0, 0, 2000);
  SW_EXPECT_OK(zero);
  EXPECT_EQ(zero->data(), "");
}

TEST_F(SocketOps, SendAllMovesAMegabyteAgainstASlowReader) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  std::string payload(1 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
  std::string received;
  std::string reader_error;
  std::thread reader([&] {
    while (received.size() < payload.size()) {
      auto r = Recv(c_, b, 65536, 0, 20000);
      if (!r.ok() || r->data().empty()) {
        reader_error = r.Describe();
        return;
      }
      received += r->data();
    }
  });
  auto sent = SendAll(c_, a, payload);
  reader.join();
  SW_EXPECT_OK(sent);
  EXPECT_EQ(sent->sent(), static_cast<int64_t>(payload.size()));
  EXPECT_EQ(reader_error, "");
  EXPECT_TRUE(received == payload) << "received " << received.size() << " bytes";
}

TEST_F(SocketOps, SendIsOneSyscall) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(UnixPair(&a, &b));
  auto sent = Send(c_, a, "one send");
  SW_ASSERT_OK(sent);
  EXPECT_EQ(sent->sent(), 8);
  // Non-blocking send into a full buffer: a partial count or EAGAIN, never a wait.
  SW_ASSERT_OK(SetOpt(c_, a, v1::OPTION_SO_SNDBUF, 4096));
  SW_ASSERT_OK(SetBlocking(c_, a, false));
  std::string big(1 << 20, 'x');
  auto partial = Send(c_, a, big);
  if (partial.ok()) {
    EXPECT_GT(partial->sent(), 0);
    EXPECT_LT(partial->sent(), static_cast<int64_t>(big.size()));
  } else {
    EXPECT_EQ(ErrnoOf(partial.detail), EAGAIN) << partial.Describe();
  }
  auto again = Send(c_, a, big);
  EXPECT_FALSE(again.ok()) << "the buffer is full now";
  EXPECT_EQ(again.code(), grpc::StatusCode::UNAVAILABLE) << again.Describe();
  EXPECT_EQ(again.detail.reason(), "WOULD_BLOCK") << again.Describe();
}

TEST_F(SocketOps, OutOfBandDataAndSiocatmark) {
  std::string server, client;
  ASSERT_NO_FATAL_FAILURE(MakeTcpPair(c_, c_, &server, &client));
  SW_ASSERT_OK(Send(c_, client, "ab"));
  SW_ASSERT_OK(Send(c_, client, "!", MSG_OOB));
  auto pri = Poll(c_, {{server, POLLPRI}}, 5000);
  SW_ASSERT_OK(pri);
  ASSERT_EQ(pri->ready_size(), 1);
  EXPECT_NE(pri->ready(0).revents() & POLLPRI, 0);
  auto mark = Ioctl(c_, server, v1::IOCTL_SIOCATMARK);
  SW_ASSERT_OK(mark);
  EXPECT_EQ(mark->value(), 0);
  auto oob = Recv(c_, server, 1, MSG_OOB);
  SW_ASSERT_OK(oob);
  EXPECT_EQ(oob->data(), "!");
  auto inline_data = Recv(c_, server, 1024);
  SW_ASSERT_OK(inline_data);
  EXPECT_EQ(inline_data->data(), "ab");
  mark = Ioctl(c_, server, v1::IOCTL_SIOCATMARK);
  SW_ASSERT_OK(mark);
  EXPECT_EQ(mark->value(), 1);
}

TEST_F(SocketOps, SendMsgGathersBuffersToAnAddress) {
  auto rx = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  auto tx = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(rx);
  SW_ASSERT_OK(tx);
  SW_ASSERT_OK(Bind(c_, rx->handle(), Inet("127.0.0.1", 0)));
  auto addr = GetSockName(c_, rx->handle());
  SW_ASSERT_OK(addr);
  v1::SendMsgRequest req;
  req.set_handle(tx->handle());
  req.add_buffers("one ");
  req.add_buffers("datagram ");
  req.add_buffers("from three buffers");
  *req.mutable_address() = *addr;
  auto sent = SendMsg(c_, req);
  SW_ASSERT_OK(sent);
  EXPECT_EQ(sent->sent(), 31);
  auto got = RecvFrom(c_, rx->handle(), 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "one datagram from three buffers");
}

TEST_F(SocketOps, BindErrorsCarryTheKernelsErrno) {
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(MakeTcpListener(c_, v1::FAMILY_INET, "127.0.0.1", &listener, &address));
  // The port is taken.
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  auto in_use = Bind(c_, s->handle(), address);
  EXPECT_FALSE(in_use.ok());
  EXPECT_EQ(ErrnoOf(in_use.detail), EADDRINUSE) << in_use.Describe();
  EXPECT_EQ(in_use.detail.errno_name(), "EADDRINUSE") << in_use.Describe();
  // Binding twice.
  SW_ASSERT_OK(Bind(c_, s->handle(), Inet("127.0.0.1", 0)));
  auto twice = Bind(c_, s->handle(), Inet("127.0.0.1", 0));
  EXPECT_FALSE(twice.ok());
  EXPECT_EQ(ErrnoOf(twice.detail), EINVAL) << twice.Describe();
  EXPECT_EQ(twice.code(), grpc::StatusCode::INVALID_ARGUMENT) << twice.Describe();
  // An address this host does not have.
  auto u = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(u);
  auto foreign = Bind(c_, u->handle(), Inet("192.0.2.1", 0));
  EXPECT_FALSE(foreign.ok());
  EXPECT_EQ(ErrnoOf(foreign.detail), EADDRNOTAVAIL) << foreign.Describe();
}

TEST_F(SocketOps, PeerNameOfUnconnectedSocketIsENOTCONN) {
  auto s = Create(c_, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  auto r = GetPeerName(c_, s->handle());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(ErrnoOf(r.detail), ENOTCONN) << r.Describe();
  EXPECT_EQ(r.detail.kind(), v1::ERROR_KIND_OS) << r.Describe();
}

TEST_F(SocketOps, UnixAddressesReadBack) {
  const std::string path = d_.temp_dir() + "/named.sock";
  auto s = Create(c_, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  SW_ASSERT_OK(Bind(c_, s->handle(), UnixPath(path)));
  SW_ASSERT_OK(Listen(c_, s->handle()));
  auto name = GetSockName(c_, s->handle());
  SW_ASSERT_OK(name);
  ASSERT_TRUE(name->has_unix_domain()) << name->ShortDebugString();
  EXPECT_EQ(name->unix_domain().path(), path);

  const std::string abstract = "sockwire-abstract-" + std::to_string(d_.pid());
  auto a = Create(c_, v1::FAMILY_UNIX, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(a);
  SW_ASSERT_OK(Bind(c_, a->handle(), UnixAbstract(abstract)));
  auto aname = GetSockName(c_, a->handle());
  SW_ASSERT_OK(aname);
  ASSERT_TRUE(aname->has_unix_domain()) << aname->ShortDebugString();
  EXPECT_EQ(aname->unix_domain().abstract(), abstract);

  // An unnamed client connects; accept reports an unnamed peer.
  auto cl = Create(c_, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(cl);
  SW_ASSERT_OK(Connect(c_, cl->handle(), UnixPath(path)));
  auto acc = Accept(c_, s->handle());
  SW_ASSERT_OK(acc);
  EXPECT_EQ(acc->address().unix_domain().path(), "") << acc->address().ShortDebugString();
  auto peer = GetPeerName(c_, cl->handle());
  SW_ASSERT_OK(peer);
  EXPECT_EQ(peer->unix_domain().path(), path);
}

TEST_F(SocketOps, Ipv6AddressCarriesFlowinfoAndScope) {
  auto s = Create(c_, v1::FAMILY_INET6, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(s);
  SW_ASSERT_OK(Bind(c_, s->handle(), Inet6("::1", 0)));
  auto name = GetSockName(c_, s->handle());
  SW_ASSERT_OK(name);
  ASSERT_TRUE(name->has_inet6());
  EXPECT_EQ(name->inet6().host(), "::1");
  EXPECT_EQ(name->inet6().flowinfo(), 0u);
  EXPECT_EQ(name->inet6().scope_id(), 0u);
  // Python's 4-tuple form: flowinfo and scope_id travel with the address.
  auto t = Create(c_, v1::FAMILY_INET6, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(t);
  v1::Address to = *name;
  to.mutable_inet6()->set_flowinfo(0);
  to.mutable_inet6()->set_scope_id(0);
  SW_ASSERT_OK(SendTo(c_, t->handle(), "v6", to));
  auto got = RecvFrom(c_, s->handle(), 64);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "v6");
}

}  // namespace
}  // namespace sockwire::testing
