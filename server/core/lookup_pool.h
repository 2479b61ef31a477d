// A small bounded pool of threads for the blocking libc lookups (getaddrinfo,
// gethostbyname_r, gethostbyaddr_r, getnameinfo). Those calls wait on DNS, so
// they must never run on a gRPC or event-loop thread.
//
// Contract of Submit():
//  - `done` runs exactly once, on a pool thread (a worker or the deadline
//    thread), never inline in Submit() and never with a pool lock held, so it
//    may Submit() again.
//  - When `deadline` passes before the work has answered, `done` gets
//    `on_deadline()` at the deadline, even if the worker is still stuck in
//    libc; the worker finishes the stale call in the background and its
//    answer is dropped. The pool size bounds how many lookups run at once;
//    the rest queue (and still time out on time).
//  - When `cancel` is cancelled, `done` gets CANCELLED promptly (the deadline
//    thread checks tokens every kCancelPoll) and queued work is skipped.
//  - Calls with the same non-empty `share_key` that overlap in time share one
//    execution of the work; each keeps its own deadline and cancellation.
//  - Destruction fails everything pending with UNAVAILABLE and does not wait
//    for workers stuck in libc: the threads are detached and exit when their
//    call returns (they only touch the shared State).
//
// Header-only so both the core's thread-pool resolver and the resolver
// service can use it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/event_loop.h"

namespace sockwire::resolver {

template <class T>
class LookupPool {
 public:
  using Result = absl::StatusOr<T>;
  using Work = std::function<Result()>;
  using Callback = std::function<void(Result)>;
  using StatusFn = std::function<absl::Status()>;
  using Clock = core::Clock;

  static constexpr std::chrono::milliseconds kCancelPoll{50};

  explicit LookupPool(int threads) : state_(std::make_shared<State>()) {
    for (int i = 0; i < std::max(1, threads); ++i) {
      std::thread([s = state_] { s->WorkLoop(); }).detach();
    }
    std::thread([s = state_] { s->TimerLoop(); }).detach();
  }

  ~LookupPool() { state_->Stop(); }

  LookupPool(const LookupPool&) = delete;
  LookupPool& operator=(const LookupPool&) = delete;

  void Submit(std::string share_key, Work work, Clock::time_point deadline,
              std::shared_ptr<core::CancelToken> cancel, StatusFn on_deadline, Callback done) {
    state_->Submit(std::move(share_key), std::move(work), deadline, std::move(cancel),
                   std::move(on_deadline), std::move(done));
  }

  // For tests and metrics: queries waiting for a worker / running now.
  size_t queued() const { return state_->Queued(); }
  size_t running() const { return state_->Running(); }

 private:
  struct Waiter {
    Clock::time_point deadline;
    std::shared_ptr<core::CancelToken> cancel;
    StatusFn on_deadline;
    Callback done;
    std::atomic<bool> finished{false};
    // True if this call delivered the result.
    bool Finish(Result r) {
      if (finished.exchange(true, std::memory_order_acq_rel)) return false;
      Callback cb = std::move(done);
      cb(std::move(r));
      return true;
    }
  };

  struct Query {
    std::string key;
    Work work;
    std::vector<std::shared_ptr<Waiter>> waiters;  // Guarded by State::mu.
    bool AllFinished() const {
      for (auto& w : waiters) {
        if (!w->finished.load(std::memory_order_acquire)) return false;
      }
      return true;
    }
  };

  struct State {
    absl::Mutex mu;
    bool stop ABSL_GUARDED_BY(mu) = false;
    std::deque<std::shared_ptr<Query>> queue ABSL_GUARDED_BY(mu);
    // Every query queued or running, so Stop() can fail its callers.
    std::unordered_set<std::shared_ptr<Query>> inflight ABSL_GUARDED_BY(mu);
    // Queued or running queries that new identical calls may join.
    std::unordered_map<std::string, std::shared_ptr<Query>> shared ABSL_GUARDED_BY(mu);
    std::multimap<Clock::time_point, std::weak_ptr<Waiter>> deadlines ABSL_GUARDED_BY(mu);
    std::vector<std::weak_ptr<Waiter>> cancellable ABSL_GUARDED_BY(mu);
    size_t running ABSL_GUARDED_BY(mu) = 0;
    uint64_t timer_epoch ABSL_GUARDED_BY(mu) = 0;  // Bumped to wake the timer.

    size_t Queued() {
      absl::MutexLock l(&mu);
      return queue.size();
    }
    size_t Running() {
      absl::MutexLock l(&mu);
      return running;
    }

