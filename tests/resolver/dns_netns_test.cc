// ResolverService against real DNS: each test makes its own network
// namespace with its own resolv.conf, hosts and nsswitch.conf, runs dnsmasq
// (or a DNS socket the test controls) and sockwired inside it, and asks
// sockwired over gRPC through a Unix socket. Skipped, with the reason, when
// not root or when `ip netns` is unavailable.
#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>

#include "daemon_process.h"
#include "netns_harness.h"
#include "resolver_test_util.h"
#include "sockwire/v1/resolver.grpc.pb.h"
#include "sockwire/v1/socket.grpc.pb.h"
#include <netdb.h>
#include <sys/socket.h>

namespace sockwire::testing {
namespace {

namespace v1 = ::sockwire::v1;
using Clock = std::chrono::steady_clock;

constexpr char kNsswitch[] =
    "hosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n";
constexpr char kHosts[] =
    "127.0.0.1 localhost\n"
    "::1 localhost ip6-localhost\n"
    "10.9.8.7 hostsfile.sw.test hostalias\n"
    "10.9.8.8 sw-uts-test.sw.test sw-uts-test\n";

// A namespace with a daemon in it and a session on that daemon.
class NetnsResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = Netns::SkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }

  // Creates the namespace with `resolv_conf`, then `before_daemon()`, then
  // the daemon.
  void StartNamespace(const std::string& tag, const std::string& resolv_conf) {
    ns_ = std::make_unique<Netns>(tag);
    ns_->WriteEtc("resolv.conf", resolv_conf);
    ns_->WriteEtc("hosts", kHosts);
    ns_->WriteEtc("nsswitch.conf", kNsswitch);
  }

  void StartDaemon(std::vector<std::string> args = {}, bool new_uts = false) {
    daemon_ = std::make_unique<NetnsDaemon>(*ns_, std::move(args), new_uts);
    ASSERT_TRUE(daemon_->ok()) << daemon_->error();
    channel_ = daemon_->NewChannel();
    session_ = OpenSession(channel_);
    stub_ = v1::ResolverService::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Ctx(int deadline_ms = 10000) {
    return SessionContext(session_, deadline_ms);
  }

  grpc::Status AddrInfo(const std::string& host, v1::Family family, int flags,
                        v1::GetAddrInfoResponse* resp, grpc::ClientContext* ctx = nullptr) {
    v1::GetAddrInfoRequest req;
    req.set_host(host);
    req.set_port_number(80);
    req.set_family(family);
    req.set_type(v1::SOCKET_TYPE_STREAM);
    req.set_flags(flags);
    auto own = Ctx();
    return stub_->GetAddrInfo(ctx != nullptr ? ctx : own.get(), req, resp);
  }

  grpc::Status HostByNameEx(const std::string& name, v1::HostEntry* out) {
    v1::GetHostByNameRequest req;
    req.set_hostname(name);
    auto ctx = Ctx();
    return stub_->GetHostByNameEx(ctx.get(), req, out);
  }

  grpc::Status HostByAddr(const std::string& ip, v1::HostEntry* out,
                          grpc::ClientContext* ctx = nullptr) {
    v1::GetHostByAddrRequest req;
    req.set_address(ip);
    auto own = Ctx();
    return stub_->GetHostByAddr(ctx != nullptr ? ctx : own.get(), req, out);
  }

  std::string Fqdn(const std::string& name) {
    v1::GetFqdnRequest req;
    req.set_name(name);
    v1::GetFqdnResponse resp;
    auto ctx = Ctx();
    auto s = stub_->GetFqdn(ctx.get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.fqdn();
  }

  static std::vector<std::string> Hosts(const v1::GetAddrInfoResponse& r) {
    std::vector<std::string> out;
    for (const auto& a : r.results()) {
      out.push_back(a.address().has_inet() ? a.address().inet().host()
                                           : a.address().inet6().host());
    }
    return out;
  }

  std::unique_ptr<Netns> ns_;
  std::unique_ptr<NetnsDaemon> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string session_;
  std::unique_ptr<v1::ResolverService::Stub> stub_;
};

// ---- Against dnsmasq ----

class DnsmasqTest : public NetnsResolverTest {
 protected:
  void SetUp() override {
    NetnsResolverTest::SetUp();
    if (IsSkipped()) return;
    std::string why = Netns::DnsmasqSkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
    StartNamespace("dns", "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n");
    std::string error;
    ASSERT_TRUE(ns_->StartDnsmasq("127.0.0.1",
                                  {
                                      "--host-record=www.sw.test,10.20.30.40,fd00::40",
                                      "--host-record=v6only.sw.test,fd00::66",
                                      "--cname=alias.sw.test,www.sw.test",
                                      "--ptr-record=99.30.20.10.in-addr.arpa,ptronly.sw.test",
                                      "--local=/sw.test/",
                                      "--local=/10.in-addr.arpa/",
                                  },
                                  "www.sw.test", &error))
        << error;
    StartDaemon();
  }
};

TEST_F(DnsmasqTest, ARecord) {
  v1::GetAddrInfoResponse resp;
  auto s = AddrInfo("www.sw.test", v1::FAMILY_INET, 0, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).address().inet().host(), "10.20.30.40");
  EXPECT_EQ(resp.results(0).address().inet().port(), 80u);

  v1::GetHostByNameRequest req;
  req.set_hostname("www.sw.test");
  v1::GetHostByNameResponse byname;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->GetHostByName(ctx.get(), req, &byname).ok());
  EXPECT_EQ(byname.address(), "10.20.30.40");
}

