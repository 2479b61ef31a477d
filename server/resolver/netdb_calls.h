// Python's socket-module resolver functions over the reentrant libc calls,
// with Python's argument handling and error types, in plain C++ values.
//
// The functions marked BLOCKING may wait on DNS: call them only from a
// resolver pool thread (see lookup_pool.h), never from a gRPC or event-loop
// thread. The others read local files or the kernel and return at once.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/resolver.h"

namespace sockwire::resolver {

// Python's (hostname, aliaslist, ipaddrlist).
struct HostEntry {
  std::string hostname;
  std::vector<std::string> aliases;
  std::vector<std::string> addresses;
};

// The numeric host of an AF_INET/AF_INET6 sockaddr as Python prints it
// ("" for other families), and its port.
std::string NumericHost(const core::SockAddr& addr);
uint16_t PortOf(const core::SockAddr& addr);

// An OSError with no errno (Python's OSError("message")): kind OS, errno 0.
absl::Status PlainOsError(absl::StatusCode code, const std::string& message);

// CPython's setipaddr(): "" -> the wildcard, "<broadcast>" -> 255.255.255.255,
// numeric addresses parsed locally, anything else through getaddrinfo(af).
// Errors: gaierror. BLOCKING (for non-numeric names).
absl::StatusOr<core::SockAddr> SetIpAddr(const std::string& name, int af);

// Only the non-blocking cases of SetIpAddr: nullopt when `name` needs DNS.
std::optional<absl::StatusOr<core::SockAddr>> SetIpAddrLocal(const std::string& name, int af);

// gethostbyname_ex(name). Errors: gaierror, herror. BLOCKING.
absl::StatusOr<HostEntry> GetHostByNameEx(const std::string& name);
// gethostbyaddr(ip). Errors: gaierror, herror. BLOCKING.
absl::StatusOr<HostEntry> GetHostByAddr(const std::string& ip);
// getfqdn(name): never fails. BLOCKING.
std::string GetFqdn(const std::string& name);
// What getfqdn(name) returns when the lookup fails: the stripped name, or
// gethostname() for "", "0.0.0.0" and "::". Does not block.
std::string FqdnStartName(const std::string& name);
// getnameinfo((host, port[, flowinfo, scope_id]), flags). `inet6` says the
// caller gave the 4-tuple form. Errors: gaierror, OSError. BLOCKING.
absl::StatusOr<std::pair<std::string, std::string>> GetNameInfo(const std::string& host,
                                                                 uint32_t port, bool inet6,
                                                                 uint32_t flowinfo,
                                                                 uint32_t scope_id, int flags);

// gethostname() / sethostname(name): the UTS node name.
absl::StatusOr<std::string> GetHostName();
absl::Status SetHostName(const std::string& name);

// getservbyname / getservbyport / getprotobyname from /etc/services and
// /etc/protocols (through NSS). Errors: OSError without errno, NOT_FOUND;
// getservbyport: INVALID_ARGUMENT for a port above 65535.
absl::StatusOr<uint32_t> GetServByName(const std::string& name, const std::string& proto);
absl::StatusOr<std::string> GetServByPort(uint32_t port, const std::string& proto);
absl::StatusOr<int> GetProtoByName(const std::string& name);

}  // namespace sockwire::resolver
