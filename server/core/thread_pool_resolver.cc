// getaddrinfo(3) on a small bounded pool of worker threads. getaddrinfo blocks
// on DNS, so it never runs on a gRPC or event-loop thread; the pool size caps
// how many lookups run at once, and the rest queue. A lookup that outlives its
// deadline completes with EAI_AGAIN at the deadline (the pool's own deadline
// thread fires it), even while the worker is still stuck in libc; the worker
// finishes the stale query in the background and drops its answer. Identical
// queries that overlap share one getaddrinfo call, so a burst of connects to
// one name, or retries against a dead server, occupy one worker, not all.
#include <netdb.h>
#include <string.h>

#include "absl/strings/str_cat.h"
#include "errors.h"
#include "resolver.h"
#include "server/core/lookup_pool.h"

namespace sockwire::core {
namespace {

absl::StatusOr<std::vector<AddrInfo>> Lookup(const AddrInfoQuery& q) {
  addrinfo hints{};
  hints.ai_family = q.family;
  hints.ai_socktype = q.socktype;
  hints.ai_protocol = q.protocol;
  hints.ai_flags = q.flags;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(q.has_host ? q.host.c_str() : nullptr,
                       q.has_service ? q.service.c_str() : nullptr, &hints, &res);
  if (rc != 0) {
    if (rc == EAI_SYSTEM) return OsError(errno, "getaddrinfo");
    return GaiError(rc, "getaddrinfo");
  }
  std::vector<AddrInfo> out;
  for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
    AddrInfo a;
    a.family = p->ai_family;
    a.socktype = p->ai_socktype;
    a.protocol = p->ai_protocol;
    if (p->ai_canonname != nullptr) a.canonname = p->ai_canonname;
    if (p->ai_addrlen <= sizeof(a.addr.storage)) {
      memcpy(&a.addr.storage, p->ai_addr, p->ai_addrlen);
      a.addr.len = p->ai_addrlen;
    }
    out.push_back(std::move(a));
  }
  freeaddrinfo(res);
  return out;
}

// Every field that changes getaddrinfo's answer; NUL cannot occur in a C
// string argument, so it separates unambiguously.
std::string ShareKey(const AddrInfoQuery& q) {
  return absl::StrCat(q.has_host ? "h" : "-", q.host, std::string(1, '\0'),
                      q.has_service ? "s" : "-", q.service, std::string(1, '\0'), q.family, ",",
                      q.socktype, ",", q.protocol, ",", q.flags);
}

class ThreadPoolResolver : public Resolver {
 public:
  explicit ThreadPoolResolver(int threads) : pool_(threads) {}

  void GetAddrInfo(AddrInfoQuery query, Clock::time_point deadline,
                   std::shared_ptr<CancelToken> cancel, Callback done) override {
    // Embedded NULs would silently truncate the C string: reject them as
    // Python does ("embedded null character" is a ValueError there).
    if (query.host.find('\0') != std::string::npos ||
        query.service.find('\0') != std::string::npos) {
      auto err = RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS",
                              "getaddrinfo: embedded null character");
      pool_.Submit("", [err]() -> absl::StatusOr<std::vector<AddrInfo>> { return err; },
                   deadline, std::move(cancel), [] { return GaiError(EAI_AGAIN, "getaddrinfo"); },
                   std::move(done));
      return;
    }
    std::string key = ShareKey(query);
    pool_.Submit(
        std::move(key), [q = std::move(query)] { return Lookup(q); }, deadline, std::move(cancel),
        [] { return GaiError(EAI_AGAIN, "getaddrinfo"); }, std::move(done));
  }

 private:
  resolver::LookupPool<std::vector<AddrInfo>> pool_;
};

}  // namespace

std::unique_ptr<Resolver> MakeThreadPoolResolver(int threads) {
  return std::make_unique<ThreadPoolResolver>(threads);
}

}  // namespace sockwire::core
