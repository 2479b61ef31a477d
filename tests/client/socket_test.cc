// sockwire::Socket against a real sockwired: the behaviours CPython's
// test_socket checks, ported to the C++ client.
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "daemon_process.h"
#include "sockwire/sockwire.h"

namespace {

using sockwire::Address;
using sockwire::Client;
using sockwire::Socket;

sockwire::testing::DaemonProcess& Daemon() {
  static sockwire::testing::DaemonProcess daemon;
  return daemon;
}

Client NewClient() { return Client(Daemon().grpc_target()); }

struct Connection {
  Socket listener, client, server;
  Address client_addr;
};

Connection TcpConnection(const Client& c) {
  Connection out;
  out.listener = Socket(c, AF_INET, SOCK_STREAM);
  out.listener.bind({"127.0.0.1", 0});
  out.listener.listen();
  out.client = Socket(c, AF_INET, SOCK_STREAM);
  out.client.connect(out.listener.getsockname());
  auto [conn, addr] = out.listener.accept();
  out.server = std::move(conn);
  out.client_addr = addr;
  return out;
}

std::string RecvExactly(Socket& s, std::size_t n) {
  std::string out;
  while (out.size() < n) {
    std::string chunk = s.recv(n - out.size());
    if (chunk.empty()) break;
    out += chunk;
  }
  return out;
}

std::string UniqueName(const std::string& prefix) {
  std::random_device rd;
  return prefix + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

// ------------------------------------------------------------------ TCP

TEST(Tcp, SendRecvAndPeerAddresses) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  EXPECT_EQ(t.client.family(), AF_INET);
  EXPECT_EQ(t.client.type(), SOCK_STREAM);
  EXPECT_EQ(t.client_addr, t.client.getsockname());
  EXPECT_EQ(t.client.getpeername(), t.listener.getsockname());
  EXPECT_EQ(t.client_addr.host(), "127.0.0.1");

  EXPECT_EQ(t.client.send("Michael Gilfix was here\n"), 24u);
  EXPECT_EQ(RecvExactly(t.server, 24), "Michael Gilfix was here\n");
  t.server.sendall("reply");
  EXPECT_EQ(RecvExactly(t.client, 5), "reply");
}

TEST(Tcp, RecvReturnsEmptyAfterPeerCloses) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  t.client.sendall("last words");
  t.client.close();
  EXPECT_EQ(t.client.fileno(), "");
  EXPECT_EQ(RecvExactly(t.server, 10), "last words");
  EXPECT_EQ(t.server.recv(1024), "");
}

TEST(Tcp, ShutdownWriteGivesPeerEof) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  t.client.sendall("half");
  t.client.shutdown(SHUT_WR);
  EXPECT_EQ(RecvExactly(t.server, 4), "half");
  EXPECT_EQ(t.server.recv(16), "");
  // The other direction still works.
  t.server.sendall("back");
  EXPECT_EQ(RecvExactly(t.client, 4), "back");
}

TEST(Tcp, SendallMovesLargePayload) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  std::string got;
  std::thread reader([&] { got = RecvExactly(t.server, big.size()); });
  t.client.sendall(big);
  reader.join();
  EXPECT_EQ(got.size(), big.size());
  EXPECT_TRUE(got == big);
}

TEST(Tcp, ConnectRefusedCarriesErrno) {
  Client c = NewClient();
  Socket probe(c, AF_INET, SOCK_STREAM);
  probe.bind({"127.0.0.1", 0});
  Address unused = probe.getsockname();  // bound, not listening: refuses
  Socket s(c, AF_INET, SOCK_STREAM);
  try {
    s.connect(unused);
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
    EXPECT_EQ(e.info().errno_name, "ECONNREFUSED");
  }
  Socket s2(c, AF_INET, SOCK_STREAM);
  EXPECT_EQ(s2.connect_ex(unused), ECONNREFUSED);
}

