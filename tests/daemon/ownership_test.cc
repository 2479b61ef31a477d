// Sessions own handles: another session sees nothing of them, and a session
// that ends (Hold stream gone, Close, lease expired) has its sockets closed,
// returning the daemon's descriptor count to where it was.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
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

// A well-formed handle nobody owns, with the epoch of `like`.
std::string UnknownHandleLike(const std::string& like) {
  auto dot = like.rfind('.');
  EXPECT_NE(dot, std::string::npos) << like;
  return like.substr(0, dot + 1) + std::string(32, 'a');
}

// Creates `n` sockets of assorted kinds (TCP listeners, UDP, Unix pairs);
// returns how many descriptors they hold in the daemon.
int CreateAssortedSockets(const Client& c, int n) {
  int fds = 0;
  for (int i = 0; fds < n; ++i) {
    switch (i % 3) {
      case 0: {
        auto s = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
        EXPECT_TRUE(s.ok()) << s.Describe();
        if (!s.ok()) return fds;
        EXPECT_TRUE(Bind(c, s->handle(), Inet("127.0.0.1", 0)).ok());
        EXPECT_TRUE(Listen(c, s->handle(), 4).ok());
        fds += 1;
        break;
      }
      case 1: {
        auto s = Create(c, v1::FAMILY_INET6, v1::SOCKET_TYPE_DGRAM);
        EXPECT_TRUE(s.ok()) << s.Describe();
        if (!s.ok()) return fds;
        fds += 1;
        break;
      }
      default: {
        auto p = CreatePair(c, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
        EXPECT_TRUE(p.ok()) << p.Describe();
        if (!p.ok()) return fds;
        fds += 2;
        break;
      }
    }
  }
  return fds;
}

// Exercises the daemon once so lazily created descriptors exist before a
// baseline is taken.
void WarmUp(const Client& c) {
  auto s = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  SW_ASSERT_OK(Close(c, s->handle()));
  auto p = CreatePair(c, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(p);
  auto r = Recv(c, p->second().handle(), 16, 0, 50);  // a wait that times out
  EXPECT_FALSE(r.ok());
  SW_ASSERT_OK(Close(c, p->first().handle()));
  SW_ASSERT_OK(Close(c, p->second().handle()));
}

TEST(Ownership, SecondClientCanNeitherSeeNorUseHandles) {
  DaemonProcess d;
  Client owner(d);
  Client other(d);
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(
      MakeTcpListener(owner, v1::FAMILY_INET, "127.0.0.1", &listener, &address));
  auto pair = CreatePair(owner, v1::FAMILY_UNIX, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(pair);
  const std::string h = pair->first().handle();
  SW_ASSERT_OK(SendAll(owner, pair->second().handle(), "secret"));

  auto mine = List(owner);
  SW_ASSERT_OK(mine);
  EXPECT_EQ(mine->sockets_size(), 3);
  auto theirs = List(other);
  SW_ASSERT_OK(theirs);
  EXPECT_EQ(theirs->sockets_size(), 0) << theirs->ShortDebugString();

  // What an unknown handle gets, for comparison: the same as a foreign one.
  auto unknown = GetInfo(other, UnknownHandleLike(h));
  SW_EXPECT_CODE(unknown, grpc::StatusCode::NOT_FOUND);

  auto info = GetInfo(other, h);
  SW_EXPECT_CODE(info, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(info.detail.reason(), unknown.detail.reason()) << info.Describe();
  EXPECT_EQ(info.detail.kind(), unknown.detail.kind()) << info.Describe();
  EXPECT_FALSE(info.status.error_message().empty());

  SW_EXPECT_CODE(Recv(other, h, 1024, 0, 2000), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(SendAll(other, h, "intrusion"), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Accept(other, listener, 2000), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(GetSockName(other, listener), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(SetOpt(other, h, v1::OPTION_SO_RCVBUF, 4096), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Dup(other, h), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Share(other, h), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Attach(other, h), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Detach(other, h), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Shutdown(other, h, v1::SHUTDOWN_HOW_RDWR), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Poll(other, {{h, POLLIN}}, 0), grpc::StatusCode::NOT_FOUND);
  SW_EXPECT_CODE(Close(other, h), grpc::StatusCode::NOT_FOUND);

  // Nothing the other client did touched the owner's socket or its data.
  auto got = Recv(owner, h, 1024);
  SW_ASSERT_OK(got);
  EXPECT_EQ(got->data(), "secret");
  SW_EXPECT_OK(GetInfo(owner, listener));
  auto still = List(owner);
  SW_ASSERT_OK(still);
  EXPECT_EQ(still->sockets_size(), 3);
}

TEST(Ownership, SameSessionOverAnotherChannelSeesItsHandles) {
  DaemonProcess d;
  Client a(d);
  auto s = Create(a, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  Client again(d.NewChannel(), a.session());
  auto info = GetInfo(again, s->handle());
  SW_ASSERT_OK(info);
  EXPECT_EQ(info->handle(), s->handle());
}

TEST(Ownership, DisconnectClosesSocketsAndFdCountReturnsToBaseline) {
  DaemonProcess d({"--session-grace=100ms"});
  Client keeper(d);  // a session that stays: the baseline includes it
  ASSERT_NO_FATAL_FAILURE(WarmUp(keeper));
  const int baseline = d.OpenFdCount();
  ASSERT_GT(baseline, 0);

  std::string session;
  std::string some_handle;
  {
    Client c(d.NewChannel());
    session = c.session();
    grpc::ClientContext hold_ctx;
    hold_ctx.AddMetadata("sockwire-session", c.session());
    auto hold = c.session_stub()->Hold(&hold_ctx, v1::HoldRequest());
    v1::HoldEvent event;
    ASSERT_TRUE(hold->Read(&event)) << "the daemon sends one event at once";
    EXPECT_EQ(event.kind(), v1::HoldEvent::KIND_HELD);

    int fds = CreateAssortedSockets(c, 50);
    ASSERT_GE(fds, 50);
    auto list = List(c);
    SW_ASSERT_OK(list);
    ASSERT_GT(list->sockets_size(), 0);
    some_handle = list->sockets(0).handle();
    EXPECT_GE(d.OpenFdCount(), baseline + 50);

    // The client goes away: its Hold stream ends and its connection closes.
    hold_ctx.TryCancel();
    grpc::Status st = hold->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED);
  }

  int last = -1;
  bool back = WaitFor(
      [&] {
        last = d.OpenFdCount();
        return last <= baseline;  // gRPC may close a transient fd of its own meanwhile.
      },
      seconds(10));
  EXPECT_TRUE(back) << "open descriptors " << last << ", baseline " << baseline;

  // The session is over: its token no longer works, its handles are gone.
  Client fresh(d);
  SW_EXPECT_CODE(GetInfo(fresh, some_handle), grpc::StatusCode::NOT_FOUND);
  Client old_token(d.NewChannel(), session);
  SW_EXPECT_CODE(GetInfo(old_token, some_handle), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_NO_FATAL_FAILURE(ExpectEchoRoundTrip(d));
}

TEST(Ownership, SessionCloseClosesSocketsAtOnce) {
  DaemonProcess d;
  Client c(d);
  ASSERT_NO_FATAL_FAILURE(WarmUp(c));
  const int baseline = d.OpenFdCount();
  int fds = CreateAssortedSockets(c, 30);
  ASSERT_GE(fds, 30);
  auto list = List(c);
  SW_ASSERT_OK(list);
  const int handles = list->sockets_size();
  const std::string some_handle = list->sockets(0).handle();
  // The baseline may hold one transient descriptor (gRPC's, or a closed
  // socket not yet released) that is gone by now.
  EXPECT_GE(d.OpenFdCount(), baseline + 30 - 1);

  auto closed = CloseSession(c);
  SW_ASSERT_OK(closed);
  EXPECT_EQ(closed->closed_sockets(), handles);
  int last = -1;
  EXPECT_TRUE(WaitFor(
      [&] {
        last = d.OpenFdCount();
        return last <= baseline;  // gRPC may close a transient fd of its own meanwhile.
      },
      seconds(2)))
      << "open descriptors " << last << ", baseline " << baseline;
  SW_EXPECT_CODE(GetInfo(c, some_handle), grpc::StatusCode::UNAUTHENTICATED);
  SW_EXPECT_CODE(List(c), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(Ownership, SessionWithoutHoldEndsWhenItsLeaseExpires) {
  DaemonProcess d({"--session-lease=300ms", "--session-grace=100ms"});
  Client keeper(d);
  ASSERT_NO_FATAL_FAILURE(WarmUp(keeper));
  const int baseline = d.OpenFdCount();
  std::string session;
  {
    Client c(d.NewChannel());
    session = c.session();
    auto renewed = RenewSession(c);
    SW_ASSERT_OK(renewed);
    EXPECT_EQ(renewed->lease().seconds() * 1000 + renewed->lease().nanos() / 1000000, 300);
    ASSERT_GE(CreateAssortedSockets(c, 10), 10);
  }
  int last = -1;
  EXPECT_TRUE(WaitFor(
      [&] {
        last = d.OpenFdCount();
        return last <= baseline;  // gRPC may close a transient fd of its own meanwhile.
      },
      seconds(10)))
      << "open descriptors " << last << ", baseline " << baseline;
  Client old_token(d.NewChannel(), session);
  SW_EXPECT_CODE(List(old_token), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(Ownership, HoldStreamReportsShutdownAndDaemonExitsCleanly) {
  DaemonProcess d;
  Client c(d);
  grpc::ClientContext hold_ctx;
  hold_ctx.AddMetadata("sockwire-session", c.session());
  hold_ctx.set_deadline(std::chrono::system_clock::now() + seconds(20));
  auto hold = c.session_stub()->Hold(&hold_ctx, v1::HoldRequest());
  v1::HoldEvent event;
  ASSERT_TRUE(hold->Read(&event));
  EXPECT_EQ(event.kind(), v1::HoldEvent::KIND_HELD);
  // A pending accept must not keep the daemon from exiting.
  std::string listener;
  v1::Address address;
  ASSERT_NO_FATAL_FAILURE(MakeTcpListener(c, v1::FAMILY_INET, "127.0.0.1", &listener, &address));
  Result<v1::AcceptResponse> pending;
  std::thread t([&] { pending = Accept(c, listener, 20000); });

  int status = -1;
  std::thread stopper([&] { status = d.Stop(); });
  bool got_event = hold->Read(&event);
  if (got_event) {
    EXPECT_EQ(event.kind(), v1::HoldEvent::KIND_SHUTTING_DOWN);
  }
  stopper.join();
  t.join();
  EXPECT_TRUE(got_event) << "Hold should announce KIND_SHUTTING_DOWN";
  EXPECT_TRUE(WIFEXITED(status)) << "status " << status;
  if (WIFEXITED(status)) {
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  EXPECT_FALSE(pending.ok());
  EXPECT_NE(pending.code(), grpc::StatusCode::DEADLINE_EXCEEDED) << pending.Describe();
}

}  // namespace
}  // namespace sockwire::testing
