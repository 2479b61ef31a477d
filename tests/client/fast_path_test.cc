// The client's local fast paths against a real sockwired started with a unix
// --data-listen: Socket::use_local_descriptor (SCM_RIGHTS) and
// Socket::data_channel (the daemon's raw relay). The far end is a plain
// kernel socket in this process, so every byte crosses real sockets.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.h"
#include "sockwire/sockwire.h"

namespace {

using sockwire::Client;
using sockwire::ClientOptions;
using sockwire::Socket;
using sockwire::testing::DaemonProcess;

// A daemon with its own data listener in a temp dir it shares with nobody.
class DataDaemon {
 public:
  explicit DataDaemon(std::vector<std::string> extra) {
    char tmpl[] = "/tmp/sockwire-fast-path-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    std::vector<std::string> args = {"--data-listen=unix:" + dir_ + "/data.sock"};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<DaemonProcess>(args);
  }
  ~DataDaemon() {
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string target() const { return daemon_->grpc_target(); }
  // The path of its unix: --data-listen.
  std::string data_path() const { return dir_ + "/data.sock"; }

 private:
  std::string dir_;
  std::unique_ptr<DaemonProcess> daemon_;
};

// --allow-fd-passing: both fast paths work.
DataDaemon& Permissive() {
  static DataDaemon d({"--allow-fd-passing"});
  return d;
}
// A data listener, but no descriptor passing.
DataDaemon& NoFdPassing() {
  static DataDaemon d({});
  return d;
}
// No data listener at all.
DaemonProcess& Plain() {
  static DaemonProcess d;
  return d;
}
// Descriptor passing allowed, but no data listener.
DaemonProcess& FdPassingWithoutListener() {
  static DaemonProcess d({"--allow-fd-passing"});
  return d;
}

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<std::size_t>(8, n - i));
  }
  return out;
}

std::uint64_t Fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// A kernel TCP listener on 127.0.0.1, port 0; the daemon dials it.
class Peer {
 public:
  Peer() {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
    socklen_t len = sizeof sin;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sin), &len);
    port_ = ntohs(sin.sin_port);
    EXPECT_EQ(::listen(fd_.get(), 16), 0);
  }
  int port() const { return port_; }
  sockwire::UniqueFd Accept() {
    return sockwire::UniqueFd(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }

 private:
  sockwire::UniqueFd fd_;
  int port_ = 0;
};

// A Socket connected through the daemon to `peer`, and the peer's end.
struct Connected {
  Socket sock;
  sockwire::UniqueFd peer;
};

Connected Dial(const Client& c, Peer& peer) {
  Connected out;
  out.sock = sockwire::create_connection(c, {"127.0.0.1", peer.port()}, std::nullopt);
  out.peer = peer.Accept();
  return out;
}

std::string ReadToEof(int fd) {
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return got;
    got.append(buf, static_cast<std::size_t>(n));
  }
}

void WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

// A unix listener bound at `path` (unlinked first: it takes the place of a
// daemon's data listener there), listening with `backlog`.
sockwire::UniqueFd UnixListener(const std::string& path, int backlog) {
  ::unlink(path.c_str());
  sockwire::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), std::min(path.size(), sizeof sun.sun_path - 1));
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
  EXPECT_EQ(::listen(fd.get(), backlog), 0);
  return fd;
}

// Some other program's listener at a daemon's unix: data path (as when the
// daemon runs on another host and the path exists here): it counts the
// connections and refuses every token ("ERR ...").
class RefusingListener {
 public:
  explicit RefusingListener(const std::string& path)
      : fd_(UnixListener(path, 16)), thread_([this] { Serve(); }) {}
  ~RefusingListener() {
    stop_ = true;
    thread_.join();
  }
  int connections() const { return connections_.load(); }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      sockwire::UniqueFd conn(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) continue;
      ++connections_;  // Before the reply: the client sees the count.
      char c;
      while (::recv(conn.get(), &c, 1, 0) == 1 && c != '\n') {
      }
      WriteAll(conn.get(), "ERR not this daemon's token\n");
    }
  }

  sockwire::UniqueFd fd_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// ------------------------------------------------------------------ descriptor

