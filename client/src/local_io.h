// I/O on local descriptors with a Python socket's timeout semantics, and the
// token exchange with the daemon's data listener (--data-listen).
//
// The descriptors here are O_NONBLOCK: a descriptor passed by the daemon
// shares its open file description, which the daemon keeps non-blocking, and
// a data channel is made so. Blocking and timeouts are emulated with poll:
// timeout nullopt waits for readiness without limit, 0 throws
// blocking_io_error where the syscall gives EAGAIN, t > 0 throws timeout once
// t seconds passed since the call began. Other errnos throw sockwire::error
// with that errno, as the daemon's errors do.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "sockwire/address.h"
#include "sockwire/unique_fd.h"

namespace sockwire::internal {

class ClientImpl;

// The end of one call's wait: set once from the socket's timeout when the
// call begins (Python: the timeout bounds a whole sendall, not each send).
class IoDeadline {
 public:
  // `flags` may carry MSG_DONTWAIT, which makes this one call non-blocking.
  IoDeadline(std::optional<double> timeout, int flags = 0);
  bool nonblocking() const noexcept { return nonblocking_; }
  // Waits until `fd` has `events` (or an error/hangup, which the retried
  // syscall then reports). Throws blocking_io_error when non-blocking,
  // timeout when the deadline passed.
  void Wait(int fd, short events) const;

 private:
  bool nonblocking_ = false;
  std::optional<std::chrono::steady_clock::time_point> end_;
};

// Throws the sockwire exception for errno `err` of a local syscall.
[[noreturn]] void ThrowErrno(int err, const std::string& what);

// One syscall, retried on EINTR and after waiting on EAGAIN. Returns n >= 0.
ssize_t SendLocal(int fd, const void* p, std::size_t n, int flags, const IoDeadline& deadline);
ssize_t RecvLocal(int fd, void* p, std::size_t n, int flags, const IoDeadline& deadline);
ssize_t SendMsgLocal(int fd, const msghdr& msg, int flags, const IoDeadline& deadline);
ssize_t RecvMsgLocal(int fd, msghdr* msg, int flags, const IoDeadline& deadline);
// Every byte of `data`, one deadline for all of it.
void SendAllLocal(int fd, std::string_view data, int flags, const IoDeadline& deadline);

// `address` as a sockaddr for a socket of `socket_family` (an ("host", port)
// pair on an AF_INET6 socket is AF_INET6, as in ToProto). False when the
// host is not numeric: names are resolved by the daemon, so the caller
// sends through it instead.
bool ToSockaddr(const Address& address, int socket_family, sockaddr_storage* out,
                socklen_t* len);
// A received peer address; Address() for none (len 0).
Address FromSockaddr(const sockaddr_storage& sa, socklen_t len);

// What presenting a data-channel token gave: the connection past "OK\n",
// and the passed descriptor when one was asked for.
struct Presented {
  UniqueFd connection;
  UniqueFd descriptor;
};
// Issues a token for `handle` (TakeDescriptor when `descriptor`, else
// OpenDataChannel), connects to the daemon's data listener, presents the
// token and reads "OK\n" (byte by byte: relay data may follow it). Throws
// the RPC's error (PERMISSION_DENIED/FD_PASSING_DISABLED, NO_DATA_LISTENER,
// ...), sockwire::error with reason DATA_LISTENER_UNREACHABLE when the
// listener cannot be reached (e.g. a daemon on another host), and
// sockwire::error(ECONNREFUSED) with reason TOKEN_REFUSED for "ERR ...".
// The handshake (the connect included) is bounded by the client's rpc_timeout:
// a listener that does not answer (a full unix backlog, a black-holed TCP
// address) is DATA_LISTENER_UNREACHABLE (ETIMEDOUT) once it passed.
Presented Present(const ClientImpl& client, const std::string& handle, bool descriptor);

}  // namespace sockwire::internal
