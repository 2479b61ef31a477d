// ResolverService against a real sockwired, for everything that needs no DNS
// server: numeric hosts, the hosts file's localhost, services, protocols,
// the host name, sessions, and the structured error detail (read without
// Python, straight from the gRPC status and trailer).
#include <unistd.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "daemon_process.h"
#include "resolver_test_util.h"
#include "sockwire/v1/resolver.grpc.pb.h"
#include <netdb.h>
#include <sys/socket.h>

namespace sockwire::testing {
namespace {

namespace v1 = ::sockwire::v1;

class ResolverServiceTest : public ::testing::Test {
 protected:
  ResolverServiceTest() : stub_(v1::ResolverService::NewStub(daemon_.NewChannel())) {
    session_ = OpenSession(daemon_.NewChannel());
  }

  std::unique_ptr<grpc::ClientContext> Ctx() { return SessionContext(session_); }

  // Expects a failure of `kind` with code `code`; checks the detail is the
  // same in the status details and in the trailer; returns it.
  v1::ErrorDetail ExpectError(const grpc::Status& s, const grpc::ClientContext& ctx,
                              grpc::StatusCode code, v1::ErrorKind kind) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    auto from_status = DetailFromStatus(s);
    auto from_trailer = DetailFromTrailer(ctx);
    EXPECT_TRUE(from_status.has_value()) << "no grpc-status-details-bin";
    EXPECT_TRUE(from_trailer.has_value()) << "no sockwire-error-bin trailer";
    if (!from_status || !from_trailer) return {};
    EXPECT_EQ(from_status->SerializeAsString(), from_trailer->SerializeAsString());
    EXPECT_EQ(from_status->kind(), kind) << from_status->DebugString();
    return *from_status;
  }

  DaemonProcess daemon_;
  std::unique_ptr<v1::ResolverService::Stub> stub_;
  std::string session_;
};

TEST_F(ResolverServiceTest, GetAddrInfoNumericHost) {
  v1::GetAddrInfoRequest req;
  req.set_host("127.0.0.1");
  req.set_port_number(8080);
  req.set_family(v1::FAMILY_INET);
  req.set_type(v1::SOCKET_TYPE_STREAM);
  v1::GetAddrInfoResponse resp;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->GetAddrInfo(ctx.get(), req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 1);
  const auto& r = resp.results(0);
  EXPECT_EQ(r.family(), v1::FAMILY_INET);
  EXPECT_EQ(r.type(), v1::SOCKET_TYPE_STREAM);
  EXPECT_EQ(r.proto(), IPPROTO_TCP);
  EXPECT_EQ(r.address().inet().host(), "127.0.0.1");
  EXPECT_EQ(r.address().inet().port(), 8080u);
}

TEST_F(ResolverServiceTest, GetAddrInfoIpv6AndAllSocketTypes) {
  v1::GetAddrInfoRequest req;
  req.set_host("::1");
  req.set_service("443");
  v1::GetAddrInfoResponse resp;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->GetAddrInfo(ctx.get(), req, &resp).ok());
  // type 0: one entry per socket type, as Python shows (STREAM, DGRAM, RAW).
  ASSERT_GE(resp.results_size(), 2);
  for (const auto& r : resp.results()) {
    EXPECT_EQ(r.family(), v1::FAMILY_INET6);
    EXPECT_EQ(r.address().inet6().host(), "::1");
    EXPECT_EQ(r.address().inet6().port(), 443u);
  }
}

TEST_F(ResolverServiceTest, GetAddrInfoPassiveNoHostAndServiceName) {
  v1::GetAddrInfoRequest req;  // host None
  req.set_service("http");
  req.set_family(v1::FAMILY_INET);
  req.set_type(v1::SOCKET_TYPE_STREAM);
  req.set_flags(AI_PASSIVE);
  v1::GetAddrInfoResponse resp;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->GetAddrInfo(ctx.get(), req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).address().inet().host(), "0.0.0.0");
  EXPECT_EQ(resp.results(0).address().inet().port(), 80u);
}

