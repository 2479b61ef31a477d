// Socket addresses, as Python spells them:
//   AF_INET   ("host", port)
//   AF_INET6  ("host", port, flowinfo, scope_id)
//   AF_UNIX   "path", or "\0name" for a Linux abstract name
// Hosts are numeric addresses, "" (any), "<broadcast>", or names the daemon
// resolves in its own network.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace sockwire {

class Address {
 public:
  // No address (AF_UNSPEC), e.g. recvmsg on a connected stream socket.
  Address() = default;
  // ("host", port): AF_INET, or AF_INET6 when `host` contains ':'. A socket
  // of family AF_INET6 sends a 2-tuple as AF_INET6, as Python does.
  Address(std::string host, int port);
  // ("host", port, flowinfo, scope_id): AF_INET6.
  Address(std::string host, int port, std::uint32_t flowinfo, std::uint32_t scope_id);
  // AF_UNIX: a path; a leading '\0' makes it an abstract name.
  Address(std::string path);  // NOLINT(google-explicit-constructor): reads like Python
  Address(const char* path);  // NOLINT(google-explicit-constructor)
  Address(std::string_view path);  // NOLINT(google-explicit-constructor)

  static Address inet(std::string host, int port);
  static Address inet6(std::string host, int port, std::uint32_t flowinfo = 0,
                       std::uint32_t scope_id = 0);
  static Address unix_path(std::string path);
  // Abstract name without the leading NUL.
  static Address abstract(std::string name);

  int family() const noexcept { return family_; }
  bool empty() const noexcept { return family_ == AF_UNSPEC; }
  // AF_INET/AF_INET6.
  const std::string& host() const noexcept { return host_; }
  int port() const noexcept { return port_; }
  std::uint32_t flowinfo() const noexcept { return flowinfo_; }
  std::uint32_t scope_id() const noexcept { return scope_id_; }
  // AF_UNIX: the path, or "\0name" for an abstract name ("" if unnamed).
  const std::string& path() const noexcept { return path_; }
  bool is_abstract() const noexcept { return family_ == AF_UNIX && !path_.empty() && path_[0] == '\0'; }

  // Python's repr: ('127.0.0.1', 80), ('::1', 80, 0, 0), '/tmp/s', b'\x00name'.
  std::string to_string() const;

  // Same address as AF_INET6 (a host/port pair given to an AF_INET6 socket).
  Address as_inet6() const;

  friend bool operator==(const Address& a, const Address& b) = default;

 private:
  int family_ = AF_UNSPEC;
  std::string host_;
  int port_ = 0;
  std::uint32_t flowinfo_ = 0;
  std::uint32_t scope_id_ = 0;
  std::string path_;
};

std::ostream& operator<<(std::ostream& os, const Address& a);

}  // namespace sockwire
