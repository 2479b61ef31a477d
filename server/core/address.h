// core::Address <-> sockaddr. Numeric only: host names go through the
// resolver first (see Core::ResolveFor).
#pragma once

#include "absl/status/statusor.h"
#include "core.h"
#include "resolver.h"

namespace sockwire::core {

enum class ParseResult { kOk, kNeedsResolution };

// Fills `out` for a socket of `socket_family`. INVALID_ARGUMENT (reason
// BAD_ADDRESS or WRONG_FAMILY) for malformed input. Returns kNeedsResolution
// when `a.host` is a name, leaving the port set in `out`.
absl::StatusOr<ParseResult> ToSockAddr(const Address& a, int socket_family, SockAddr* out);

// sockaddr -> Address; unknown families give family only.
Address FromSockAddr(const sockaddr* sa, socklen_t len);

const char* FamilyName(int family);

}  // namespace sockwire::core
