// sockwire::ByteStream (StreamService.Stream) and the bulk sendall/sendfile
// paths against a real sockwired.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "daemon_process.h"
#include "sockwire/sockwire.h"

namespace {

using sockwire::ByteStream;
using sockwire::Client;
using sockwire::Socket;

sockwire::testing::DaemonProcess& Daemon() {
  static sockwire::testing::DaemonProcess daemon;
  return daemon;
}

Client NewClient() { return Client(Daemon().grpc_target()); }

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<std::size_t>(8, n - i));
  }
  return out;
}

std::uint64_t Fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string ReadToEof(ByteStream& s) {
  std::string out;
  for (;;) {
    std::string chunk = s.read(100000);
    if (chunk.empty()) return out;
    out += chunk;
  }
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

struct Tcp {
  Socket listener, client, server;
};

Tcp TcpConnection(const Client& c) {
  Tcp t;
  t.listener = Socket(c, AF_INET, SOCK_STREAM);
  t.listener.bind({"127.0.0.1", 0});
  t.listener.listen();
  t.client = Socket(c, AF_INET, SOCK_STREAM);
  t.client.connect(t.listener.getsockname());
  t.server = t.listener.accept().first;
  return t;
}

TEST(ByteStream, EightMiBBothWaysWithChecksum) {
  Client c = NewClient();
  auto [a, b] = sockwire::socketpair(c);
  const std::size_t n = 8u << 20;
  const std::string up = RandomBytes(n, 1), down = RandomBytes(n, 2);

  std::uint64_t got_up = 0;
  std::size_t got_up_size = 0;
  std::thread peer([&] {
    ByteStream sb = b.stream();
    std::string in = ReadToEof(sb);
    got_up_size = in.size();
    got_up = Fnv1a(in);
    sb.write(down);
    sb.shutdown_write();
    sb.close();
  });
  ByteStream sa = a.stream();
  // Uneven pieces: frames and credit do not line up with the writes.
  for (std::size_t off = 0; off < n; off += 333333) sa.write(std::string_view(up).substr(off, 333333));
  sa.shutdown_write();
  std::string back = ReadToEof(sa);
  sa.close();
  peer.join();
  EXPECT_EQ(got_up_size, n);
  EXPECT_EQ(got_up, Fnv1a(up));
  EXPECT_EQ(back.size(), n);
  EXPECT_EQ(Fnv1a(back), Fnv1a(down));
  EXPECT_TRUE(back == down);
}

TEST(ByteStream, HalfCloseIsEofForThePeer) {
  Client c = NewClient();
  Tcp t = TcpConnection(c);
  ByteStream s = t.client.stream();
  s.write("hello");
  s.shutdown_write();
  EXPECT_EQ(RecvExactly(t.server, 5), "hello");
  EXPECT_EQ(t.server.recv(100), "");  // EOF
  EXPECT_THROW(s.write("more"), sockwire::error);
  // Reading goes on after the half-close.
  t.server.sendall("reply");
  t.server.shutdown(SHUT_WR);
  EXPECT_EQ(ReadToEof(s), "reply");
  EXPECT_NO_THROW(s.close());
  EXPECT_FALSE(s);
  EXPECT_THROW(s.read(1), sockwire::error);
}

TEST(ByteStream, SendallOfFourMiBGoesByStreamAndArrivesIntact) {
  Client c = NewClient();
  auto [a, b] = sockwire::socketpair(c);
  // Waiting in a's receive buffer: the bulk stream must not consume it.
  b.sendall("ping");
  for (std::size_t n : {std::size_t{4} << 20, (std::size_t{4} << 20) + 12345}) {
    const std::string data = RandomBytes(n, static_cast<unsigned>(n));
    std::string got;
    std::thread reader([&] { got = RecvExactly(b, n); });
    a.sendall(data);
    reader.join();
    EXPECT_EQ(got.size(), n);
    EXPECT_TRUE(got == data);
  }
  EXPECT_EQ(a.recv(4), "ping");
  // The socket is still fully usable both ways.
  a.sendall("after");
  EXPECT_EQ(RecvExactly(b, 5), "after");
}

TEST(ByteStream, SendfileOfABigFileArrivesIntact) {
  Client c = NewClient();
  auto [a, b] = sockwire::socketpair(c);
  const std::size_t n = (std::size_t{3} << 20) + 17;
  const std::string data = RandomBytes(n, 7);
  std::istringstream file(data);
  std::string got;
  std::thread reader([&] { got = RecvExactly(b, n - 5); });
  EXPECT_EQ(a.sendfile(file, 5), n - 5);
  reader.join();
  EXPECT_TRUE(got == data.substr(5));
}

TEST(ByteStream, PeerResetSurfacesAsSockwireError) {
  Client c = NewClient();
  Tcp t = TcpConnection(c);
  ByteStream s = t.client.stream();
  linger l{1, 0};
  t.server.setsockopt(SOL_SOCKET, SO_LINGER,
                      std::string_view(reinterpret_cast<const char*>(&l), sizeof l));
  t.server.close();  // RST
  try {
    for (int i = 0; i < 1000; ++i) {
      s.write(std::string(64 << 10, 'x'));
      if (!s.read(1 << 16).empty()) continue;
    }
    FAIL() << "no error after the peer's reset";
  } catch (const sockwire::error& e) {
    EXPECT_TRUE(e.code().value() == ECONNRESET || e.code().value() == EPIPE) << e.what();
  }
}

TEST(ByteStream, SendallOnResetPeerThrows) {
  Client c = NewClient();
  Tcp t = TcpConnection(c);
  linger l{1, 0};
  t.server.setsockopt(SOL_SOCKET, SO_LINGER,
                      std::string_view(reinterpret_cast<const char*>(&l), sizeof l));
  t.server.close();
  EXPECT_THROW(t.client.sendall(std::string(8u << 20, 'y')), sockwire::error);
}

}  // namespace
