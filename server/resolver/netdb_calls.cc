#include "server/resolver/netdb_calls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "absl/strings/str_cat.h"
#include "server/core/errors.h"

namespace sockwire::resolver {
namespace {

using core::SockAddr;

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

absl::Status NulError(const char* fn) {
  return core::RequestError(absl::StatusCode::kInvalidArgument, "BAD_ARGUMENT",
                            absl::StrCat(fn, ": embedded null character"));
}

SockAddr FromIn4(in_addr a) {
  SockAddr out;
  auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
  sin->sin_family = AF_INET;
  sin->sin_addr = a;
  out.len = sizeof(sockaddr_in);
  return out;
}

SockAddr FromIn6(const in6_addr& a) {
  SockAddr out;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_addr = a;
  out.len = sizeof(sockaddr_in6);
  return out;
}

SockAddr FromAddrinfo(const addrinfo* ai) {
  SockAddr out;
  size_t n = std::min<size_t>(ai->ai_addrlen, sizeof(out.storage));
  memcpy(&out.storage, ai->ai_addr, n);
  out.len = static_cast<socklen_t>(n);
  return out;
}

absl::Status FromGaiCode(int rc, std::string_view context) {
  if (rc == EAI_SYSTEM) return core::OsError(errno, context);
  return core::GaiError(rc, context);
}

// gethost_common(): a hostent as Python's (hostname, aliases, addresses).
absl::StatusOr<HostEntry> FromHostent(const hostent* h, int af) {
  if (h->h_addrtype != af) return core::OsError(EAFNOSUPPORT, "gethostbyaddr");
  HostEntry e;
  if (h->h_name != nullptr) e.hostname = h->h_name;
  for (char** p = h->h_aliases; p != nullptr && *p != nullptr; ++p) e.aliases.emplace_back(*p);
  for (char** p = h->h_addr_list; p != nullptr && *p != nullptr; ++p) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(h->h_addrtype, *p, buf, sizeof buf) != nullptr) e.addresses.emplace_back(buf);
  }
  return e;
}

// Runs a *_r call that reports ERANGE for a short buffer, growing the buffer.
template <class F>
int WithBuffer(std::vector<char>& buf, F&& call) {
  buf.resize(16384);
  for (;;) {
    int rc = call(buf.data(), buf.size());
    if (rc != ERANGE || buf.size() >= (1u << 22)) return rc;
    buf.resize(buf.size() * 2);
  }
}

}  // namespace

std::string NumericHost(const SockAddr& addr) {
  // inet_ntop, not getnameinfo: since Python 3.7 (bpo-32221) the scope lives
  // only in the tuple's scope_id, never as "%scope" in the host string.
  char buf[INET6_ADDRSTRLEN] = {};
  const void* src = nullptr;
  if (addr.family() == AF_INET) {
    src = &reinterpret_cast<const sockaddr_in*>(addr.get())->sin_addr;
  } else if (addr.family() == AF_INET6) {
    src = &reinterpret_cast<const sockaddr_in6*>(addr.get())->sin6_addr;
  } else {
    return "";
  }
  return inet_ntop(addr.family(), src, buf, sizeof buf) != nullptr ? buf : "";
}

uint16_t PortOf(const SockAddr& addr) {
  if (addr.family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(addr.get())->sin_port);
  if (addr.family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(addr.get())->sin6_port);
  }
  return 0;
}

absl::Status PlainOsError(absl::StatusCode code, const std::string& message) {
  // Keep the core's payload format (kind OS, errno 0) without knowing its keys.
  absl::Status base = core::OsError(0, message);
  absl::Status out(code, message);
  base.ForEachPayload([&out](absl::string_view key, const absl::Cord& value) {
    out.SetPayload(key, value);
  });
  return out;
}

