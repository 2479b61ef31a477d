// The seed's echo example with both ends driven through sockwired, over every
// family the issue names, plus datagrams, SEQPACKET pairs, health checking
// and reflection.
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include <google/protobuf/wrappers.pb.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "daemon_process.h"
#include "rpc_helpers.h"

namespace sockwire::testing {
namespace {

void RunEcho(DaemonProcess& d, v1::Family family, const v1::Address& bind_address) {
  Client server_side(d);
  Client client_side(d);
  EchoServer server(server_side, family, bind_address);
  v1::Address bound;
  ASSERT_NO_FATAL_FAILURE(server.Setup(&bound));
  std::thread t([&] { server.Serve(); });
  std::string reply = EchoClient(client_side, family, bound);
  t.join();
  EXPECT_EQ(reply, "Hello, world");
  EXPECT_EQ(server.error(), "");
  EXPECT_EQ(server.received(), "Hello, world");
}

void RunEcho(v1::Family family, const v1::Address& bind_address) {
  DaemonProcess d;
  RunEcho(d, family, bind_address);
}

TEST(Echo, TcpIpv4) {
  RunEcho(v1::FAMILY_INET, Inet("127.0.0.1", 0));
}

TEST(Echo, TcpIpv4AnyAddress) {
  // The seed binds HOST = '' (INADDR_ANY); the client then dials loopback.
  DaemonProcess d;
  Client server_side(d);
  Client client_side(d);
  EchoServer server(server_side, v1::FAMILY_INET, Inet("", 0));
  v1::Address bound;
  ASSERT_NO_FATAL_FAILURE(server.Setup(&bound));
  ASSERT_TRUE(bound.has_inet());
  EXPECT_EQ(bound.inet().host(), "0.0.0.0");
  std::thread t([&] { server.Serve(); });
  std::string reply = EchoClient(client_side, v1::FAMILY_INET, Inet("127.0.0.1", PortOf(bound)));
  t.join();
  EXPECT_EQ(reply, "Hello, world");
  EXPECT_EQ(server.error(), "");
  ASSERT_TRUE(server.peer().has_inet());
  EXPECT_EQ(server.peer().inet().host(), "127.0.0.1");
}

TEST(Echo, TcpIpv6) {
  RunEcho(v1::FAMILY_INET6, Inet6("::1", 0));
}

TEST(Echo, UnixStreamPath) {
  DaemonProcess d;  // Its test policy grants AF_UNIX paths in its temp dir.
  RunEcho(d, v1::FAMILY_UNIX, UnixPath(d.temp_dir() + "/echo.sock"));
}

TEST(Echo, UnixStreamAbstract) {
  RunEcho(v1::FAMILY_UNIX,
          UnixAbstract("sockwire-test-echo-" + std::to_string(getpid()) + "-" +
                       std::to_string(::testing::UnitTest::GetInstance()->random_seed())));
}

TEST(Echo, AcceptReportsPeerAddressAndNames) {
  DaemonProcess d;
  Client c(d);
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(MakeTcpListener(c, v1::FAMILY_INET, "127.0.0.1", &listener, &address));
  auto cl = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(cl);
  SW_ASSERT_OK(Connect(c, cl->handle(), address));
  auto accepted = Accept(c, listener);
  SW_ASSERT_OK(accepted);
  auto client_name = GetSockName(c, cl->handle());
  SW_ASSERT_OK(client_name);
  // accept()'s address is the client's own local address.
  EXPECT_EQ(accepted->address().ShortDebugString(), client_name->ShortDebugString());
  auto peer = GetPeerName(c, cl->handle());
  SW_ASSERT_OK(peer);
  EXPECT_EQ(peer->ShortDebugString(), address.ShortDebugString());
  // The accepted socket's info carries family, type and both addresses.
  const auto& info = accepted->socket();
  EXPECT_FALSE(info.handle().empty());
  EXPECT_EQ(info.family(), v1::FAMILY_INET);
  EXPECT_EQ(info.type(), v1::SOCKET_TYPE_STREAM);
  EXPECT_EQ(PortOf(info.local_address()), PortOf(address));
  EXPECT_EQ(PortOf(info.peer_address()), PortOf(*client_name));
}

TEST(Echo, CreateConnectionDialsInDaemon) {
  DaemonProcess d;
  Client server_side(d);
  Client client_side(d);
  EchoServer server(server_side, v1::FAMILY_INET, Inet("127.0.0.1", 0));
  v1::Address bound;
  ASSERT_NO_FATAL_FAILURE(server.Setup(&bound));
  std::thread t([&] { server.Serve(); });
  auto conn = CreateConnection(client_side, bound);
  std::string reply;
  EXPECT_TRUE(conn.ok()) << conn.Describe();
  if (conn.ok()) {
    SW_EXPECT_OK(SendAll(client_side, conn->handle(), "Hello, world"));
    auto data = Recv(client_side, conn->handle(), 1024);
    SW_EXPECT_OK(data);
    reply = data->data();
  }
  // Closing ends the server's loop (also when the dial failed: connect a
  // plain client so the server thread does not wait out its deadline).
  if (conn.ok()) {
    SW_EXPECT_OK(Close(client_side, conn->handle()));
  } else {
    EchoClient(client_side, v1::FAMILY_INET, bound);
  }
  t.join();
  EXPECT_EQ(reply, "Hello, world");
}

TEST(Echo, UdpSendToRecvFrom) {
  DaemonProcess d;
  Client c(d);
  auto server = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(server);
  SW_ASSERT_OK(Bind(c, server->handle(), Inet("127.0.0.1", 0)));
  auto server_addr = GetSockName(c, server->handle());
  SW_ASSERT_OK(server_addr);
  ASSERT_NE(PortOf(*server_addr), 0u);

  auto client = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(client);
  auto sent = SendTo(c, client->handle(), "Hello, world", *server_addr);
  SW_ASSERT_OK(sent);
  EXPECT_EQ(sent->sent(), 12);
  auto client_addr = GetSockName(c, client->handle());
  SW_ASSERT_OK(client_addr);

  auto got = RecvFrom(c, server->handle(), 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "Hello, world");
  ASSERT_TRUE(got->address().has_inet()) << got->address().ShortDebugString();
  EXPECT_EQ(got->address().inet().host(), "127.0.0.1");
  EXPECT_EQ(got->address().inet().port(), PortOf(*client_addr));

  // Echo it back to the address recvfrom reported.
  SW_ASSERT_OK(SendTo(c, server->handle(), got->data(), got->address()));
  auto back = RecvFrom(c, client->handle(), 1024);
  SW_ASSERT_OK(back);
  EXPECT_EQ(back->data(), "Hello, world");
  EXPECT_EQ(PortOf(back->address()), PortOf(*server_addr));
}

TEST(Echo, UdpIpv6SendToRecvFrom) {
  DaemonProcess d;
  Client c(d);
  auto server = Create(c, v1::FAMILY_INET6, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(server);
  SW_ASSERT_OK(Bind(c, server->handle(), Inet6("::1", 0)));
  auto server_addr = GetSockName(c, server->handle());
  SW_ASSERT_OK(server_addr);
  ASSERT_TRUE(server_addr->has_inet6()) << server_addr->ShortDebugString();
  auto client = Create(c, v1::FAMILY_INET6, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(client);
  SW_ASSERT_OK(SendTo(c, client->handle(), "ping6", *server_addr));
  auto got = RecvFrom(c, server->handle(), 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "ping6");
  ASSERT_TRUE(got->address().has_inet6());
  EXPECT_EQ(got->address().inet6().host(), "::1");
}

TEST(Echo, UdpConnectedSendRecv) {
  DaemonProcess d;
  Client c(d);
  auto a = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  auto b = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(a);
  SW_ASSERT_OK(b);
  SW_ASSERT_OK(Bind(c, a->handle(), Inet("127.0.0.1", 0)));
  SW_ASSERT_OK(Bind(c, b->handle(), Inet("127.0.0.1", 0)));
  auto an = GetSockName(c, a->handle());
  auto bn = GetSockName(c, b->handle());
  SW_ASSERT_OK(an);
  SW_ASSERT_OK(bn);
  SW_ASSERT_OK(Connect(c, a->handle(), *bn));
  SW_ASSERT_OK(Connect(c, b->handle(), *an));
  auto sent = Send(c, a->handle(), "datagram");
  SW_ASSERT_OK(sent);
  EXPECT_EQ(sent->sent(), 8);
  auto got = Recv(c, b->handle(), 3);  // a datagram is truncated to bufsize
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "dat");
}

TEST(Echo, SeqpacketPairKeepsMessageBoundaries) {
  DaemonProcess d;
  Client c(d);
  auto pair = CreatePair(c, v1::FAMILY_UNIX, v1::SOCKET_TYPE_SEQPACKET);
  SW_ASSERT_OK(pair);
  const std::string a = pair->first().handle();
  const std::string b = pair->second().handle();
  EXPECT_NE(a, b);
  EXPECT_EQ(pair->first().type(), v1::SOCKET_TYPE_SEQPACKET);
  EXPECT_EQ(pair->second().family(), v1::FAMILY_UNIX);

  SW_ASSERT_OK(Send(c, a, "one"));
  SW_ASSERT_OK(Send(c, a, "two"));
  SW_ASSERT_OK(Send(c, a, "three-and-more"));
  auto r1 = Recv(c, b, 1024);
  SW_ASSERT_OK(r1);
  EXPECT_EQ(r1->data(), "one");
  auto r2 = Recv(c, b, 1024);
  SW_ASSERT_OK(r2);
  EXPECT_EQ(r2->data(), "two");
  // A short read takes the head of one message and drops the rest of it.
  auto r3 = Recv(c, b, 5);
  SW_ASSERT_OK(r3);
  EXPECT_EQ(r3->data(), "three");

  // And the other direction, with recvmsg reporting MSG_TRUNC.
  SW_ASSERT_OK(Send(c, b, "reply-message"));
  SW_ASSERT_OK(Send(c, b, "next"));
  auto m = RecvMsg(c, a, 5, 0);
  SW_ASSERT_OK(m);
  EXPECT_EQ(m->data(), "reply");
  EXPECT_NE(m->msg_flags() & MSG_TRUNC, 0) << "msg_flags=" << m->msg_flags();
  auto n = Recv(c, a, 1024);
  SW_ASSERT_OK(n);
  EXPECT_EQ(n->data(), "next");
}

TEST(Echo, DefaultSocketPairIsUnixStream) {
  DaemonProcess d;
  Client c(d);
  // Python's socketpair() defaults: AF_UNIX, SOCK_STREAM.
  auto pair = CreatePair(c, v1::FAMILY_UNSPECIFIED, v1::SOCKET_TYPE_UNSPECIFIED);
  SW_ASSERT_OK(pair);
  EXPECT_EQ(pair->first().family(), v1::FAMILY_UNIX);
  EXPECT_EQ(pair->first().type(), v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(SendAll(c, pair->first().handle(), "Hello, world"));
  auto got = Recv(c, pair->second().handle(), 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "Hello, world");
}

TEST(Echo, UnsupportedCombinationsGiveTheKernelsErrno) {
  DaemonProcess d;
  Client c(d);
  // The kernel decides; compare with what it tells this process.
  struct Case {
    v1::Family family;
    v1::SocketType type;
    int proto;
  };
  for (Case k : {Case{v1::FAMILY_INET, v1::SOCKET_TYPE_RDM, 0},
                 Case{v1::FAMILY_INET, v1::SOCKET_TYPE_SEQPACKET, 0},
                 Case{v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM, 17 /* UDP */},
                 Case{static_cast<v1::Family>(12345), v1::SOCKET_TYPE_STREAM, 0}}) {
    int fd = ::socket(static_cast<int>(k.family), static_cast<int>(k.type), k.proto);
    int local_errno = errno;
    if (fd >= 0) {
      ::close(fd);
      continue;  // possible on this kernel: nothing to compare.
    }
    auto r = Create(c, k.family, k.type, k.proto);
    EXPECT_FALSE(r.ok()) << "family " << k.family << " type " << k.type;
    EXPECT_EQ(ErrnoOf(r.detail), local_errno)
        << "family " << k.family << " type " << k.type << ": " << r.Describe();
    EXPECT_EQ(r.detail.kind(), v1::ERROR_KIND_OS) << r.Describe();
    EXPECT_FALSE(r.detail.errno_name().empty()) << r.Describe();
  }
}

TEST(Echo, RawSocketsNeedAPolicyGrant) {
  DaemonProcess d;
  Client c(d);
  auto r = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_RAW, 1);
  SW_EXPECT_CODE(r, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(r.detail.reason(), "RAW_DENIED") << r.Describe();
}

TEST(Echo, RawSocketFollowsTheKernelWhenGranted) {
  char tmpl[] = "/tmp/sockwire-raw-policy-XXXXXX";
  int pf = mkstemp(tmpl);
  ASSERT_GE(pf, 0);
  const std::string policy = R"({"allow_raw_sockets": true})";
  ASSERT_EQ(write(pf, policy.data(), policy.size()), static_cast<ssize_t>(policy.size()));
  ::close(pf);
  DaemonProcess d({std::string("--policy-file=") + tmpl});
  unlink(tmpl);
  Client c(d);
  int fd = ::socket(AF_INET, SOCK_RAW, 1 /* ICMP */);
  int local_errno = errno;
  auto r = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_RAW, 1);
  if (fd >= 0) {
    ::close(fd);
    SW_EXPECT_OK(r);
    EXPECT_EQ(r->type(), v1::SOCKET_TYPE_RAW);
    EXPECT_EQ(r->proto(), 1);
  } else {
    EXPECT_EQ(ErrnoOf(r.detail), local_errno) << r.Describe();
  }
}

// ---- Health checking and reflection ----------------------------------------

TEST(Health, CheckReturnsServing) {
  DaemonProcess d;
  auto channel = d.NewChannel();
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  // HealthCheckRequest{service: ""} serializes to nothing.
  grpc::Slice empty("", 0);
  grpc::ByteBuffer request(&empty, 1);
  auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  ASSERT_TRUE(ok);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse{status = 1} has the wire shape of Int32Value{value = 1}.
  google::protobuf::Int32Value parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.value(), 1) << "ServingStatus SERVING";
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST(Reflection, ListsSocketService) {
  DaemonProcess d;
  auto channel = d.NewChannel();
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t want) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(step(1));
  // ServerReflectionRequest{list_services: "*"}: field 7, length-delimited.
  const char req_bytes[] = {0x3a, 0x01, '*'};
  grpc::Slice req_slice(req_bytes, sizeof req_bytes);
  grpc::ByteBuffer req(&req_slice, 1);
  call->Write(req, reinterpret_cast<void*>(2));
  ASSERT_TRUE(step(2));
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(3));
  ASSERT_TRUE(step(3));
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_NE(bytes.find("sockwire.v1.SocketService"), std::string::npos);
  EXPECT_NE(bytes.find("sockwire.v1.SessionService"), std::string::npos);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace sockwire::testing
