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
#include <cstdlib>
#include <cstdio>
#include <chrono>
#include <mutex>
#include <condition_variable>
#include <vector>

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

TEST(ByteStream, ReadIntoFillsTheCallersBufferUntilEof) {
  Client c = NewClient();
  auto [a, b] = sockwire::socketpair(c);
  const std::string data = RandomBytes(3u << 20, 3);
  std::thread peer([&] {
    b.sendall(data);
    b.shutdown(SHUT_WR);
  });
  ByteStream s = a.stream();
  std::string got;
  std::vector<char> buf(100000);  // Not a divisor of the frame size.
  for (;;) {
    std::size_t n = s.read_into(buf);
    if (n == 0) break;
    ASSERT_LE(n, buf.size());
    got.append(buf.data(), n);
  }
  EXPECT_EQ(s.read_into(buf), 0u);  // EOF stays EOF.
  EXPECT_EQ(s.read(10), "");
  peer.join();
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
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

// ------------------------------------------------------------------ makefile

TEST(Makefile, ReadLoopOverARealPeerIsIntact) {
  Client c = NewClient();
  Tcp t = TcpConnection(c);
  const std::string body = RandomBytes((3u << 20) + 777, 21);
  std::thread peer([&] {
    t.server.sendall("header one\nheader two\n");
    t.server.sendall(body);
    t.server.shutdown(SHUT_WR);
  });
  auto in = t.client.makefile("rb");
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "header one");
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "header two");
  // The read loop: 8 KiB buffers, every one from the same stream.
  std::string got;
  char buf[5000];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    got.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  peer.join();
  EXPECT_EQ(got.size(), body.size());
  EXPECT_EQ(Fnv1a(got), Fnv1a(body));
}

TEST(Makefile, WritesLinesAndBulkInOrder) {
  Client c = NewClient();
  Tcp t = TcpConnection(c);
  const std::string bulk = RandomBytes((2u << 20) + 3, 22);
  std::string want = "line 1\n" + bulk + "line 2\n";
  std::string got;
  std::thread peer([&] { got = RecvExactly(t.server, want.size()); });
  {
    auto out = t.client.makefile("wb");
    out << "line " << 1 << "\n";
    out.write(bulk.data(), static_cast<std::streamsize>(bulk.size()));
    out << "line 2\n";
    out.flush();
    peer.join();  // flush() returned: every byte is in the socket.
  }
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want);
  // A write-only file read nothing ahead: recv() on the socket sees all.
  t.server.sendall("after");
  EXPECT_EQ(RecvExactly(t.client, 5), "after");
}

// A bulk write on a read-write file while the peer also sends: the daemon's
// data frame back carries part of the write credit early, and flush() must
// still learn that every byte reached the socket (it asks with `flush`).
// Small socket buffers make the daemon write the batch in many pieces.
TEST(Makefile, BulkFlushOnReadWriteFileReturnsWhileDataArrives) {
  Client c = NewClient();
  Tcp t = TcpConnection(c);
  t.client.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096);
  t.server.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096);
  const std::string bulk = RandomBytes((512u << 10) + 5, 23);
  auto f = t.client.makefile("rwb");
  std::mutex mu;
  std::condition_variable cv;
  bool flushed = false;
  std::thread writer([&] {
    f.write(bulk.data(), static_cast<std::streamsize>(bulk.size()));
    f.flush();
    std::lock_guard<std::mutex> l(mu);
    flushed = true;
    cv.notify_all();
  });
  t.server.sendall("x");
  std::string got = RecvExactly(t.server, bulk.size());
  EXPECT_TRUE(got == bulk);
  {
    std::unique_lock<std::mutex> l(mu);
    if (!cv.wait_for(l, std::chrono::seconds(30), [&] { return flushed; })) {
      // The writer is stuck in flush() for good; a hung test would only
      // time out, so report it and end the process.
      ADD_FAILURE() << "flush() did not return although the peer has every byte";
      std::fflush(nullptr);
      std::_Exit(1);
    }
  }
  writer.join();
  char one = 0;
  ASSERT_TRUE(f.read(&one, 1));
  EXPECT_EQ(one, 'x');
}

TEST(Makefile, RequestResponseOverOneFile) {
  Client c = NewClient();
  Tcp t = TcpConnection(c);
  std::thread peer([&] {
    auto f = t.server.makefile("rw");
    std::string line;
    while (std::getline(f, line)) f << "re: " << line << "\n" << std::flush;
  });
  auto f = t.client.makefile("rw");
  std::string line;
  for (int i = 0; i < 50; ++i) {
    f << "request " << i << "\n" << std::flush;
    ASSERT_TRUE(std::getline(f, line));
    EXPECT_EQ(line, "re: request " + std::to_string(i));
  }
  t.client.shutdown(SHUT_WR);
  peer.join();  // The peer's file saw EOF and closed.
  t.server.close();  // The connection's last reference on that side.
  EXPECT_FALSE(std::getline(f, line));
}

TEST(Makefile, TimeoutAppliesPerRead) {
  Client c = NewClient();
  Tcp t = TcpConnection(c);  // The server never writes.
  t.client.settimeout(0.2);
  auto in = t.client.makefile("rb");
  std::string line;
  EXPECT_THROW(std::getline(in, line), sockwire::timeout);
}

}  // namespace
