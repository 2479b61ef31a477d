#include "local_io.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "internal.h"
#include "sockwire/errors.h"

namespace sockwire::internal {
namespace {

std::string ErrnoName(int err) {
  // strerrorname_np is glibc >= 2.32 (the daemon names errnos the same way).
  const char* n = strerrordesc_np(err) != nullptr ? strerrorname_np(err) : nullptr;
  return n != nullptr ? n : "E" + std::to_string(err);
}

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// Runs `op` (a syscall returning ssize_t and setting errno) until it does
// not fail with EINTR or EAGAIN; waits for `events` in between.
template <typename Op>
ssize_t Retry(int fd, short events, const IoDeadline& deadline, const char* what, Op op) {
  for (;;) {
    ssize_t n = op();
    if (n >= 0) return n;
    int err = errno;
    if (err == EINTR) continue;
    if (!WouldBlock(err)) ThrowErrno(err, what);
    deadline.Wait(fd, events);
  }
}

}  // namespace

[[noreturn]] void ThrowErrno(int err, const std::string& what) {
  ErrorInfo info;
  info.errno_name = ErrnoName(err);
  std::string detail = what.empty() ? std::string(std::strerror(err))
                                    : what + ": " + std::strerror(err);
  if (WouldBlock(err) || err == EINPROGRESS || err == EALREADY) {
    info.reason = "WOULD_BLOCK";
    throw blocking_io_error(err, detail, info);
  }
  throw error(err, detail, info);
}

IoDeadline::IoDeadline(std::optional<double> timeout, int flags)
    : nonblocking_((flags & MSG_DONTWAIT) != 0 || (timeout && *timeout == 0)) {
  if (timeout && *timeout > 0) {
    end_ = std::chrono::steady_clock::now() +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
               std::chrono::duration<double>(*timeout));
  }
}

void IoDeadline::Wait(int fd, short events) const {
  if (nonblocking_) {
    ErrorInfo info;
    info.errno_name = ErrnoName(EAGAIN);
    info.reason = "WOULD_BLOCK";
    throw blocking_io_error(EAGAIN, "the operation would block", info);
  }
  for (;;) {
    timespec ts{};
    timespec* tsp = nullptr;
    if (end_) {
      auto left = *end_ - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) {
        ErrorInfo info;
        info.reason = "TIMEOUT";
        throw timeout("timed out", info);
      }
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
      tsp = &ts;
    }
    pollfd p{fd, events, 0};
    int r = ::ppoll(&p, 1, tsp, nullptr);
    if (r > 0) return;  // Ready, or POLLERR/POLLHUP: the syscall says which.
    if (r < 0 && errno != EINTR) ThrowErrno(errno, "poll");
    // r == 0: the deadline passed; the next round throws timeout.
  }
}

ssize_t SendLocal(int fd, const void* p, std::size_t n, int flags, const IoDeadline& deadline) {
  // MSG_NOSIGNAL: a closed peer is EPIPE, as from the daemon, not SIGPIPE.
  return Retry(fd, POLLOUT, deadline, "send",
               [&] { return ::send(fd, p, n, flags | MSG_NOSIGNAL); });
}

ssize_t RecvLocal(int fd, void* p, std::size_t n, int flags, const IoDeadline& deadline) {
  return Retry(fd, POLLIN, deadline, "recv", [&] { return ::recv(fd, p, n, flags); });
}

ssize_t SendMsgLocal(int fd, const msghdr& msg, int flags, const IoDeadline& deadline) {
  return Retry(fd, POLLOUT, deadline, "sendmsg",
               [&] { return ::sendmsg(fd, &msg, flags | MSG_NOSIGNAL); });
}

ssize_t RecvMsgLocal(int fd, msghdr* msg, int flags, const IoDeadline& deadline) {
  // Descriptors that arrive in ancillary data must not leak into children.
  return Retry(fd, POLLIN, deadline, "recvmsg",
               [&] { return ::recvmsg(fd, msg, flags | MSG_CMSG_CLOEXEC); });
}

