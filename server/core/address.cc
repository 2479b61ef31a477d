#include "address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include <cstddef>

#include "absl/strings/str_cat.h"
#include "errors.h"

namespace sockwire::core {
namespace {

absl::Status Bad(std::string_view msg) {
  return RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS", msg);
}

}  // namespace

const char* FamilyName(int family) {
  switch (family) {
    case AF_INET: return "AF_INET";
    case AF_INET6: return "AF_INET6";
    case AF_UNIX: return "AF_UNIX";
    case 0: return "none";
    default: return "AF_?";
  }
}

absl::StatusOr<ParseResult> ToSockAddr(const Address& a, int socket_family, SockAddr* out) {
  if (a.family == 0) return Bad("address is missing");
  if (socket_family != 0 && a.family != socket_family) {
    return RequestError(absl::StatusCode::kInvalidArgument, "WRONG_FAMILY",
                        absl::StrCat("address family ", FamilyName(a.family),
                                     " does not match the socket's ", FamilyName(socket_family)));
  }
  out->storage = {};
  switch (a.family) {
    case AF_INET: {
      if (a.port > 65535) return Bad(absl::StrCat("port must be 0-65535, got ", a.port));
      auto* sin = reinterpret_cast<sockaddr_in*>(&out->storage);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(static_cast<uint16_t>(a.port));
      out->len = sizeof(sockaddr_in);
      // Python's special names: "" is INADDR_ANY, "<broadcast>" INADDR_BROADCAST.
      if (a.host.empty()) {
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        return ParseResult::kOk;
      }
      if (a.host == "<broadcast>") {
        sin->sin_addr.s_addr = htonl(INADDR_BROADCAST);
        return ParseResult::kOk;
      }
      if (inet_pton(AF_INET, a.host.c_str(), &sin->sin_addr) == 1) return ParseResult::kOk;
      // Looks numeric but is not a valid address: do not send it to DNS.
      if (a.host.find_first_not_of("0123456789.") == std::string::npos) {
        return Bad(absl::StrCat("malformed IPv4 address \"", a.host, "\""));
      }
      return ParseResult::kNeedsResolution;
    }
    case AF_INET6: {
      if (a.port > 65535) return Bad(absl::StrCat("port must be 0-65535, got ", a.port));
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(static_cast<uint16_t>(a.port));
      sin6->sin6_flowinfo = htonl(a.flowinfo);
      sin6->sin6_scope_id = a.scope_id;
      out->len = sizeof(sockaddr_in6);
      if (a.host.empty()) {
        sin6->sin6_addr = in6addr_any;
        return ParseResult::kOk;
      }
      std::string host = a.host;
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) == 1) return ParseResult::kOk;
      if (host.find(':') != std::string::npos) {
        return Bad(absl::StrCat("malformed IPv6 address \"", a.host, "\""));
      }
      return ParseResult::kNeedsResolution;
    }
    case AF_UNIX: {
      auto* sun = reinterpret_cast<sockaddr_un*>(&out->storage);
      sun->sun_family = AF_UNIX;
      size_t max = sizeof(sun->sun_path);
      if (a.abstract) {
        if (a.path.size() + 1 > max) return Bad("AF_UNIX abstract name too long");
        sun->sun_path[0] = '\0';
        memcpy(sun->sun_path + 1, a.path.data(), a.path.size());
        out->len = offsetof(sockaddr_un, sun_path) + 1 + a.path.size();
        return ParseResult::kOk;
      }
      if (a.path.size() >= max) {
        return Bad(absl::StrCat("AF_UNIX path too long (", a.path.size(), " bytes, max ", max - 1, ")"));
      }
      if (a.path.find('\0') != std::string::npos) return Bad("AF_UNIX path contains a NUL byte");
      memcpy(sun->sun_path, a.path.data(), a.path.size());
      out->len = offsetof(sockaddr_un, sun_path) + a.path.size() + (a.path.empty() ? 0 : 1);
      return ParseResult::kOk;
    }
    default:
      return RequestError(absl::StatusCode::kInvalidArgument, "WRONG_FAMILY",
                          absl::StrCat("unsupported address family ", a.family));
  }
}

Address FromSockAddr(const sockaddr* sa, socklen_t len) {
  Address a;
  if (len < sizeof(sa_family_t)) return a;
  a.family = sa->sa_family;
  char buf[INET6_ADDRSTRLEN] = {};
  switch (sa->sa_family) {
    case AF_INET: {
      auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
      inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
      a.host = buf;
      a.port = ntohs(sin->sin_port);
      break;
    }
    case AF_INET6: {
      auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
      inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
      a.host = buf;
      a.port = ntohs(sin6->sin6_port);
      a.flowinfo = ntohl(sin6->sin6_flowinfo);
      a.scope_id = sin6->sin6_scope_id;
      break;
    }
    case AF_UNIX: {
      auto* sun = reinterpret_cast<const sockaddr_un*>(sa);
      size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
      if (n == 0) break;  // Unnamed.
      if (sun->sun_path[0] == '\0') {
        a.abstract = true;
        a.path.assign(sun->sun_path + 1, n - 1);
      } else {
        a.path.assign(sun->sun_path, strnlen(sun->sun_path, n));
      }
      break;
    }
    default:
      break;
  }
  return a;
}

}  // namespace sockwire::core
