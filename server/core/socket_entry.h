// One daemon-owned socket behind a handle.
#pragma once

#include <atomic>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core.h"
#include "event_loop.h"
#include "server/obs/metrics.h"
#include "sys/unique_fd.h"

namespace sockwire::core {

// The descriptor stays open while any shared_ptr to the entry lives (a call in
// flight, a pending wait), so a concurrent close can never make a syscall hit
// a reused descriptor number. Close() only unlinks the handle and aborts
// waits; the last reference closes the fd.
class SocketEntry : public Pollable {
 public:
  SocketEntry(UniqueFd fd, int family, int type, int proto)
      : fd_(std::move(fd)), family_(family), type_(type), proto_(proto), count_(family, type) {}

  int fd() const { return fd_.get(); }
  int pollable_fd() const override { return fd_.get(); }
  int family() const { return family_; }
  int type() const { return type_; }
  int proto() const { return proto_; }

  // Set once, before the entry is published.
  const std::string& handle() const { return handle_; }
  void set_handle(std::string h) { handle_ = std::move(h); }

  Timeout timeout() const {
    absl::MutexLock lock(&mu_);
    return timeout_;
  }
  void set_timeout(Timeout t) {
    absl::MutexLock lock(&mu_);
    timeout_ = t;
  }

  bool closed() const { return closed_.load(std::memory_order_acquire); }
  void mark_closed() { closed_.store(true, std::memory_order_release); }
  bool listening() const { return listening_.load(std::memory_order_relaxed); }
  void set_listening() { listening_.store(true, std::memory_order_relaxed); }

  // Ownership state; guarded by the Registry's mutex, not ours.
  std::string owner;        // Session id; empty while orphaned.
  bool detached = false;    // Survives its session for re-attachment.
  bool inheritable = false; // Also survives; mirrors !FD_CLOEXEC.
  Clock::time_point orphaned_at{};

 private:
  UniqueFd fd_;
  const int family_, type_, proto_;
  obs::SocketCount count_;  // sockwire_sockets_open while the descriptor lives.
  std::string handle_;
  mutable absl::Mutex mu_;
  Timeout timeout_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> closed_{false};
  std::atomic<bool> listening_{false};
};

}  // namespace sockwire::core
