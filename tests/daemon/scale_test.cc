// 1,000 blocked accepts and 1,000 blocked recvs pending at once: every one
// completes once its socket is ready, and the daemon does not add threads
// for them (blocking calls are readiness waits in an event loop).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "daemon_process.h"
#include "rpc_helpers.h"

namespace sockwire::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

constexpr int kCalls = 1000;
constexpr int kChannels = 4;
// gRPC's own pollers and timer threads may come and go; anything beyond a
// few means threads per call.
constexpr int kThreadSlack = 8;

// Lets this process and the daemon it forks hold a few thousand descriptors.
void RaiseFdLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 65536);
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// Several channels (connections) sharing one session.
struct Channels {
  explicit Channels(const DaemonProcess& d, const std::string& session) {
    for (int i = 0; i < kChannels; ++i) clients.push_back(std::make_unique<Client>(d.NewChannel(), session));
  }
  const Client& operator[](int i) const { return *clients[i % kChannels]; }
  // One unary round trip on each channel: the calls started before it on
  // that connection have been sent.
  void RoundTrip() const {
    for (const auto& c : clients) {
      auto r = List(*c);
      EXPECT_TRUE(r.ok()) << r.Describe();
    }
  }
  std::vector<std::unique_ptr<Client>> clients;
};

template <typename Resp>
struct AsyncCall {
  grpc::ClientContext ctx;
  Resp response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> rpc;
  bool done = false;
  intptr_t index = 0;
};

// The largest thread count seen over ~300 ms of sampling.
int MaxThreadsWhilePending(const DaemonProcess& d) {
  int most = d.ThreadCount();
  for (int i = 0; i < 15; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
    most = std::max(most, d.ThreadCount());
  }
  return most;
}

// Async calls on one completion queue. The destructor cancels whatever is
// still pending and drains the queue, so an early ASSERT leaves no call in
// flight behind a destroyed context.
template <typename Resp>
class PendingCalls {
 public:
  using Call = AsyncCall<Resp>;
  ~PendingCalls() {
    for (auto& call : calls) {
      if (!call->done) call->ctx.TryCancel();
    }
    cq.Shutdown();
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
    }
  }
  // A new call with the session metadata and a 60 s deadline; its tag is its index.
  Call* Add(const std::string& session) {
    calls.push_back(std::make_unique<Call>());
    Call* call = calls.back().get();
    call->index = static_cast<intptr_t>(calls.size() - 1);
    call->ctx.AddMetadata("sockwire-session", session);
    call->ctx.set_deadline(system_clock::now() + seconds(60));
    return call;
  }
  static void* TagOf(const Call* call) { return reinterpret_cast<void*>(call->index); }
  bool AnyCompleted() {
    void* tag = nullptr;
    bool ok = false;
    return cq.AsyncNext(&tag, &ok, system_clock::now()) != grpc::CompletionQueue::TIMEOUT;
  }
  // Waits for every pending call; false on a stall past `limit`.
  bool DrainAll(seconds limit) {
    auto deadline = system_clock::now() + limit;
    size_t pending = 0;
    for (const auto& call : calls) pending += call->done ? 0 : 1;
    for (; pending > 0; --pending) {
      void* tag = nullptr;
      bool ok = false;
      if (cq.AsyncNext(&tag, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) return false;
      EXPECT_TRUE(ok);
      calls[reinterpret_cast<intptr_t>(tag)]->done = true;
    }
    return true;
  }

  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Call>> calls;
};

TEST(Scale, ThousandBlockedAcceptsAllCompleteWithoutNewThreads) {
  RaiseFdLimit();
  DaemonProcess d;
  Client c(d);
  std::vector<std::string> listeners(kCalls);
  std::vector<uint32_t> ports(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    v1::Address address;
    ASSERT_NO_FATAL_FAILURE(
        MakeTcpListener(c, v1::FAMILY_INET, "127.0.0.1", &listeners[i], &address, 4));
    ports[i] = PortOf(address);
  }
  Channels channels(d, c.session());
  channels.RoundTrip();
  const int baseline_threads = d.ThreadCount();

  PendingCalls<v1::AcceptResponse> pending;
  using Call = PendingCalls<v1::AcceptResponse>::Call;
  for (int i = 0; i < kCalls; ++i) {
    Call* call = pending.Add(c.session());
    call->rpc =
        channels[i].stub()->PrepareAsyncAccept(&call->ctx, HandleReq(listeners[i]), &pending.cq);
    call->rpc->StartCall();
    call->rpc->Finish(&call->response, &call->status, pending.TagOf(call));
  }
  channels.RoundTrip();

  // All pending: nothing completed, and no thread per call.
  EXPECT_FALSE(pending.AnyCompleted()) << "an accept completed before any client connected";
  const int most = MaxThreadsWhilePending(d);
  EXPECT_LE(most, baseline_threads + kThreadSlack)
      << "threads before " << baseline_threads << ", while 1000 accepts pending " << most;
  ::testing::Test::RecordProperty("threads_before", baseline_threads);
  ::testing::Test::RecordProperty("threads_pending", most);

  // Connect one plain client to each listener.
  std::vector<int> fds(kCalls, -1);
  std::vector<uint16_t> client_ports(kCalls, 0);
  for (int i = 0; i < kCalls; ++i) {
    fds[i] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fds[i], 0) << "socket: " << strerror(errno);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(ports[i]));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fds[i], reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0)
        << "connect " << i << ": " << strerror(errno);
    sockaddr_in local{};
    socklen_t len = sizeof local;
    getsockname(fds[i], reinterpret_cast<sockaddr*>(&local), &len);
    client_ports[i] = ntohs(local.sin_port);
  }

  EXPECT_TRUE(pending.DrainAll(seconds(30)));
  int completed_ok = 0;
  int reported = 0;
  for (int i = 0; i < kCalls; ++i) {
    const Call& call = *pending.calls[i];
    if (call.done && call.status.ok()) {
      ++completed_ok;
      EXPECT_EQ(PortOf(call.response.address()), client_ports[i]) << "accept " << i;
      EXPECT_FALSE(call.response.socket().handle().empty());
    } else if (reported++ < 5) {  // the first few failures only
      ADD_FAILURE() << "accept " << i << ": done=" << call.done << " status "
                    << call.status.error_code() << " " << call.status.error_message();
    }
  }
  EXPECT_EQ(completed_ok, kCalls);
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
  ASSERT_NO_FATAL_FAILURE(ExpectEchoRoundTrip(d));
}

