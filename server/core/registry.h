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

 private:
  friend class Registry;
  std::string id_;
  std::string token_;
  // Guarded by Registry::mu_. Views into each SocketEntry's own handle
  // string (alive while the entry is in Registry::sockets_): an idle handle
  // stores its 53-byte name once, not three times.
  absl::flat_hash_set<absl::string_view> handles_;
  int holds_ = 0;
  bool ever_held_ = false;
  bool closed_ = false;
  Clock::time_point last_active_;
};

class Registry {
 public:
  Registry(const server::Options& options, std::string epoch);

  const std::string& epoch() const { return epoch_; }

  absl::StatusOr<std::shared_ptr<Session>> OpenSession();
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
  // over the per-session quota.
  absl::Status Add(const std::shared_ptr<Session>& s, const std::shared_ptr<SocketEntry>& e);
  absl::Status CheckQuota(const std::shared_ptr<Session>& s, int more);
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
  // Closes (unlinks) `s`'s sockets, orphaning detached/inheritable ones.
  void EndSessionLocked(Session& s, Clock::time_point now,
                        std::vector<std::shared_ptr<SocketEntry>>* closed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const server::Options options_;
  const std::string epoch_;
  mutable absl::Mutex mu_;
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