void SendAllLocal(int fd, std::string_view data, int flags, const IoDeadline& deadline) {
  while (!data.empty()) {
    ssize_t n = SendLocal(fd, data.data(), data.size(), flags, deadline);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool ToSockaddr(const Address& address, int socket_family, sockaddr_storage* out,
                socklen_t* len) {
  std::memset(out, 0, sizeof *out);
  Address a = socket_family == AF_INET6 ? address.as_inet6() : address;
  switch (a.family()) {
    case AF_INET: {
      auto* sin = reinterpret_cast<sockaddr_in*>(out);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(static_cast<std::uint16_t>(a.port()));
      if (a.host().empty()) {
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
      } else if (a.host() == "<broadcast>") {
        sin->sin_addr.s_addr = htonl(INADDR_BROADCAST);
      } else if (::inet_pton(AF_INET, a.host().c_str(), &sin->sin_addr) != 1) {
        return false;
      }
      *len = sizeof *sin;
      return true;
    }
    case AF_INET6: {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(static_cast<std::uint16_t>(a.port()));
      sin6->sin6_flowinfo = htonl(a.flowinfo());
      sin6->sin6_scope_id = a.scope_id();
      if (a.host().empty()) {
        sin6->sin6_addr = in6addr_any;
      } else if (::inet_pton(AF_INET6, a.host().c_str(), &sin6->sin6_addr) != 1) {
        return false;
      }
      *len = sizeof *sin6;
      return true;
    }
    case AF_UNIX: {
      auto* sun = reinterpret_cast<sockaddr_un*>(out);
      sun->sun_family = AF_UNIX;
      if (a.path().size() > sizeof sun->sun_path) return false;  // The daemon reports it.
      std::memcpy(sun->sun_path, a.path().data(), a.path().size());
      // An abstract name's length is exact; a path's includes its NUL if it fits.
      std::size_t n = a.path().size() + (a.is_abstract() || a.path().size() == sizeof sun->sun_path ? 0 : 1);
      *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
      return true;
    }
    default:
      return false;
  }
}

Address FromSockaddr(const sockaddr_storage& sa, socklen_t len) {
  if (len < sizeof(sa_family_t)) return Address();
  char host[INET6_ADDRSTRLEN] = {};
  switch (sa.ss_family) {
    case AF_INET: {
      const auto& sin = reinterpret_cast<const sockaddr_in&>(sa);
      ::inet_ntop(AF_INET, &sin.sin_addr, host, sizeof host);
      return Address::inet(host, ntohs(sin.sin_port));
    }
    case AF_INET6: {
      const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(sa);
      ::inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof host);
      return Address::inet6(host, ntohs(sin6.sin6_port), ntohl(sin6.sin6_flowinfo),
                            sin6.sin6_scope_id);
    }
    case AF_UNIX: {
      const auto& sun = reinterpret_cast<const sockaddr_un&>(sa);
      std::size_t n = std::min<std::size_t>(len - offsetof(sockaddr_un, sun_path),
                                             sizeof sun.sun_path);
      if (n == 0) return Address::unix_path("");
      if (sun.sun_path[0] == '\0') return Address(std::string(sun.sun_path, n));
      return Address::unix_path(std::string(sun.sun_path, strnlen(sun.sun_path, n)));
    }
    default:
      return Address();
  }
}

// ---------------------------------------------------------------- tokens

namespace {

[[noreturn]] void ThrowUnreachable(int err, const std::string& address) {
  ErrorInfo info;
  info.errno_name = ErrnoName(err);
  info.reason = "DATA_LISTENER_UNREACHABLE";
  throw error(err, "cannot reach the daemon's data listener " + address + ": " +
                       std::strerror(err), info);
}

using Clock = std::chrono::steady_clock;

// What is left until `deadline`; past it, the listener counts as unreachable.
Clock::duration Remaining(Clock::time_point deadline, const std::string& address) {
  Clock::duration left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) ThrowUnreachable(ETIMEDOUT, address);
  return left;
}

// SO_SNDTIMEO and SO_RCVTIMEO of `left` (at least 1 us: 0 means no limit).
void SetIoTimeouts(int fd, Clock::duration left) {
  auto us = std::max<long long>(
      1, std::chrono::duration_cast<std::chrono::microseconds>(left).count());
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(us / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// connect() on blocking `fd`, bounded by `deadline`: Linux applies
// SO_SNDTIMEO to connect (a unix listener with a full backlog gives EAGAIN
// once it expires, TCP EINPROGRESS). A TCP connect interrupted by a signal
// goes on in the background (EALREADY on retry): poll for its end. Every
// failure, a timeout included, is DATA_LISTENER_UNREACHABLE.
void ConnectBounded(int fd, const sockaddr* sa, socklen_t len, Clock::time_point deadline,
                    const std::string& address) {
  for (;;) {
    SetIoTimeouts(fd, Remaining(deadline, address));
    if (::connect(fd, sa, len) == 0) return;
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) ThrowUnreachable(ETIMEDOUT, address);
    if (err != EINPROGRESS && err != EALREADY) ThrowUnreachable(err, address);
    for (;;) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    Remaining(deadline, address)).count();
      pollfd p{fd, POLLOUT, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(ms + 1, 1 << 30)));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) ThrowUnreachable(errno, address);
      if (r == 0) continue;  // Remaining() throws once the deadline passed.
      int soerr = 0;
      socklen_t n = sizeof soerr;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &n) != 0) soerr = errno;
      if (soerr != 0) ThrowUnreachable(soerr, address);
      return;
    }
  }
}