TEST_F(ResolverServiceTest, GetAddrInfoErrorsAreGaierrors) {
  {
    // AI_NUMERICHOST with a name: EAI_NONAME, never a DNS query.
    v1::GetAddrInfoRequest req;
    req.set_host("not-a-number.invalid");
    req.set_flags(AI_NUMERICHOST);
    v1::GetAddrInfoResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetAddrInfo(ctx.get(), req, &resp);
    auto d = ExpectError(s, *ctx, grpc::StatusCode::NOT_FOUND, v1::ERROR_KIND_GAI);
    EXPECT_EQ(d.eai_code(), EAI_NONAME);
    EXPECT_NE(d.message().find(gai_strerror(EAI_NONAME)), std::string::npos) << d.message();
  }
  {
    // Unknown service name: EAI_SERVICE.
    v1::GetAddrInfoRequest req;
    req.set_host("127.0.0.1");
    req.set_service("no-such-service-sockwire");
    req.set_type(v1::SOCKET_TYPE_STREAM);
    v1::GetAddrInfoResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetAddrInfo(ctx.get(), req, &resp);
    auto d = ExpectError(s, *ctx, grpc::StatusCode::INVALID_ARGUMENT, v1::ERROR_KIND_GAI);
    EXPECT_EQ(d.eai_code(), EAI_SERVICE);
  }
  {
    // Unsupported family: EAI_FAMILY.
    v1::GetAddrInfoRequest req;
    req.set_host("127.0.0.1");
    req.set_family(static_cast<v1::Family>(12345));
    v1::GetAddrInfoResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetAddrInfo(ctx.get(), req, &resp);
    auto d = ExpectError(s, *ctx, grpc::StatusCode::INVALID_ARGUMENT, v1::ERROR_KIND_GAI);
    EXPECT_EQ(d.eai_code(), EAI_FAMILY);
  }
  {
    // Neither host nor port.
    v1::GetAddrInfoRequest req;
    v1::GetAddrInfoResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetAddrInfo(ctx.get(), req, &resp);
    auto d = ExpectError(s, *ctx, grpc::StatusCode::NOT_FOUND, v1::ERROR_KIND_GAI);
    EXPECT_EQ(d.eai_code(), EAI_NONAME);
  }
}

