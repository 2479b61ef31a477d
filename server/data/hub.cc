#include "data/hub.h"

#include <map>

#include "core/errors.h"
#include "core/random_token.h"

namespace sockwire::server::data {
namespace {
constexpr auto kTokenTtl = std::chrono::seconds(30);
}  // namespace

Hub& Hub::For(const core::Core& core) {
  static absl::Mutex mu(absl::kConstInit);
  // Leaked on purpose: front-ends may still redeem during shutdown.
  static auto* hubs = new std::map<const core::Core*, Hub*>();
  absl::MutexLock lock(&mu);
  Hub*& h = (*hubs)[&core];
  if (h == nullptr) h = new Hub();
  return *h;
}

std::string Hub::Issue(std::shared_ptr<core::SocketEntry> entry, TokenKind kind,
                       std::shared_ptr<core::Session> session) {
  std::string t = "dc1." + core::RandomHex(16);
  auto now = core::Clock::now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  tokens_[t] = Pending{std::move(entry), kind, std::move(session), now + kTokenTtl};
  return t;
}

absl::StatusOr<Redeemed> Hub::Redeem(std::string_view token) {
  absl::MutexLock lock(&mu_);
  auto now = core::Clock::now();
  ExpireLocked(now);
  auto it = tokens_.find(core::AV(token));
  if (it == tokens_.end()) {
    return core::RequestError(absl::StatusCode::kNotFound, "UNKNOWN_TOKEN",
                              "data-channel token unknown, already used or expired");
  }
  Redeemed r{std::move(it->second.entry), it->second.kind, std::move(it->second.session)};
  tokens_.erase(it);
  if (r.entry->closed()) {
    return core::RequestError(absl::StatusCode::kNotFound, "UNKNOWN_HANDLE", "the socket was closed");
  }
  return r;
}

void Hub::ExpireLocked(core::Clock::time_point now) {
  absl::erase_if(tokens_, [now](const auto& kv) { return kv.second.expires <= now; });
}

void Hub::set_address(std::string a) {
  absl::MutexLock lock(&mu_);
  address_ = std::move(a);
}

std::string Hub::address() const {
  absl::MutexLock lock(&mu_);
  return address_;
}

}  // namespace sockwire::server::data
