// One-time tokens for the raw data channel and descriptor passing, shared by
// the gRPC StreamService (which issues them) and the data-listener front-end
// (which redeems them). One hub per Core; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/core.h"
#include "core/socket_entry.h"

namespace sockwire::server::data {

enum class TokenKind { kRelay, kDescriptor };

struct Redeemed {
  std::shared_ptr<core::SocketEntry> entry;
  TokenKind kind;
  // The session that asked for the token (relay traffic renews its lease).
  std::shared_ptr<core::Session> session;
};

class Hub {
 public:
  // The hub of `core` (created on first use, lives as long as the process).
  static Hub& For(const core::Core& core);

  // A fresh 128-bit token for `entry`, valid once, for 30 seconds.
  std::string Issue(std::shared_ptr<core::SocketEntry> entry, TokenKind kind,
                    std::shared_ptr<core::Session> session);
  // Consumes the token. NOT_FOUND when unknown, used or expired.
  absl::StatusOr<Redeemed> Redeem(std::string_view token);

  // The data listener's bound address ("unix:/p" or "tcp:127.0.0.1:P"); empty
  // while none is serving.
  void set_address(std::string a);
  std::string address() const;

 private:
  struct Pending {
    std::shared_ptr<core::SocketEntry> entry;
    TokenKind kind;
    std::shared_ptr<core::Session> session;
    core::Clock::time_point expires;
  };
  void ExpireLocked(core::Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Pending> tokens_ ABSL_GUARDED_BY(mu_);
  std::string address_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sockwire::server::data