TEST_F(DnsmasqTest, AaaaRecord) {
  v1::GetAddrInfoResponse resp;
  auto s = AddrInfo("v6only.sw.test", v1::FAMILY_INET6, 0, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).family(), v1::FAMILY_INET6);
  EXPECT_EQ(resp.results(0).address().inet6().host(), "fd00::66");

  // AF_UNSPEC gets both records of a dual-stack name.
  v1::GetAddrInfoResponse both;
  ASSERT_TRUE(AddrInfo("www.sw.test", v1::FAMILY_UNSPECIFIED, 0, &both).ok());
  auto hosts = Hosts(both);
  EXPECT_NE(std::find(hosts.begin(), hosts.end(), "10.20.30.40"), hosts.end());
  EXPECT_NE(std::find(hosts.begin(), hosts.end(), "fd00::40"), hosts.end());
}

TEST_F(DnsmasqTest, CnameGivesCanonicalNameAndAliases) {
  v1::GetAddrInfoResponse resp;
  auto s = AddrInfo("alias.sw.test", v1::FAMILY_INET, AI_CANONNAME, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_GE(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).canonname(), "www.sw.test");
  EXPECT_EQ(resp.results(0).address().inet().host(), "10.20.30.40");

  v1::HostEntry e;
  s = HostByNameEx("alias.sw.test", &e);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(e.hostname(), "www.sw.test");
  ASSERT_EQ(e.aliases_size(), 1);
  EXPECT_EQ(e.aliases(0), "alias.sw.test");
  ASSERT_EQ(e.addresses_size(), 1);
  EXPECT_EQ(e.addresses(0), "10.20.30.40");
}

