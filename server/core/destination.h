// What address the kernel will really use, for the policy check.
//
// A policy written against addresses must see the address the kernel acts
// on, not the caller's spelling of it:
//   - ::ffff:a.b.c.d on an IPv6 socket is IPv4 a.b.c.d;
//   - connect/sendto to 0.0.0.0 reaches the socket's bound address or
//     127.0.0.1, and to :: reaches ::1;
//   - bind/listen to :: on a dual-stack socket (IPV6_V6ONLY off) also binds
//     0.0.0.0, and a listen on an unbound socket binds the wildcard;
//   - an AF_UNIX path is resolved against the daemon's directory, with
//     symlinks and "." / ".." in its directories resolved; the syscall then
//     uses the canonical path, so what was checked is what is used.
// Host names never get here: the core resolves them first.
#pragma once

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "resolver.h"

namespace sockwire::core {

enum class PolicyOp { kConnect, kBind, kSendTo, kListen };
const char* PolicyOpName(PolicyOp op);

struct Destination {
  int family = 0;
  // AF_INET/AF_INET6: every address the kernel may act on, IPv4-mapped
  // forms turned into AF_INET. The policy must allow each of them.
  std::vector<SockAddr> inet;
  // AF_UNIX: "/canonical/path", "@" + the abstract name's bytes, or empty
  // for an unnamed address (autobind, socketpair).
  std::string unix_name;
};

// `sa` is the address about to be passed to bind/connect/sendto on `fd`
// (`op` says which). For AF_UNIX paths `sa` is rewritten to the canonical
// path. OS errors (ENOENT for a missing directory, ENAMETOOLONG) come back
// as the kernel would give them.
absl::StatusOr<Destination> Normalise(PolicyOp op, int fd, SockAddr* sa);

// The daemon's own listeners: no caller may reach them through a daemon
// socket (the connection would come from the daemon itself: root, loopback,
// the daemon's uid in SO_PEERCRED). Thread-safe.
class OwnEndpoints {
 public:
  // "unix:/path", "unix-abstract:name", "host:port" or "tcp:host:port" (as
  // the daemon prints its addresses); unparsable entries are ignored.
  void Add(const std::string& spec);
  bool Reaches(const Destination& d) const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> unix_names_ ABSL_GUARDED_BY(mu_);
  std::vector<SockAddr> tcp_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sockwire::core
