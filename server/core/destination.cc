#include "destination.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "errors.h"

namespace sockwire::core {
namespace {

SockAddr V4(in_addr_t addr_host_order, uint16_t port_net) {
  SockAddr out;
  auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
  sin->sin_family = AF_INET;
  sin->sin_port = port_net;
  sin->sin_addr.s_addr = htonl(addr_host_order);
  out.len = sizeof(sockaddr_in);
  return out;
}

SockAddr V6(const in6_addr& a, uint16_t port_net) {
  SockAddr out;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = port_net;
  sin6->sin6_addr = a;
  out.len = sizeof(sockaddr_in6);
  return out;
}

// ::ffff:a.b.c.d -> a.b.c.d; everything else unchanged.
SockAddr Unmap(const SockAddr& sa) {
  if (sa.family() != AF_INET6) return sa;
  auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&sa.storage);
  if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) return sa;
  in_addr_t v4;
  std::memcpy(&v4, &sin6->sin6_addr.s6_addr[12], 4);
  return V4(ntohl(v4), sin6->sin6_port);
}

bool IsAny(const SockAddr& sa) {
  if (sa.family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&sa.storage)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (sa.family() == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&sa.storage)->sin6_addr);
  }
  return false;
}

uint16_t PortOf(const SockAddr& sa) {
  if (sa.family() == AF_INET) return reinterpret_cast<const sockaddr_in*>(&sa.storage)->sin_port;
  if (sa.family() == AF_INET6) return reinterpret_cast<const sockaddr_in6*>(&sa.storage)->sin6_port;
  return 0;
}

bool SameHost(const SockAddr& a, const SockAddr& b) {
  if (a.family() != b.family()) return false;
  if (a.family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(&b.storage)->sin_addr.s_addr;
  }
  return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr,
                     &reinterpret_cast<const sockaddr_in6*>(&b.storage)->sin6_addr, 16) == 0;
}

bool IsLoopback(const SockAddr& sa) {
  if (sa.family() == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&sa.storage)->sin_addr.s_addr) >> 24) == 127;
  }
  return sa.family() == AF_INET6 &&
         IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&sa.storage)->sin6_addr);
}

// An address of this host (loopback or an interface's), which a listener on
// the wildcard answers.
bool IsLocal(const SockAddr& sa) {
  if (IsLoopback(sa) || IsAny(sa)) return true;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return true;  // Cannot tell: assume it is.
  std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> guard(list, freeifaddrs);
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != sa.family()) continue;
    SockAddr x;
    std::memcpy(&x.storage, i->ifa_addr,
                sa.family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    if (SameHost(x, sa)) return true;
  }
  return false;
}

absl::Status NotAFile() {
  return RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS",
                      "an AF_UNIX path must name a file, not a directory");
}

// "/dir/../x.sock" -> "/real/dir/x.sock". `follow` resolves a symlink in
// the last component too (connect and sendto follow it; bind creates it).
absl::StatusOr<std::string> CanonicalPath(std::string path, bool follow, const char* op) {
  if (path.empty() || path[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == nullptr) return OsError(errno, op);
    path = absl::StrCat(cwd, "/", path);
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  std::string base = path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") return NotAFile();
  char real[PATH_MAX];
  if (follow) {
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      if (realpath(path.c_str(), real) == nullptr) return OsError(errno, op);
      return std::string(real);
    }
  }
  if (realpath(dir.c_str(), real) == nullptr) return OsError(errno, op);
  std::string out = real;
  if (out != "/") out += "/";
  return out + base;
}

absl::StatusOr<std::string> UnixName(PolicyOp op, SockAddr* sa) {
  constexpr size_t kOff = offsetof(sockaddr_un, sun_path);
  auto* sun = reinterpret_cast<sockaddr_un*>(&sa->storage);
  if (sa->len <= kOff) return std::string();  // Unnamed (autobind).
  size_t n = sa->len - kOff;
  if (sun->sun_path[0] == '\0') return absl::StrCat("@", std::string(sun->sun_path + 1, n - 1));
  std::string path(sun->sun_path, strnlen(sun->sun_path, n));
  bool follow = op == PolicyOp::kConnect || op == PolicyOp::kSendTo;
  auto canon = CanonicalPath(std::move(path), follow, PolicyOpName(op));
  if (!canon.ok()) return canon.status();
  if (canon->size() >= sizeof sun->sun_path) return OsError(ENAMETOOLONG, PolicyOpName(op));
  std::memset(sun->sun_path, 0, sizeof sun->sun_path);
  std::memcpy(sun->sun_path, canon->data(), canon->size());
  sa->len = static_cast<socklen_t>(kOff + canon->size() + 1);
  return canon;
}

}  // namespace