TEST(LocalDescriptor, EchoesRandomDataWithChecksums) {
  Client c(Permissive().target());
  Peer peer;
  Connected t = Dial(c, peer);
  t.sock.use_local_descriptor();
  ASSERT_GE(t.sock.local_descriptor(), 0);
  std::thread echo([fd = t.peer.get()] {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      WriteAll(fd, std::string_view(buf, static_cast<std::size_t>(n)));
    }
    ::shutdown(fd, SHUT_WR);
  });
  const std::string data = RandomBytes((4u << 20) + 4321, 11);
  std::string back;
  std::vector<char> buf(100000);
  // Uneven pieces, each read back before the next, through every call form.
  for (std::size_t off = 0, i = 0; off < data.size(); ++i) {
    std::string_view piece = std::string_view(data).substr(off, 77777);
    if (i % 2 == 0) {
      t.sock.sendall(piece);
    } else {
      std::size_t sent = 0;
      while (sent < piece.size()) sent += t.sock.send(piece.substr(sent));
    }
    std::size_t want = back.size() + piece.size();
    while (back.size() < want) {
      if (i % 2 == 0) {
        std::size_t n = t.sock.recv_into(std::span<char>(buf.data(), want - back.size()));
        ASSERT_GT(n, 0u);
        back.append(buf.data(), n);
      } else {
        std::string got = t.sock.recv(want - back.size());
        ASSERT_FALSE(got.empty());
        back += got;
      }
    }
    off += piece.size();
  }
  t.sock.shutdown(SHUT_WR);  // Through the daemon: the same socket.
  EXPECT_EQ(t.sock.recv(10), "");
  echo.join();
  EXPECT_EQ(back.size(), data.size());
  EXPECT_EQ(Fnv1a(back), Fnv1a(data));
}

TEST(LocalDescriptor, BulkBothWaysThenHalfClose) {
  Client c(Permissive().target());
  Peer peer;
  Connected t = Dial(c, peer);
  t.sock.use_local_descriptor();
  const std::string up = RandomBytes(6u << 20, 1), down = RandomBytes((3u << 20) + 5, 2);
  std::uint64_t peer_sum = 0;
  std::size_t peer_size = 0;
  std::thread p([&, fd = t.peer.get()] {
    std::string got = ReadToEof(fd);  // Until our SHUT_WR.
    peer_size = got.size();
    peer_sum = Fnv1a(got);
    WriteAll(fd, down);
    ::shutdown(fd, SHUT_WR);
  });
  t.sock.sendall(up);
  t.sock.shutdown(SHUT_WR);
  std::string got;
  for (std::string chunk; !(chunk = t.sock.recv(1 << 20)).empty();) got += chunk;
  p.join();
  EXPECT_EQ(peer_size, up.size());
  EXPECT_EQ(peer_sum, Fnv1a(up));
  EXPECT_EQ(got.size(), down.size());
  EXPECT_EQ(Fnv1a(got), Fnv1a(down));
}

TEST(LocalDescriptor, RecvHonoursTheSocketTimeout) {
  Client c(Permissive().target());
  Peer peer;
  Connected t = Dial(c, peer);  // The peer never writes.
  t.sock.use_local_descriptor();
  t.sock.settimeout(0.2);
  // The timeout comes after (about) 0.2 s, not at once. No upper bound: a
  // loaded machine may be late.
  using Clock = std::chrono::steady_clock;
  auto waited = [](Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
  };
  Clock::time_point start = Clock::now();
  EXPECT_THROW(t.sock.recv(10), sockwire::timeout);
  EXPECT_GE(waited(start), 0.15);
  std::vector<char> buf(10);
  start = Clock::now();
  EXPECT_THROW(t.sock.recv_into(std::span<char>(buf)), sockwire::timeout);
  EXPECT_GE(waited(start), 0.15);
  // Data that is there is returned at once, timeout or not.
  WriteAll(t.peer.get(), "x");
  EXPECT_EQ(t.sock.recv(10), "x");
}

TEST(LocalDescriptor, TimeoutSetBeforeTakingIsFollowed) {
  Client c(Permissive().target());
  Peer peer;
  Connected t = Dial(c, peer);
  t.sock.settimeout(0.2);
  t.sock.use_local_descriptor();
  EXPECT_THROW(t.sock.recv(10), sockwire::timeout);
  // Back to blocking: a recv waits for the peer's data.
  t.sock.settimeout(std::nullopt);
  std::thread later([fd = t.peer.get()] { WriteAll(fd, "late"); });
  EXPECT_EQ(t.sock.recv(4), "late");
  later.join();
}