std::optional<absl::StatusOr<SockAddr>> SetIpAddrLocal(const std::string& name, int af) {
  if (HasNul(name)) return absl::StatusOr<SockAddr>(NulError("gethostbyname"));
  if (name.empty()) return std::nullopt;  // Wildcard: getaddrinfo, but local.
  if (name == "<broadcast>" || name == "255.255.255.255") {
    if (af != AF_INET && af != AF_UNSPEC) {
      return absl::StatusOr<SockAddr>(
          PlainOsError(absl::StatusCode::kInvalidArgument, "address family mismatched"));
    }
    in_addr a{};
    a.s_addr = htonl(INADDR_BROADCAST);
    return absl::StatusOr<SockAddr>(FromIn4(a));
  }
  if (af == AF_INET || af == AF_UNSPEC) {
    in_addr a{};
    if (inet_pton(AF_INET, name.c_str(), &a) == 1) return absl::StatusOr<SockAddr>(FromIn4(a));
  }
  if (af == AF_INET6 || af == AF_UNSPEC) {
    in6_addr a{};
    if (inet_pton(AF_INET6, name.c_str(), &a) == 1) return absl::StatusOr<SockAddr>(FromIn6(a));
  }
  return std::nullopt;
}

absl::StatusOr<SockAddr> SetIpAddr(const std::string& name, int af) {
  if (auto local = SetIpAddrLocal(name, af)) return *local;
  addrinfo hints{};
  addrinfo* res = nullptr;
  hints.ai_family = af;
  int rc;
  if (name.empty()) {
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(nullptr, "0", &hints, &res);
  } else {
    rc = getaddrinfo(name.c_str(), nullptr, &hints, &res);
  }
  if (rc != 0) return FromGaiCode(rc, "getaddrinfo");
  if (name.empty() && res->ai_next != nullptr) {
    freeaddrinfo(res);
    return PlainOsError(absl::StatusCode::kInvalidArgument, "wildcard resolved to multiple address");
  }
  SockAddr out = FromAddrinfo(res);
  freeaddrinfo(res);
  return out;
}

absl::StatusOr<HostEntry> GetHostByNameEx(const std::string& name) {
  auto addr = SetIpAddr(name, AF_INET);
  if (!addr.ok()) return addr.status();
  hostent h{};
  hostent* result = nullptr;
  int herr = 0;
  std::vector<char> buf;
  WithBuffer(buf, [&](char* b, size_t n) {
    return gethostbyname_r(name.c_str(), &h, b, n, &result, &herr);
  });
  if (result == nullptr) return core::HError(herr, "gethostbyname_ex");
  return FromHostent(result, AF_INET);
}

absl::StatusOr<HostEntry> GetHostByAddr(const std::string& ip) {
  auto addr = SetIpAddr(ip, AF_UNSPEC);
  if (!addr.ok()) return addr.status();
  int af = addr->family();
  const void* ap;
  socklen_t al;
  if (af == AF_INET) {
    ap = &reinterpret_cast<const sockaddr_in*>(addr->get())->sin_addr;
    al = sizeof(in_addr);
  } else if (af == AF_INET6) {
    ap = &reinterpret_cast<const sockaddr_in6*>(addr->get())->sin6_addr;
    al = sizeof(in6_addr);
  } else {
    return core::OsError(EAFNOSUPPORT, "gethostbyaddr");
  }
  hostent h{};
  hostent* result = nullptr;
  int herr = 0;
  std::vector<char> buf;
  WithBuffer(buf, [&](char* b, size_t n) {
    return gethostbyaddr_r(ap, al, af, &h, b, n, &result, &herr);
  });
  if (result == nullptr) return core::HError(herr, "gethostbyaddr");
  return FromHostent(result, af);
}