TEST(Tcp, RecvPeekAndIntoBuffers) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  t.client.sendall("abcdef");
  std::string peeked;
  while (peeked.size() < 6) peeked = t.server.recv(6, MSG_PEEK);
  EXPECT_EQ(peeked, "abcdef");
  char buf[4];
  EXPECT_EQ(t.server.recv_into(std::span<char>(buf)), 4u);
  EXPECT_EQ(std::string(buf, 4), "abcd");
  std::byte small[8];
  auto [n, from] = t.server.recvfrom_into(std::span<std::byte>(small), 2);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(std::memcmp(small, "ef", 2), 0);
  EXPECT_THROW(t.server.recv_into(std::span<char>(buf), 10), std::invalid_argument);
}

// ------------------------------------------------------------------ UDP

TEST(Udp, SendtoRecvfrom) {
  Client c = NewClient();
  Socket server(c, AF_INET, SOCK_DGRAM);
  server.bind({"127.0.0.1", 0});
  Socket client(c, AF_INET, SOCK_DGRAM);
  client.bind({"127.0.0.1", 0});
  EXPECT_EQ(client.sendto("Michael Gilfix was here\n", server.getsockname()), 24u);
  auto [data, from] = server.recvfrom(1024);
  EXPECT_EQ(data, "Michael Gilfix was here\n");
  EXPECT_EQ(from, client.getsockname());
  server.sendto("pong", 0, from);
  auto [reply, reply_from] = client.recvfrom(1024);
  EXPECT_EQ(reply, "pong");
  EXPECT_EQ(reply_from, server.getsockname());
}

TEST(Udp, ConnectedDatagramAndEmptyPayload) {
  Client c = NewClient();
  Socket server(c, AF_INET, SOCK_DGRAM);
  server.bind({"127.0.0.1", 0});
  Socket client(c, AF_INET, SOCK_DGRAM);
  client.connect(server.getsockname());
  client.send("");
  EXPECT_EQ(server.recvfrom(16).first, "");
  client.send("x");
  EXPECT_EQ(server.recv(16), "x");
}

// ------------------------------------------------------------------ timeouts

TEST(Timeout, AcceptRaisesTimeout) {
  Client c = NewClient();
  Socket s(c, AF_INET, SOCK_STREAM);
  s.bind({"127.0.0.1", 0});
  s.listen();
  s.settimeout(0.2);
  EXPECT_EQ(s.gettimeout(), 0.2);
  auto start = std::chrono::steady_clock::now();
  try {
    s.accept();
    FAIL();
  } catch (const sockwire::timeout& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
}

TEST(Timeout, RecvRaisesTimeout) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  t.server.settimeout(0.1);
  EXPECT_THROW(t.server.recv(1024), sockwire::timeout);
  // Still usable afterwards.
  t.client.sendall("late");
  EXPECT_EQ(RecvExactly(t.server, 4), "late");
}

TEST(Timeout, ZeroTimeoutIsNonBlocking) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  EXPECT_TRUE(t.server.getblocking());
  EXPECT_EQ(t.server.gettimeout(), std::nullopt);
  t.server.settimeout(0);
  EXPECT_FALSE(t.server.getblocking());
  EXPECT_EQ(t.server.gettimeout(), 0.0);
  try {
    t.server.recv(1024);
    FAIL();
  } catch (const sockwire::blocking_io_error& e) {
    EXPECT_EQ(e.code(), std::errc::resource_unavailable_try_again);
  }
  t.server.setblocking(true);
  EXPECT_EQ(t.server.gettimeout(), std::nullopt);
  t.server.setblocking(false);
  EXPECT_EQ(t.server.gettimeout(), 0.0);
  EXPECT_THROW(t.server.settimeout(-1.0), std::invalid_argument);
}

