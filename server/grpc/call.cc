#include "grpc/call.h"

#include <openssl/crypto.h>

#include "absl/strings/match.h"
#include "core/errors.h"
#include "grpc/identity.h"

namespace sockwire::server {

core::Clock::time_point CallerDeadline(const grpc::ServerContextBase* ctx) {
  auto d = ctx->deadline();
  auto now_sys = std::chrono::system_clock::now();
  if (d >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return core::Clock::time_point::max();
  }
  return core::Clock::now() + std::chrono::duration_cast<core::Clock::duration>(d - now_sys);
}

core::Clock::time_point DeliveryDeadline(core::Clock::time_point caller) {
  if (caller == core::Clock::time_point::max()) return caller;
  auto now = core::Clock::now();
  auto left = std::max(caller - now, core::Clock::duration::zero());
  return now + (left - std::min<core::Clock::duration>(left / 10, kDeliveryMargin));
}

absl::Status CheckBearer(const grpc::ServerContextBase* ctx, const std::string& bearer_token) {
  if (bearer_token.empty()) return absl::OkStatus();
  std::string peer = ctx->peer();
  // Unix-socket callers are trusted through the socket's 0600 permissions.
  if (absl::StartsWith(peer, "unix:")) return absl::OkStatus();
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  std::string want = "Bearer " + bearer_token;
  if (it != md.end() && it->second.size() == want.size() &&
      CRYPTO_memcmp(it->second.data(), want.data(), want.size()) == 0) {
    return absl::OkStatus();
  }
  return absl::UnauthenticatedError("missing or wrong bearer token (metadata \"authorization: Bearer ...\")");
}

absl::StatusOr<core::CallContext> Authenticate(const grpc::ServerContextBase* ctx, core::Core& core,
                                               std::shared_ptr<core::CancelToken> cancel,
                                               const std::string& bearer_token) {
  if (auto st = CheckBearer(ctx, bearer_token); !st.ok()) return st;
  const auto& md = ctx->client_metadata();
  auto it = md.find("sockwire-session");
  if (it == md.end()) {
    return absl::UnauthenticatedError(
        "no session: call SessionService.Open and send the token as \"sockwire-session\" metadata");
  }
  auto s = core.FindSession(std::string_view(it->second.data(), it->second.size()),
                            PrincipalOf(ctx, !bearer_token.empty()));
  if (!s.ok()) return s.status();
  core::CallContext c;
  c.session = *std::move(s);
  c.deadline = DeliveryDeadline(CallerDeadline(ctx));
  c.cancel = std::move(cancel);
  return c;
}

}  // namespace sockwire::server