// A blocking connection to "unix:/path" or "tcp:host:port". The connect and
// the token exchange after it (through SO_SNDTIMEO/SO_RCVTIMEO) are bounded
// together by `handshake_s`.
UniqueFd ConnectDataListener(const std::string& address, double handshake_s) {
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(handshake_s));
  UniqueFd fd;
  if (address.rfind("unix:", 0) == 0) {
    std::string path = address.substr(5);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path.size() >= sizeof sun.sun_path) ThrowUnreachable(ENAMETOOLONG, address);
    std::memcpy(sun.sun_path, path.data(), path.size());
    fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) ThrowErrno(errno, "socket");
    ConnectBounded(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun, deadline, address);
  } else if (address.rfind("tcp:", 0) == 0) {
    std::string hostport = address.substr(4);
    std::size_t colon = hostport.rfind(':');
    if (colon == std::string::npos) ThrowUnreachable(EINVAL, address);
    std::string host = hostport.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), hostport.c_str() + colon + 1, &hints, &res) != 0 ||
        res == nullptr) {
      ThrowUnreachable(EINVAL, address);
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(res, ::freeaddrinfo);
    fd.reset(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) ThrowUnreachable(errno, address);
    ConnectBounded(fd.get(), res->ai_addr, res->ai_addrlen, deadline, address);
    // Small writes are often request/response round trips: no Nagle delay
    // (the daemon sets the same on its end).
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  } else {
    ThrowUnreachable(EINVAL, address);
  }
  // The token exchange gets what is left of the same budget.
  SetIoTimeouts(fd.get(), Remaining(deadline, address));
  return fd;
}

[[noreturn]] void ThrowHandshake(int err) {
  if (WouldBlock(err)) throw timeout("timed out waiting for the daemon's data listener");
  ThrowErrno(err, "data channel handshake");
}

}  // namespace

Presented Present(const ClientImpl& client, const std::string& handle, bool descriptor) {
  v1::DataChannelRequest req;
  req.set_handle(handle);
  v1::DataChannelResponse resp;
  client.Call(client.quick(), [&](grpc::ClientContext* ctx) {
    return descriptor ? client.streams().TakeDescriptor(ctx, req, &resp)
                      : client.streams().OpenDataChannel(ctx, req, &resp);
  });

  Presented out;
  out.connection = ConnectDataListener(resp.address(), client.quick());
  const int fd = out.connection.get();
  std::string line = resp.token() + "\n";
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ThrowHandshake(errno);
    rest.remove_prefix(static_cast<std::size_t>(n));
  }

  // The reply line. Byte by byte: on a relay, the socket's data may follow
  // "OK\n" at once and belongs to the caller. The descriptor arrives with
  // the reply's first byte (one sendmsg), so every read looks for it.
  std::string reply;
  while (reply.size() < 256 && (reply.empty() || reply.back() != '\n')) {
    char c;
    iovec iov{&c, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (descriptor) {
      m.msg_control = control;
      m.msg_controllen = sizeof control;
    }
    ssize_t n = ::recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ThrowHandshake(errno);
    for (cmsghdr* cm = descriptor && n > 0 ? CMSG_FIRSTHDR(&m) : nullptr; cm != nullptr;
         cm = CMSG_NXTHDR(&m, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
      std::size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int passed;
        std::memcpy(&passed, CMSG_DATA(cm) + i * sizeof(int), sizeof passed);
        // Keep the first; close any other, so none leaks.
        if (!out.descriptor) {
          out.descriptor.reset(passed);
        } else {
          UniqueFd extra(passed);
        }
      }
    }
    if (n == 0) break;
    reply.push_back(c);
  }
  if (reply != "OK\n") {
    std::string why = reply;
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
    if (why.rfind("ERR ", 0) == 0) why = why.substr(4);
    if (why.empty()) why = "connection closed during the handshake";
    ErrorInfo info;
    info.errno_name = "ECONNREFUSED";
    info.reason = "TOKEN_REFUSED";
    throw error(ECONNREFUSED, "the daemon's data listener refused the token: " + why, info);
  }
  if (descriptor && !out.descriptor) {
    throw error(EPROTO, "the daemon's reply carried no descriptor");
  }
  return out;
}

}  // namespace sockwire::internal
