// sockwire::ByteStream: a socket's bytes over StreamService.Stream, the
// daemon's bidirectional byte stream with credit flow control.
//
// Obtain one with Socket::stream(), on a SOCK_STREAM socket (other types:
// the daemon refuses, reason NOT_A_STREAM; see Socket::stream()). It is the fast path for bulk data: one
// gRPC call carries the bytes both ways, instead of one RPC per send/recv.
//
//   sockwire::ByteStream s = sock.stream();
//   s.write(payload);          // blocks while the daemon grants no credit
//   s.shutdown_write();        // the peer sees EOF after the last byte
//   std::string chunk;
//   while (!(chunk = s.read(65536)).empty()) consume(chunk);
//   s.close();
//
// Semantics:
// - write(data) returns once every byte is handed to the daemon (within its
//   write window, 1 MiB). The daemon writes them to the socket in order; a
//   failure to do so surfaces from a later write(), read(), shutdown_write()
//   or close().
// - read(max) returns 1..max bytes, or "" once the socket reached EOF. The
//   daemon reads ahead at most one window (1 MiB) of socket data for the
//   stream: while a ByteStream is open, do not also recv() on the socket.
// - shutdown_write() is shutdown(SHUT_WR) after every byte written before it;
//   reading goes on.
// - Errors of the socket (ECONNRESET, EPIPE, a closed handle, ...) arrive
//   in-band and are thrown as the same sockwire exceptions (sockwire::error
//   and subclasses) the unary calls throw.
// - close() ends the call. After shutdown_write() and EOF it waits for the
//   daemon's final status (and throws its error, if any); otherwise it
//   cancels the call, and bytes the daemon has not yet written to the socket
//   may be dropped (call shutdown_write() first to be sure they were sent).
//   close() never closes the socket itself: the Socket keeps owning it.
// - Deadline: a socket with a timeout gives the whole stream that timeout
//   (plus ClientOptions::timeout_margin); a blocking socket gives it none.
//
// A ByteStream is not synchronized: use it from one thread at a time. It
// keeps the Client's session alive while it exists. Movable, not copyable.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sockwire {

namespace internal {
class ClientImpl;
class StreamImpl;
}  // namespace internal

class ByteStream {
 public:
  ByteStream();
  ByteStream(ByteStream&&) noexcept;
  ByteStream& operator=(ByteStream&&) noexcept;
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;
  // Like close(), but errors are ignored.
  ~ByteStream();

  // Sends all of `data`, blocking while the daemon's write credit is used up.
  void write(std::string_view data);
  // Up to `max` bytes (max > 0); "" at EOF.
  std::string read(std::size_t max);
  // Like read(), into `buffer` (non-empty); returns the byte count, 0 at EOF.
  std::size_t read_into(std::span<char> buffer);
  // Half-close: the daemon shuts the socket down for writing after the bytes
  // written so far. Further write() calls throw sockwire::error(EPIPE).
  void shutdown_write();
  // Ends the stream (see above). Idempotent.
  void close();

  // True until close() (or a move from it).
  explicit operator bool() const noexcept { return static_cast<bool>(impl_); }

  // Internal: opens the stream on `handle` with `read_window` bytes of
  // initial read credit (0: the daemon never reads the socket for it).
  ByteStream(std::shared_ptr<internal::ClientImpl> client, const std::string& handle,
             std::optional<double> deadline_s, long long read_window);
  internal::StreamImpl* impl() const { return impl_.get(); }

 private:
  std::unique_ptr<internal::StreamImpl> impl_;
};

}  // namespace sockwire