TEST_F(DnsmasqTest, PtrRecords) {
  v1::HostEntry e;
  auto s = HostByAddr("10.20.30.40", &e);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(e.hostname(), "www.sw.test");
  ASSERT_EQ(e.addresses_size(), 1);
  EXPECT_EQ(e.addresses(0), "10.20.30.40");

  v1::HostEntry only;
  s = HostByAddr("10.20.30.99", &only);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(only.hostname(), "ptronly.sw.test");

  // IPv6 reverse lookup too.
  v1::HostEntry six;
  s = HostByAddr("fd00::40", &six);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(six.hostname(), "www.sw.test");

  // gethostbyaddr resolves a name first, as Python does.
  v1::HostEntry byname;
  s = HostByAddr("www.sw.test", &byname);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(byname.hostname(), "www.sw.test");

  EXPECT_EQ(Fqdn("10.20.30.40"), "www.sw.test");

  v1::GetNameInfoRequest req;
  req.mutable_address()->mutable_inet()->set_host("10.20.30.40");
  req.mutable_address()->mutable_inet()->set_port(80);
  v1::GetNameInfoResponse ni;
  auto ctx = Ctx();
  s = stub_->GetNameInfo(ctx.get(), req, &ni);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ni.host(), "www.sw.test");
  EXPECT_EQ(ni.service(), "http");
}

TEST_F(DnsmasqTest, MissingPtrIsHerror) {
  v1::HostEntry e;
  auto ctx = Ctx();
  auto s = HostByAddr("10.20.30.41", &e, ctx.get());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  auto d = DetailFromStatus(s);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind(), v1::ERROR_KIND_HERROR);
  EXPECT_EQ(d->herror_code(), HOST_NOT_FOUND);
  auto t = DetailFromTrailer(*ctx);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->herror_code(), HOST_NOT_FOUND);

  // getnameinfo with NI_NAMEREQD: gaierror EAI_NONAME.
  v1::GetNameInfoRequest req;
  req.mutable_address()->mutable_inet()->set_host("10.20.30.41");
  req.set_flags(NI_NAMEREQD);
  v1::GetNameInfoResponse ni;
  auto ctx2 = Ctx();
  s = stub_->GetNameInfo(ctx2.get(), req, &ni);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  d = DetailFromStatus(s);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind(), v1::ERROR_KIND_GAI);
  EXPECT_EQ(d->eai_code(), EAI_NONAME);

  // getfqdn never fails: the name comes back unchanged.
  EXPECT_EQ(Fqdn("10.20.30.41"), "10.20.30.41");
}

TEST_F(DnsmasqTest, NxdomainIsEaiNoname) {
  v1::GetAddrInfoResponse resp;
  auto ctx = Ctx();
  auto s = AddrInfo("missing.sw.test", v1::FAMILY_UNSPECIFIED, 0, &resp, ctx.get());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  auto d = DetailFromStatus(s);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind(), v1::ERROR_KIND_GAI);
  EXPECT_EQ(d->eai_code(), EAI_NONAME);
  EXPECT_NE(d->message().find(gai_strerror(EAI_NONAME)), std::string::npos);
  auto t = DetailFromTrailer(*ctx);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->eai_code(), EAI_NONAME);

  v1::GetHostByNameRequest req;
  req.set_hostname("missing.sw.test");
  v1::GetHostByNameResponse byname;
  auto ctx2 = Ctx();
  s = stub_->GetHostByName(ctx2.get(), req, &byname);
  d = DetailFromStatus(s);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->eai_code(), EAI_NONAME);

  // gethostbyname_ex checks the name with getaddrinfo first: gaierror.
  v1::HostEntry e;
  s = HostByNameEx("missing.sw.test", &e);
  d = DetailFromStatus(s);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind(), v1::ERROR_KIND_GAI);
  EXPECT_EQ(d->eai_code(), EAI_NONAME);
}

TEST_F(DnsmasqTest, HostsFileEntries) {
  v1::HostEntry e;
  auto s = HostByNameEx("hostalias", &e);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(e.hostname(), "hostsfile.sw.test");
  ASSERT_EQ(e.aliases_size(), 1);
  EXPECT_EQ(e.aliases(0), "hostalias");
  ASSERT_EQ(e.addresses_size(), 1);
  EXPECT_EQ(e.addresses(0), "10.9.8.7");

  v1::HostEntry back;
  s = HostByAddr("10.9.8.7", &back);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(back.hostname(), "hostsfile.sw.test");

  EXPECT_EQ(Fqdn("hostalias"), "hostsfile.sw.test");

  v1::GetAddrInfoResponse resp;
  s = AddrInfo("hostsfile.sw.test", v1::FAMILY_INET, 0, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).address().inet().host(), "10.9.8.7");
}

