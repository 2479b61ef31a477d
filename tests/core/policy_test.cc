// The policy in isolation: the strict parser, first-match rules, address
// normalisation on real (unconnected) kernel sockets, and the option
// allow-list. End-to-end attacks through a real sockwired live in
// tests/security/.
#include "core/policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "core/address.h"
#include "core/errors.h"

namespace sockwire::core {
namespace {

SockAddr Inet(int family, const char* ip, int port) {
  SockAddr sa;
  Address a;
  a.family = family;
  a.host = ip;
  a.port = static_cast<uint32_t>(port);
  auto r = ToSockAddr(a, family, &sa);
  EXPECT_TRUE(r.ok() && *r == ParseResult::kOk) << ip;
  return sa;
}

struct Fd {
  explicit Fd(int family, int type = SOCK_STREAM) : fd(::socket(family, type, 0)) {}
  ~Fd() { ::close(fd); }
  int fd;
};

absl::Status Check(const Policy& p, PolicyOp op, int fd, SockAddr sa, std::string_view principal = "local") {
  auto d = Normalise(op, fd, &sa);
  if (!d.ok()) return d.status();
  return p.CheckDestination(op, *d, principal);
}

std::string LoadError(const std::string& json) {
  auto p = Policy::FromJson(json);
  return p.ok() ? "" : std::string(p.status().message());
}

TEST(PolicyParser, RefusesWhatItDoesNotUnderstand) {
  // Each of these loaded before and enforced nothing.
  EXPECT_NE(LoadError(R"({"rules": [{"action": "deny", "ops": ["conect"]}]})").find("unknown op \"conect\""),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"rulez": []})").find("unknown key \"rulez\""), std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"ports": [1023, 1]}]})").find("ports [1023, 1]"), std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"cidr": "10.0.0.0/abc"}]})").find("malformed prefix length"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"cidr": "10.0.0.0/33"}]})").find("malformed prefix length"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"cidr": "10.0.0.1/8"}]})").find("bits set past"), std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"action": "deny", "cidr": "10.0.0.0/8", "port": [1, 2]}]})")
                .find("unknown key \"port\""),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"action": "block"}]})").find("action"), std::string::npos);
  EXPECT_NE(LoadError(R"({"families": ["AF_NETLNK"]})").find("unknown family"), std::string::npos);
  EXPECT_NE(LoadError(R"({"privileged_options": ["SO_REUSEADDR"]})").find("unknown privileged option"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"paths": ["run/x"]}]})").find("absolute"), std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"paths": ["/run/../etc/"]}]})").find("canonical"), std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"paths": ["/x"], "cidr": "::1"}]})").find("not both"), std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"ops": []}]})").find("ops is empty"), std::string::npos);
  EXPECT_NE(LoadError(R"({"default_action": "maybe"})").find("default_action"), std::string::npos);
  EXPECT_NE(LoadError("[1]").find("JSON object"), std::string::npos);
  EXPECT_NE(LoadError("{").find("not valid JSON"), std::string::npos);
  EXPECT_EQ(LoadError(R"({"default_action": "deny", "allow_raw_sockets": true, "families": ["AF_NETLINK"],
      "privileged_options": ["SO_MARK"], "rules": [{"action": "allow", "ops": ["listen"], "ports": [0, 0]},
      {"action": "allow", "paths": ["/run/app/", "@app-*"]}]})"),
            "");
}

TEST(PolicyRules, FirstMatchingRuleDecides) {
  auto p = Policy::FromJson(R"({"rules": [
      {"action": "allow", "ops": ["connect"], "cidr": "10.1.0.0/16"},
      {"action": "deny", "ops": ["connect", "sendto"], "cidr": "10.0.0.0/8"},
      {"action": "deny", "ops": ["bind"], "ports": [1, 1023]}]})");
  ASSERT_TRUE(p.ok()) << p.status();
  Fd s(AF_INET);
  EXPECT_TRUE(Check(*p, PolicyOp::kConnect, s.fd, Inet(AF_INET, "10.1.2.3", 80)).ok());
  auto denied = Check(*p, PolicyOp::kConnect, s.fd, Inet(AF_INET, "10.2.2.3", 80));
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(KindOf(denied), ErrorKind::kPolicy);
  EXPECT_EQ(ReasonOf(denied), "POLICY_DENIED");
  EXPECT_EQ(Check(*p, PolicyOp::kSendTo, s.fd, Inet(AF_INET, "10.9.9.9", 53)).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Check(*p, PolicyOp::kConnect, s.fd, Inet(AF_INET, "127.0.0.1", 80)).ok());
  EXPECT_EQ(Check(*p, PolicyOp::kBind, s.fd, Inet(AF_INET, "0.0.0.0", 80)).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Check(*p, PolicyOp::kBind, s.fd, Inet(AF_INET, "0.0.0.0", 0)).ok());
}

