#include "sys/syscalls.h"

#include <errno.h>
#include <fcntl.h>

#include "errors.h"

namespace sockwire::core {
namespace {
SysCalls* g_override = nullptr;
}

SysCalls& Sys() {
  static SysCalls os;
  return g_override != nullptr ? *g_override : os;
}

void SetSysCallsForTesting(SysCalls* s) { g_override = s; }

absl::StatusOr<UniqueFd> SysCalls::Socket(int family, int type, int proto) {
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) return OsError(errno, "socket");
  return UniqueFd(fd);
}

absl::StatusOr<std::array<UniqueFd, 2>> SysCalls::SocketPair(int family, int type, int proto) {
  int sv[2];
  if (::socketpair(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto, sv) != 0) {
    return OsError(errno, "socketpair");
  }
  return std::array<UniqueFd, 2>{UniqueFd(sv[0]), UniqueFd(sv[1])};
}

absl::StatusOr<UniqueFd> SysCalls::Accept(int fd, sockaddr_storage* peer, socklen_t* len) {
  for (;;) {
    int c = ::accept4(fd, reinterpret_cast<sockaddr*>(peer), len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) return UniqueFd(c);
    int err = errno;
    if (err == EINTR) continue;
    // A connection that died in the queue is not the listener's error.
    if (err == ECONNABORTED) continue;
    if (err == EAGAIN) return UniqueFd();
    return OsError(err, "accept");
  }
}

absl::StatusOr<UniqueFd> SysCalls::Dup(int fd) {
  int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return OsError(errno, "dup");
  return UniqueFd(d);
}

}  // namespace sockwire::core