TEST(Scale, ThousandBlockedRecvsAllCompleteWithoutNewThreads) {
  RaiseFdLimit();
  DaemonProcess d;
  Client c(d);
  std::vector<std::string> senders(kCalls), receivers(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    auto pair = CreatePair(c, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
    SW_ASSERT_OK(pair);
    senders[i] = pair->first().handle();
    receivers[i] = pair->second().handle();
  }
  Channels channels(d, c.session());
  channels.RoundTrip();
  const int baseline_threads = d.ThreadCount();

  PendingCalls<v1::RecvResponse> pending;
  using Call = PendingCalls<v1::RecvResponse>::Call;
  for (int i = 0; i < kCalls; ++i) {
    Call* call = pending.Add(c.session());
    call->rpc = channels[i].stub()->PrepareAsyncRecv(&call->ctx, RecvReq(receivers[i], 64, 0),
                                                     &pending.cq);
    call->rpc->StartCall();
    call->rpc->Finish(&call->response, &call->status, pending.TagOf(call));
  }
  channels.RoundTrip();

  EXPECT_FALSE(pending.AnyCompleted()) << "a recv completed before anything was sent";
  const int most = MaxThreadsWhilePending(d);
  EXPECT_LE(most, baseline_threads + kThreadSlack)
      << "threads before " << baseline_threads << ", while 1000 recvs pending " << most;
  ::testing::Test::RecordProperty("threads_before", baseline_threads);
  ::testing::Test::RecordProperty("threads_pending", most);

  for (int i = 0; i < kCalls; ++i) {
    auto sent = SendAll(channels[i], senders[i], "msg-" + std::to_string(i));
    ASSERT_TRUE(sent.ok()) << "send " << i << ": " << sent.Describe();
  }
  EXPECT_TRUE(pending.DrainAll(seconds(30)));
  int completed_ok = 0;
  int reported = 0;
  for (int i = 0; i < kCalls; ++i) {
    const Call& call = *pending.calls[i];
    if (call.done && call.status.ok() && call.response.data() == "msg-" + std::to_string(i)) {
      ++completed_ok;
    } else if (reported++ < 5) {
      ADD_FAILURE() << "recv " << i << ": done=" << call.done << " status "
                    << call.status.error_code() << " " << call.status.error_message()
                    << " data '" << call.response.data() << "'";
    }
  }
  EXPECT_EQ(completed_ok, kCalls);
  ASSERT_NO_FATAL_FAILURE(ExpectEchoRoundTrip(d));
}

TEST(Scale, ManyAcceptsPendingOnOneListener) {
  // Python lets many threads block in accept() on one socket; each
  // connection wakes exactly one of them.
  constexpr int kWaiters = 200;
  RaiseFdLimit();
  DaemonProcess d;
  Client c(d);
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(
      MakeTcpListener(c, v1::FAMILY_INET, "127.0.0.1", &listener, &address, 256));
  Channels channels(d, c.session());

  PendingCalls<v1::AcceptResponse> pending;
  using Call = PendingCalls<v1::AcceptResponse>::Call;
  for (int i = 0; i < kWaiters; ++i) {
    Call* call = pending.Add(c.session());
    call->rpc = channels[i].stub()->PrepareAsyncAccept(&call->ctx, HandleReq(listener), &pending.cq);
    call->rpc->StartCall();
    call->rpc->Finish(&call->response, &call->status, pending.TagOf(call));
  }
  channels.RoundTrip();

  std::vector<int> fds;
  for (int i = 0; i < kWaiters; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(PortOf(address)));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0) << strerror(errno);
    fds.push_back(fd);
  }
  EXPECT_TRUE(pending.DrainAll(seconds(30)));
  std::set<std::string> handles;
  for (const auto& call : pending.calls) {
    EXPECT_TRUE(call->done && call->status.ok()) << call->status.error_message();
    handles.insert(call->response.socket().handle());
  }
  EXPECT_EQ(handles.size(), static_cast<size_t>(kWaiters)) << "each connection accepted once";
  for (int fd : fds) ::close(fd);
}

}  // namespace
}  // namespace sockwire::testing
