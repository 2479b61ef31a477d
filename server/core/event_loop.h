// One epoll thread that turns "wait until this socket is ready, at most until
// that deadline" into callbacks, so no thread ever blocks in a socket syscall.
//
// A wait is an Attempt (a non-blocking retry of the operation, run on the loop
// thread) plus a Fail callback. The loop runs the attempt once at once, then on
// every readiness edge of the fd, until the attempt reports done; or it calls
// Fail exactly once with a timeout, cancellation or shutdown status. Either
// the attempt finishes the wait or Fail runs, never both.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace sockwire::core {

using Clock = std::chrono::steady_clock;

// Something with a pollable fd that stays open while a shared_ptr to it lives.
class Pollable {
 public:
  virtual ~Pollable() = default;
  virtual int pollable_fd() const = 0;
};

// Shared between a pending call and its front-end. Cancel() may be called from
// any thread, before or after the wait is registered, any number of times.
class CancelToken {
 public:
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  friend class EventLoop;
  std::atomic<bool> cancelled_{false};
  uint64_t wait_id_ = 0;  // Loop thread only.
};

class EventLoop {
 public:
  // Returns true when the operation finished (it has delivered its result),
  // false to keep waiting (it saw EAGAIN).
  using Attempt = std::function<bool()>;
  using Fail = std::function<void(absl::Status)>;

  EventLoop();
  // Stops the thread, then runs what is still queued on the destroying
  // thread: every wait, registered or still queued, gets UNAVAILABLE exactly
  // once. A Wait() after that fails at once, on the caller's thread.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs `fn` on the loop thread. Thread-safe.
  void Post(std::function<void()> fn);
  // Runs `fn` on the loop thread at `when`. Thread-safe.
  void PostAt(Clock::time_point when, std::function<void()> fn);

  // Registers a wait (thread-safe). `events` are EPOLLIN/EPOLLOUT/EPOLLPRI.
  // `deadline` == Clock::time_point::max() waits forever. `timeout_status` is
  // what Fail gets when the deadline passes.
  void Wait(std::shared_ptr<Pollable> target, uint32_t events, Clock::time_point deadline,
            std::shared_ptr<CancelToken> cancel, Attempt attempt, Fail fail,
            std::function<absl::Status()> timeout_status);

  // Cancels the wait tied to `token`, if any (thread-safe).
  void Cancel(const std::shared_ptr<CancelToken>& token);

  // Fails every wait on `target` with `status` (thread-safe), e.g. on close.
  void Abort(const Pollable* target, absl::Status status);

  // Fails every pending wait, and every wait registered from now on, with
  // `status` (thread-safe). For shutdown: waiting calls end with a reason
  // (UNAVAILABLE, SHUTTING_DOWN) instead of being cut by the server.
  void FailAll(absl::Status status);

  // Number of waits pending (approximate; for tests and metrics).
  size_t pending_waits() const { return pending_.load(std::memory_order_relaxed); }

  bool on_loop_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct Waiter {
    uint64_t id;
    std::shared_ptr<Pollable> target;
    uint32_t events;
    Clock::time_point deadline;
    std::shared_ptr<CancelToken> cancel;
    Attempt attempt;
    Fail fail;
    std::function<absl::Status()> timeout_status;
  };
  struct Registration {
    std::shared_ptr<Pollable> target;
    std::vector<uint64_t> waiters;  // In arrival order.
  };

  void Run();
  void RunQueued();
  void AddWaiter(std::unique_ptr<Waiter> w);
  // Removes `id` from all indexes; returns it (null if already gone).
  std::unique_ptr<Waiter> Take(uint64_t id);
  void OnReady(const Pollable* target);
  void FireTimers();
  void Wake();
  // Queues `fn` for the loop thread; false once the loop is closed.
  bool Enqueue(std::function<void()> fn);

  int epfd_ = -1;
  int wakefd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> pending_{0};

  absl::Mutex mu_;
  std::vector<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;  // The destructor drained queue_.
  std::multimap<Clock::time_point, std::function<void()>> timers_ ABSL_GUARDED_BY(mu_);

  // Loop thread only.
  std::optional<absl::Status> closing_;  // Set by FailAll.
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Waiter>> waiters_;
  std::unordered_map<const Pollable*, Registration> registered_;
  std::multimap<Clock::time_point, uint64_t> deadlines_;
};

}  // namespace sockwire::core
