// Asynchronous name resolution used by the core (connect/bind/sendto to a
// host name) and by the resolver service. Never blocks the caller's thread.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "event_loop.h"

namespace sockwire::core {

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
};

struct AddrInfo {
  int family = 0;
  int socktype = 0;
  int protocol = 0;
  std::string canonname;
  SockAddr addr;
};

struct AddrInfoQuery {
  std::string host;     // Empty: none (NULL node).
  std::string service;  // Port number or service name; empty: none.
  bool has_host = true;
  bool has_service = true;
  int family = 0;
  int socktype = 0;
  int protocol = 0;
  int flags = 0;
};

class Resolver {
 public:
  using Callback = std::function<void(absl::StatusOr<std::vector<AddrInfo>>)>;
  virtual ~Resolver() = default;
  // getaddrinfo(3) semantics; errors are GaiError. `done` runs exactly once,
  // on some daemon thread (never inline in a way that blocks the caller).
  virtual void GetAddrInfo(AddrInfoQuery query, Clock::time_point deadline,
                           std::shared_ptr<CancelToken> cancel, Callback done) = 0;
};

// The built-in resolver: getaddrinfo on a small bounded worker pool. The
// resolver issue may replace it with c-ares.
std::unique_ptr<Resolver> MakeThreadPoolResolver(int threads);

}  // namespace sockwire::core