TEST_F(ResolverServiceTest, GetHostByNameNumericAndSpecialNames) {
  auto ask = [&](const std::string& name) {
    v1::GetHostByNameRequest req;
    req.set_hostname(name);
    v1::GetHostByNameResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetHostByName(ctx.get(), req, &resp);
    EXPECT_TRUE(s.ok()) << name << ": " << s.error_message();
    return resp.address();
  };
  EXPECT_EQ(ask("10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(ask(""), "0.0.0.0");
  EXPECT_EQ(ask("<broadcast>"), "255.255.255.255");
  EXPECT_EQ(ask("localhost"), "127.0.0.1");  // /etc/hosts
}

TEST_F(ResolverServiceTest, GetNameInfoNumeric) {
  v1::GetNameInfoRequest req;
  req.mutable_address()->mutable_inet()->set_host("127.0.0.1");
  req.mutable_address()->mutable_inet()->set_port(80);
  req.set_flags(NI_NUMERICHOST | NI_NUMERICSERV);
  v1::GetNameInfoResponse resp;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->GetNameInfo(ctx.get(), req, &resp).ok());
  EXPECT_EQ(resp.host(), "127.0.0.1");
  EXPECT_EQ(resp.service(), "80");

  // Service names come from /etc/services.
  req.set_flags(NI_NUMERICHOST);
  auto ctx2 = Ctx();
  ASSERT_TRUE(stub_->GetNameInfo(ctx2.get(), req, &resp).ok());
  EXPECT_EQ(resp.service(), "http");

  // The host must be numeric, as in Python.
  v1::GetNameInfoRequest bad;
  bad.mutable_address()->mutable_inet()->set_host("localhost");
  auto ctx3 = Ctx();
  auto s = stub_->GetNameInfo(ctx3.get(), bad, &resp);
  auto d = ExpectError(s, *ctx3, grpc::StatusCode::NOT_FOUND, v1::ERROR_KIND_GAI);
  EXPECT_EQ(d.eai_code(), EAI_NONAME);

  // An IPv4 host in the 4-tuple form: OSError, as Python.
  v1::GetNameInfoRequest four;
  four.mutable_address()->mutable_inet6()->set_host("127.0.0.1");
  auto ctx4 = Ctx();
  s = stub_->GetNameInfo(ctx4.get(), four, &resp);
  d = ExpectError(s, *ctx4, grpc::StatusCode::INVALID_ARGUMENT, v1::ERROR_KIND_OS);
  EXPECT_EQ(d.message(), "IPv4 sockaddr must be 2 tuple");

  // No address at all.
  auto ctx5 = Ctx();
  s = stub_->GetNameInfo(ctx5.get(), v1::GetNameInfoRequest(), &resp);
  ExpectError(s, *ctx5, grpc::StatusCode::INVALID_ARGUMENT, v1::ERROR_KIND_REQUEST);
}

TEST_F(ResolverServiceTest, ServicesAndProtocols) {
  {
    v1::GetServByNameRequest req;
    req.set_service("http");
    req.set_protocol("tcp");
    v1::GetServByNameResponse resp;
    auto ctx = Ctx();
    ASSERT_TRUE(stub_->GetServByName(ctx.get(), req, &resp).ok());
    EXPECT_EQ(resp.port(), 80u);
    req.clear_protocol();
    auto ctx2 = Ctx();
    ASSERT_TRUE(stub_->GetServByName(ctx2.get(), req, &resp).ok());
    EXPECT_EQ(resp.port(), 80u);
  }
  {
    v1::GetServByPortRequest req;
    req.set_port(80);
    v1::GetServByPortResponse resp;
    auto ctx = Ctx();
    ASSERT_TRUE(stub_->GetServByPort(ctx.get(), req, &resp).ok());
    EXPECT_EQ(resp.service(), "http");
    req.set_port(53);
    req.set_protocol("udp");
    auto ctx2 = Ctx();
    ASSERT_TRUE(stub_->GetServByPort(ctx2.get(), req, &resp).ok());
    EXPECT_EQ(resp.service(), "domain");
  }
  {
    v1::GetProtoByNameRequest req;
    req.set_protocol("tcp");
    v1::GetProtoByNameResponse resp;
    auto ctx = Ctx();
    ASSERT_TRUE(stub_->GetProtoByName(ctx.get(), req, &resp).ok());
    EXPECT_EQ(resp.proto(), 6);
    req.set_protocol("udp");
    auto ctx2 = Ctx();
    ASSERT_TRUE(stub_->GetProtoByName(ctx2.get(), req, &resp).ok());
    EXPECT_EQ(resp.proto(), 17);
  }
}

TEST_F(ResolverServiceTest, UnknownServicesAndProtocolsGivePythonsErrors) {
  {
    v1::GetServByNameRequest req;
    req.set_service("no-such-service");
    req.set_protocol("tcp");
    v1::GetServByNameResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetServByName(ctx.get(), req, &resp);
    auto d = ExpectError(s, *ctx, grpc::StatusCode::NOT_FOUND, v1::ERROR_KIND_OS);
    EXPECT_EQ(d.message(), "service/proto not found");
    EXPECT_EQ(d.os_errno(), 0);
  }
  {
    v1::GetServByNameRequest req;
    req.set_service("http");
    req.set_protocol("no-such-proto");
    v1::GetServByNameResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetServByName(ctx.get(), req, &resp);
    auto d = ExpectError(s, *ctx, grpc::StatusCode::NOT_FOUND, v1::ERROR_KIND_OS);
    EXPECT_EQ(d.message(), "service/proto not found");
  }
  {
    v1::GetServByPortRequest req;
    req.set_port(65000);
    v1::GetServByPortResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetServByPort(ctx.get(), req, &resp);
    auto d = ExpectError(s, *ctx, grpc::StatusCode::NOT_FOUND, v1::ERROR_KIND_OS);
    EXPECT_EQ(d.message(), "port/proto not found");
  }
  {
    v1::GetServByPortRequest req;
    req.set_port(70000);
    v1::GetServByPortResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetServByPort(ctx.get(), req, &resp);
    auto d = ExpectError(s, *ctx, grpc::StatusCode::INVALID_ARGUMENT, v1::ERROR_KIND_REQUEST);
    EXPECT_EQ(d.message(), "getservbyport: port must be 0-65535.");
  }
  {
    v1::GetProtoByNameRequest req;
    req.set_protocol("no-such-protocol");
    v1::GetProtoByNameResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetProtoByName(ctx.get(), req, &resp);
    auto d = ExpectError(s, *ctx, grpc::StatusCode::NOT_FOUND, v1::ERROR_KIND_OS);
    EXPECT_EQ(d.message(), "protocol not found");
  }
  {
    v1::GetProtoByNameRequest req;
    req.set_protocol(std::string("tcp\0x", 5));
    v1::GetProtoByNameResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetProtoByName(ctx.get(), req, &resp);
    ExpectError(s, *ctx, grpc::StatusCode::INVALID_ARGUMENT, v1::ERROR_KIND_REQUEST);
  }
}

TEST_F(ResolverServiceTest, HostName) {
  char local[256] = {};
  ASSERT_EQ(gethostname(local, sizeof local - 1), 0);
  v1::GetHostNameResponse resp;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->GetHostName(ctx.get(), v1::GetHostNameRequest(), &resp).ok());
  EXPECT_EQ(resp.hostname(), local);

  // Refused unless the daemon allows it, whoever asks.
  v1::SetHostNameRequest req;
  req.set_hostname("sockwire-should-not-change");
  v1::SetHostNameResponse sresp;
  auto ctx2 = Ctx();
  auto s = stub_->SetHostName(ctx2.get(), req, &sresp);
  auto d = ExpectError(s, *ctx2, grpc::StatusCode::PERMISSION_DENIED, v1::ERROR_KIND_POLICY);
  EXPECT_EQ(d.reason(), "SETHOSTNAME_DISABLED");
  char after[256] = {};
  ASSERT_EQ(gethostname(after, sizeof after - 1), 0);
  EXPECT_STREQ(after, local);
}

