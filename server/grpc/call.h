// The per-call plumbing every gRPC service shares: a unary reactor that
// finishes exactly once, forwards cancellation to the core, and frees itself
// in OnDone; and authentication into a core::CallContext.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "core/core.h"
#include "grpc/status_util.h"

namespace sockwire::server {

class CallReactor : public grpc::ServerUnaryReactor {
 public:
  CallReactor(grpc::CallbackServerContext* ctx, core::Core& core)
      : ctx_(ctx), core_(core), cancel_(std::make_shared<core::CancelToken>()) {}

  // Exactly once per call (the core's completion guarantees it).
  void Complete(const absl::Status& s) { Finish(ToGrpcStatus(s, ctx_)); }
  const std::shared_ptr<core::CancelToken>& cancel() const { return cancel_; }

  void OnCancel() override { core_.loop().Cancel(cancel_); }
  void OnDone() override { delete this; }

 private:
  grpc::CallbackServerContext* ctx_;
  core::Core& core_;
  std::shared_ptr<core::CancelToken> cancel_;
};

// The steady-clock form of the caller's gRPC deadline.
core::Clock::time_point CallerDeadline(const grpc::ServerContextBase* ctx);

// The deadline the core works to for a socket call: the caller's, less a
// delivery margin of a tenth of the time left, at most kDeliveryMargin (as
// the resolver keeps). The core does not take bytes (or connections) out of
// the kernel after it, so what it takes has that margin to reach the caller
// before the caller gives up; a call that runs out of time ends in the
// daemon, with the data still in the socket. The window that remains: a
// response slower than the margin from the daemon to the caller (a stalled
// network or client), or a cancellation the daemon sees after it took the
// bytes. See README "Data loss".
inline constexpr std::chrono::milliseconds kDeliveryMargin{200};
core::Clock::time_point DeliveryDeadline(core::Clock::time_point caller);

// Checks the bearer token (TCP peers, when configured) and the session.
absl::StatusOr<core::CallContext> Authenticate(const grpc::ServerContextBase* ctx, core::Core& core,
                                               std::shared_ptr<core::CancelToken> cancel,
                                               const std::string& bearer_token);

// Only the bearer token (for SessionService.Open, which has no session yet).
absl::Status CheckBearer(const grpc::ServerContextBase* ctx, const std::string& bearer_token);

}  // namespace sockwire::server
