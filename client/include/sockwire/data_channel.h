// sockwire::DataChannel: a socket's bytes over a plain connection to the
// daemon (StreamService.OpenDataChannel), which the daemon relays to the
// socket with splice(2), as a SOCKS5 server does after CONNECT.
//
// Obtain one with Socket::data_channel(). It needs a daemon started with
// --data-listen (unix: or tcp:) and a SOCK_STREAM socket; otherwise that call
// throws sockwire::error (ErrorInfo::reason NO_DATA_LISTENER or
// NOT_A_STREAM). No gRPC framing or credit: each write() is a send(2) on the
// channel, each read() a recv(2).
//
//   sockwire::DataChannel ch = sock.data_channel();
//   ch.write(request);
//   ch.shutdown_write();       // the socket's peer sees EOF after the request
//   std::string chunk;
//   while (!(chunk = ch.read(65536)).empty()) consume(chunk);
//
// Semantics:
// - write(data) returns once every byte is in the channel's send buffer; the
//   daemon relays them in order. A reset of the socket reaches the channel
//   as a reset (ECONNRESET / EPIPE from a later call).
// - read(max) returns 1..max bytes, or "" once the socket reached EOF.
// - shutdown_write() passes EOF on: the daemon shuts the socket down for
//   writing after the relayed bytes. Reading goes on.
// - Timeouts: the socket's timeout mode when the channel was opened applies
//   to each call, as on the socket (nullopt waits, 0 throws
//   sockwire::blocking_io_error instead of waiting, t > 0 throws
//   sockwire::timeout after t seconds; sendall-like write() gets t in all).
// - Errors are the sockwire exceptions the socket calls throw.
// - close() closes the channel, not the socket (the Socket keeps owning
//   it); but the daemon passes the channel's EOF on, so the socket is then
//   shut down for writing. While a channel is open the daemon reads the
//   socket for it: do not also recv() on the socket. One channel per socket
//   at a time.
//
// native_handle() is the channel's own descriptor (O_NONBLOCK, owned by the
// DataChannel), for poll()/epoll. Not synchronized: one thread at a time.
// Movable, not copyable; the destructor closes.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sockwire/unique_fd.h"

namespace sockwire {

class DataChannel {
 public:
  // A closed channel.
  DataChannel() = default;
  DataChannel(DataChannel&&) noexcept = default;
  DataChannel& operator=(DataChannel&&) noexcept = default;
  DataChannel(const DataChannel&) = delete;
  DataChannel& operator=(const DataChannel&) = delete;
  ~DataChannel() = default;

  // Sends all of `data` or throws.
  void write(std::string_view data);
  // Up to `max` bytes (max > 0); "" at EOF.
  std::string read(std::size_t max);
  // Up to buffer.size() bytes into `buffer`; 0 at EOF (or for an empty buffer).
  std::size_t read_into(std::span<char> buffer);
  // Half-close (SHUT_WR on the channel, passed on to the socket).
  void shutdown_write();
  // Closes the channel. Idempotent.
  void close() noexcept { fd_.reset(); }

  // The channel's descriptor, -1 when closed.
  int native_handle() const noexcept { return fd_.get(); }
  explicit operator bool() const noexcept { return static_cast<bool>(fd_); }

  // Internal: a channel past its "OK\n" with the socket's timeout mode.
  DataChannel(UniqueFd fd, std::optional<double> timeout) noexcept
      : fd_(std::move(fd)), timeout_(timeout) {}

 private:
  int checked_fd() const;
  UniqueFd fd_;
  std::optional<double> timeout_;
};

}  // namespace sockwire
