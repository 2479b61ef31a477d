// EventLoop's "Fail exactly once" promise at shutdown: a wait that is still
// queued (posted, not yet registered) when the loop stops must get
// UNAVAILABLE, not vanish with its callback never run.
#include "core/event_loop.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

namespace sockwire::core {
namespace {

// One end of a socketpair nobody writes to: a wait on it never completes.
class Quiet : public Pollable {
 public:
  Quiet() { socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds_); }
  ~Quiet() override {
    close(fds_[0]);
    close(fds_[1]);
  }
  int pollable_fd() const override { return fds_[0]; }

 private:
  int fds_[2] = {-1, -1};
};

struct Outcome {
  std::atomic<int> fails{0};
  absl::Status last;
};

void WaitForever(EventLoop& loop, const std::shared_ptr<Quiet>& target, Outcome* out) {
  loop.Wait(
      target, EPOLLIN, Clock::time_point::max(), nullptr, [] { return false; },
      [out](absl::Status st) {
        out->last = st;
        out->fails.fetch_add(1);
      },
      [] { return absl::DeadlineExceededError("timeout"); });
}

// The loop thread is held inside a posted task while the destructor sets the
// stop flag; a wait queued meanwhile is in the loop's queue, not registered.
TEST(EventLoopShutdown, WaitQueuedAsTheLoopStopsFailsExactlyOnce) {
  for (int round = 0; round < 20; ++round) {
    auto loop = std::make_unique<EventLoop>();
    auto target = std::make_shared<Quiet>();
    Outcome registered, queued;
    WaitForever(*loop, target, &registered);  // Registered before the stop.

    std::mutex m;
    std::condition_variable cv;
    bool in_task = false, release = false;
    loop->Post([&] {
      std::unique_lock<std::mutex> l(m);
      in_task = true;
      cv.notify_all();
      cv.wait(l, [&] { return release; });
    });
    {
      std::unique_lock<std::mutex> l(m);
      cv.wait(l, [&] { return in_task; });
    }
    // Queued behind the running task: registration would be the loop's next turn.
    WaitForever(*loop, target, &queued);
    std::thread destroyer([&] { loop.reset(); });
    // The destructor's stop flag is not observable; give it the time to be
    // set before the loop thread goes on (the fix holds in either order).
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 2 == 0 ? 20 : 1));
    {
      std::lock_guard<std::mutex> l(m);
      release = true;
    }
    cv.notify_all();
    destroyer.join();
    EXPECT_EQ(registered.fails.load(), 1) << "round " << round;
    ASSERT_EQ(queued.fails.load(), 1) << "round " << round << ": the queued waiter was dropped";
    EXPECT_EQ(queued.last.code(), absl::StatusCode::kUnavailable) << queued.last;
  }
}

}  // namespace
}  // namespace sockwire::core
