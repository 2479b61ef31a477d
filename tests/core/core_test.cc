#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <future>
#include <string>

#include <gtest/gtest.h>

#include "core/address.h"
#include "core/core.h"
#include "core/errors.h"
#include "core/event_loop.h"
#include "core/policy.h"
#include "core/sys/syscalls.h"

namespace sockwire::core {
namespace {

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core_ = std::make_unique<Core>(options_);
    auto s = core_->OpenSession();
    ASSERT_TRUE(s.ok());
    ctx_.session = *s;
    ctx_.cancel = std::make_shared<CancelToken>();
  }
  server::Options options_;
  std::unique_ptr<Core> core_;
  CallContext ctx_;
};

// A SysCalls whose socket() fails as a process out of descriptors does.
class EmfileSysCalls : public SysCalls {
 public:
  absl::StatusOr<UniqueFd> Socket(int, int, int) override { return OsError(EMFILE, "socket"); }
};

TEST_F(CoreTest, CreateReportsEmfileAsResourceExhausted) {
  EmfileSysCalls fake;
  SetSysCallsForTesting(&fake);
  auto info = core_->Create(ctx_, AF_INET, SOCK_STREAM, 0, false, false);
  SetSysCallsForTesting(nullptr);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoOf(info.status()), EMFILE);
  EXPECT_EQ(KindOf(info.status()), ErrorKind::kOs);
  EXPECT_EQ(core_->handle_count(), 0u);
}

TEST_F(CoreTest, RecvTimesOutWithTimeoutKind) {
  auto pair = core_->CreatePair(ctx_, AF_UNIX, SOCK_STREAM, 0);
  ASSERT_TRUE(pair.ok());
  ASSERT_TRUE(core_->SetTimeout(ctx_, pair->first.handle, std::chrono::milliseconds(50)).ok());
  std::promise<absl::StatusOr<RecvResult>> p;
  core_->Recv(ctx_, pair->first.handle, 16, 0, [&](absl::StatusOr<RecvResult> r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(KindOf(r.status()), ErrorKind::kTimeout);
}

TEST_F(CoreTest, CancelEndsAPendingRecv) {
  auto pair = core_->CreatePair(ctx_, AF_UNIX, SOCK_STREAM, 0);
  ASSERT_TRUE(pair.ok());
  std::promise<absl::StatusOr<RecvResult>> p;
  core_->Recv(ctx_, pair->first.handle, 16, 0, [&](absl::StatusOr<RecvResult> r) { p.set_value(std::move(r)); });
  core_->loop().Cancel(ctx_.cancel);
  auto r = p.get_future().get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(core_->loop().pending_waits(), 0u);
}

TEST_F(CoreTest, CloseFailsPendingRecvWithEbadf) {
  auto pair = core_->CreatePair(ctx_, AF_UNIX, SOCK_STREAM, 0);
  ASSERT_TRUE(pair.ok());
  std::promise<absl::StatusOr<RecvResult>> p;
  core_->Recv(ctx_, pair->first.handle, 16, 0, [&](absl::StatusOr<RecvResult> r) { p.set_value(std::move(r)); });
  ASSERT_TRUE(core_->Close(ctx_, pair->first.handle).ok());
  auto r = p.get_future().get();
  EXPECT_EQ(ErrnoOf(r.status()), EBADF);
}

TEST_F(CoreTest, PendingRecvCompletesWhenDataArrives) {
  auto pair = core_->CreatePair(ctx_, AF_UNIX, SOCK_STREAM, 0);
  ASSERT_TRUE(pair.ok());
  std::promise<absl::StatusOr<RecvResult>> p;
  core_->Recv(ctx_, pair->first.handle, 16, 0, [&](absl::StatusOr<RecvResult> r) { p.set_value(std::move(r)); });
  std::promise<absl::StatusOr<int64_t>> sent;
  core_->Send(ctx_, pair->second.handle, "ping", 0, [&](absl::StatusOr<int64_t> n) { sent.set_value(n); });
  EXPECT_EQ(*sent.get_future().get(), 4);
  auto r = p.get_future().get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data, "ping");
}

TEST_F(CoreTest, OtherSessionSeesNotFound) {
  auto info = core_->Create(ctx_, AF_INET, SOCK_STREAM, 0, false, false);
  ASSERT_TRUE(info.ok());
  CallContext other = ctx_;
  other.session = *core_->OpenSession();
  auto r = core_->GetInfo(other, info->handle);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(core_->GetInfo(ctx_, info->handle).ok());
}

TEST_F(CoreTest, MalformedAndStaleHandles) {
  EXPECT_EQ(core_->GetInfo(ctx_, "nope").status().code(), absl::StatusCode::kInvalidArgument);
  std::string stale = "sw1.0000000000000000.00000000000000000000000000000000";
  auto r = core_->GetInfo(ctx_, stale);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(r.status()), core_->epoch() == "0000000000000000" ? "UNKNOWN_HANDLE" : "DAEMON_RESTARTED");
}

