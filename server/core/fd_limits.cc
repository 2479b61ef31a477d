#include "fd_limits.h"

#include <sys/resource.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace sockwire::core {
namespace {

// Descriptors the daemon itself needs besides the capped consumers: gRPC's
// epoll sets, wakeup fds and listeners, the event loops, the resolver's
// sockets, stdio. Measured at ~40 on an idle daemon; kept generous.
constexpr uint64_t kFixedUse = 64;

}  // namespace

uint64_t NoFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur == RLIM_INFINITY) return 1u << 20;
  return rl.rlim_cur;
}

uint64_t RaiseNoFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    // An infinite hard limit is refused by the kernel above nr_open: step down.
    if (setrlimit(RLIMIT_NOFILE, &want) != 0 && rl.rlim_max == RLIM_INFINITY) {
      want.rlim_cur = 1u << 20;
      (void)setrlimit(RLIMIT_NOFILE, &want);
    }
  }
  return NoFileLimit();
}

std::string ApplyDescriptorDefaults(uint64_t limit, server::Options* o) {
  o->fd_limit = limit;
  if (o->fd_reserve == 0) {
    o->fd_reserve = static_cast<uint32_t>(std::max<uint64_t>(std::min<uint64_t>(limit / 2, 256), limit / 8));
  }
  uint64_t reserve = o->fd_reserve;
  if (o->rest_max_connections == 0) {
    o->rest_max_connections = static_cast<uint32_t>(std::max<uint64_t>(4, std::min<uint64_t>(512, reserve / 4)));
  }
  if (o->data_max_pending == 0) {
    o->data_max_pending = static_cast<uint32_t>(std::max<uint64_t>(2, std::min<uint64_t>(256, reserve / 8)));
  }
  if (o->max_handles == 0) {
    o->max_handles = static_cast<uint32_t>(limit > reserve ? std::max<uint64_t>(1, limit - reserve) : 1);
  }
  if (o->max_handles_per_session == 0) {
    o->max_handles_per_session = std::max<uint32_t>(1, std::min<uint32_t>(200000, o->max_handles / 2));
  }
  if (o->max_implicit_sessions == 0) o->max_implicit_sessions = std::max<uint32_t>(1, o->max_sessions / 4);
  // Everything that is capped must fit under the limit with room for the
  // daemon's own descriptors and some gRPC connections.
  uint64_t capped = uint64_t{o->max_handles} + o->rest_max_connections + o->data_max_pending + kFixedUse;
  if (capped > limit) {
    return absl::StrCat("descriptor limits do not fit RLIMIT_NOFILE ", limit, ": --max-handles=",
                        o->max_handles, " + --rest-max-connections=", o->rest_max_connections,
                        " + --data-max-pending=", o->data_max_pending, " + ", kFixedUse,
                        " for the daemon itself = ", capped,
                        " (lower them, or raise the hard limit: ulimit -Hn)");
  }
  return "";
}

}  // namespace sockwire::core
