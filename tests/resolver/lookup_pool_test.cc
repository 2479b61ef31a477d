// The resolver's bounded lookup pool: deadlines that hold while a worker is
// stuck, cancellation, sharing of identical queries, and the bound itself.
// Work functions block on a latch the test opens, so nothing here depends on
// timing except the deadlines under test (asserted with generous bounds).
#include "server/core/lookup_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "absl/synchronization/notification.h"
#include "server/core/event_loop.h"

namespace sockwire::resolver {
namespace {

using core::Clock;
using Pool = LookupPool<int>;

absl::Status DeadlineStatus() { return absl::UnavailableError("EAI_AGAIN"); }

struct Outcome {
  std::promise<absl::StatusOr<int>> promise;
  std::future<absl::StatusOr<int>> future = promise.get_future();
  std::atomic<int> calls{0};
  Pool::Callback callback() {
    return [this](absl::StatusOr<int> r) {
      if (calls.fetch_add(1) == 0) promise.set_value(std::move(r));
    };
  }
  absl::StatusOr<int> Get() {
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return future.get();
  }
};

TEST(LookupPoolTest, AnswersOnAWorker) {
  Pool pool(2);
  Outcome out;
  pool.Submit("", [] { return absl::StatusOr<int>(42); }, Clock::time_point::max(), nullptr,
              DeadlineStatus, out.callback());
  auto r = out.Get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
}

TEST(LookupPoolTest, DeadlineFiresWhileWorkerIsStuck) {
  Pool pool(1);
  // Shared: a detached worker may still wake on it after the test returns.
  auto release = std::make_shared<absl::Notification>();
  Outcome out;
  auto start = Clock::now();
  pool.Submit(
      "",
      [release] {
        release->WaitForNotification();
        return absl::StatusOr<int>(1);
      },
      start + std::chrono::milliseconds(200), nullptr, DeadlineStatus, out.callback());
  auto r = out.Get();
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(elapsed, std::chrono::milliseconds(190));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  release->Notify();
  // The stale answer is dropped: the callback ran exactly once.
  // A new lookup still works once the worker is free.
  Outcome next;
  pool.Submit("", [] { return absl::StatusOr<int>(7); }, Clock::time_point::max(), nullptr,
              DeadlineStatus, next.callback());
  EXPECT_EQ(*next.Get(), 7);
  EXPECT_EQ(out.calls.load(), 1);
}

TEST(LookupPoolTest, QueuedCallsTimeOutOnTimeWhenEveryWorkerIsStuck) {
  Pool pool(1);
  // Shared: a detached worker may still wake on it after the test returns.
  auto release = std::make_shared<absl::Notification>();
  Outcome stuck, queued;
  pool.Submit(
      "a",
      [release] {
        release->WaitForNotification();
        return absl::StatusOr<int>(1);
      },
      Clock::time_point::max(), nullptr, DeadlineStatus, stuck.callback());
  auto start = Clock::now();
  pool.Submit("b", [] { return absl::StatusOr<int>(2); }, start + std::chrono::milliseconds(150),
              nullptr, DeadlineStatus, queued.callback());
  auto r = queued.Get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  release->Notify();
  EXPECT_EQ(*stuck.Get(), 1);
}

TEST(LookupPoolTest, IdenticalQueriesShareOneExecution) {
  Pool pool(4);
  // Shared: a detached worker may still wake on it after the test returns.
  auto release = std::make_shared<absl::Notification>();
  std::atomic<int> runs{0};
  auto work = [&runs, release] {
    runs.fetch_add(1);
    release->WaitForNotification();
    return absl::StatusOr<int>(5);
  };
  Outcome a, b, c;
  pool.Submit("same", work, Clock::time_point::max(), nullptr, DeadlineStatus, a.callback());
  pool.Submit("same", work, Clock::time_point::max(), nullptr, DeadlineStatus, b.callback());
  pool.Submit("other", [] { return absl::StatusOr<int>(9); }, Clock::time_point::max(), nullptr,
              DeadlineStatus, c.callback());
  EXPECT_EQ(*c.Get(), 9);  // A different query is not held up.
  release->Notify();
  EXPECT_EQ(*a.Get(), 5);
  EXPECT_EQ(*b.Get(), 5);
  EXPECT_EQ(runs.load(), 1);
}

TEST(LookupPoolTest, SharedQueryKeepsEachCallersDeadline) {
  Pool pool(1);
  // Shared: a detached worker may still wake on it after the test returns.
  auto release = std::make_shared<absl::Notification>();
  auto work = [release] {
    release->WaitForNotification();
    return absl::StatusOr<int>(3);
  };
  Outcome patient, hurried;
  pool.Submit("k", work, Clock::time_point::max(), nullptr, DeadlineStatus, patient.callback());
  pool.Submit("k", work, Clock::now() + std::chrono::milliseconds(100), nullptr, DeadlineStatus,
              hurried.callback());
  EXPECT_EQ(hurried.Get().status().code(), absl::StatusCode::kUnavailable);
  release->Notify();
  EXPECT_EQ(*patient.Get(), 3);
}

TEST(LookupPoolTest, CancellationCompletesPromptly) {
  core::EventLoop loop;  // Only the loop can set a CancelToken.
  Pool pool(1);
  // Shared: a detached worker may still wake on it after the test returns.
  auto release = std::make_shared<absl::Notification>();
  auto token = std::make_shared<core::CancelToken>();
  Outcome out;
  pool.Submit(
      "",
      [release] {
        release->WaitForNotification();
        return absl::StatusOr<int>(1);
      },
      Clock::time_point::max(), token, DeadlineStatus, out.callback());
  loop.Cancel(token);
  EXPECT_EQ(out.Get().status().code(), absl::StatusCode::kCancelled);
  release->Notify();
}

TEST(LookupPoolTest, DestructionFailsPendingCalls) {
  // Shared: a detached worker may still wake on it after the test returns.
  auto release = std::make_shared<absl::Notification>();
  Outcome stuck, queued;
  {
    Pool pool(1);
    pool.Submit(
        "",
        [release] {
          release->WaitForNotification();
          return absl::StatusOr<int>(1);
        },
        Clock::time_point::max(), nullptr, DeadlineStatus, stuck.callback());
    pool.Submit("", [] { return absl::StatusOr<int>(2); }, Clock::time_point::max(), nullptr,
                DeadlineStatus, queued.callback());
  }
  EXPECT_EQ(stuck.Get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(queued.Get().status().code(), absl::StatusCode::kUnavailable);
  release->Notify();
}

}  // namespace
}  // namespace sockwire::resolver
