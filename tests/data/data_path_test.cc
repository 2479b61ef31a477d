// Byte integrity and bounds of the bulk data paths, against a real sockwired.
// The socket's far end is a TCP peer in this process; every path carries
// random data with checksums both ways, half-close, and a reset.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <future>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "bench_util.h"
#include "daemon_process.h"
#include "sanitizer_slack.h"
#include "loopback_listener.h"
#include "sockwire_paths.h"

namespace sockwire::bench {
namespace {

using sockwire::testing::DaemonProcess;

std::string TempDir() {
  char t[] = "/tmp/sockwire-data-test-XXXXXX";
  return mkdtemp(t);
}

std::string Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    memcpy(&s[i], &v, 8);
  }
  return s;
}

void Digest(const std::string& s, uint64_t out[3]) {
  Sum sum;
  sum.Add(s.data(), s.size());
  sum.Final(out);
}

// The socket's far end: a listener in this test process.
using Peer = sockwire::testing::LoopbackListener;

std::string ReadAll(int fd) {
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

std::string ReadAll(Conn& c) {
  std::string got;
  char buf[100000];
  for (;;) {
    size_t n = c.Read(buf, sizeof buf);
    if (n == 0) break;
    got.append(buf, n);
  }
  return got;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

enum class PathKind { kStream, kRaw, kFd };

class DataPathTest : public ::testing::TestWithParam<PathKind> {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--data-listen=unix:" + dir_ + "/data.sock", "--allow-fd-passing"});
    client_ = std::make_unique<sockwire::Client>(daemon_->grpc_target());
  }
  void TearDown() override {
    client_.reset();
    daemon_.reset();
    std::string rm = "rm -rf " + dir_;
    ASSERT_EQ(system(rm.c_str()), 0);
  }

  // Dials the peer through the daemon and opens the path with the client
  // library (as the benchmark does); *peer_fd is the peer's end.
  std::unique_ptr<Conn> Open(int* peer_fd) {
    sockwire::Socket sock = DialSocket(*client_, peer_.port());
    *peer_fd = peer_.Accept();
    switch (GetParam()) {
      case PathKind::kStream:
        return OpenClientPath(std::move(sock), ClientPath::kStream);
      case PathKind::kRaw:
        return OpenClientPath(std::move(sock), ClientPath::kRawChannel);
      case PathKind::kFd:
        return OpenClientPath(std::move(sock), ClientPath::kFdPassing);
    }
    return nullptr;
  }

  std::string dir_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<sockwire::Client> client_;
  Peer peer_;
};

// Both directions at once: the peer writes while it reads.
TEST_P(DataPathTest, BothDirectionsAtOnceIntact) {
  int pfd;
  auto conn = Open(&pfd);
  std::string up = Random(5 << 20, 1), down = Random((3 << 20) + 13, 2);
  auto peer_writer = std::thread([&] {
    WriteAll(pfd, down);
    ::shutdown(pfd, SHUT_WR);
  });
  auto peer_read = std::async(std::launch::async, [&] { return ReadAll(pfd); });
  std::string got, error;
  try {
    conn->Write(up.data(), up.size());
    conn->ShutdownWrite();
    got = ReadAll(*conn);
  } catch (const std::exception& e) {
    error = e.what();
    ::shutdown(pfd, SHUT_RDWR);
  }
  peer_writer.join();
  std::string peer_got = peer_read.get();
  ASSERT_EQ(error, "");
  uint64_t a[3], b[3];
  Digest(up, a);
  Digest(peer_got, b);
  EXPECT_EQ(memcmp(a, b, sizeof a), 0) << "upstream: peer got " << peer_got.size() << " of " << up.size();
  Digest(down, a);
  Digest(got, b);
  EXPECT_EQ(memcmp(a, b, sizeof a), 0) << "downstream: client got " << got.size() << " of " << down.size();
  ::close(pfd);
}

// Half-close: the peer only answers after it has seen our EOF.
TEST_P(DataPathTest, HalfCloseThenReply) {
  int pfd;
  auto conn = Open(&pfd);
  std::string up = Random(1 << 20, 3);
  auto peer = std::thread([&] {
    std::string got = ReadAll(pfd);  // Ends at our shutdown(SHUT_WR).
    uint64_t d[3];
    Digest(got, d);
    WriteAll(pfd, std::string(reinterpret_cast<char*>(d), sizeof d));
    ::shutdown(pfd, SHUT_WR);
  });
  std::string reply, error;
  try {
    conn->Write(up.data(), up.size());
    conn->ShutdownWrite();
    reply = ReadAll(*conn);
  } catch (const std::exception& e) {
    error = e.what();
    ::shutdown(pfd, SHUT_RDWR);
  }
  peer.join();
  ASSERT_EQ(error, "");
  uint64_t want[3];
  Digest(up, want);
  ASSERT_EQ(reply.size(), sizeof want);
  EXPECT_EQ(memcmp(reply.data(), want, sizeof want), 0);
  ::close(pfd);
}

// A reset from the peer in the middle reaches the client as an error.
TEST_P(DataPathTest, PeerResetReachesClient) {
  int pfd;
  auto conn = Open(&pfd);
  char buf[4096];
  std::string chunk = Random(256 << 10, 4);
  conn->Write(chunk.data(), chunk.size());
  ASSERT_GT(::recv(pfd, buf, sizeof buf, 0), 0);
  linger l{1, 0};
  setsockopt(pfd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(pfd);  // RST: unread data and linger 0.
  bool failed = false;
  auto t0 = Clock::now();
  try {
    // Writing keeps failing or reading reports it; it must not hang.
    for (int i = 0; i < 400 && SecondsSince(t0) < 20; ++i) conn->Write(chunk.data(), chunk.size());
    char b[100];
    while (conn->Read(b, sizeof b) > 0) {
    }
  } catch (const std::exception& e) {
    failed = true;
  }
  EXPECT_TRUE(failed) << "the reset never reached the client";
  EXPECT_LT(SecondsSince(t0), 20);
}

std::string PathName(const ::testing::TestParamInfo<PathKind>& info) {
  switch (info.param) {
    case PathKind::kStream: return "Stream";
    case PathKind::kRaw: return "RawChannel";
    case PathKind::kFd: return "FdPassing";
  }
  return "Unknown";
}

INSTANTIATE_TEST_SUITE_P(Paths, DataPathTest, ::testing::Values(PathKind::kStream, PathKind::kRaw, PathKind::kFd),
                         PathName);

class DataBoundsTest : public DataPathTest {};

// A client that stops reading: the daemon holds at most its window while the
// peer keeps writing (the kernel buffers fill and the peer blocks).
TEST_P(DataBoundsTest, StalledReaderKeepsDaemonMemoryBounded) {
  int pfd;
  auto conn = Open(&pfd);
  long before = daemon_->RssKib();
  std::atomic<bool> stop{false};
  std::atomic<long> written{0};
  int fl = fcntl(pfd, F_GETFL);
  fcntl(pfd, F_SETFL, fl | O_NONBLOCK);
  std::string chunk = Random(1 << 20, 5);
  auto writer = std::thread([&] {
    auto t0 = Clock::now();
    // Writes until the kernel's buffers and the daemon's window are full.
    while (!stop && SecondsSince(t0) < 3) {
      ssize_t n = ::send(pfd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (n > 0) written += n;
      else std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  writer.join();
  long after = daemon_->RssKib();
  // Whatever the peer wrote beyond the window waits in the kernel.
  EXPECT_LT(after - before, 8 * 1024 * sockwire::testing::MemorySlack()) << "daemon grew by " << (after - before) << " KiB; peer wrote "
                                      << written.load() << " bytes";
  EXPECT_LT(written.load(), 64L << 20) << "the path did not push back";
  ::close(pfd);
}

INSTANTIATE_TEST_SUITE_P(Paths, DataBoundsTest, ::testing::Values(PathKind::kStream, PathKind::kRaw), PathName);

// A client that writes beyond the credit the daemon granted is cut off.
TEST(DataProtocolTest, WritesBeyondCreditAreRefused) {
  std::string dir = TempDir();
  DaemonProcess d({"--data-listen=unix:" + dir + "/data.sock"});
  SwClient c(d.grpc_target());
  Peer peer;
  std::string h = c.Dial(peer.port());
  int pfd = peer.Accept();  // Never reads: nothing drains the window.
  auto ctx = c.Ctx(30);
  auto rw = c.streams->Stream(ctx.get());
  v1::StreamFrame f;
  f.set_handle(h);
  ASSERT_TRUE(rw->Write(f));
  v1::StreamFrame in;
  ASSERT_TRUE(rw->Read(&in));
  EXPECT_EQ(in.credit(), 1 << 20);
  std::string big(in.credit() + 1, 'x');
  f.Clear();
  f.set_data(big);
  rw->Write(f);
  bool saw_error = false;
  while (rw->Read(&in)) {
    if (in.has_error()) saw_error = true;
  }
  auto st = rw->Finish();
  EXPECT_TRUE(saw_error);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  ::close(pfd);
  std::string rm = "rm -rf " + dir;
  ASSERT_EQ(system(rm.c_str()), 0);
}

TEST(DataProtocolTest, FdPassingNeedsTheFlagAndTokensAreOneTime) {
  std::string dir = TempDir();
  DaemonProcess d({"--data-listen=unix:" + dir + "/data.sock"});
  SwClient c(d.grpc_target());
  Peer peer;
  std::string h = c.Dial(peer.port());
  v1::DataChannelRequest q;
  q.set_handle(h);
  v1::DataChannelResponse r;
  auto ctx = c.Ctx();
  auto st = c.streams->TakeDescriptor(ctx.get(), q, &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // A stranger's session cannot open a channel on our handle.
  SwClient other(d.grpc_target());
  auto ctx2 = other.Ctx();
  st = other.streams->OpenDataChannel(ctx2.get(), q, &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  // A token works once.
  auto ctx3 = c.Ctx();
  st = c.streams->OpenDataChannel(ctx3.get(), q, &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  int a = ConnectUnix(r.address().substr(5));
  std::string line = r.token() + "\n";
  ASSERT_EQ(::send(a, line.data(), line.size(), 0), static_cast<ssize_t>(line.size()));
  char buf[64];
  ASSERT_EQ(::recv(a, buf, 3, MSG_WAITALL), 3);
  EXPECT_EQ(std::string(buf, 3), "OK\n");
  int b = ConnectUnix(r.address().substr(5));
  ASSERT_EQ(::send(b, line.data(), line.size(), 0), static_cast<ssize_t>(line.size()));
  ssize_t n = ::recv(b, buf, sizeof buf, 0);
  ASSERT_GT(n, 3);
  EXPECT_EQ(std::string(buf, 4), "ERR ");
  ::close(a);
  ::close(b);
  std::string rm = "rm -rf " + dir;
  ASSERT_EQ(system(rm.c_str()), 0);
}

}  // namespace
}  // namespace sockwire::bench