TEST_F(CoreTest, CloseSessionKeepsDetachedSocketsForAttach) {
  auto kept = core_->Create(ctx_, AF_INET, SOCK_STREAM, 0, false, false);
  auto gone = core_->Create(ctx_, AF_INET, SOCK_STREAM, 0, false, false);
  ASSERT_TRUE(kept.ok() && gone.ok());
  ASSERT_TRUE(core_->Detach(ctx_, kept->handle).ok());
  EXPECT_EQ(core_->CloseSession(ctx_.session), 1);
  CallContext next = ctx_;
  next.session = *core_->OpenSession();
  EXPECT_TRUE(core_->Attach(next, kept->handle).ok());
  EXPECT_EQ(core_->Attach(next, gone->handle).status().code(), absl::StatusCode::kNotFound);
}

// An IP address in the seed's (host, port) terms; the rest stays default.
Address Ip(int family, std::string host, uint32_t port = 0) {
  Address a;
  a.family = family;
  a.host = std::move(host);
  a.port = port;
  return a;
}

TEST(AddressTest, ParsesPythonSpecialHostsAndRejectsBadOnes) {
  SockAddr sa;
  Address any = Ip(AF_INET, "", 80);
  ASSERT_EQ(*ToSockAddr(any, AF_INET, &sa), ParseResult::kOk);
  EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&sa.storage)->sin_addr.s_addr, htonl(INADDR_ANY));
  Address bcast = Ip(AF_INET, "<broadcast>", 80);
  ASSERT_EQ(*ToSockAddr(bcast, AF_INET, &sa), ParseResult::kOk);
  EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&sa.storage)->sin_addr.s_addr, htonl(INADDR_BROADCAST));
  Address name = Ip(AF_INET, "example.test", 80);
  EXPECT_EQ(*ToSockAddr(name, AF_INET, &sa), ParseResult::kNeedsResolution);
  EXPECT_EQ(ToSockAddr(Ip(AF_INET, "999.1.1.1", 80), AF_INET, &sa).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToSockAddr(Ip(AF_INET, "1.2.3.4", 70000), AF_INET, &sa).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(ToSockAddr(Ip(AF_INET6, "::1", 80), AF_INET, &sa).status()), "WRONG_FAMILY");
  Address longpath = Ip(AF_UNIX, "");
  longpath.path = std::string(200, 'a');
  EXPECT_EQ(ToSockAddr(longpath, AF_UNIX, &sa).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AddressTest, AbstractUnixNamesRoundTrip) {
  Address a = Ip(AF_UNIX, "");
  a.abstract = true;
  a.path = std::string("sock\0wire", 9);
  SockAddr sa;
  ASSERT_EQ(*ToSockAddr(a, AF_UNIX, &sa), ParseResult::kOk);
  Address back = FromSockAddr(sa.get(), sa.len);
  EXPECT_TRUE(back.abstract);
  EXPECT_EQ(back.path, a.path);
}

TEST(ErrorsTest, ErrnoMapsToCodeByMeaning) {
  EXPECT_EQ(OsError(ECONNREFUSED, "connect").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(OsError(EACCES, "bind").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(OsError(EADDRINUSE, "bind").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoName(ECONNREFUSED), "ECONNREFUSED");
  EXPECT_EQ(ReasonOf(OsError(EAGAIN, "recv")), "WOULD_BLOCK");
}

}  // namespace
}  // namespace sockwire::core
