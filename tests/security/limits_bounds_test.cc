// Issue 10, resource limits: bounded work per caller (bytes in flight, Recv
// allocation), durations that cannot wrap, and calls cut by shutdown that
// still carry the error detail.
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "rpc_helpers.h"

namespace sockwire::testing {
namespace {

// Pending SendAll calls to a peer that never reads hold their payloads: past
// --max-bytes-in-flight-per-session (64 MiB) they are refused at once, and
// another session can still send.
TEST(LimitsBytesInFlight, SendAllToANonReaderIsRefusedPastTheBudget) {
  DaemonProcess d;
  Client a(d);
  auto pair = CreatePair(a, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(pair);
  const std::string blob(4 << 20, 'x');
  constexpr int kCalls = 24;  // 96 MiB.
  std::vector<Result<v1::SendResponse>> results(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Invoke(a, &v1::SocketService::Stub::SendAll, SendReq(pair->first().handle(), blob, 0),
                          /*deadline_ms=*/4000);
    });
  }
  // Meanwhile another session's small send goes through.
  Client b(d);
  auto other = CreatePair(b, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(other);
  auto small = SendAll(b, other->first().handle(), std::string(1024, 'y'));
  SW_EXPECT_OK(small);
  for (auto& t : threads) t.join();
  int refused = 0;
  for (auto& r : results) {
    if (r.code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      EXPECT_EQ(r.detail.reason(), "SESSION_BYTES_IN_FLIGHT") << r.Describe();
      EXPECT_LT(r.elapsed, std::chrono::milliseconds(3000)) << "refused only after waiting";
      ++refused;
    }
  }
  EXPECT_GE(refused, kCalls - 16) << "sends past the per-session budget were not refused";
  // The budget comes back when the calls end.
  auto after = SendAll(a, pair->second().handle(), std::string(1024, 'z'));
  SW_EXPECT_OK(after);
}

// A Recv allocates for what is there, not for bufsize: 300 non-blocking
// 16 MiB recvs on an empty socket cost about what 300 16-byte ones do.
TEST(LimitsRecv, AllocationFollowsWhatArrives) {
  DaemonProcess d;
  Client c(d);
  auto pair = CreatePair(c, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(pair);
  const std::string& h = pair->first().handle();
  auto run = [&](int64_t bufsize) {
    double cpu0 = d.CpuSeconds();
    for (int i = 0; i < 300; ++i) {
      auto r = Recv(c, h, bufsize, MSG_DONTWAIT);
      EXPECT_EQ(r.detail.errno_name(), "EAGAIN") << r.Describe();
    }
    return d.CpuSeconds() - cpu0;
  };
  double small = run(16);
  double big = run(16 << 20);
  std::cerr << "daemon CPU for 300 recvs: bufsize 16: " << small << " s, 16 MiB: " << big << " s\n";
  EXPECT_LT(big, small * 2 + 0.25) << "16 MiB recvs: " << big << " s of daemon CPU, 16-byte ones: " << small;

  // What arrives is still delivered whole: stream...
  SW_ASSERT_OK(SendAll(c, pair->second().handle(), "0123456789"));
  auto got = Recv(c, h, 16 << 20);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "0123456789");
  std::string large(1 << 20, 'L');
  Result<v1::SendResponse> sent;
  std::thread sender([&] { sent = SendAll(c, pair->second().handle(), large); });
  auto waitall = Recv(c, h, 1 << 20, MSG_WAITALL);
  sender.join();
  SW_ASSERT_OK(sent);
  SW_ASSERT_OK(waitall);
  EXPECT_EQ(waitall->data(), large);
  // ...and datagrams, sized by MSG_PEEK | MSG_TRUNC, including empty ones.
  auto dg = CreatePair(c, v1::FAMILY_UNIX, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(dg);
  SW_ASSERT_OK(Send(c, dg->second().handle(), "hello"));
  SW_ASSERT_OK(Send(c, dg->second().handle(), ""));
  SW_ASSERT_OK(Send(c, dg->second().handle(), "abcdef"));
  auto d1 = Recv(c, dg->first().handle(), 16 << 20);
  SW_ASSERT_OK(d1);
  EXPECT_EQ(d1->data(), "hello");
  auto d2 = Recv(c, dg->first().handle(), 16 << 20);
  SW_ASSERT_OK(d2);
  EXPECT_EQ(d2->data(), "");
  auto d3 = RecvMsg(c, dg->first().handle(), 3, 0);
  SW_ASSERT_OK(d3);
  EXPECT_EQ(d3->data(), "abc");
  EXPECT_NE(d3->msg_flags() & MSG_TRUNC, 0);
}

Result<v1::Empty> SetRawTimeout(const Client& c, const std::string& h, int64_t seconds, int32_t nanos) {
  v1::SetTimeoutRequest req;
  req.set_handle(h);
  req.mutable_timeout()->set_seconds(seconds);
  req.mutable_timeout()->set_nanos(nanos);
  return Invoke(c, &v1::SocketService::Stub::SetTimeout, req);
}

TEST(LimitsDurations, OverflowingOrMixedSignDurationsAreRefused) {
  DaemonProcess d;
  Client c(d);
  auto s = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  struct Case {
    int64_t seconds;
    int32_t nanos;
  };
  for (Case k : {Case{100000000000, 0}, Case{INT64_MAX, 0}, Case{1, -5}, Case{-1, 5}, Case{0, 2000000000}}) {
    auto r = SetRawTimeout(c, s->handle(), k.seconds, k.nanos);
    EXPECT_EQ(r.code(), grpc::StatusCode::INVALID_ARGUMENT) << k.seconds << "s " << k.nanos << "ns: " << r.Describe();
    EXPECT_EQ(r.detail.reason(), "BAD_DURATION") << r.Describe();
  }
  // Poll's and CreateConnection's timeouts too.
  v1::PollRequest poll;
  auto* item = poll.add_items();
  item->set_handle(s->handle());
  item->set_events(1);
  poll.mutable_timeout()->set_seconds(1);
  poll.mutable_timeout()->set_nanos(-1);
  auto p = Invoke(c, &v1::SocketService::Stub::Poll, poll);
  EXPECT_EQ(p.code(), grpc::StatusCode::INVALID_ARGUMENT) << p.Describe();
  EXPECT_EQ(p.detail.reason(), "BAD_DURATION") << p.Describe();
  v1::CreateConnectionRequest cc;
  *cc.mutable_address() = Inet("127.0.0.1", 9);
  cc.mutable_timeout()->set_seconds(INT64_MAX / 1000);
  auto r = Invoke(c, &v1::SocketService::Stub::CreateConnection, cc);
  EXPECT_EQ(r.code(), grpc::StatusCode::INVALID_ARGUMENT) << r.Describe();
  EXPECT_EQ(r.detail.reason(), "BAD_DURATION") << r.Describe();
  // A well-formed timeout still round-trips.
  SW_ASSERT_OK(SetRawTimeout(c, s->handle(), 1, 500000000));
  auto t = GetTimeout(c, s->handle());
  SW_ASSERT_OK(t);
  EXPECT_EQ(t->mode().timeout().seconds(), 1);
  EXPECT_EQ(t->mode().timeout().nanos(), 500000000);
}

// A call waiting on a socket when the daemon stops ends UNAVAILABLE with the
// ErrorDetail every other error carries.
TEST(LimitsShutdown, WaitingCallsEndUnavailableWithDetail) {
  DaemonProcess d;
  Client c(d);
  auto pair = CreatePair(c, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(pair);
  // Five of the ten bytes a MSG_WAITALL recv wants: once the daemon has taken
  // them (the sender's queue is empty), the call is waiting for the rest.
  SW_ASSERT_OK(SendAll(c, pair->second().handle(), "12345"));
  Result<v1::RecvResponse> r;
  std::thread t([&] { r = Recv(c, pair->first().handle(), 10, MSG_WAITALL, 10000); });
  bool waiting = WaitFor([&] {
    auto q = Ioctl(c, pair->second().handle(), v1::IOCTL_SIOCOUTQ);
    return q.ok() && q->value() == 0;
  });
  EXPECT_TRUE(waiting);
  d.Stop();
  t.join();
  EXPECT_EQ(r.code(), grpc::StatusCode::UNAVAILABLE) << r.Describe();
  EXPECT_EQ(r.detail.reason(), "SHUTTING_DOWN") << r.Describe();
  EXPECT_FALSE(r.detail.message().empty()) << r.Describe();
}

}  // namespace
}  // namespace sockwire::testing
