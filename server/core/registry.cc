#include "registry.h"

#include <fcntl.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "errors.h"
#include "fd_limits.h"
#include "random_token.h"

namespace sockwire::core {
namespace {

constexpr char kHandlePrefix[] = "sw1";
constexpr std::chrono::seconds kShareTtl{60};

bool IsHex(absl::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status NotFound(std::string_view handle) {
  return RequestError(absl::StatusCode::kNotFound, "UNKNOWN_HANDLE",
                      absl::StrCat("no socket with handle \"", AV(handle),
                                   "\" in this session (closed, never existed, or not yours)"));
}

}  // namespace

Registry::Registry(const server::Options& options, std::string epoch)
    : options_(options), epoch_(std::move(epoch)) {
  // The daemon fills these in at start (Daemon::Start); a core built
  // directly (tests) gets the same defaults from the current limit.
  (void)ApplyDescriptorDefaults(options_.fd_limit != 0 ? options_.fd_limit : NoFileLimit(), &options_);
}

absl::Status Registry::CheckRoomLocked(const Session& s, size_t more) const {
  if (s.handles_.size() + more > options_.max_handles_per_session) {
    return PolicyError(absl::StatusCode::kResourceExhausted, "HANDLE_QUOTA",
                       absl::StrCat("session holds ", s.handles_.size(), " handles; the limit is ",
                                    options_.max_handles_per_session, " (--max-handles-per-session)"));
  }
  size_t used = sockets_.size() + extra_descriptors_;
  if (used + more > options_.max_handles) {
    return PolicyError(absl::StatusCode::kResourceExhausted, "DESCRIPTOR_LIMIT",
                       absl::StrCat("the daemon holds ", used, " descriptors for clients; the limit is ",
                                    options_.max_handles, " (--max-handles, below RLIMIT_NOFILE ",
                                    options_.fd_limit, " minus a reserve of ", options_.fd_reserve, ")"));
  }
  return absl::OkStatus();
}

absl::Status Registry::ReserveDescriptors(int n, std::string_view what) {
  absl::MutexLock lock(&mu_);
  size_t used = sockets_.size() + extra_descriptors_;
  if (used + n > options_.max_handles) {
    return PolicyError(absl::StatusCode::kResourceExhausted, "DESCRIPTOR_LIMIT",
                       absl::StrCat("no descriptor left for ", AV(what), ": the daemon holds ", used,
                                    " for clients; the limit is ", options_.max_handles, " (--max-handles)"));
  }
  extra_descriptors_ += n;
  return absl::OkStatus();
}

void Registry::ReleaseDescriptors(int n) {
  absl::MutexLock lock(&mu_);
  extra_descriptors_ -= std::min<size_t>(extra_descriptors_, n);
}

absl::Status Registry::ReserveBytes(const std::shared_ptr<Session>& s, uint64_t n) {
  absl::MutexLock lock(&mu_);
  if (s->bytes_in_flight_ + n > options_.max_bytes_in_flight_per_session) {
    return PolicyError(absl::StatusCode::kResourceExhausted, "SESSION_BYTES_IN_FLIGHT",
                       absl::StrCat("this session's pending sends already hold ", s->bytes_in_flight_,
                                    " bytes; ", n, " more would pass the limit of ",
                                    options_.max_bytes_in_flight_per_session,
                                    " (--max-bytes-in-flight-per-session); wait for them to complete"));
  }
  if (bytes_in_flight_ + n > options_.max_bytes_in_flight) {
    return PolicyError(absl::StatusCode::kResourceExhausted, "BYTES_IN_FLIGHT",
                       absl::StrCat("pending sends already hold ", bytes_in_flight_, " bytes; ", n,
                                    " more would pass the daemon's limit of ", options_.max_bytes_in_flight,
                                    " (--max-bytes-in-flight)"));
  }
  s->bytes_in_flight_ += n;
  bytes_in_flight_ += n;
  return absl::OkStatus();
}

void Registry::ReleaseBytes(const std::shared_ptr<Session>& s, uint64_t n) {
  absl::MutexLock lock(&mu_);
  s->bytes_in_flight_ -= std::min(s->bytes_in_flight_, n);
  bytes_in_flight_ -= std::min(bytes_in_flight_, n);
}

size_t Registry::SessionHandleCount(const std::shared_ptr<Session>& s) const {
  absl::MutexLock lock(&mu_);
  return s->handles_.size();
}

std::string Registry::NewId(std::string_view prefix) {
  return absl::StrCat(AV(prefix), ".", epoch_, ".", RandomHex(16));
}

absl::Status Registry::ValidateHandle(std::string_view handle) const {
  std::vector<absl::string_view> parts = absl::StrSplit(AV(handle), '.');
  if (parts.size() != 3 || parts[0] != kHandlePrefix || !IsHex(parts[1], 16) || !IsHex(parts[2], 32)) {
    return RequestError(absl::StatusCode::kInvalidArgument, "MALFORMED_HANDLE",
                        absl::StrCat("malformed handle \"", AV(handle.substr(0, 80)),
                                     "\": expected sw1.<epoch>.<id> as returned by Create"));
  }
  if (parts[1] != epoch_) {
    return RequestError(absl::StatusCode::kNotFound, "DAEMON_RESTARTED",
                        absl::StrCat("handle \"", AV(handle),
                                     "\" is from an earlier daemon instance: the daemon restarted and "
                                     "its sockets are gone"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Session>> Registry::OpenSession(bool implicit) {
  auto s = std::make_shared<Session>();
  s->id_ = NewId("sid");
  s->token_ = NewId("ses1");
  s->last_active_ = Clock::now();
  s->implicit_ = implicit;
  absl::MutexLock lock(&mu_);
  if (sessions_.size() >= options_.max_sessions) {
    return PolicyError(absl::StatusCode::kResourceExhausted, "TOO_MANY_SESSIONS",
                       absl::StrCat("the daemon already has ", sessions_.size(), " sessions (--max-sessions)"));
  }
  if (implicit && implicit_sessions_ >= options_.max_implicit_sessions) {
    return PolicyError(absl::StatusCode::kResourceExhausted, "TOO_MANY_IMPLICIT_SESSIONS",
                       absl::StrCat(implicit_sessions_, " sessions opened for header-less REST requests are alive "
                                    "(--max-implicit-sessions): open a session with POST /v1/sessions "
                                    "and send it as Sockwire-Session"));
  }
  if (implicit) implicit_sessions_++;
  sessions_[s->token_] = s;
  return s;
}

absl::StatusOr<std::shared_ptr<Session>> Registry::FindSession(std::string_view token) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(AV(token));
  if (it == sessions_.end() || it->second->closed_) {
    return absl::UnauthenticatedError(
        "unknown or expired session: open one with SessionService.Open and send it as "
        "\"sockwire-session\" metadata");
  }
  it->second->last_active_ = Clock::now();
  return it->second;
}

void Registry::Hold(const std::shared_ptr<Session>& s) {
  absl::MutexLock lock(&mu_);
  s->holds_++;
  s->ever_held_ = true;
  s->last_active_ = Clock::now();
}

void Registry::Release(const std::shared_ptr<Session>& s) {
  absl::MutexLock lock(&mu_);
  if (s->holds_ > 0) s->holds_--;
  s->last_active_ = Clock::now();
}

void Registry::Touch(const std::shared_ptr<Session>& s) {
  absl::MutexLock lock(&mu_);
  s->last_active_ = Clock::now();
}

void Registry::EndSessionLocked(Session& s, Clock::time_point now,
                                std::vector<std::shared_ptr<SocketEntry>>* closed) {
  s.closed_ = true;
  for (absl::string_view h : s.handles_) {
    auto it = sockets_.find(h);
    if (it == sockets_.end()) continue;
    auto& e = it->second;
    if (e->detached || e->inheritable) {
      e->owner.clear();
      e->orphaned_at = now;
      continue;
    }
    e->mark_closed();
    closed->push_back(e);
    sockets_.erase(it);
  }
  s.handles_.clear();
  if (s.implicit_ && implicit_sessions_ > 0) implicit_sessions_--;
  sessions_.erase(s.token_);
}

std::vector<std::shared_ptr<SocketEntry>> Registry::CloseSession(const std::shared_ptr<Session>& s) {
  std::vector<std::shared_ptr<SocketEntry>> closed;
  absl::MutexLock lock(&mu_);
  if (!s->closed_) EndSessionLocked(*s, Clock::now(), &closed);
  return closed;
}

std::vector<std::shared_ptr<SocketEntry>> Registry::Reap(Clock::time_point now) {
  std::vector<std::shared_ptr<SocketEntry>> closed;
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Session>> expired;
  for (auto& [token, s] : sessions_) {
    if (s->holds_ > 0) continue;
    // A session whose Hold stream went away gets the short grace period; one
    // that never held a stream lives on its lease.
    auto ttl = s->ever_held_ ? options_.session_grace : options_.session_lease;
    if (now - s->last_active_ >= ttl) expired.push_back(s);
  }
  for (auto& s : expired) EndSessionLocked(*s, now, &closed);
  for (auto it = sockets_.begin(); it != sockets_.end();) {
    auto& e = it->second;
    if (e->owner.empty() && now - e->orphaned_at >= options_.orphan_ttl) {
      e->mark_closed();
      closed.push_back(e);
      sockets_.erase(it++);
    } else {
      ++it;
    }
  }
  for (auto it = shares_.begin(); it != shares_.end();) {
    if (now >= it->second.expires) {
      shares_.erase(it++);
    } else {
      ++it;
    }
  }
  return closed;
}

absl::Status Registry::CheckQuota(const std::shared_ptr<Session>& s, int more) {
  absl::MutexLock lock(&mu_);
  return CheckRoomLocked(*s, more);
}

absl::Status Registry::Add(const std::shared_ptr<Session>& s, const std::shared_ptr<SocketEntry>& e) {
  e->set_handle(NewId(kHandlePrefix));
  absl::MutexLock lock(&mu_);
  if (s->closed_) return absl::UnauthenticatedError("session ended");
  if (auto st = CheckRoomLocked(*s, 1); !st.ok()) return st;
  e->owner = s->id_;
  s->handles_.insert(e->handle());
  sockets_[e->handle()] = e;
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SocketEntry>> Registry::Find(const std::shared_ptr<Session>& s,
                                                            std::string_view handle) {
  if (auto st = ValidateHandle(handle); !st.ok()) return st;
  absl::MutexLock lock(&mu_);
  auto it = sockets_.find(AV(handle));
  if (it == sockets_.end() || it->second->owner != s->id_) return NotFound(handle);
  return it->second;
}

absl::StatusOr<std::shared_ptr<SocketEntry>> Registry::Remove(const std::shared_ptr<Session>& s,
                                                              std::string_view handle) {
  if (auto st = ValidateHandle(handle); !st.ok()) return st;
  absl::MutexLock lock(&mu_);
  auto it = sockets_.find(AV(handle));
  if (it == sockets_.end() || it->second->owner != s->id_) return NotFound(handle);
  auto e = it->second;
  e->mark_closed();
  sockets_.erase(it);
  s->handles_.erase(e->handle());
  return e;
}

absl::Status Registry::SetDetached(const std::shared_ptr<Session>& s, std::string_view handle) {
  if (auto st = ValidateHandle(handle); !st.ok()) return st;
  absl::MutexLock lock(&mu_);
  auto it = sockets_.find(AV(handle));
  if (it == sockets_.end() || it->second->owner != s->id_) return NotFound(handle);
  it->second->detached = true;
  return absl::OkStatus();
}

absl::Status Registry::SetInheritable(const std::shared_ptr<Session>& s, std::string_view handle, bool on) {
  if (auto st = ValidateHandle(handle); !st.ok()) return st;
  absl::MutexLock lock(&mu_);
  auto it = sockets_.find(AV(handle));
  if (it == sockets_.end() || it->second->owner != s->id_) return NotFound(handle);
  it->second->inheritable = on;
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SocketEntry>> Registry::Attach(const std::shared_ptr<Session>& s,
                                                              std::string_view handle) {
  if (auto st = ValidateHandle(handle); !st.ok()) return st;
  absl::MutexLock lock(&mu_);
  auto it = sockets_.find(AV(handle));
  if (it == sockets_.end()) return NotFound(handle);
  auto e = it->second;
  if (e->owner == s->id_) {
    e->detached = false;
    return e;
  }
  if (!e->detached && !e->inheritable) return NotFound(handle);
  if (s->handles_.size() >= options_.max_handles_per_session) {
    return PolicyError(absl::StatusCode::kResourceExhausted, "HANDLE_QUOTA",
                       absl::StrCat("session holds ", s->handles_.size(), " handles; the limit is ",
                                    options_.max_handles_per_session, " (--max-handles-per-session)"));
  }
  if (!e->owner.empty()) {
    for (auto& [tok, other] : sessions_) {
      if (other->id_ == e->owner) {
        other->handles_.erase(e->handle());
        break;
      }
    }
  }
  e->owner = s->id_;
  e->detached = false;
  s->handles_.insert(e->handle());
  return e;
}

std::string Registry::AddShare(const std::shared_ptr<SocketEntry>& e) {
  std::string token = absl::StrCat("shr1.", epoch_, ".", RandomHex(16));
  absl::MutexLock lock(&mu_);
  shares_[token] = Share{e, Clock::now() + kShareTtl};
  return token;
}

absl::StatusOr<std::shared_ptr<SocketEntry>> Registry::TakeShare(std::string_view token) {
  absl::MutexLock lock(&mu_);
  auto it = shares_.find(AV(token));
  if (it == shares_.end() || Clock::now() >= it->second.expires || it->second.entry->closed()) {
    return RequestError(absl::StatusCode::kNotFound, "UNKNOWN_SHARE",
                        "unknown, expired or already used share token");
  }
  auto e = it->second.entry;
  shares_.erase(it);
  return e;
}

std::vector<std::shared_ptr<SocketEntry>> Registry::List(const std::shared_ptr<Session>& s) {
  std::vector<std::shared_ptr<SocketEntry>> out;
  absl::MutexLock lock(&mu_);
  for (absl::string_view h : s->handles_) {
    auto it = sockets_.find(h);
    if (it != sockets_.end()) out.push_back(it->second);
  }
  return out;
}

void Registry::ReadFlags(const SocketEntry& e, bool* detached, bool* inheritable) {
  absl::MutexLock lock(&mu_);
  *detached = e.detached;
  *inheritable = e.inheritable;
}

size_t Registry::session_count() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

size_t Registry::handle_count() const {
  absl::MutexLock lock(&mu_);
  return sockets_.size();
}

std::vector<std::shared_ptr<SocketEntry>> Registry::TakeAll() {
  std::vector<std::shared_ptr<SocketEntry>> out;
  absl::MutexLock lock(&mu_);
  for (auto& [h, e] : sockets_) {
    e->mark_closed();
    out.push_back(e);
  }
  sockets_.clear();
  shares_.clear();
  for (auto& [t, s] : sessions_) s->handles_.clear();
  return out;
}

}  // namespace sockwire::core
