#include "sockwire/helpers.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cmath>
#include <mutex>
#include <stdexcept>

#include "sockwire/errors.h"

namespace sockwire {
namespace {

std::mutex default_timeout_mu;
std::optional<double> default_timeout;  // guarded by default_timeout_mu

}  // namespace

std::uint32_t ntohl(std::uint32_t x) noexcept { return ::ntohl(x); }
std::uint16_t ntohs(std::uint16_t x) noexcept { return ::ntohs(x); }
std::uint32_t htonl(std::uint32_t x) noexcept { return ::htonl(x); }
std::uint16_t htons(std::uint16_t x) noexcept { return ::htons(x); }

std::string inet_aton(std::string_view ip_string) {
  std::string text(ip_string);
  in_addr addr{};
  // An embedded NUL would silently truncate the C string: reject it.
  if (text.find('\0') != std::string::npos || ::inet_aton(text.c_str(), &addr) == 0) {
    throw error(EINVAL, "illegal IP address string passed to inet_aton");
  }
  return std::string(reinterpret_cast<const char*>(&addr), sizeof addr);
}

std::string inet_ntoa(std::string_view packed_ip) {
  if (packed_ip.size() != sizeof(in_addr)) {
    throw error(EINVAL, "packed IP wrong length for inet_ntoa");
  }
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, packed_ip.data(), buf, sizeof buf);
  return buf;
}

std::string inet_pton(int address_family, std::string_view ip_string) {
  std::string text(ip_string);
  unsigned char buf[sizeof(in6_addr)];
  if (text.find('\0') != std::string::npos) {
    throw error(EINVAL, "illegal IP address string passed to inet_pton");
  }
  int r = ::inet_pton(address_family, text.c_str(), buf);
  if (r < 0) throw error(errno);
  if (r == 0) throw error(EINVAL, "illegal IP address string passed to inet_pton");
  std::size_t n = address_family == AF_INET ? sizeof(in_addr) : sizeof(in6_addr);
  return std::string(reinterpret_cast<const char*>(buf), n);
}

std::string inet_ntop(int address_family, std::string_view packed_ip) {
  std::size_t want;
  if (address_family == AF_INET) {
    want = sizeof(in_addr);
  } else if (address_family == AF_INET6) {
    want = sizeof(in6_addr);
  } else {
    throw std::invalid_argument("unknown address family " + std::to_string(address_family));
  }
  if (packed_ip.size() != want) {
    throw std::invalid_argument("invalid length of packed IP address string");
  }
  char buf[INET6_ADDRSTRLEN];
  if (::inet_ntop(address_family, packed_ip.data(), buf, sizeof buf) == nullptr) {
    throw error(errno);
  }
  return buf;
}

std::optional<double> getdefaulttimeout() {
  std::lock_guard<std::mutex> lock(default_timeout_mu);
  return default_timeout;
}

void setdefaulttimeout(std::optional<double> timeout) {
  if (timeout && (*timeout < 0 || std::isnan(*timeout))) {
    throw std::invalid_argument("Timeout value out of range");
  }
  std::lock_guard<std::mutex> lock(default_timeout_mu);
  default_timeout = timeout;
}

}  // namespace sockwire
