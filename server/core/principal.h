// Principals as the core sees them: opaque names chosen by the front-end
// (server/grpc/identity.h says where each comes from). The core only needs
// to know which are names of someone: those bind their sessions.
#pragma once

#include <string_view>

namespace sockwire::core {

// Callers without an identity of their own.
inline constexpr std::string_view kLocalPrincipal = "local";        // a Unix-socket listener
inline constexpr std::string_view kTokenPrincipal = "token";        // the shared bearer token
inline constexpr std::string_view kAnonymousPrincipal = "anonymous";

// A certificate identity ("spiffe://...", "dns:...", "cn:..."): its sessions
// are bound to it.
inline bool IsNamedPrincipal(std::string_view p) {
  return !p.empty() && p != kLocalPrincipal && p != kTokenPrincipal && p != kAnonymousPrincipal;
}

}  // namespace sockwire::core