std::string FqdnStartName(const std::string& raw) {
  // name.strip(): Python strips Unicode whitespace; ASCII covers host names.
  size_t b = 0, e = raw.size();
  while (b < e && std::isspace(static_cast<unsigned char>(raw[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(raw[e - 1]))) --e;
  std::string name = raw.substr(b, e - b);
  if (name.empty() || name == "0.0.0.0" || name == "::") {
    auto h = GetHostName();
    if (h.ok()) name = *h;
  }
  return name;
}

std::string GetFqdn(const std::string& raw) {
  std::string name = FqdnStartName(raw);
  auto entry = GetHostByAddr(name);
  if (!entry.ok()) return name;
  if (entry->hostname.find('.') != std::string::npos) return entry->hostname;
  for (const auto& alias : entry->aliases) {
    if (alias.find('.') != std::string::npos) return alias;
  }
  return entry->hostname;
}

absl::StatusOr<std::pair<std::string, std::string>> GetNameInfo(const std::string& host,
                                                                 uint32_t port, bool inet6,
                                                                 uint32_t flowinfo,
                                                                 uint32_t scope_id, int flags) {
  if (HasNul(host)) return NulError("getnameinfo");
  if (port > 0xffff) {
    return core::RequestError(absl::StatusCode::kInvalidArgument, "BAD_PORT",
                              "getnameinfo(): port must be 0-65535.");
  }
  if (flowinfo > 0xfffff) {
    return core::RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS",
                              "getnameinfo(): flowinfo must be 0-1048575.");
  }
  // As CPython: the host must be numeric, resolved with AI_NUMERICHOST.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  std::string pbuf = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), pbuf.c_str(), &hints, &res);
  if (rc != 0) return FromGaiCode(rc, "getnameinfo");
  if (res->ai_next != nullptr) {
    freeaddrinfo(res);
    return PlainOsError(absl::StatusCode::kInvalidArgument,
                        "sockaddr resolved to multiple addresses");
  }
  SockAddr addr = FromAddrinfo(res);
  freeaddrinfo(res);
  if (addr.family() == AF_INET) {
    if (inet6) {
      return PlainOsError(absl::StatusCode::kInvalidArgument, "IPv4 sockaddr must be 2 tuple");
    }
  } else if (addr.family() == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(addr.get());
    sin6->sin6_flowinfo = htonl(flowinfo);
    sin6->sin6_scope_id = scope_id;
  }
  char hbuf[NI_MAXHOST] = {};
  char sbuf[NI_MAXSERV] = {};
  rc = getnameinfo(addr.get(), addr.len, hbuf, sizeof hbuf, sbuf, sizeof sbuf, flags);
  if (rc != 0) return FromGaiCode(rc, "getnameinfo");
  return std::make_pair(std::string(hbuf), std::string(sbuf));
}

absl::StatusOr<std::string> GetHostName() {
  char buf[1024] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return core::OsError(errno, "gethostname");
  return std::string(buf);
}

absl::Status SetHostName(const std::string& name) {
  if (HasNul(name)) return NulError("sethostname");
  if (sethostname(name.data(), name.size()) != 0) return core::OsError(errno, "sethostname");
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> GetServByName(const std::string& name, const std::string& proto) {
  if (HasNul(name) || HasNul(proto)) return NulError("getservbyname");
  servent s{};
  servent* result = nullptr;
  std::vector<char> buf;
  WithBuffer(buf, [&](char* b, size_t n) {
    return getservbyname_r(name.c_str(), proto.empty() ? nullptr : proto.c_str(), &s, b, n,
                           &result);
  });
  if (result == nullptr) {
    return PlainOsError(absl::StatusCode::kNotFound, "service/proto not found");
  }
  return static_cast<uint32_t>(ntohs(static_cast<uint16_t>(result->s_port)));
}

absl::StatusOr<std::string> GetServByPort(uint32_t port, const std::string& proto) {
  if (HasNul(proto)) return NulError("getservbyport");
  if (port > 0xffff) {
    return core::RequestError(absl::StatusCode::kInvalidArgument, "BAD_PORT",
                              "getservbyport: port must be 0-65535.");
  }
  servent s{};
  servent* result = nullptr;
  std::vector<char> buf;
  WithBuffer(buf, [&](char* b, size_t n) {
    return getservbyport_r(htons(static_cast<uint16_t>(port)),
                           proto.empty() ? nullptr : proto.c_str(), &s, b, n, &result);
  });
  if (result == nullptr) return PlainOsError(absl::StatusCode::kNotFound, "port/proto not found");
  return std::string(result->s_name);
}

absl::StatusOr<int> GetProtoByName(const std::string& name) {
  if (HasNul(name)) return NulError("getprotobyname");
  protoent p{};
  protoent* result = nullptr;
  std::vector<char> buf;
  WithBuffer(buf, [&](char* b, size_t n) { return getprotobyname_r(name.c_str(), &p, b, n, &result); });
  if (result == nullptr) return PlainOsError(absl::StatusCode::kNotFound, "protocol not found");
  return result->p_proto;
}

}  // namespace sockwire::resolver