TEST(LocalDescriptor, NonBlockingThrowsBlockingIoError) {
  Client c(Permissive().target());
  Peer peer;
  Connected t = Dial(c, peer);  // The peer neither reads nor writes.
  t.sock.use_local_descriptor();
  t.sock.setblocking(false);
  EXPECT_THROW(t.sock.recv(10), sockwire::blocking_io_error);
  // Sending fills the kernel's buffers, then would block.
  EXPECT_THROW(t.sock.sendall(std::string(64u << 20, 'z')), sockwire::blocking_io_error);
  // MSG_DONTWAIT makes one call of a blocking socket non-blocking.
  t.sock.setblocking(true);
  EXPECT_THROW(t.sock.recv(10, MSG_DONTWAIT), sockwire::blocking_io_error);
}

TEST(LocalDescriptor, PeerResetIsSockwireError) {
  Client c(Permissive().target());
  Peer peer;
  Connected t = Dial(c, peer);
  t.sock.use_local_descriptor();
  t.sock.sendall("unread");  // Unread data plus linger 0: a reset.
  linger l{1, 0};
  ::setsockopt(t.peer.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  t.peer.reset();
  try {
    for (int i = 0; i < 100; ++i) {
      t.sock.recv(10);
      t.sock.sendall("more");
    }
    FAIL() << "no error after the peer's reset";
  } catch (const sockwire::error& e) {
    EXPECT_TRUE(e.errno_value() == ECONNRESET || e.errno_value() == EPIPE) << e.what();
    EXPECT_FALSE(e.info().errno_name.empty());
  }
}

TEST(LocalDescriptor, MoveCarriesItAndCloseEndsTheSocket) {
  Client c(Permissive().target());
  Peer peer;
  Connected t = Dial(c, peer);
  t.sock.use_local_descriptor();
  int fd = t.sock.local_descriptor();
  Socket moved = std::move(t.sock);
  EXPECT_EQ(moved.local_descriptor(), fd);
  EXPECT_EQ(t.sock.local_descriptor(), -1);
  moved.sendall("bye");
  moved.close();
  EXPECT_EQ(moved.local_descriptor(), -1);
  // Both references to the socket are gone: the peer reads to EOF.
  EXPECT_EQ(ReadToEof(t.peer.get()), "bye");
}

TEST(LocalDescriptor, UdpSendtoRecvfromKeepAddresses) {
  Client c(Permissive().target());
  Socket s(c, AF_INET, SOCK_DGRAM);
  s.bind({"127.0.0.1", 0});
  s.use_local_descriptor();
  sockwire::UniqueFd other(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(other.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  socklen_t len = sizeof sin;
  ::getsockname(other.get(), reinterpret_cast<sockaddr*>(&sin), &len);
  sockwire::Address other_addr("127.0.0.1", ntohs(sin.sin_port));

  EXPECT_EQ(s.sendto("ping", other_addr), 4u);
  char buf[16];
  sockaddr_in from{};
  len = sizeof from;
  ASSERT_EQ(::recvfrom(other.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len),
            4);
  EXPECT_EQ(ntohs(from.sin_port), s.getsockname().port());
  ASSERT_EQ(::sendto(other.get(), "pong!", 5, 0, reinterpret_cast<sockaddr*>(&from), len), 5);
  auto [data, addr] = s.recvfrom(100);
  EXPECT_EQ(data, "pong!");
  EXPECT_EQ(addr, other_addr);
  // sendmsg/recvmsg with several buffers.
  EXPECT_EQ(s.sendmsg({"ab", "cd"}, {}, 0, other_addr), 4u);
  ASSERT_EQ(::recv(other.get(), buf, sizeof buf, 0), 4);
  EXPECT_EQ(std::string(buf, 4), "abcd");
  ASSERT_EQ(::sendto(other.get(), "xyz", 3, 0, reinterpret_cast<sockaddr*>(&from), len), 3);
  sockwire::RecvMsgResult msg = s.recvmsg(100);
  EXPECT_EQ(msg.data, "xyz");
  EXPECT_EQ(msg.address, other_addr);
}

TEST(LocalDescriptor, DaemonWithoutFdPassingRefusesClearly) {
  Client c(NoFdPassing().target());
  Peer peer;
  Connected t = Dial(c, peer);
  try {
    t.sock.use_local_descriptor();
    FAIL() << "the daemon passed a descriptor without --allow-fd-passing";
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.info().reason, "FD_PASSING_DISABLED") << e.what();
    EXPECT_EQ(e.errno_value(), EACCES);
  }
  EXPECT_EQ(t.sock.local_descriptor(), -1);
  // The socket keeps working over RPCs.
  t.sock.sendall("still");
  char buf[8];
  ASSERT_EQ(::recv(t.peer.get(), buf, 5, MSG_WAITALL), 5);
  EXPECT_EQ(std::string(buf, 5), "still");
}

TEST(LocalDescriptor, DaemonWithoutDataListenerRefusesClearly) {
  // --allow-fd-passing, so that the missing --data-listen is what refuses
  // (the daemon checks descriptor passing first).
  Client c(FdPassingWithoutListener().grpc_target());
  Socket s(c, AF_INET, SOCK_STREAM);
  try {
    s.use_local_descriptor();
    FAIL() << "a descriptor without a data listener";
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.info().reason, "NO_DATA_LISTENER") << e.what();
  }
  EXPECT_EQ(s.local_descriptor(), -1);
}

TEST(LocalDescriptor, FullDataListenerBacklogTimesOut) {
  DataDaemon d({"--allow-fd-passing"});
  // A listener at the daemon's data path that never accepts, its backlog
  // full: connect() blocks until the client's rpc_timeout bounds it.
  sockwire::UniqueFd listener = UnixListener(d.data_path(), 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, d.data_path().data(), d.data_path().size());
  std::vector<sockwire::UniqueFd> queued;
  for (;;) {
    sockwire::UniqueFd f(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (::connect(f.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
      ASSERT_EQ(errno, EAGAIN) << std::strerror(errno);
      break;
    }
    queued.push_back(std::move(f));
    ASSERT_LT(queued.size(), 100u) << "the backlog never filled";
  }
  ClientOptions options;
  options.rpc_timeout = std::chrono::milliseconds(1000);
  Client c(d.target(), options);
  Socket s(c, AF_INET, SOCK_STREAM);
  auto start = std::chrono::steady_clock::now();
  try {
    s.use_local_descriptor();
    FAIL() << "connected to a listener with a full backlog";
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.info().reason, "DATA_LISTENER_UNREACHABLE") << e.what();
    EXPECT_EQ(e.errno_value(), ETIMEDOUT) << e.what();
  }
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(took, 0.5);   // It did wait for the listener...
  EXPECT_LT(took, 20.0);  // ...but not without limit.
  EXPECT_EQ(s.local_descriptor(), -1);
}

TEST(LocalDescriptor, ClientOptionTakesItOnFirstUse) {
  ClientOptions options;
  options.local_descriptors = true;
  Client c(Permissive().target(), options);
  Peer peer;
  Connected t = Dial(c, peer);
  EXPECT_EQ(t.sock.local_descriptor(), -1);
  t.sock.sendall("auto");
  EXPECT_GE(t.sock.local_descriptor(), 0);
  WriteAll(t.peer.get(), "ok");
  EXPECT_EQ(t.sock.recv(2), "ok");
}

TEST(LocalDescriptor, ClientOptionFallsBackSilentlyWhenRefused) {
  ClientOptions options;
  options.local_descriptors = true;
  Client c(NoFdPassing().target(), options);
  Peer peer;
  // Every socket keeps working over RPCs, without a descriptor and without
  // an exception. Not checked here: that the sockets after the first did
  // not call TakeDescriptor again (the daemon counts no refusals, and the
  // Client does not expose what it remembered); the test below checks that
  // on a refusal it can observe, the listener's connections.
  for (int i = 0; i < 4; ++i) {
    Connected t = Dial(c, peer);
    t.sock.sendall("rpc");
    EXPECT_EQ(t.sock.local_descriptor(), -1);
    char buf[4];
    ASSERT_EQ(::recv(t.peer.get(), buf, 3, MSG_WAITALL), 3);
    EXPECT_EQ(std::string(buf, 3), "rpc");
    WriteAll(t.peer.get(), "ok");
    EXPECT_EQ(t.sock.recv(2), "ok");
    EXPECT_EQ(t.sock.local_descriptor(), -1);
  }
}

TEST(LocalDescriptor, ClientOptionRemembersATokenRefusal) {
  // A daemon "on another host" whose unix: data path exists here: this
  // host's listener at that path refuses every token.
  DataDaemon d({"--allow-fd-passing"});
  RefusingListener other(d.data_path());
  ClientOptions options;
  options.local_descriptors = true;
  Client c(d.target(), options);
  {
    Socket s(c, AF_INET, SOCK_STREAM);
    try {
      s.use_local_descriptor();
      FAIL() << "the stand-in listener accepted a token";
    } catch (const sockwire::error& e) {
      EXPECT_EQ(e.info().reason, "TOKEN_REFUSED") << e.what();
    }
  }
  ASSERT_EQ(other.connections(), 1);
  // The option's first try is refused too; the Client remembers, so no
  // later socket connects to the listener again.
  Peer peer;
  for (int i = 0; i < 3; ++i) {
    Connected t = Dial(c, peer);
    t.sock.sendall("rpc");
    EXPECT_EQ(t.sock.local_descriptor(), -1);
    WriteAll(t.peer.get(), "ok");
    EXPECT_EQ(t.sock.recv(2), "ok");
  }
  EXPECT_EQ(other.connections(), 2);
}

// ------------------------------------------------------------------ data channel

std::string ReadToEof(sockwire::DataChannel& ch) {
  std::string got;
  for (std::string chunk; !(chunk = ch.read(100000)).empty();) got += chunk;
  return got;
}

TEST(DataChannel, BothWaysAtOnceIntact) {
  Client c(Permissive().target());
  Peer peer;
  Connected t = Dial(c, peer);
  sockwire::DataChannel ch = t.sock.data_channel();
  ASSERT_GE(ch.native_handle(), 0);
  const std::string up = RandomBytes(5u << 20, 3), down = RandomBytes((3u << 20) + 13, 4);
  // The peer writes while it reads.
  std::thread writer([&, fd = t.peer.get()] {
    WriteAll(fd, down);
    ::shutdown(fd, SHUT_WR);
  });
  std::string peer_got;
  std::thread reader([&, fd = t.peer.get()] { peer_got = ReadToEof(fd); });
  for (std::size_t off = 0; off < up.size(); off += 300007) {
    ch.write(std::string_view(up).substr(off, 300007));
  }
  ch.shutdown_write();
  std::string got;
  std::vector<char> buf(65536);
  for (std::size_t n; (n = ch.read_into(std::span<char>(buf))) > 0;) got.append(buf.data(), n);
  writer.join();
  reader.join();
  EXPECT_EQ(peer_got.size(), up.size());
  EXPECT_EQ(Fnv1a(peer_got), Fnv1a(up));
  EXPECT_EQ(got.size(), down.size());
  EXPECT_EQ(Fnv1a(got), Fnv1a(down));
}

TEST(DataChannel, HalfCloseThenReply) {
  Client c(Permissive().target());
  Peer peer;
  Connected t = Dial(c, peer);
  sockwire::DataChannel ch = t.sock.data_channel();
  const std::string up = RandomBytes(1u << 20, 5);
  std::thread p([fd = t.peer.get()] {
    std::string got = ReadToEof(fd);  // Ends at the channel's half-close.
    WriteAll(fd, std::to_string(got.size()) + ":" + std::to_string(Fnv1a(got)));
    ::shutdown(fd, SHUT_WR);
  });
  ch.write(up);
  ch.shutdown_write();
  EXPECT_THROW(ch.write("late"), sockwire::error);  // EPIPE after SHUT_WR.
  EXPECT_EQ(ReadToEof(ch), std::to_string(up.size()) + ":" + std::to_string(Fnv1a(up)));
  EXPECT_EQ(ch.read(10), "");  // EOF stays EOF.
  p.join();
  ch.close();
  EXPECT_FALSE(ch);
  EXPECT_THROW(ch.read(1), sockwire::error);
}

TEST(DataChannel, TakesTheSocketTimeout) {
  Client c(Permissive().target());
  Peer peer;
  Connected t = Dial(c, peer);  // The peer never writes.
  t.sock.settimeout(0.2);
  sockwire::DataChannel ch = t.sock.data_channel();
  EXPECT_THROW(ch.read(10), sockwire::timeout);
  // Data relayed after the wait began still arrives.
  WriteAll(t.peer.get(), "hi");
  EXPECT_EQ(ch.read(10), "hi");
}

TEST(DataChannel, NeedsADataListener) {
  Client c(Plain().grpc_target());
  Peer peer;
  Connected t = Dial(c, peer);
  try {
    t.sock.data_channel();
    FAIL() << "a data channel without --data-listen";
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.info().reason, "NO_DATA_LISTENER") << e.what();
  }
}

TEST(DataChannel, WorksWithoutFdPassing) {
  Client c(NoFdPassing().target());
  Peer peer;
  Connected t = Dial(c, peer);
  sockwire::DataChannel ch = t.sock.data_channel();
  ch.write("relayed");
  char buf[8];
  ASSERT_EQ(::recv(t.peer.get(), buf, 7, MSG_WAITALL), 7);
  EXPECT_EQ(std::string(buf, 7), "relayed");
}

}  // namespace
