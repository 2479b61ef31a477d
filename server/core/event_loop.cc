#include "event_loop.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "errors.h"

namespace sockwire::core {

EventLoop::EventLoop() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the wake fd.
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  thread_ = std::thread([this] { Run(); });
}

EventLoop::~EventLoop() {
  stop_.store(true);
  Wake();
  thread_.join();
  // The loop is gone; run what it left queued on this thread. With stop_ set,
  // a queued AddWaiter fails its waiter instead of registering it, so a wait
  // posted as the loop stopped still gets its callback (exactly once). Tasks
  // may queue more tasks: drain until empty, then close the queue.
  for (;;) {
    std::vector<std::function<void()>> batch;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) {
        closed_ = true;
        break;
      }
      batch.swap(queue_);
    }
    for (auto& fn : batch) fn();
  }
  // Fail whatever is left registered.
  for (auto& [id, w] : waiters_) {
    w->fail(absl::UnavailableError("daemon is shutting down"));
  }
  waiters_.clear();
  registered_.clear();
  close(epfd_);
  close(wakefd_);
}

void EventLoop::Wake() {
  uint64_t one = 1;
  // A full eventfd counter is still a pending wake-up; nothing to handle.
  ssize_t ignored = write(wakefd_, &one, sizeof one);
  (void)ignored;
}

bool EventLoop::Enqueue(std::function<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    queue_.push_back(std::move(fn));
  }
  Wake();
  return true;
}

void EventLoop::Post(std::function<void()> fn) {
  // After the drain nothing runs a posted task; dropping it is all that is left.
  (void)Enqueue(std::move(fn));
}

void EventLoop::PostAt(Clock::time_point when, std::function<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    timers_.emplace(when, std::move(fn));
  }
  Wake();
}

void EventLoop::Wait(std::shared_ptr<Pollable> target, uint32_t events, Clock::time_point deadline,
                     std::shared_ptr<CancelToken> cancel, Attempt attempt, Fail fail,
                     std::function<absl::Status()> timeout_status) {
  auto w = std::make_unique<Waiter>();
  w->target = std::move(target);
  w->events = events;
  w->deadline = deadline;
  w->cancel = std::move(cancel);
  w->attempt = std::move(attempt);
  w->fail = std::move(fail);
  w->timeout_status = std::move(timeout_status);
  pending_.fetch_add(1, std::memory_order_relaxed);
  // std::function needs a copyable callable; hand the unique_ptr over raw.
  Waiter* raw = w.get();
  if (Enqueue([this, raw] { AddWaiter(std::unique_ptr<Waiter>(raw)); })) {
    (void)w.release();  // The queued task owns it now.
    return;
  }
  // The loop is closed: fail here, on the caller's thread.
  pending_.fetch_sub(1, std::memory_order_relaxed);
  w->fail(absl::UnavailableError("daemon is shutting down"));
}

void EventLoop::Cancel(const std::shared_ptr<CancelToken>& token) {
  if (!token) return;
  token->cancelled_.store(true, std::memory_order_release);
  Post([this, token] {
    if (token->wait_id_ == 0) return;  // Not registered yet, or finished.
    if (auto w = Take(token->wait_id_)) {
      w->fail(absl::CancelledError("cancelled by the caller"));
    }
  });
}

void EventLoop::Abort(const Pollable* target, absl::Status status) {
  Post([this, target, status] {
    auto it = registered_.find(target);
    if (it == registered_.end()) return;
    std::vector<uint64_t> ids = it->second.waiters;
    for (uint64_t id : ids) {
      if (auto w = Take(id)) w->fail(status);
    }
  });
}

void EventLoop::FailAll(absl::Status status) {
  Post([this, status] {
    closing_ = status;
    std::vector<uint64_t> ids;
    for (auto& [id, w] : waiters_) ids.push_back(id);
    for (uint64_t id : ids) {
      if (auto w = Take(id)) w->fail(status);
    }
  });
}

