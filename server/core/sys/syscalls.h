// One small wrapper per descriptor-creating syscall, after libuv's uv__socket:
// SOCK_NONBLOCK | SOCK_CLOEXEC always, errno captured at the call, the result
// owned by a UniqueFd. Behind an interface (Envoy's OsSysCalls) so tests can
// inject EMFILE and friends without a real exhausted process.
#pragma once

#include <sys/socket.h>

#include <array>

#include "absl/status/statusor.h"
#include "sys/unique_fd.h"

namespace sockwire::core {

class SysCalls {
 public:
  virtual ~SysCalls() = default;
  virtual absl::StatusOr<UniqueFd> Socket(int family, int type, int proto);
  virtual absl::StatusOr<std::array<UniqueFd, 2>> SocketPair(int family, int type, int proto);
  // Returns an invalid UniqueFd (not an error) on EAGAIN.
  virtual absl::StatusOr<UniqueFd> Accept(int fd, sockaddr_storage* peer, socklen_t* len);
  virtual absl::StatusOr<UniqueFd> Dup(int fd);
};

// The process-wide instance; tests may swap in their own (not thread-safe
// against concurrent calls: swap before starting the daemon's threads).
SysCalls& Sys();
void SetSysCallsForTesting(SysCalls* s);

}  // namespace sockwire::core