TEST(Timeout, SockNonblockFlagAndDefaultTimeout) {
  Client c = NewClient();
  Socket nb(c, AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  EXPECT_EQ(nb.type(), SOCK_STREAM);
  EXPECT_EQ(nb.gettimeout(), 0.0);
  sockwire::setdefaulttimeout(2.5);
  Socket d(c, AF_INET, SOCK_STREAM);
  sockwire::setdefaulttimeout(std::nullopt);
  EXPECT_EQ(d.gettimeout(), 2.5);
  Socket plain(c, AF_INET, SOCK_STREAM);
  EXPECT_EQ(plain.gettimeout(), std::nullopt);
}

// ------------------------------------------------------------------ non-blocking + select

TEST(NonBlocking, AcceptThenSelect) {
  Client c = NewClient();
  Socket listener(c, AF_INET, SOCK_STREAM);
  listener.bind({"127.0.0.1", 0});
  listener.listen();
  listener.setblocking(false);
  EXPECT_THROW(listener.accept(), sockwire::blocking_io_error);
  auto [r0, w0, x0] = sockwire::select({&listener}, {}, {}, 0.0);
  EXPECT_TRUE(r0.empty());

  Socket client(c, AF_INET, SOCK_STREAM);
  client.connect(listener.getsockname());
  auto [r, w, x] = sockwire::select({&listener}, {}, {}, 5.0);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], &listener);
  auto [conn, addr] = listener.accept();
  EXPECT_EQ(addr, client.getsockname());
  // An accepted socket is blocking, whatever the listener's mode (Python).
  EXPECT_EQ(conn.gettimeout(), std::nullopt);
}

TEST(NonBlocking, ConnectInProgressThenWritable) {
  Client c = NewClient();
  Socket listener(c, AF_INET, SOCK_STREAM);
  listener.bind({"127.0.0.1", 0});
  listener.listen();
  Socket s(c, AF_INET, SOCK_STREAM);
  s.setblocking(false);
  int err = s.connect_ex(listener.getsockname());
  EXPECT_TRUE(err == 0 || err == EINPROGRESS) << err;
  auto [r, w, x] = sockwire::select({}, {&s}, {}, 5.0);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(s.getsockopt(SOL_SOCKET, SO_ERROR), 0);
}

TEST(Select, PollReportsReadableAndTimesOut) {
  Client c = NewClient();
  auto [a, b] = sockwire::socketpair(c);
  auto none = sockwire::poll({{&a, POLLIN}}, 0.05);
  EXPECT_TRUE(none.empty());
  b.sendall("x");
  auto ready = sockwire::poll({{&a, POLLIN}, {&b, POLLOUT}}, 5.0);
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0].socket, &a);
  EXPECT_TRUE(ready[0].revents & POLLIN);
  EXPECT_TRUE(ready[1].revents & POLLOUT);
  Socket closed;
  EXPECT_THROW(sockwire::select({&closed}, {}, {}, 0.0), sockwire::error);
}

// ------------------------------------------------------------------ makefile

TEST(Makefile, ReadWriteReadline) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  {
    auto out = t.client.makefile("wb");
    out << "first line\n" << "second " << 42 << "\n";
    out.flush();
    auto in = t.server.makefile("rb");
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_EQ(line, "first line");
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_EQ(line, "second 42");
  }
  // The files closed their own handles; the sockets still work.
  auto rw = t.server.makefile("rw");
  rw << "echo me" << std::flush;
  EXPECT_EQ(RecvExactly(t.client, 7), "echo me");
  t.client.sendall("tail");
  t.client.shutdown(SHUT_WR);
  std::string rest((std::istreambuf_iterator<char>(rw)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rest, "tail");
  EXPECT_THROW(t.client.makefile("x"), std::invalid_argument);
}

