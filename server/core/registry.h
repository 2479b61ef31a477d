// Sessions and the handle table. Every handle belongs to one session; any
// other session is told NOT_FOUND, exactly as if the handle did not exist.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "event_loop.h"
#include "server/options.h"
#include "socket_entry.h"

namespace sockwire::core {

class Session {
 public:
  // Public identity: safe to log. The token is the secret.
  const std::string& id() const { return id_; }
  const std::string& token() const { return token_; }
  // Who opened it (principal.h); set by Core before the session is shared.
  const std::string& principal() const { return principal_; }

 private:
  friend class Registry;
  friend class Core;
  std::string principal_;
  std::string id_;
  std::string token_;
  // Guarded by Registry::mu_. Views into each SocketEntry's own handle
  // string (alive while the entry is in Registry::sockets_): an idle handle
  // stores its 53-byte name once, not three times.
  absl::flat_hash_set<absl::string_view> handles_;
  int holds_ = 0;
  bool ever_held_ = false;
  // Opened by the REST gateway for a header-less request.
  bool implicit_ = false;
  // Payload bytes of this session's pending sends.
  uint64_t bytes_in_flight_ = 0;
  bool closed_ = false;
  Clock::time_point last_active_;
};

class Registry {
 public:
  Registry(const server::Options& options, std::string epoch);

  const std::string& epoch() const { return epoch_; }

  // RESOURCE_EXHAUSTED over --max-sessions, or (implicit) over
  // --max-implicit-sessions.
  absl::StatusOr<std::shared_ptr<Session>> OpenSession(bool implicit = false);
  size_t SessionHandleCount(const std::shared_ptr<Session>& s) const;
  absl::StatusOr<std::shared_ptr<Session>> FindSession(std::string_view token);
  void Hold(const std::shared_ptr<Session>& s);
  void Release(const std::shared_ptr<Session>& s);
  // Traffic on a data stream or relay of `s`: the lease counts from now.
  void Touch(const std::shared_ptr<Session>& s);
  // Returns the sockets it unlinked (the caller aborts their waits).
  std::vector<std::shared_ptr<SocketEntry>> CloseSession(const std::shared_ptr<Session>& s);
  // Ends expired sessions and orphans; returns the sockets to abort.
  std::vector<std::shared_ptr<SocketEntry>> Reap(Clock::time_point now);

  // Assigns a fresh handle and links the entry to `s`. RESOURCE_EXHAUSTED
  // over the per-session quota or the daemon-wide descriptor cap.
  absl::Status Add(const std::shared_ptr<Session>& s, const std::shared_ptr<SocketEntry>& e);
  // Whether `more` handles would still fit (checked again by Add).
  absl::Status CheckQuota(const std::shared_ptr<Session>& s, int more);

  // Descriptors held for clients outside the handle table (a data channel's
  // pipes, a pending Poll's epoll set) share the daemon-wide cap
  // (--max-handles) with the handles. RESOURCE_EXHAUSTED when they do not fit.
  absl::Status ReserveDescriptors(int n, std::string_view what);
  void ReleaseDescriptors(int n);

  // Payload bytes a pending send holds, against --max-bytes-in-flight
  // (daemon-wide) and --max-bytes-in-flight-per-session. RESOURCE_EXHAUSTED
  // when over; every successful Reserve is matched by one Release.
  absl::Status ReserveBytes(const std::shared_ptr<Session>& s, uint64_t n);
  void ReleaseBytes(const std::shared_ptr<Session>& s, uint64_t n);
  // INVALID_ARGUMENT malformed; NOT_FOUND unknown/closed/other session/stale.
  absl::StatusOr<std::shared_ptr<SocketEntry>> Find(const std::shared_ptr<Session>& s,
                                                    std::string_view handle);
  // Unlinks the handle; the caller aborts waits on it.
  absl::StatusOr<std::shared_ptr<SocketEntry>> Remove(const std::shared_ptr<Session>& s,
                                                      std::string_view handle);
  absl::Status SetDetached(const std::shared_ptr<Session>& s, std::string_view handle);
  absl::Status SetInheritable(const std::shared_ptr<Session>& s, std::string_view handle, bool on);
  // Takes over a detached/inheritable handle (from any session, or orphaned).
  absl::StatusOr<std::shared_ptr<SocketEntry>> Attach(const std::shared_ptr<Session>& s,
                                                      std::string_view handle);
  std::string AddShare(const std::shared_ptr<SocketEntry>& e);
  absl::StatusOr<std::shared_ptr<SocketEntry>> TakeShare(std::string_view token);
  std::vector<std::shared_ptr<SocketEntry>> List(const std::shared_ptr<Session>& s);
  // Ownership flags read under the lock.
  void ReadFlags(const SocketEntry& e, bool* detached, bool* inheritable);

  size_t session_count() const;
  size_t handle_count() const;
  // Every socket, for shutdown.
  std::vector<std::shared_ptr<SocketEntry>> TakeAll();

 private:
  std::string NewId(std::string_view prefix);
  absl::Status ValidateHandle(std::string_view handle) const;
  // RESOURCE_EXHAUSTED unless `more` descriptors fit under the caps.
  absl::Status CheckRoomLocked(const Session& s, size_t more) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes (unlinks) `s`'s sockets, orphaning detached/inheritable ones.
  void EndSessionLocked(Session& s, Clock::time_point now,
                        std::vector<std::shared_ptr<SocketEntry>>* closed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  server::Options options_;  // With every 0 (= auto) limit filled in.
  const std::string epoch_;
  mutable absl::Mutex mu_;
  size_t extra_descriptors_ ABSL_GUARDED_BY(mu_) = 0;
  size_t implicit_sessions_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::shared_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  // Keyed by a view of the entry's handle(); the value keeps it alive.
  absl::flat_hash_map<absl::string_view, std::shared_ptr<SocketEntry>> sockets_ ABSL_GUARDED_BY(mu_);
  struct Share {
    std::shared_ptr<SocketEntry> entry;
    Clock::time_point expires;
  };
  absl::flat_hash_map<std::string, Share> shares_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sockwire::core