TEST_F(ResolverServiceTest, GetFqdnOfNumericLoopback) {
  v1::GetFqdnRequest req;
  req.set_name("  127.0.0.1 ");
  v1::GetFqdnResponse resp;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->GetFqdn(ctx.get(), req, &resp).ok());
  // Python: gethostbyaddr("127.0.0.1") -> ("localhost", ...) from /etc/hosts.
  EXPECT_FALSE(resp.fqdn().empty());
}

TEST_F(ResolverServiceTest, RequiresSession) {
  v1::GetHostNameResponse resp;
  {
    grpc::ClientContext ctx;
    auto s = stub_->GetHostName(&ctx, v1::GetHostNameRequest(), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    auto ctx = SessionContext("not-a-session");
    auto s = stub_->GetHostName(ctx.get(), v1::GetHostNameRequest(), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
}

TEST_F(ResolverServiceTest, NegativeTimeoutIsRejected) {
  v1::GetAddrInfoRequest req;
  req.set_host("127.0.0.1");
  req.mutable_timeout()->set_seconds(-1);
  v1::GetAddrInfoResponse resp;
  auto ctx = Ctx();
  auto s = stub_->GetAddrInfo(ctx.get(), req, &resp);
  ExpectError(s, *ctx, grpc::StatusCode::INVALID_ARGUMENT, v1::ERROR_KIND_REQUEST);
}

TEST_F(ResolverServiceTest, ManyConcurrentCallsSomeCancelled) {
  // Every reactor finishes exactly once even when the caller cancels while
  // the answer is on its way; the daemon keeps serving afterwards.
  constexpr int kCalls = 200;
  struct Pending {
    std::unique_ptr<grpc::ClientContext> ctx;
    v1::GetAddrInfoRequest req;
    v1::GetAddrInfoResponse resp;
  };
  std::vector<Pending> calls(kCalls);
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, ok = 0, cancelled = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto& c = calls[i];
    c.ctx = Ctx();
    c.req.set_host(i % 3 == 0 ? "::1" : "127.0.0.1");
    c.req.set_port_number(1000 + i);
    c.req.set_type(v1::SOCKET_TYPE_STREAM);
    stub_->async()->GetAddrInfo(c.ctx.get(), &c.req, &c.resp, [&](grpc::Status s) {
      std::lock_guard<std::mutex> l(mu);
      ++done;
      if (s.ok()) ++ok;
      if (s.error_code() == grpc::StatusCode::CANCELLED) ++cancelled;
      cv.notify_all();
    });
    if (i % 2 == 1) c.ctx->TryCancel();
  }
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(30), [&] { return done == kCalls; }));
  }
  EXPECT_EQ(ok + cancelled, kCalls);
  EXPECT_GE(ok, kCalls / 2);
  for (int i = 0; i < kCalls; ++i) {
    if (calls[i].resp.results_size() > 0) {
      const auto& a = calls[i].resp.results(0).address();
      EXPECT_EQ(a.has_inet() ? a.inet().port() : a.inet6().port(), 1000u + i);
    }
  }
  v1::GetHostNameResponse resp;
  auto ctx = Ctx();
  EXPECT_TRUE(stub_->GetHostName(ctx.get(), v1::GetHostNameRequest(), &resp).ok());
}

}  // namespace
}  // namespace sockwire::testing