TEST(Makefile, KeepsItsStreamWhenATimeoutIsSetLater) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  t.server.sendall("line one\nline two\nline three\n");
  // Blocking socket: the first read opens the file's stream, and the daemon
  // reads ahead for it; the 4-byte buffer leaves most of that in the stream.
  auto in = t.client.makefile("rb", 4);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "line one");
  // A timeout now must not move the file's reads to recv(): the bytes the
  // stream read ahead are no longer in the socket.
  static_cast<sockwire::SocketBuf*>(in.rdbuf())->socket().settimeout(0.5);
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "line two");
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "line three");
}

TEST(Makefile, DatagramSocketGoesByRecvNotAStream) {
  // A byte stream cannot keep datagram boundaries (the daemon refuses it,
  // NOT_A_STREAM): a blocking datagram socket's file reads by recv.
  Client c = NewClient();
  auto [a, b] = sockwire::socketpair(c, AF_UNIX, SOCK_DGRAM);
  b.sendall("one\n");
  b.sendall("two\n");
  auto in = a.makefile("rb");
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "one");
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "two");
}

// ------------------------------------------------------------------ constructors

TEST(CreateConnection, DialsListenerWithTimeout) {
  Client c = NewClient();
  Socket listener(c, AF_INET, SOCK_STREAM);
  listener.bind({"127.0.0.1", 0});
  listener.listen();
  Socket s = sockwire::create_connection(c, listener.getsockname(), 3.0);
  EXPECT_EQ(s.gettimeout(), 3.0);
  EXPECT_EQ(s.getpeername(), listener.getsockname());
  auto [conn, addr] = listener.accept();
  s.sendall("hi");
  EXPECT_EQ(RecvExactly(conn, 2), "hi");

  Socket plain = sockwire::create_connection(c, listener.getsockname());
  EXPECT_EQ(plain.gettimeout(), std::nullopt);
  Socket sourced = sockwire::create_connection(c, listener.getsockname(), std::nullopt,
                                               Address("127.0.0.1", 0));
  EXPECT_EQ(sourced.getsockname().host(), "127.0.0.1");
}

TEST(CreateConnection, RefusedRaisesOSError) {
  Client c = NewClient();
  Socket probe(c, AF_INET, SOCK_STREAM);
  probe.bind({"127.0.0.1", 0});
  EXPECT_THROW(sockwire::create_connection(c, probe.getsockname(), 2.0), sockwire::error);
}

TEST(Socketpair, DefaultsToConnectedUnixStream) {
  Client c = NewClient();
  auto [a, b] = sockwire::socketpair(c);
  EXPECT_EQ(a.family(), AF_UNIX);
  EXPECT_EQ(a.type(), SOCK_STREAM);
  a.sendall("ping");
  EXPECT_EQ(RecvExactly(b, 4), "ping");
  b.sendall("pong");
  EXPECT_EQ(RecvExactly(a, 4), "pong");
  auto [d1, d2] = sockwire::socketpair(c, AF_UNIX, SOCK_DGRAM);
  EXPECT_EQ(d1.type(), SOCK_DGRAM);
  d1.send("dgram");
  EXPECT_EQ(d2.recv(100), "dgram");
}

// ------------------------------------------------------------------ Unix sockets

TEST(Unix, PathAndAbstractNames) {
  Client c = NewClient();
  std::string path = Daemon().temp_dir() + "/" + UniqueName("u") + ".sock";
  Socket server(c, AF_UNIX, SOCK_STREAM);
  server.bind(path);
  server.listen();
  EXPECT_EQ(server.getsockname(), Address(path));
  EXPECT_TRUE(std::filesystem::exists(path));
  Socket client(c, AF_UNIX, SOCK_STREAM);
  client.connect(path);
  auto [conn, addr] = server.accept();
  EXPECT_EQ(addr.family(), AF_UNIX);
  EXPECT_EQ(addr.path(), "");  // unnamed client
  client.sendall("over unix");
  EXPECT_EQ(RecvExactly(conn, 9), "over unix");

  Address abstract = Address::abstract(UniqueName("sockwire-test-"));
  Socket abs_server(c, AF_UNIX, SOCK_DGRAM);
  abs_server.bind(abstract);
  EXPECT_TRUE(abs_server.getsockname().is_abstract());
  EXPECT_EQ(abs_server.getsockname(), abstract);
  Socket abs_client(c, AF_UNIX, SOCK_DGRAM);
  abs_client.sendto("abstract", abstract);
  EXPECT_EQ(abs_server.recv(64), "abstract");
}