TEST(PolicyRules, PrincipalsSelectTheRulesThatApply) {
  auto p = Policy::FromJson(R"({"default_action": "deny", "rules": [
      {"action": "allow", "principals": ["spiffe://test/a"], "cidr": "127.0.0.0/8"},
      {"action": "allow", "principals": ["spiffe://ops/*"]}]})");
  ASSERT_TRUE(p.ok()) << p.status();
  Fd s(AF_INET);
  SockAddr lo = Inet(AF_INET, "127.0.0.1", 80);
  EXPECT_TRUE(Check(*p, PolicyOp::kConnect, s.fd, lo, "spiffe://test/a").ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kConnect, s.fd, lo, "spiffe://test/b").ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kConnect, s.fd, lo, "spiffe://test/a2").ok());
  EXPECT_TRUE(Check(*p, PolicyOp::kConnect, s.fd, Inet(AF_INET, "10.1.1.1", 80), "spiffe://ops/x").ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kConnect, s.fd, lo, "spiffe://op").ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kConnect, s.fd, lo, "local").ok());
  EXPECT_NE(LoadError(R"({"rules": [{"principals": []}]})").find("principals is empty"), std::string::npos);
  EXPECT_NE(LoadError(R"({"rules": [{"principals": ["a*b"]}]})").find("only allowed at the end"), std::string::npos);
}

TEST(PolicyRules, DefaultDenyDeniesWhatNoRuleAllows) {
  auto p = Policy::FromJson(R"({"default_action": "deny", "rules": [
      {"action": "allow", "ops": ["connect"], "cidr": "127.0.0.0/8", "ports": [8000, 8999]}]})");
  ASSERT_TRUE(p.ok()) << p.status();
  Fd s(AF_INET);
  EXPECT_TRUE(Check(*p, PolicyOp::kConnect, s.fd, Inet(AF_INET, "127.0.0.1", 8080)).ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kConnect, s.fd, Inet(AF_INET, "127.0.0.1", 9000)).ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kBind, s.fd, Inet(AF_INET, "127.0.0.1", 8080)).ok());
}

// The spelling does not matter, only what the kernel will use.
TEST(PolicyNormalise, MappedAndUnspecifiedAddressesMeetTheRulesOfWhatTheyReach) {
  auto p = Policy::FromJson(R"({"rules": [
      {"action": "deny", "cidr": "10.0.0.0/8"},
      {"action": "deny", "ops": ["connect", "sendto"], "cidr": "127.0.0.0/8"},
      {"action": "deny", "ops": ["connect", "sendto"], "cidr": "::1"},
      {"action": "deny", "ops": ["bind"], "cidr": "0.0.0.0", "ports": [80, 80]}]})");
  ASSERT_TRUE(p.ok()) << p.status();
  Fd v6(AF_INET6);
  Fd v4(AF_INET);
  EXPECT_FALSE(Check(*p, PolicyOp::kConnect, v6.fd, Inet(AF_INET6, "::ffff:10.1.2.3", 80)).ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kConnect, v4.fd, Inet(AF_INET, "0.0.0.0", 80)).ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kConnect, v6.fd, Inet(AF_INET6, "::", 80)).ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kSendTo, v6.fd, Inet(AF_INET6, "::ffff:127.0.0.1", 53)).ok());
  // A dual-stack [::]:80 also binds 0.0.0.0:80.
  EXPECT_FALSE(Check(*p, PolicyOp::kBind, v6.fd, Inet(AF_INET6, "::", 80)).ok());
  EXPECT_TRUE(Check(*p, PolicyOp::kBind, v6.fd, Inet(AF_INET6, "::", 81)).ok());
  int on = 1;
  ASSERT_EQ(setsockopt(v6.fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on), 0);
  EXPECT_TRUE(Check(*p, PolicyOp::kBind, v6.fd, Inet(AF_INET6, "::", 80)).ok());
  // A mapped prefix in the file is the IPv4 prefix.
  auto mapped = Policy::FromJson(R"({"rules": [{"action": "deny", "cidr": "::ffff:192.0.2.0/120"}]})");
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_FALSE(Check(*mapped, PolicyOp::kConnect, v4.fd, Inet(AF_INET, "192.0.2.7", 1)).ok());
}