TEST_F(DnsmasqTest, NumericHostsNeedNoDns) {
  v1::GetAddrInfoResponse resp;
  auto s = AddrInfo("192.0.2.1", v1::FAMILY_INET, AI_NUMERICHOST, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).address().inet().host(), "192.0.2.1");
  v1::HostEntry e;
  s = HostByNameEx("192.0.2.1", &e);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(e.hostname(), "192.0.2.1");
  ASSERT_EQ(e.addresses_size(), 1);
  EXPECT_EQ(e.addresses(0), "192.0.2.1");
}

// ---- sethostname in the daemon's own UTS namespace ----

class HostNameTest : public NetnsResolverTest {};

TEST_F(HostNameTest, SetHostNameWhenAllowedAndGetFqdn) {
  StartNamespace("uts", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
  // new_uts: the daemon gets its own UTS namespace, so this cannot rename the host.
  StartDaemon({"--allow-sethostname"}, /*new_uts=*/true);
  char before[256] = {};
  ASSERT_EQ(gethostname(before, sizeof before - 1), 0);

  v1::SetHostNameRequest req;
  req.set_hostname("sw-uts-test");
  v1::SetHostNameResponse resp;
  auto ctx = Ctx();
  auto s = stub_->SetHostName(ctx.get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::GetHostNameResponse name;
  auto ctx2 = Ctx();
  ASSERT_TRUE(stub_->GetHostName(ctx2.get(), v1::GetHostNameRequest(), &name).ok());
  EXPECT_EQ(name.hostname(), "sw-uts-test");

  // getfqdn("") starts from gethostname(); the hosts file gives the FQDN.
  EXPECT_EQ(Fqdn(""), "sw-uts-test.sw.test");

  // Too long for the kernel: EINVAL as an OSError.
  req.set_hostname(std::string(100, 'x'));
  auto ctx3 = Ctx();
  s = stub_->SetHostName(ctx3.get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto d = DetailFromStatus(s);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->kind(), v1::ERROR_KIND_OS);
  EXPECT_EQ(d->os_errno(), EINVAL);
  EXPECT_EQ(d->errno_name(), "EINVAL");

  char after[256] = {};
  ASSERT_EQ(gethostname(after, sizeof after - 1), 0);
  EXPECT_STREQ(after, before);
}

// ---- A DNS server that never answers ----

class DeadDnsTest : public NetnsResolverTest {
 protected:
  // A UDP socket bound to `address`:53 in the namespace that nobody reads.
  void BindSilentServer(const std::string& address) {
    int fd = ns_->Socket(AF_INET, SOCK_DGRAM);
    ASSERT_GE(fd, 0) << strerror(errno);
    silent_fd_ = fd;
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(53);
    inet_pton(AF_INET, address.c_str(), &sin.sin_addr);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0) << strerror(errno);
  }
  void TearDown() override {
    if (silent_fd_ >= 0) close(silent_fd_);
  }
  int silent_fd_ = -1;
};

TEST_F(DeadDnsTest, ResolverTimeoutGivesEaiAgainWithinTheDeadline) {
  StartNamespace("dead", "nameserver 127.0.0.53\noptions timeout:1 attempts:1\n");
  BindSilentServer("127.0.0.53");
  StartDaemon();
  auto start = Clock::now();
  v1::GetAddrInfoResponse resp;
  auto ctx = Ctx(8000);
  auto s = AddrInfo("dead.sw.test", v1::FAMILY_INET, 0, &resp, ctx.get());
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  auto d = DetailFromStatus(s);
  ASSERT_TRUE(d.has_value()) << s.error_message();
  EXPECT_EQ(d->kind(), v1::ERROR_KIND_GAI);
  EXPECT_EQ(d->eai_code(), EAI_AGAIN);
  EXPECT_LT(elapsed, std::chrono::seconds(8));
}

TEST_F(DeadDnsTest, DaemonEnforcesTheCallersDeadlineWhileLibcIsStuck) {
  // libc would wait 30 s; the daemon must answer at the caller's deadline.
  StartNamespace("stuck", "nameserver 127.0.0.53\noptions timeout:30 attempts:1\n");
  BindSilentServer("127.0.0.53");
  StartDaemon();
  {
    // The request's own timeout.
    v1::GetAddrInfoRequest req;
    req.set_host("stuck.sw.test");
    req.set_family(v1::FAMILY_INET);
    req.mutable_timeout()->set_nanos(500 * 1000 * 1000);
    v1::GetAddrInfoResponse resp;
    auto ctx = Ctx(20000);
    auto start = Clock::now();
    auto s = stub_->GetAddrInfo(ctx.get(), req, &resp);
    auto elapsed = Clock::now() - start;
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    auto d = DetailFromStatus(s);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->eai_code(), EAI_AGAIN);
    EXPECT_GE(elapsed, std::chrono::milliseconds(450));
    EXPECT_LT(elapsed, std::chrono::seconds(10));
  }
  {
    // Only a gRPC deadline: still a gaierror, not a bare DEADLINE_EXCEEDED.
    v1::GetAddrInfoResponse resp;
    auto ctx = Ctx(1500);
    auto start = Clock::now();
    auto s = AddrInfo("stuck2.sw.test", v1::FAMILY_INET, 0, &resp, ctx.get());
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    auto d = DetailFromStatus(s);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->eai_code(), EAI_AGAIN);
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500));
  }
  {
    // The gethostbyname_r family on the service's own pool, likewise.
    v1::GetHostByNameRequest req;
    req.set_hostname("stuck3.sw.test");
    req.mutable_timeout()->set_nanos(300 * 1000 * 1000);
    v1::HostEntry e;
    auto ctx = Ctx(20000);
    auto start = Clock::now();
    auto s = stub_->GetHostByNameEx(ctx.get(), req, &e);
    auto d = DetailFromStatus(s);
    ASSERT_TRUE(d.has_value()) << s.error_message();
    EXPECT_EQ(d->eai_code(), EAI_AGAIN);
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  }
  {
    // getfqdn never fails: out of time, it returns the name unchanged.
    v1::GetFqdnRequest req;
    req.set_name("stuck4.sw.test");
    req.mutable_timeout()->set_nanos(300 * 1000 * 1000);
    v1::GetFqdnResponse resp;
    auto ctx = Ctx(20000);
    auto s = stub_->GetFqdn(ctx.get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.fqdn(), "stuck4.sw.test");
  }
  {
    // Local answers are not held up by the stuck lookups.
    v1::GetServByNameRequest req;
    req.set_service("http");
    v1::GetServByNameResponse resp;
    auto ctx = Ctx(5000);
    ASSERT_TRUE(stub_->GetServByName(ctx.get(), req, &resp).ok());
    EXPECT_EQ(resp.port(), 80u);
  }
}