    void Submit(std::string key, Work work, Clock::time_point deadline,
                std::shared_ptr<core::CancelToken> cancel, StatusFn on_deadline, Callback done) {
      auto w = std::make_shared<Waiter>();
      w->deadline = deadline;
      w->cancel = std::move(cancel);
      w->on_deadline = std::move(on_deadline);
      w->done = std::move(done);
      bool stopped = false;
      {
        absl::MutexLock l(&mu);
        if (stop) {
          stopped = true;
        } else {
          std::shared_ptr<Query> q;
          if (!key.empty()) {
            auto it = shared.find(key);
            if (it != shared.end()) q = it->second;
          }
          if (q == nullptr) {
            q = std::make_shared<Query>();
            q->key = key;
            q->work = std::move(work);
            if (!key.empty()) shared[key] = q;
            inflight.insert(q);
            queue.push_back(q);
          }
          q->waiters.push_back(w);
          if (deadline != Clock::time_point::max()) deadlines.emplace(deadline, w);
          if (w->cancel != nullptr) cancellable.push_back(w);
          ++timer_epoch;
        }
      }
      // `done` must not run inline in Submit(): deliver from a pool thread.
      if (stopped) {
        std::thread([w] { w->Finish(absl::UnavailableError("daemon is shutting down")); })
            .detach();
      }
    }

    void Stop() {
      std::vector<std::shared_ptr<Waiter>> pending;
      {
        absl::MutexLock l(&mu);
        stop = true;
        for (auto& q : inflight) {
          for (auto& w : q->waiters) pending.push_back(w);
        }
        inflight.clear();
        queue.clear();
        shared.clear();
        deadlines.clear();
        cancellable.clear();
      }
      for (auto& w : pending) w->Finish(absl::UnavailableError("daemon is shutting down"));
    }

    void WorkLoop() {
      for (;;) {
        std::shared_ptr<Query> q;
        {
          absl::MutexLock l(&mu);
          mu.Await(absl::Condition(
              +[](State* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
                return s->stop || !s->queue.empty();
              },
              this));
          if (stop) return;
          q = std::move(queue.front());
          queue.pop_front();
          if (q->AllFinished()) {
            // Every caller gave up (deadline or cancel) while it was queued.
            if (!q->key.empty()) shared.erase(q->key);
            inflight.erase(q);
            continue;
          }
          ++running;
        }
        Result r = q->work();
        std::vector<std::shared_ptr<Waiter>> waiters;
        {
          absl::MutexLock l(&mu);
          --running;
          inflight.erase(q);
          if (!q->key.empty()) {
            auto it = shared.find(q->key);
            if (it != shared.end() && it->second == q) shared.erase(it);
          }
          waiters.swap(q->waiters);
        }
        for (auto& w : waiters) w->Finish(r);
      }
    }

    void TimerLoop() {
      for (;;) {
        std::vector<std::shared_ptr<Waiter>> expired;
        std::vector<std::shared_ptr<Waiter>> cancelled;
        {
          absl::MutexLock l(&mu);
          if (stop) return;
          auto now = Clock::now();
          while (!deadlines.empty() && deadlines.begin()->first <= now) {
            if (auto w = deadlines.begin()->second.lock()) expired.push_back(std::move(w));
            deadlines.erase(deadlines.begin());
          }
          std::vector<std::weak_ptr<Waiter>> keep;
          for (auto& weak : cancellable) {
            auto w = weak.lock();
            if (w == nullptr || w->finished.load(std::memory_order_acquire)) continue;
            if (w->cancel->cancelled()) {
              cancelled.push_back(std::move(w));
            } else {
              keep.push_back(std::move(weak));
            }
          }
          cancellable.swap(keep);
          if (expired.empty() && cancelled.empty()) {
            Clock::time_point wake = Clock::time_point::max();
            if (!deadlines.empty()) wake = deadlines.begin()->first;
            if (!cancellable.empty()) wake = std::min(wake, now + kCancelPoll);
            uint64_t epoch = timer_epoch;
            auto changed = [this, epoch]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
              return stop || timer_epoch != epoch;
            };
            if (wake == Clock::time_point::max()) {
              mu.Await(absl::Condition(&changed));
            } else {
              mu.AwaitWithTimeout(absl::Condition(&changed),
                                  absl::FromChrono(wake - now) + absl::Microseconds(100));
            }
            continue;
          }
        }
        for (auto& w : expired) {
          if (!w->finished.load(std::memory_order_acquire)) w->Finish(w->on_deadline());
        }
        for (auto& w : cancelled) w->Finish(absl::CancelledError("cancelled by the caller"));
      }
    }
  };

  std::shared_ptr<State> state_;
};

}  // namespace sockwire::resolver