TEST(PolicyUnix, PathsAreDeniedUnlessGrantedAndCheckedInCanonicalForm) {
  char tmpl[] = "/tmp/sockwire-policy-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto p = Policy::FromJson(R"({"rules": [{"action": "allow", "paths": [")" + dir + R"(/ok/", "@app-*"]}]})");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(mkdir((dir + "/ok").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((dir + "/no").c_str(), 0700), 0);
  auto unix_addr = [](const std::string& path, bool abstract) {
    SockAddr sa;
    Address a;
    a.family = AF_UNIX;
    a.path = path;
    a.abstract = abstract;
    EXPECT_TRUE(ToSockAddr(a, AF_UNIX, &sa).ok());
    return sa;
  };
  Fd u(AF_UNIX);
  EXPECT_TRUE(Check(*p, PolicyOp::kBind, u.fd, unix_addr(dir + "/ok/a.sock", false)).ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kBind, u.fd, unix_addr(dir + "/no/a.sock", false)).ok());
  // ".." climbs out of the granted directory: the canonical path is checked.
  EXPECT_FALSE(Check(*p, PolicyOp::kBind, u.fd, unix_addr(dir + "/ok/../no/a.sock", false)).ok());
  // A symlink into the granted directory from outside is judged by its target.
  ASSERT_EQ(symlink((dir + "/ok").c_str(), (dir + "/link").c_str()), 0);
  EXPECT_TRUE(Check(*p, PolicyOp::kBind, u.fd, unix_addr(dir + "/link/b.sock", false)).ok());
  ASSERT_EQ(symlink((dir + "/no").c_str(), (dir + "/ok/escape").c_str()), 0);
  EXPECT_FALSE(Check(*p, PolicyOp::kBind, u.fd, unix_addr(dir + "/ok/escape/c.sock", false)).ok());
  EXPECT_TRUE(Check(*p, PolicyOp::kConnect, u.fd, unix_addr("app-1", true)).ok());
  EXPECT_FALSE(Check(*p, PolicyOp::kConnect, u.fd, unix_addr("other", true)).ok());
  // The default policy grants no AF_UNIX name at all.
  EXPECT_FALSE(Check(Policy(), PolicyOp::kConnect, u.fd, unix_addr(dir + "/ok/a.sock", false)).ok());
  EXPECT_FALSE(Check(Policy(), PolicyOp::kConnect, u.fd, unix_addr("app-1", true)).ok());
  std::string cmd = "rm -rf " + dir;
  ASSERT_EQ(system(cmd.c_str()), 0);
}

TEST(PolicyUnix, OwnListenersAreNeverReachable) {
  char tmpl[] = "/tmp/sockwire-own-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto p = Policy::FromJson(R"({"rules": [{"action": "allow", "paths": ["/"]}]})");
  ASSERT_TRUE(p.ok());
  OwnEndpoints own;
  own.Add("unix:" + dir + "/d.sock");
  own.Add("127.0.0.1:4567");
  own.Add("[::]:4568");
  Fd u(AF_UNIX);
  SockAddr sa;
  Address a;
  a.family = AF_UNIX;
  a.path = dir + "/./d.sock";
  ASSERT_TRUE(ToSockAddr(a, AF_UNIX, &sa).ok());
  auto d = Normalise(PolicyOp::kConnect, u.fd, &sa);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(own.Reaches(*d));
  Fd v4(AF_INET);
  for (const char* ip : {"127.0.0.1", "0.0.0.0"}) {
    SockAddr t = Inet(AF_INET, ip, 4567);
    auto dt = Normalise(PolicyOp::kConnect, v4.fd, &t);
    ASSERT_TRUE(dt.ok());
    EXPECT_TRUE(own.Reaches(*dt)) << ip;
  }
  SockAddr other = Inet(AF_INET, "127.0.0.1", 4569);
  EXPECT_FALSE(own.Reaches(*Normalise(PolicyOp::kConnect, v4.fd, &other)));
  SockAddr wild = Inet(AF_INET, "127.0.0.5", 4568);  // the [::] listener is dual-stack
  EXPECT_TRUE(own.Reaches(*Normalise(PolicyOp::kConnect, v4.fd, &wild)));
  std::string cmd = "rm -rf " + dir;
  ASSERT_EQ(system(cmd.c_str()), 0);
}

