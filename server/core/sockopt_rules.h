// Which socket options and control messages a remote caller may use.
//
// The daemon runs with privileges its callers lack, and a raw
// (level, optname, bytes) setsockopt reaches code in the kernel that trusts
// its caller: IPT_SO_SET_REPLACE replaces netfilter tables and carries a
// user-space pointer, SO_ATTACH_FILTER points into the daemon's memory,
// SO_MARK and IP_TRANSPARENT need CAP_NET_ADMIN. So options are an
// allow-list, not a deny-list:
//   kPlain       takes a plain value (int, struct of ints/addresses) and has
//                no effect beyond the socket an unprivileged user could not
//                get; always allowed.
//   kPrivileged  has an effect that needs a capability the caller may lack;
//                allowed only when the policy grants it by name
//                ("privileged_options": ["SO_MARK", ...]).
//   kDenied      everything else (unknown options, pointer-carrying ones,
//                netfilter/multicast-routing/IPVS tables, source routing).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sockwire::core {

enum class OptionClass { kPlain, kPrivileged, kDenied };

struct OptionVerdict {
  OptionClass cls = OptionClass::kDenied;
  // The option's name ("SO_MARK"), or "level L optname N" when unknown.
  std::string name;
};

// For setsockopt. `int_value` is the value when it is an int (SO_PRIORITY
// above 6 needs CAP_NET_ADMIN, so it is privileged while 0-6 is plain).
OptionVerdict ClassifySetOption(int level, int optname, std::optional<int64_t> int_value);
// For getsockopt: the same table, plus read-only options (SO_ERROR,
// TCP_INFO, SO_PEERCRED...). Reading netfilter tables (IPT_SO_GET_*) is denied.
OptionVerdict ClassifyGetOption(int level, int optname);
// For sendmsg control messages (level, type). SCM_RIGHTS and SCM_CREDENTIALS
// are not here: the core checks them against the caller.
OptionVerdict ClassifyControlMessage(int level, int type);

// True for a name the policy may grant in "privileged_options".
bool IsPrivilegedOptionName(std::string_view name);

}  // namespace sockwire::core