void EventLoop::AddWaiter(std::unique_ptr<Waiter> w) {
  if (stop_.load()) {
    // Queued as the loop stopped (run by the destructor's drain).
    pending_.fetch_sub(1, std::memory_order_relaxed);
    w->fail(absl::UnavailableError("daemon is shutting down"));
    return;
  }
  if (closing_.has_value()) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    if (!w->attempt()) w->fail(*closing_);
    return;
  }
  if (w->cancel && w->cancel->cancelled()) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    w->fail(absl::CancelledError("cancelled by the caller"));
    return;
  }
  // Try once before registering: readiness may have come since the caller's
  // own attempt. Edge-triggered epoll reports current readiness on ADD, so a
  // change between this attempt and the ADD below is not lost.
  if (w->attempt()) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  if (w->deadline <= Clock::now()) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    w->fail(w->timeout_status());
    return;
  }
  uint64_t id = next_id_++;
  w->id = id;
  if (w->cancel) w->cancel->wait_id_ = id;
  const Pollable* key = w->target.get();
  auto [it, inserted] = registered_.try_emplace(key);
  if (inserted) {
    it->second.target = w->target;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = const_cast<Pollable*>(key);
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, key->pollable_fd(), &ev) != 0) {
      int err = errno;
      registered_.erase(it);
      if (w->cancel) w->cancel->wait_id_ = 0;
      pending_.fetch_sub(1, std::memory_order_relaxed);
      w->fail(OsError(err, "epoll_ctl"));
      return;
    }
  }
  it->second.waiters.push_back(id);
  if (w->deadline != Clock::time_point::max()) deadlines_.emplace(w->deadline, id);
  waiters_.emplace(id, std::move(w));
}

std::unique_ptr<EventLoop::Waiter> EventLoop::Take(uint64_t id) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return nullptr;
  std::unique_ptr<Waiter> w = std::move(it->second);
  waiters_.erase(it);
  pending_.fetch_sub(1, std::memory_order_relaxed);
  if (w->cancel) w->cancel->wait_id_ = 0;
  if (w->deadline != Clock::time_point::max()) {
    auto range = deadlines_.equal_range(w->deadline);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == id) {
        deadlines_.erase(d);
        break;
      }
    }
  }
  auto reg = registered_.find(w->target.get());
  if (reg != registered_.end()) {
    auto& ids = reg->second.waiters;
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    if (ids.empty()) {
      // Deregister before the last reference to the socket can go away: a
      // closed fd's number may be reused by the next socket.
      epoll_ctl(epfd_, EPOLL_CTL_DEL, reg->first->pollable_fd(), nullptr);
      registered_.erase(reg);
    }
  }
  return w;
}

void EventLoop::OnReady(const Pollable* target) {
  auto it = registered_.find(target);
  if (it == registered_.end()) return;
  // Copy: attempts may finish waits, which edits the list.
  std::vector<uint64_t> ids = it->second.waiters;
  for (uint64_t id : ids) {
    auto w = waiters_.find(id);
    if (w == waiters_.end()) continue;
    if (w->second->attempt()) Take(id);
  }
}

void EventLoop::FireTimers() {
  auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    uint64_t id = deadlines_.begin()->second;
    auto w = Take(id);
    if (w) w->fail(w->timeout_status());
  }
  std::vector<std::function<void()>> due;
  {
    absl::MutexLock lock(&mu_);
    while (!timers_.empty() && timers_.begin()->first <= now) {
      due.push_back(std::move(timers_.begin()->second));
      timers_.erase(timers_.begin());
    }
  }
  for (auto& fn : due) fn();
}

void EventLoop::RunQueued() {
  std::vector<std::function<void()>> batch;
  {
    absl::MutexLock lock(&mu_);
    batch.swap(queue_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::Run() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (!stop_.load()) {
    int timeout_ms = -1;
    Clock::time_point next = Clock::time_point::max();
    if (!deadlines_.empty()) next = deadlines_.begin()->first;
    {
      absl::MutexLock lock(&mu_);
      if (!timers_.empty()) next = std::min(next, timers_.begin()->first);
      if (!queue_.empty()) next = Clock::now();
    }
    if (next != Clock::time_point::max()) {
      auto delta = std::chrono::duration_cast<std::chrono::microseconds>(next - Clock::now()).count();
      // Round up so a deadline is never reported early.
      timeout_ms = delta <= 0 ? 0 : static_cast<int>(std::min<int64_t>((delta + 999) / 1000, 1 << 30));
    }
    int n = epoll_wait(epfd_, events, kMaxEvents, timeout_ms);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        uint64_t v;
        while (read(wakefd_, &v, sizeof v) > 0) {
        }
        continue;
      }
      OnReady(static_cast<const Pollable*>(events[i].data.ptr));
    }
    RunQueued();
    FireTimers();
  }
}

}  // namespace sockwire::core