TEST(PolicySockets, FamiliesAndRawNeedAGrant) {
  Policy def;
  EXPECT_TRUE(def.CheckSocket(AF_INET, SOCK_STREAM, 0).ok());
  EXPECT_TRUE(def.CheckSocket(AF_UNIX, SOCK_SEQPACKET, 0).ok());
  EXPECT_EQ(ReasonOf(def.CheckSocket(AF_NETLINK, SOCK_RAW, 0)), "FAMILY_DENIED");
  EXPECT_EQ(ReasonOf(def.CheckSocket(AF_PACKET, SOCK_RAW, 0)), "FAMILY_DENIED");
  EXPECT_EQ(ReasonOf(def.CheckSocket(AF_INET, SOCK_RAW, IPPROTO_ICMP)), "RAW_DENIED");
  auto p = Policy::FromJson(R"({"allow_raw_sockets": true, "families": ["AF_NETLINK"]})");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->CheckSocket(AF_NETLINK, SOCK_RAW, 0).ok());
  EXPECT_TRUE(p->CheckSocket(AF_INET, SOCK_RAW, IPPROTO_ICMP).ok());
  // IPPROTO_RAW writes its own header: a separate grant.
  EXPECT_EQ(ReasonOf(p->CheckSocket(AF_INET, SOCK_RAW, IPPROTO_RAW)), "OPTION_DENIED");
}

TEST(PolicyOptions, RawOptionsAreAnAllowList) {
  Policy def;
  auto set = [&](int level, int name, int64_t v) {
    return def.CheckOption(ClassifySetOption(level, name, v), "setsockopt");
  };
  EXPECT_TRUE(set(SOL_SOCKET, SO_REUSEADDR, 1).ok());
  EXPECT_TRUE(set(IPPROTO_TCP, TCP_NODELAY, 1).ok());
  EXPECT_TRUE(set(SOL_SOCKET, SO_PRIORITY, 6).ok());
  EXPECT_EQ(ReasonOf(set(SOL_SOCKET, SO_PRIORITY, 7)), "OPTION_DENIED");
  constexpr int kIptSoSetReplace = 64;  // <linux/netfilter_ipv4/ip_tables.h>
  const std::pair<int, int> refused[] = {{IPPROTO_IP, kIptSoSetReplace}, {IPPROTO_IPV6, kIptSoSetReplace},
                             {SOL_SOCKET, SO_ATTACH_FILTER}, {SOL_SOCKET, SO_MARK},
                             {IPPROTO_IP, IP_TRANSPARENT}, {SOL_SOCKET, SO_BINDTODEVICE},
                             {IPPROTO_TCP, TCP_REPAIR}, {IPPROTO_IP, IP_HDRINCL}, {IPPROTO_IP, IP_OPTIONS},
                             {12345, 1}};
  for (auto [level, name] : refused) {
    auto st = set(level, name, 1);
    EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << level << "/" << name;
    EXPECT_EQ(ReasonOf(st), "OPTION_DENIED");
  }
  EXPECT_NE(std::string(set(SOL_SOCKET, SO_MARK, 1).message()).find("SO_MARK"), std::string::npos);
  EXPECT_EQ(ReasonOf(def.CheckOption(ClassifyGetOption(IPPROTO_IP, kIptSoSetReplace), "getsockopt")),
            "OPTION_DENIED");
  EXPECT_TRUE(def.CheckOption(ClassifyGetOption(SOL_SOCKET, SO_ERROR), "getsockopt").ok());
  auto granted = Policy::FromJson(R"({"privileged_options": ["SO_MARK", "TCP_REPAIR"]})");
  ASSERT_TRUE(granted.ok());
  EXPECT_TRUE(granted->CheckOption(ClassifySetOption(SOL_SOCKET, SO_MARK, 1), "setsockopt").ok());
  EXPECT_TRUE(granted->CheckOption(ClassifySetOption(IPPROTO_TCP, TCP_REPAIR, 1), "setsockopt").ok());
  EXPECT_FALSE(granted->CheckOption(ClassifySetOption(IPPROTO_IP, IP_TRANSPARENT, 1), "setsockopt").ok());
}

}  // namespace
}  // namespace sockwire::core
