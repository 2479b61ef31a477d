#include "conduit.h"

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <cstdlib>
#include <cstring>

#include "common.h"
#include "sockwire/errors.h"

namespace sockwire::internal {
// The client library's confirmed write (client/src/stream.cc): returns once
// the daemon has written every byte to the socket. Not in the public headers.
std::size_t StreamSendConfirmed(ByteStream& s, std::string_view data);
}  // namespace sockwire::internal

namespace sockwire::cli {
namespace {

// The real descriptor: Socket's data calls are syscalls on it, safe from two
// threads (they only read the Socket's state once it has its descriptor).
class DescriptorConduit : public Conduit {
 public:
  explicit DescriptorConduit(sockwire::Socket s) : sock_(std::move(s)) {}
  std::size_t read(std::span<char> buf) override { return sock_.recv_into(buf); }
  void write(std::string_view d) override { sock_.sendall(d); }
  void shutdown_write() override { sock_.shutdown(SHUT_WR); }
  const char* path() const override { return "descriptor"; }

 private:
  sockwire::Socket sock_;
};

// A data channel is a plain descriptor: one reader and one writer thread are
// two independent syscalls on it.
class ChannelConduit : public Conduit {
 public:
  ChannelConduit(sockwire::Socket s, sockwire::DataChannel ch)
      : sock_(std::move(s)), ch_(std::move(ch)) {}
  // Closing the socket's handle while the daemon still relays bytes from the
  // channel to the socket drops them (forward -R lost tails that way). The
  // daemon shuts the socket down for writing once the relay has drained, and
  // from then on an empty send fails (EPIPE): only then may the socket close.
  // (The channel's own POLLHUP comes earlier: both halves are shut by then.)
  ~ChannelConduit() override {
    if (!shut_wr_) return;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      try {
        sock_.send(std::string_view());
      } catch (const std::exception&) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  std::size_t read(std::span<char> buf) override {
    std::size_t n = ch_.read_into(buf);
    if (n == 0) eof_ = true;
    return n;
  }
  void write(std::string_view d) override { ch_.write(d); }
  void shutdown_write() override {
    ch_.shutdown_write();
    shut_wr_ = true;
  }
  const char* path() const override { return "data-channel"; }

 private:
  sockwire::Socket sock_;  // Keeps the handle alive.
  sockwire::DataChannel ch_;
  std::atomic<bool> shut_wr_{false};
  std::atomic<bool> eof_{false};
};

// Two byte streams: each is used by one thread only.
class StreamConduit : public Conduit {
 public:
  explicit StreamConduit(sockwire::Socket s) : sock_(std::move(s)) {
    reader_ = sock_.stream();
  }
  std::size_t read(std::span<char> buf) override {
    std::size_t n = reader_.read_into(buf);
    if (n == 0) reader_ = sockwire::ByteStream();  // EOF: end the call.
    return n;
  }
  // The last chunk is held back and sent confirmed at shutdown_write():
  // ending the process cancels the stream, which may drop bytes the daemon
  // has not written yet, so the final write waits until all are in the socket.
  void write(std::string_view d) override {
    if (!pending_.empty()) writer().write(pending_);
    pending_.assign(d.data(), d.size());
  }
  void shutdown_write() override {
    if (!pending_.empty()) sockwire::internal::StreamSendConfirmed(writer(), pending_);
    pending_.clear();
    // The writer stays open: closing it now would cancel the call before
    // the daemon acted on the half-close. It ends with the conduit (and the
    // socket's close delivers the FIN anyway).
    writer().shutdown_write();
  }
  const char* path() const override { return "stream"; }

 private:
  sockwire::ByteStream& writer() {
    if (!writer_) {
      // Read window 0: the daemon never reads the socket for this stream.
      writer_ = sockwire::ByteStream(sock_.client().impl(), sock_.fileno(), std::nullopt, 0);
    }
    return writer_;
  }
  sockwire::Socket sock_;
  sockwire::ByteStream reader_;
  sockwire::ByteStream writer_;
  std::string pending_;
};

class DatagramConduit : public Conduit {
 public:
  explicit DatagramConduit(sockwire::Socket s) : sock_(std::move(s)) {}
  std::size_t read(std::span<char> buf) override {
    for (;;) {
      std::size_t n = sock_.recv_into(buf);
      if (n > 0) return n;  // An empty datagram is not EOF: skip it.
    }
  }
  void write(std::string_view d) override { sock_.send(d); }
  void shutdown_write() override {}
  const char* path() const override { return "datagram"; }

 private:
  sockwire::Socket sock_;
};

bool Refused(const sockwire::error& e) {
  // Any refusal of an optional path means: try the next one.
  (void)e;
  return true;
}

}  // namespace

std::unique_ptr<Conduit> OpenConduit(sockwire::Socket sock) {
  if (sock.type() != SOCK_STREAM) return std::make_unique<DatagramConduit>(std::move(sock));
  const char* force = getenv("SOCKWIRE_CLI_PATH");
  std::string want = force != nullptr ? force : "";
  if (want.empty() || want == "descriptor") {
    try {
      sock.use_local_descriptor();
      return std::make_unique<DescriptorConduit>(std::move(sock));
    } catch (const sockwire::error& e) {
      if (!Refused(e) || want == "descriptor") throw;
    }
  }
  if (want.empty() || want == "channel") {
    try {
      sockwire::DataChannel ch = sock.data_channel();
      return std::make_unique<ChannelConduit>(std::move(sock), std::move(ch));
    } catch (const sockwire::error& e) {
      if (!Refused(e) || want == "channel") throw;
    }
  }
  return std::make_unique<StreamConduit>(std::move(sock));
}

std::uint64_t PumpFdToConduit(int from, Conduit& to) {
  return PumpFdToConduit(from, to, [](std::size_t) {});
}

std::uint64_t PumpConduitToFd(Conduit& from, int to, bool* ok,
                              void (*on_bytes)(void*, std::size_t), void* arg) {
  std::vector<char> buf(kChunk);
  std::uint64_t total = 0;
  if (ok != nullptr) *ok = true;
  for (;;) {
    std::size_t n = from.read(std::span<char>(buf.data(), buf.size()));
    if (n == 0) break;
    if (!WriteAll(to, buf.data(), n)) {
      if (ok != nullptr) *ok = false;
      break;
    }
    total += n;
    if (on_bytes != nullptr) on_bytes(arg, n);
  }
  return total;
}

}  // namespace sockwire::cli