// ------------------------------------------------------------------ ancillary data

TEST(Ancillary, ScmCredentialsOnUnixPair) {
  Client c = NewClient();
  auto [a, b] = sockwire::socketpair(c, AF_UNIX, SOCK_DGRAM);
  b.setsockopt(SOL_SOCKET, SO_PASSCRED, 1);
  EXPECT_EQ(b.getsockopt(SOL_SOCKET, SO_PASSCRED), 1);
  EXPECT_EQ(a.sendmsg({"he", "llo"}), 5u);
  auto msg = b.recvmsg(64, CMSG_SPACE(sizeof(ucred)));
  EXPECT_EQ(msg.data, "hello");
  ASSERT_EQ(msg.ancdata.size(), 1u);
  EXPECT_EQ(msg.ancdata[0].level, SOL_SOCKET);
  EXPECT_EQ(msg.ancdata[0].type, SCM_CREDENTIALS);
  ASSERT_EQ(msg.ancdata[0].data.size(), sizeof(ucred));
  ucred cred;
  std::memcpy(&cred, msg.ancdata[0].data.data(), sizeof cred);
  EXPECT_EQ(cred.pid, Daemon().pid());  // the daemon sent it

  // Explicit credentials (the sender's own, as the kernel requires).
  std::string creds(reinterpret_cast<const char*>(&cred), sizeof cred);
  a.sendmsg({"x"}, {{SOL_SOCKET, SCM_CREDENTIALS, creds}});
  std::byte buf1[1];
  std::span<std::byte> bufs[] = {std::span<std::byte>(buf1)};
  auto into = b.recvmsg_into(bufs, CMSG_SPACE(sizeof(ucred)));
  EXPECT_EQ(into.nbytes, 1u);
  EXPECT_EQ(static_cast<char>(buf1[0]), 'x');
  ASSERT_EQ(into.ancdata.size(), 1u);
  EXPECT_EQ(into.ancdata[0].data, creds);
}

TEST(Ancillary, IpPktinfoOnUdp) {
  Client c = NewClient();
  Socket server(c, AF_INET, SOCK_DGRAM);
  server.bind({"127.0.0.1", 0});
  server.setsockopt(IPPROTO_IP, IP_PKTINFO, 1);
  Socket client(c, AF_INET, SOCK_DGRAM);
  client.sendmsg({"pkt"}, {}, 0, server.getsockname());
  auto msg = server.recvmsg(64, 1024);
  EXPECT_EQ(msg.data, "pkt");
  EXPECT_EQ(msg.address.host(), "127.0.0.1");
  ASSERT_EQ(msg.ancdata.size(), 1u);
  EXPECT_EQ(msg.ancdata[0].level, IPPROTO_IP);
  EXPECT_EQ(msg.ancdata[0].type, IP_PKTINFO);
  in_pktinfo info;
  ASSERT_EQ(msg.ancdata[0].data.size(), sizeof info);
  std::memcpy(&info, msg.ancdata[0].data.data(), sizeof info);
  EXPECT_EQ(sockwire::inet_ntoa(std::string(reinterpret_cast<const char*>(&info.ipi_addr), 4)),
            "127.0.0.1");
}

// ------------------------------------------------------------------ sendfile

