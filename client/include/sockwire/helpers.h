// The pure functions of Python's socket module (no daemon involved) and its
// constants.
//
// Constants: AF_*, SOCK_*, SOCK_NONBLOCK/SOCK_CLOEXEC, SHUT_*, MSG_*,
// SOL_SOCKET, SO_*, SCM_*, IPPROTO_*, IP_*, TCP_* come from the system headers
// included below. The wire uses Linux's numbers, so the system constants are
// the sockwire constants. Most of them are macros, which cannot be qualified
// (`sockwire::AF_INET` would expand to `sockwire::2`); spell them unqualified,
// as Python code does after `from socket import *`. Where glibc declares them
// as enumerators (SOCK_*, SHUT_*, MSG_*) they are also re-exported in
// namespace sockwire.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// glibc may define these as function-like macros under -O; the real
// functions remain declared, and sockwire:: provides its own below.
#undef ntohl
#undef ntohs
#undef htonl
#undef htons

namespace sockwire {

using ::SOCK_STREAM;
using ::SOCK_DGRAM;
using ::SOCK_RAW;
using ::SOCK_RDM;
using ::SOCK_SEQPACKET;
using ::SOCK_NONBLOCK;
using ::SOCK_CLOEXEC;
using ::SHUT_RD;
using ::SHUT_WR;
using ::SHUT_RDWR;
using ::MSG_OOB;
using ::MSG_PEEK;
using ::MSG_DONTROUTE;
using ::MSG_CTRUNC;
using ::MSG_TRUNC;
using ::MSG_DONTWAIT;
using ::MSG_EOR;
using ::MSG_WAITALL;
using ::MSG_NOSIGNAL;
using ::MSG_MORE;
using ::MSG_CMSG_CLOEXEC;

std::uint32_t ntohl(std::uint32_t x) noexcept;
std::uint16_t ntohs(std::uint16_t x) noexcept;
std::uint32_t htonl(std::uint32_t x) noexcept;
std::uint16_t htons(std::uint16_t x) noexcept;

// Dotted-quad (inet_aton(3) syntax: "1.2.3.4", "127.1", "0x7f.1") -> 4 packed
// bytes. Bad input: sockwire::error(EINVAL), "illegal IP address string passed
// to inet_aton" (Python's OSError).
std::string inet_aton(std::string_view ip_string);
// 4 packed bytes -> dotted quad. Wrong length: sockwire::error(EINVAL),
// "packed IP wrong length for inet_ntoa".
std::string inet_ntoa(std::string_view packed_ip);
// AF_INET/AF_INET6 text -> 4/16 packed bytes. Bad text: sockwire::error(EINVAL),
// "illegal IP address string passed to inet_pton"; other family:
// sockwire::error(EAFNOSUPPORT).
std::string inet_pton(int address_family, std::string_view ip_string);
// 4/16 packed bytes -> text. Wrong length or family: std::invalid_argument
// (Python raises ValueError there, not OSError).
std::string inet_ntop(int address_family, std::string_view packed_ip);

// The timeout new sockets start with, in seconds; nullopt = blocking (None).
// Process-wide, like Python's. Negative values: std::invalid_argument.
std::optional<double> getdefaulttimeout();
void setdefaulttimeout(std::optional<double> timeout);

}  // namespace sockwire