const char* PolicyOpName(PolicyOp op) {
  switch (op) {
    case PolicyOp::kConnect: return "connect";
    case PolicyOp::kBind: return "bind";
    case PolicyOp::kSendTo: return "sendto";
    case PolicyOp::kListen: return "listen";
  }
  return "?";
}

absl::StatusOr<Destination> Normalise(PolicyOp op, int fd, SockAddr* sa) {
  Destination d;
  if (sa->family() == AF_UNIX) {
    d.family = AF_UNIX;
    auto name = UnixName(op, sa);
    if (!name.ok()) return name.status();
    d.unix_name = *std::move(name);
    return d;
  }
  if (sa->family() != AF_INET && sa->family() != AF_INET6) {
    return RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS", "unsupported address family");
  }
  SockAddr a = Unmap(*sa);
  d.family = a.family();
  d.inet.push_back(a);
  if (!IsAny(a)) return d;
  bool outbound = op == PolicyOp::kConnect || op == PolicyOp::kSendTo;
  if (outbound) {
    // The kernel sends to the wildcard as to this host: IPv4 to the bound
    // address, else 127.0.0.1 (__ip_route_output_key); IPv6 to ::1.
    if (a.family() == AF_INET) {
      sockaddr_storage local{};
      socklen_t len = sizeof local;
      SockAddr bound;
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
        std::memcpy(&bound.storage, &local, len);
        bound.len = len;
        bound = Unmap(bound);
      }
      if (bound.family() == AF_INET && !IsAny(bound)) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&bound.storage);
        sin->sin_port = PortOf(a);
        d.inet.push_back(bound);
      } else {
        d.inet.push_back(V4(INADDR_LOOPBACK, PortOf(a)));
      }
    } else {
      d.inet.push_back(V6(in6addr_loopback, PortOf(a)));
    }
    return d;
  }
  // bind/listen on the IPv6 wildcard of a dual-stack socket also takes IPv4.
  if (a.family() == AF_INET6) {
    int v6only = 0;
    socklen_t len = sizeof v6only;
    if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) != 0 || v6only == 0) {
      d.inet.push_back(V4(INADDR_ANY, PortOf(a)));
    }
  }
  return d;
}

void OwnEndpoints::Add(const std::string& spec) {
  std::string address = absl::StartsWith(spec, "tcp:") ? spec.substr(4) : spec;
  absl::MutexLock lock(&mu_);
  if (absl::StartsWith(address, "unix:")) {
    auto canon = CanonicalPath(address.substr(5), true, "listen");
    unix_names_.push_back(canon.ok() ? *canon : address.substr(5));
    return;
  }
  if (absl::StartsWith(address, "unix-abstract:")) {
    unix_names_.push_back(absl::StrCat("@", address.substr(14)));
    return;
  }
  size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) || port > 65535) return;
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint16_t p = htons(static_cast<uint16_t>(port));
  in_addr v4;
  in6_addr v6;
  if (host == "localhost") {
    tcp_.push_back(V4(INADDR_LOOPBACK, p));
    tcp_.push_back(V6(in6addr_loopback, p));
  } else if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    tcp_.push_back(V4(ntohl(v4.s_addr), p));
  } else if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    tcp_.push_back(Unmap(V6(v6, p)));
  }
}

bool OwnEndpoints::Reaches(const Destination& d) const {
  absl::MutexLock lock(&mu_);
  if (d.family == AF_UNIX) {
    for (const auto& n : unix_names_) {
      if (n == d.unix_name) return true;
    }
    return false;
  }
  for (const auto& own : tcp_) {
    for (const auto& c : d.inet) {
      if (PortOf(c) != PortOf(own)) continue;
      if (SameHost(c, own)) return true;
      // A wildcard listener answers on every local address of its family
      // (and an IPv6 wildcard on IPv4 too, when dual-stack).
      if (IsAny(own) && IsLocal(c)) return true;
    }
  }
  return false;
}

}  // namespace sockwire::core