// ---- A slow answer does not delay socket traffic ----

class SlowDnsTest : public DeadDnsTest {};

TEST_F(SlowDnsTest, EchoCompletesWhileLookupIsPending) {
  StartNamespace("slow", "nameserver 127.0.0.77\noptions timeout:20 attempts:1\n");
  BindSilentServer("127.0.0.77");  // The test answers by hand, later.
  StartDaemon();

  // 1. Start the lookup; it is pending once its query reaches our server.
  auto lookup = std::async(std::launch::async, [this] {
    v1::GetAddrInfoRequest req;
    req.set_host("slow.sw.test");
    req.set_family(v1::FAMILY_INET);
    req.set_type(v1::SOCKET_TYPE_DGRAM);
    v1::GetAddrInfoResponse resp;
    auto ctx = Ctx(30000);
    grpc::Status s = stub_->GetAddrInfo(ctx.get(), req, &resp);
    return std::make_pair(s, resp);
  });
  pollfd p{silent_fd_, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 15000), 1) << "the daemon's DNS query never arrived";
  char query[1500];
  sockaddr_storage from{};
  socklen_t fromlen = sizeof from;
  ssize_t qn = recvfrom(silent_fd_, query, sizeof query, 0, reinterpret_cast<sockaddr*>(&from),
                        &fromlen);
  ASSERT_GT(qn, 12);

  // 2. An echo round trip through the daemon on other sockets.
  auto sockets = v1::SocketService::NewStub(channel_);
  auto create = [&](v1::SocketInfo* info) {
    v1::CreateRequest req;
    req.set_family(v1::FAMILY_INET);
    req.set_type(v1::SOCKET_TYPE_DGRAM);
    auto ctx = Ctx(5000);
    return sockets->Create(ctx.get(), req, info);
  };
  auto bind_lo = [&](const std::string& handle) {
    v1::AddressRequest req;
    req.set_handle(handle);
    req.mutable_address()->mutable_inet()->set_host("127.0.0.1");
    v1::Empty e;
    auto ctx = Ctx(5000);
    return sockets->Bind(ctx.get(), req, &e);
  };
  v1::SocketInfo a, b;
  ASSERT_TRUE(create(&a).ok());
  ASSERT_TRUE(create(&b).ok());
  ASSERT_TRUE(bind_lo(a.handle()).ok());
  ASSERT_TRUE(bind_lo(b.handle()).ok());
  v1::Address b_addr;
  {
    v1::HandleRequest req;
    req.set_handle(b.handle());
    auto ctx = Ctx(5000);
    ASSERT_TRUE(sockets->GetSockName(ctx.get(), req, &b_addr).ok());
  }
  {
    v1::SendToRequest req;
    req.set_handle(a.handle());
    req.set_data("ping");
    *req.mutable_address() = b_addr;
    v1::SendResponse resp;
    auto ctx = Ctx(5000);
    ASSERT_TRUE(sockets->SendTo(ctx.get(), req, &resp).ok());
  }
  v1::RecvFromResponse got;
  {
    v1::RecvRequest req;
    req.set_handle(b.handle());
    req.set_bufsize(64);
    auto ctx = Ctx(5000);
    ASSERT_TRUE(sockets->RecvFrom(ctx.get(), req, &got).ok());
    EXPECT_EQ(got.data(), "ping");
  }
  {
    v1::SendToRequest req;
    req.set_handle(b.handle());
    req.set_data("pong");
    *req.mutable_address() = got.address();
    v1::SendResponse resp;
    auto ctx = Ctx(5000);
    ASSERT_TRUE(sockets->SendTo(ctx.get(), req, &resp).ok());
  }
  {
    v1::RecvRequest req;
    req.set_handle(a.handle());
    req.set_bufsize(64);
    v1::RecvResponse resp;
    auto ctx = Ctx(5000);
    ASSERT_TRUE(sockets->Recv(ctx.get(), req, &resp).ok());
    EXPECT_EQ(resp.data(), "pong");
  }

  // 3. The echo is done and the lookup is still waiting for its answer.
  EXPECT_EQ(lookup.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

  // 4. Answer; the lookup completes with it.
  std::string answer = DnsAnswerA(std::string(query, qn), "10.66.66.66");
  ASSERT_GT(sendto(silent_fd_, answer.data(), answer.size(), 0,
                   reinterpret_cast<sockaddr*>(&from), fromlen),
            0);
  auto [status, resp] = lookup.get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).address().inet().host(), "10.66.66.66");
}

}  // namespace
}  // namespace sockwire::testing
