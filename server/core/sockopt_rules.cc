#include "sockopt_rules.h"

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace sockwire::core {
namespace {

struct Row {
  int level;
  int name;
  const char* text;
  OptionClass cls;
};

constexpr OptionClass P = OptionClass::kPlain;
constexpr OptionClass X = OptionClass::kPrivileged;

#define OPT(level, name, cls) {level, name, #name, cls}

// Settable options. Anything not listed is denied. Left out on purpose:
// SO_ATTACH_* (pointers), SO_RCVTIMEO/SO_SNDTIMEO (the daemon's own waits
// rely on non-blocking descriptors), TCP_CONGESTION and TCP_ULP (strings
// naming kernel modules; root may load restricted ones), TCP_MD5SIG,
// IP_OPTIONS and IPV6_RTHDR (source routing sends past the policy's
// destination), IPV6_ADDRFORM (turns the socket into another family),
// IP_UNICAST_IF (an interface choice, like SO_BINDTODEVICE), every
// netfilter, IPVS and multicast-routing table (IPT_SO_*, IP_VS_*, MRT_*).
const Row kSettable[] = {
    OPT(SOL_SOCKET, SO_REUSEADDR, P),      OPT(SOL_SOCKET, SO_REUSEPORT, P),
    OPT(SOL_SOCKET, SO_KEEPALIVE, P),      OPT(SOL_SOCKET, SO_RCVBUF, P),
    OPT(SOL_SOCKET, SO_SNDBUF, P),         OPT(SOL_SOCKET, SO_LINGER, P),
    OPT(SOL_SOCKET, SO_BROADCAST, P),      OPT(SOL_SOCKET, SO_OOBINLINE, P),
    OPT(SOL_SOCKET, SO_RCVLOWAT, P),       OPT(SOL_SOCKET, SO_SNDLOWAT, P),
    OPT(SOL_SOCKET, SO_PASSCRED, P),       OPT(SOL_SOCKET, SO_PASSSEC, P),
    OPT(SOL_SOCKET, SO_TIMESTAMP, P),      OPT(SOL_SOCKET, SO_TIMESTAMPNS, P),
    OPT(SOL_SOCKET, SO_TIMESTAMPING, P),   OPT(SOL_SOCKET, SO_DONTROUTE, P),
    OPT(SOL_SOCKET, SO_ZEROCOPY, P),       OPT(SOL_SOCKET, SO_INCOMING_CPU, P),
    OPT(SOL_SOCKET, SO_SELECT_ERR_QUEUE, P), OPT(SOL_SOCKET, SO_RXQ_OVFL, P),
    OPT(SOL_SOCKET, SO_PEEK_OFF, P),       OPT(SOL_SOCKET, SO_MAX_PACING_RATE, P),
    OPT(SOL_SOCKET, SO_PRIORITY, P),  // Values above 6: see ClassifySetOption.
    OPT(SOL_SOCKET, SO_MARK, X),           OPT(SOL_SOCKET, SO_BINDTODEVICE, X),
    OPT(SOL_SOCKET, SO_BINDTOIFINDEX, X),  OPT(SOL_SOCKET, SO_RCVBUFFORCE, X),
    OPT(SOL_SOCKET, SO_SNDBUFFORCE, X),    OPT(SOL_SOCKET, SO_DEBUG, X),
    OPT(SOL_SOCKET, SO_BUSY_POLL, X),      OPT(SOL_SOCKET, SO_TXTIME, X),

    OPT(IPPROTO_TCP, TCP_NODELAY, P),      OPT(IPPROTO_TCP, TCP_MAXSEG, P),
    OPT(IPPROTO_TCP, TCP_CORK, P),         OPT(IPPROTO_TCP, TCP_KEEPIDLE, P),
    OPT(IPPROTO_TCP, TCP_KEEPINTVL, P),    OPT(IPPROTO_TCP, TCP_KEEPCNT, P),
    OPT(IPPROTO_TCP, TCP_SYNCNT, P),       OPT(IPPROTO_TCP, TCP_LINGER2, P),
    OPT(IPPROTO_TCP, TCP_DEFER_ACCEPT, P), OPT(IPPROTO_TCP, TCP_WINDOW_CLAMP, P),
    OPT(IPPROTO_TCP, TCP_QUICKACK, P),     OPT(IPPROTO_TCP, TCP_USER_TIMEOUT, P),
    OPT(IPPROTO_TCP, TCP_NOTSENT_LOWAT, P), OPT(IPPROTO_TCP, TCP_FASTOPEN, P),
    OPT(IPPROTO_TCP, TCP_FASTOPEN_CONNECT, P), OPT(IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, P),
    OPT(IPPROTO_TCP, TCP_INQ, P),
    OPT(IPPROTO_TCP, TCP_REPAIR, X),       OPT(IPPROTO_TCP, TCP_REPAIR_QUEUE, X),
    OPT(IPPROTO_TCP, TCP_REPAIR_OPTIONS, X), OPT(IPPROTO_TCP, TCP_REPAIR_WINDOW, X),
    OPT(IPPROTO_TCP, TCP_QUEUE_SEQ, X),    OPT(IPPROTO_TCP, TCP_TX_DELAY, X),

    OPT(IPPROTO_UDP, UDP_CORK, P),         OPT(IPPROTO_UDP, UDP_SEGMENT, P),
    OPT(IPPROTO_UDP, UDP_GRO, P),

    OPT(IPPROTO_IP, IP_TOS, P),            OPT(IPPROTO_IP, IP_TTL, P),
    OPT(IPPROTO_IP, IP_MULTICAST_TTL, P),  OPT(IPPROTO_IP, IP_MULTICAST_LOOP, P),
    OPT(IPPROTO_IP, IP_MULTICAST_IF, P),   OPT(IPPROTO_IP, IP_MULTICAST_ALL, P),
    OPT(IPPROTO_IP, IP_ADD_MEMBERSHIP, P), OPT(IPPROTO_IP, IP_DROP_MEMBERSHIP, P),
    OPT(IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, P), OPT(IPPROTO_IP, IP_DROP_SOURCE_MEMBERSHIP, P),
    OPT(IPPROTO_IP, IP_PKTINFO, P),        OPT(IPPROTO_IP, IP_RECVTTL, P),
    OPT(IPPROTO_IP, IP_RECVTOS, P),        OPT(IPPROTO_IP, IP_RECVERR, P),
    OPT(IPPROTO_IP, IP_MTU_DISCOVER, P),   OPT(IPPROTO_IP, IP_RECVORIGDSTADDR, P),
    OPT(IPPROTO_IP, IP_FREEBIND, P),       OPT(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, P),
    OPT(IPPROTO_IP, IP_MINTTL, P),         OPT(IPPROTO_IP, IP_RECVFRAGSIZE, P),
    OPT(IPPROTO_IP, IP_PASSSEC, P),
    OPT(IPPROTO_IP, IP_TRANSPARENT, X),    OPT(IPPROTO_IP, IP_HDRINCL, X),

    OPT(IPPROTO_IPV6, IPV6_V6ONLY, P),     OPT(IPPROTO_IPV6, IPV6_UNICAST_HOPS, P),
    OPT(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, P), OPT(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, P),
    OPT(IPPROTO_IPV6, IPV6_MULTICAST_IF, P), OPT(IPPROTO_IPV6, IPV6_JOIN_GROUP, P),
    OPT(IPPROTO_IPV6, IPV6_LEAVE_GROUP, P), OPT(IPPROTO_IPV6, IPV6_RECVPKTINFO, P),
    OPT(IPPROTO_IPV6, IPV6_RECVHOPLIMIT, P), OPT(IPPROTO_IPV6, IPV6_TCLASS, P),
    OPT(IPPROTO_IPV6, IPV6_RECVTCLASS, P), OPT(IPPROTO_IPV6, IPV6_RECVERR, P),
    OPT(IPPROTO_IPV6, IPV6_MTU_DISCOVER, P), OPT(IPPROTO_IPV6, IPV6_DONTFRAG, P),
    OPT(IPPROTO_IPV6, IPV6_RECVPATHMTU, P), OPT(IPPROTO_IPV6, IPV6_FREEBIND, P),
    OPT(IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, P), OPT(IPPROTO_IPV6, IPV6_AUTOFLOWLABEL, P),
    OPT(IPPROTO_IPV6, IPV6_MINHOPCOUNT, P),
    OPT(IPPROTO_IPV6, IPV6_TRANSPARENT, X), OPT(IPPROTO_IPV6, IPV6_HDRINCL, X),
};

// Readable on top of the settable ones: state of the socket itself.
const Row kReadOnly[] = {
    OPT(SOL_SOCKET, SO_ERROR, P),         OPT(SOL_SOCKET, SO_TYPE, P),
    OPT(SOL_SOCKET, SO_ACCEPTCONN, P),    OPT(SOL_SOCKET, SO_DOMAIN, P),
    OPT(SOL_SOCKET, SO_PROTOCOL, P),      OPT(SOL_SOCKET, SO_PEERCRED, P),
    OPT(SOL_SOCKET, SO_PEERSEC, P),       OPT(SOL_SOCKET, SO_PEERGROUPS, P),
    OPT(SOL_SOCKET, SO_COOKIE, P),        OPT(SOL_SOCKET, SO_RCVTIMEO, P),
    OPT(SOL_SOCKET, SO_SNDTIMEO, P),      OPT(IPPROTO_TCP, TCP_INFO, P),
    OPT(IPPROTO_TCP, TCP_CONGESTION, P),  OPT(IPPROTO_IP, IP_MTU, P),
    OPT(IPPROTO_IPV6, IPV6_MTU, P),
};

// Control messages sendmsg may carry besides SCM_RIGHTS/SCM_CREDENTIALS.
// IP_RETOPTS is source routing; SO_MARK as a cmsg needs CAP_NET_ADMIN.
const Row kControl[] = {
    OPT(IPPROTO_IP, IP_PKTINFO, P),       OPT(IPPROTO_IP, IP_TTL, P),
    OPT(IPPROTO_IP, IP_TOS, P),           OPT(IPPROTO_IPV6, IPV6_PKTINFO, P),
    OPT(IPPROTO_IPV6, IPV6_HOPLIMIT, P),  OPT(IPPROTO_IPV6, IPV6_TCLASS, P),
    OPT(IPPROTO_IPV6, IPV6_DONTFRAG, P),  OPT(IPPROTO_UDP, UDP_SEGMENT, P),
};

#undef OPT

template <size_t N>
const Row* FindRow(const Row (&rows)[N], int level, int name) {
  auto it = std::find_if(std::begin(rows), std::end(rows),
                         [&](const Row& r) { return r.level == level && r.name == name; });
  return it == std::end(rows) ? nullptr : it;
}

OptionVerdict Unknown(int level, int name) {
  return {OptionClass::kDenied, absl::StrCat("level ", level, " optname ", name)};
}

}  // namespace

OptionVerdict ClassifySetOption(int level, int optname, std::optional<int64_t> int_value) {
  const Row* r = FindRow(kSettable, level, optname);
  if (r == nullptr) return Unknown(level, optname);
  if (level == SOL_SOCKET && optname == SO_PRIORITY) {
    // sk_setsockopt: priorities outside 0-6 need CAP_NET_ADMIN. A value we
    // cannot read (bytes) is treated as the privileged form.
    if (!int_value.has_value() || *int_value < 0 || *int_value > 6) {
      return {OptionClass::kPrivileged, "SO_PRIORITY"};
    }
  }
  return {r->cls, r->text};
}

OptionVerdict ClassifyGetOption(int level, int optname) {
  if (const Row* r = FindRow(kSettable, level, optname)) return {OptionClass::kPlain, r->text};
  if (const Row* r = FindRow(kReadOnly, level, optname)) return {r->cls, r->text};
  return Unknown(level, optname);
}

OptionVerdict ClassifyControlMessage(int level, int type) {
  if (const Row* r = FindRow(kControl, level, type)) return {r->cls, r->text};
  return Unknown(level, type);
}

bool IsPrivilegedOptionName(std::string_view name) {
  if (name == "SO_PRIORITY") return true;
  return std::any_of(std::begin(kSettable), std::end(kSettable), [&](const Row& r) {
    return r.cls == OptionClass::kPrivileged && name == r.text;
  });
}

}  // namespace sockwire::core
