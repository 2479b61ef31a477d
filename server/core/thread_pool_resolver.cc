// getaddrinfo(3) on a small bounded pool of worker threads. getaddrinfo blocks
// on DNS, so it never runs on a gRPC or event-loop thread; the pool size caps
// how many lookups run at once, and the rest queue. A lookup that outlives its
// deadline completes with EAI_AGAIN at the deadline; the worker finishes the
// stale query in the background and drops its answer.
#include <netdb.h>
#include <string.h>

#include <atomic>
#include <deque>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "errors.h"
#include "resolver.h"

namespace sockwire::core {
namespace {

class ThreadPoolResolver : public Resolver {
 public:
  explicit ThreadPoolResolver(int threads) {
    for (int i = 0; i < std::max(1, threads); ++i) workers_.emplace_back([this] { Work(); });
  }
  ~ThreadPoolResolver() override {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    for (auto& t : workers_) t.join();
    for (auto& job : queue_) job->Finish(absl::UnavailableError("daemon is shutting down"));
  }

  void GetAddrInfo(AddrInfoQuery query, Clock::time_point deadline,
                   std::shared_ptr<CancelToken> cancel, Callback done) override {
    auto job = std::make_shared<Job>();
    job->query = std::move(query);
    job->deadline = deadline;
    job->cancel = std::move(cancel);
    job->done = std::move(done);
    absl::MutexLock lock(&mu_);
    queue_.push_back(job);
  }

 private:
  struct Job {
    AddrInfoQuery query;
    Clock::time_point deadline;
    std::shared_ptr<CancelToken> cancel;
    Callback done;
    std::atomic<bool> finished{false};
    void Finish(absl::StatusOr<std::vector<AddrInfo>> r) {
      if (!finished.exchange(true)) done(std::move(r));
    }
  };

  void Work() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](ThreadPoolResolver* self) { return self->stop_ || !self->queue_.empty(); }, this));
        if (stop_) return;
        job = queue_.front();
        queue_.pop_front();
      }
      if (job->cancel && job->cancel->cancelled()) {
        job->Finish(absl::CancelledError("cancelled by the caller"));
        continue;
      }
      if (Clock::now() >= job->deadline) {
        job->Finish(GaiError(EAI_AGAIN, "getaddrinfo"));
        continue;
      }
      job->Finish(Lookup(job->query));
    }
  }

  static absl::StatusOr<std::vector<AddrInfo>> Lookup(const AddrInfoQuery& q) {
    addrinfo hints{};
    hints.ai_family = q.family;
    hints.ai_socktype = q.socktype;
    hints.ai_protocol = q.protocol;
    hints.ai_flags = q.flags;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(q.has_host ? q.host.c_str() : nullptr,
                         q.has_service ? q.service.c_str() : nullptr, &hints, &res);
    if (rc != 0) {
      if (rc == EAI_SYSTEM) return OsError(errno, "getaddrinfo");
      return GaiError(rc, "getaddrinfo");
    }
    std::vector<AddrInfo> out;
    for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
      AddrInfo a;
      a.family = p->ai_family;
      a.socktype = p->ai_socktype;
      a.protocol = p->ai_protocol;
      if (p->ai_canonname != nullptr) a.canonname = p->ai_canonname;
      if (p->ai_addrlen <= sizeof(a.addr.storage)) {
        memcpy(&a.addr.storage, p->ai_addr, p->ai_addrlen);
        a.addr.len = p->ai_addrlen;
      }
      out.push_back(std::move(a));
    }
    freeaddrinfo(res);
    return out;
  }

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::shared_ptr<Job>> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<Resolver> MakeThreadPoolResolver(int threads) {
  return std::make_unique<ThreadPoolResolver>(threads);
}

}  // namespace sockwire::core