TEST(Sendfile, SendsWholeFileAndRange) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  std::string path = Daemon().temp_dir() + "/" + UniqueName("f");
  std::string content;
  for (int i = 0; i < 100000; ++i) content += static_cast<char>('a' + i % 26);
  std::ofstream(path, std::ios::binary) << content;

  std::string got;
  std::thread reader([&] { got = RecvExactly(t.server, content.size() + 100); });
  EXPECT_EQ(t.client.sendfile(path), content.size());
  EXPECT_EQ(t.client.sendfile(path, 10, 100), 100u);
  reader.join();
  EXPECT_EQ(got, content + content.substr(10, 100));

  std::istringstream stream("stream contents");
  EXPECT_EQ(t.client.sendfile(stream, 7), 8u);
  EXPECT_EQ(RecvExactly(t.server, 8), "contents");
  EXPECT_THROW(t.client.sendfile(Daemon().temp_dir() + "/missing"), sockwire::error);
  t.client.setblocking(false);
  EXPECT_THROW(t.client.sendfile(path), std::invalid_argument);
}

// ------------------------------------------------------------------ ownership

TEST(Ownership, DestructorClosesAndMoveTransfers) {
  Client c = NewClient();
  std::string handle;
  {
    Socket s(c, AF_INET, SOCK_STREAM);
    handle = s.fileno();
    EXPECT_FALSE(handle.empty());
    Socket moved = std::move(s);
    EXPECT_EQ(s.fileno(), "");
    EXPECT_FALSE(s);
    EXPECT_EQ(moved.fileno(), handle);
  }
  try {
    sockwire::close(c, handle);
    FAIL() << "handle still open after the destructor";
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor) << e.what();
  }
  Socket closed;
  EXPECT_THROW(closed.recv(1), sockwire::error);
  closed.close();  // closing a closed socket is fine
}

TEST(Ownership, PeerSeesEofWhenConnectionDestroyed) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  { Socket gone = std::move(t.client); }
  EXPECT_EQ(t.server.recv(16), "");
}

TEST(Ownership, DupSharesTheConnection) {
  Client c = NewClient();
  Connection t = TcpConnection(c);
  Socket d = t.client.dup();
  EXPECT_NE(d.fileno(), t.client.fileno());
  EXPECT_EQ(d.family(), AF_INET);
  EXPECT_EQ(d.getsockname(), t.client.getsockname());
  t.client.close();
  d.sendall("from dup");
  EXPECT_EQ(RecvExactly(t.server, 8), "from dup");
  d.close();
  EXPECT_EQ(t.server.recv(16), "");
}

TEST(Ownership, DetachThenFromfdInAnotherSession) {
  std::string handle;
  Client first = NewClient();
  Connection t = TcpConnection(first);
  handle = t.client.detach();
  EXPECT_EQ(t.client.fileno(), "");
  EXPECT_FALSE(handle.empty());
  Client second = NewClient();
  Socket again = sockwire::fromfd(second, handle, AF_INET, SOCK_STREAM);
  EXPECT_EQ(again.family(), AF_INET);
  EXPECT_EQ(again.type(), SOCK_STREAM);
  again.sendall("reattached");
  EXPECT_EQ(RecvExactly(t.server, 10), "reattached");
}

TEST(Ownership, ShareAndFromshare) {
  Client first = NewClient();
  Connection t = TcpConnection(first);
  std::string token = t.client.share();
  Client second = NewClient();
  Socket shared = sockwire::fromshare(second, token);
  shared.sendall("shared");
  EXPECT_EQ(RecvExactly(t.server, 6), "shared");
  // One-time token.
  EXPECT_THROW(sockwire::fromshare(second, token), sockwire::error);
}

TEST(Ownership, OtherSessionCannotUseHandle) {
  Client first = NewClient();
  Client second = NewClient();
  Socket s(first, AF_INET, SOCK_STREAM);
  try {
    sockwire::close(second, s.fileno());
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
  }
  EXPECT_NO_THROW(s.getsockname());
}

TEST(Ownership, Inheritable) {
  Client c = NewClient();
  Socket s(c, AF_INET, SOCK_STREAM);
  EXPECT_FALSE(s.get_inheritable());
  s.set_inheritable(true);
  EXPECT_TRUE(s.get_inheritable());
}

