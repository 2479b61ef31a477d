// The name-service functions of Python's socket module, answered by the
// daemon in its own network (its /etc/hosts, DNS, hostname, services).
// Failures: sockwire::gaierror (EAI_*), sockwire::herror (h_errno) or
// sockwire::error, exactly as Python raises them.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sockwire/address.h"
#include "sockwire/client.h"

namespace sockwire {

// One (family, type, proto, canonname, sockaddr) five-tuple.
struct AddrInfo {
  int family = 0;
  int type = 0;
  int proto = 0;
  std::string canonname;
  Address sockaddr;
};

// Python's (hostname, aliaslist, ipaddrlist).
struct HostEntry {
  std::string hostname;
  std::vector<std::string> aliaslist;
  std::vector<std::string> ipaddrlist;
};

// getaddrinfo(host, port, family, type, proto, flags); host nullopt = None,
// port nullopt = None, or a service name / numeric string.
std::vector<AddrInfo> getaddrinfo(const Client& client, std::optional<std::string> host,
                                  std::optional<int> port, int family = 0, int type = 0,
                                  int proto = 0, int flags = 0);
std::vector<AddrInfo> getaddrinfo(const Client& client, std::optional<std::string> host,
                                  const std::string& service, int family = 0, int type = 0,
                                  int proto = 0, int flags = 0);
// getnameinfo(sockaddr, flags) -> (host, port-or-service).
std::pair<std::string, std::string> getnameinfo(const Client& client, const Address& sockaddr,
                                                int flags = 0);
std::string gethostbyname(const Client& client, const std::string& hostname);
HostEntry gethostbyname_ex(const Client& client, const std::string& hostname);
HostEntry gethostbyaddr(const Client& client, const std::string& ip_address);
std::string getfqdn(const Client& client, const std::string& name = "");
std::string gethostname(const Client& client);
void sethostname(const Client& client, const std::string& name);
int getservbyname(const Client& client, const std::string& servicename,
                  const std::string& protocolname = "");
std::string getservbyport(const Client& client, int port, const std::string& protocolname = "");
int getprotobyname(const Client& client, const std::string& protocolname);

}  // namespace sockwire
