// Conduit: a connected daemon socket's bytes, on the fastest data path the
// daemon allows, usable by one reader thread and one writer thread at once
// (the pumps of connect/listen/forward read and write concurrently).
//
// Stream sockets, in order of preference:
//   1. the real descriptor (daemon with --allow-fd-passing and a unix:
//      --data-listen): native syscalls;
//   2. a data channel (daemon with --data-listen): one plain connection the
//      daemon splices to the socket;
//   3. StreamService byte streams: one read stream, one write-only stream
//      (read window 0), since a ByteStream is single-threaded.
// Datagram sockets: one send/recv RPC per datagram (a connected socket).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sockwire/socket.h"

namespace sockwire::cli {

class Conduit {
 public:
  virtual ~Conduit() = default;
  // 1..buf.size() bytes (a stream) or one datagram; 0 at EOF. Throws sockwire::error.
  virtual std::size_t read(std::span<char> buf) = 0;
  // All of `data` (a stream) or one datagram.
  virtual void write(std::string_view data) = 0;
  // Half-close; a no-op on datagram sockets.
  virtual void shutdown_write() = 0;
  // Which path it took: "descriptor", "data-channel", "stream", "datagram".
  virtual const char* path() const = 0;
};

// Takes over `sock` (connected). SOCKWIRE_CLI_PATH=stream|channel|descriptor
// forces one path (tests, benchmarks).
std::unique_ptr<Conduit> OpenConduit(sockwire::Socket sock);

// Copies `from` (a local fd) into the conduit until EOF, then half-closes
// it. `on_bytes(n)` is called after each chunk, when given. Returns bytes.
template <typename F>
std::uint64_t PumpFdToConduit(int from, Conduit& to, F&& on_bytes);
std::uint64_t PumpFdToConduit(int from, Conduit& to);
// Copies the conduit into `to` until EOF. Stops early (returning false in
// *ok) when `to` fails (EPIPE). Returns bytes.
std::uint64_t PumpConduitToFd(Conduit& from, int to, bool* ok = nullptr,
                              void (*on_bytes)(void*, std::size_t) = nullptr, void* arg = nullptr);

constexpr std::size_t kChunk = 256 << 10;

}  // namespace sockwire::cli

#include <unistd.h>

#include <cerrno>
#include <vector>

template <typename F>
std::uint64_t sockwire::cli::PumpFdToConduit(int from, Conduit& to, F&& on_bytes) {
  std::vector<char> buf(kChunk);
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(from, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    to.write(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    total += static_cast<std::uint64_t>(n);
    on_bytes(static_cast<std::size_t>(n));
  }
  to.shutdown_write();
  return total;
}