// ------------------------------------------------------------------ options, ioctl

TEST(Options, IntBytesAndTyped) {
  Client c = NewClient();
  Socket s(c, AF_INET, SOCK_STREAM);
  EXPECT_EQ(s.getsockopt(SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  EXPECT_NE(s.getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
  s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  EXPECT_NE(s.getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
  linger l{1, 5};
  s.setsockopt(SOL_SOCKET, SO_LINGER, std::string_view(reinterpret_cast<char*>(&l), sizeof l));
  std::string raw = s.getsockopt(SOL_SOCKET, SO_LINGER, sizeof(linger));
  ASSERT_EQ(raw.size(), sizeof(linger));
  linger back;
  std::memcpy(&back, raw.data(), sizeof back);
  EXPECT_EQ(back.l_onoff, 1);
  EXPECT_EQ(back.l_linger, 5);
  int one = 1;
  s.setsockopt(SOL_SOCKET, SO_KEEPALIVE, std::string_view(reinterpret_cast<char*>(&one), 4));
  EXPECT_EQ(s.getsockopt(SOL_SOCKET, SO_KEEPALIVE), 1);
  std::string ka = s.getsockopt(SOL_SOCKET, SO_KEEPALIVE, 4);
  EXPECT_EQ(ka.size(), 4u);
}

TEST(Options, IoctlFionread) {
  Client c = NewClient();
  auto [a, b] = sockwire::socketpair(c);
  EXPECT_EQ(b.ioctl(FIONREAD), 0);
  a.sendall("12345");
  sockwire::select({&b}, {}, {}, 5.0);
  EXPECT_EQ(b.ioctl(FIONREAD), 5);
  EXPECT_THROW(b.ioctl(0x1234), sockwire::error);
}

// ------------------------------------------------------------------ errors

TEST(Errors, StructuredDetailBecomesTypedException) {
  Client c = NewClient();
  try {
    Socket bad(c, 12345, SOCK_STREAM);  // unknown family
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::address_family_not_supported) << e.what();
  }
  try {
    sockwire::fromfd(c, "not-a-handle");
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument) << e.what();
  }
  try {
    sockwire::fromfd(c, "sw1.0000000000000000.00000000000000000000000000000000");
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor) << e.what();
  }
  Socket s(c, AF_INET, SOCK_STREAM);
  s.bind({"127.0.0.1", 0});
  try {
    s.bind({"127.0.0.1", 0});  // already bound
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument) << e.what();
    EXPECT_EQ(e.info().errno_name, "EINVAL");
  }
}

TEST(Client, CopiesShareTheSession) {
  Client c = NewClient();
  Client copy = c;
  EXPECT_EQ(copy.session(), c.session());
  Socket s = copy.socket(AF_INET, SOCK_DGRAM);
  EXPECT_EQ(s.type(), SOCK_DGRAM);
  EXPECT_EQ(s.client().session(), c.session());
  Client other = NewClient();
  EXPECT_NE(other.session(), c.session());
}

TEST(Client, HoldStreamKeepsSessionAliveBeyondLease) {
  sockwire::testing::DaemonProcess d({"--session-lease=200ms", "--session-grace=100ms"});
  Client c(d.grpc_target());
  Socket s(c, AF_INET, SOCK_STREAM);
  s.bind({"127.0.0.1", 0});
  // Idle well past lease + grace: only the Hold stream keeps the session.
  std::this_thread::sleep_for(std::chrono::milliseconds(900));
  EXPECT_NO_THROW(s.getsockname());
}

TEST(Client, CloseSessionClosesItsSockets) {
  Client c = NewClient();
  Socket s(c, AF_INET, SOCK_STREAM);
  Socket t(c, AF_INET, SOCK_DGRAM);
  EXPECT_EQ(c.close_session(), 2);
}

}  // namespace
