// Issue 10's policy attacks, each against a real sockwired over gRPC: every
// way a caller once made the kernel do more than the policy grants. Each
// attack must end in PERMISSION_DENIED with a reason, and the daemon must go
// on serving. The same requests succeeded on fc58f5e (see docs/security.md).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "daemon_process.h"
#include "rpc_helpers.h"

namespace sockwire::testing {
namespace {

// A listening TCP socket of the test's own, on loopback port 0.
struct Listener {
  Listener(int family, const char* ip) : fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_storage ss{};
    socklen_t len;
    if (family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      inet_pton(AF_INET, ip, &sin->sin_addr);
      len = sizeof *sin;
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      inet_pton(AF_INET6, ip, &sin6->sin6_addr);
      len = sizeof *sin6;
    }
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&ss), len), 0);
    EXPECT_EQ(::listen(fd, 16), 0);
    len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                   : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  ~Listener() { ::close(fd); }
  int fd;
  uint32_t port = 0;
};

// A policy file in its own temp dir, removed with the object.
struct PolicyFile {
  explicit PolicyFile(const std::string& json) {
    char tmpl[] = "/tmp/sockwire-sec-policy-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/policy.json";
    std::ofstream(path) << json;
  }
  ~PolicyFile() {
    unlink(path.c_str());
    rmdir(dir.c_str());
  }
  std::string arg() const { return "--policy-file=" + path; }
  std::string dir, path;
};

void ExpectDenied(const Result<v1::Empty>& r, const std::string& reason) {
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << r.Describe();
  EXPECT_EQ(r.detail.kind(), v1::ERROR_KIND_POLICY) << r.Describe();
  EXPECT_EQ(r.detail.reason(), reason) << r.Describe();
  EXPECT_FALSE(r.detail.message().empty());
}

template <class T>
Result<v1::Empty> Untyped(const Result<T>& r) {
  Result<v1::Empty> e;
  e.status = r.status;
  e.detail = r.detail;
  return e;
}

std::string NewSocket(const Client& c, v1::Family f, v1::SocketType t = v1::SOCKET_TYPE_STREAM, int proto = 0) {
  auto s = Create(c, f, t, proto);
  EXPECT_TRUE(s.ok()) << s.Describe();
  return s.ok() ? s->handle() : "";
}

// --- The spelling of a destination does not matter --------------------------

TEST(PolicyAttacks, DeniedDestinationIsDeniedInEverySpelling) {
  Listener v4(AF_INET, "127.0.0.1");
  Listener v6(AF_INET6, "::1");
  Listener open_port(AF_INET, "127.0.0.1");
  PolicyFile policy(R"({"rules": [
      {"action": "deny", "ops": ["connect", "sendto"], "cidr": "127.0.0.0/8", "ports": [)" +
                    std::to_string(v4.port) + "," + std::to_string(v4.port) + R"(]},
      {"action": "deny", "ops": ["connect", "sendto"], "cidr": "::1", "ports": [)" +
                    std::to_string(v6.port) + "," + std::to_string(v6.port) + R"(]}]})");
  DaemonProcess d({policy.arg()});
  Client c(d);
  // The plain spelling, then the ones that got past the check before.
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_INET), Inet("127.0.0.1", v4.port)), "POLICY_DENIED");
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_INET6), Inet6("::ffff:127.0.0.1", v4.port)), "POLICY_DENIED");
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_INET), Inet("0.0.0.0", v4.port)), "POLICY_DENIED");
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_INET6), Inet6("::", v6.port)), "POLICY_DENIED");
  // A host name is judged by what it resolves to.
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_INET), Inet("localhost", v4.port)), "POLICY_DENIED");
  ExpectDenied(Untyped(CreateConnection(c, Inet("127.0.0.1", v4.port))), "POLICY_DENIED");
  // A UDP sendto with the mapped spelling.
  ExpectDenied(Untyped(SendTo(c, NewSocket(c, v1::FAMILY_INET6, v1::SOCKET_TYPE_DGRAM), "x",
                              Inet6("::ffff:127.0.0.1", v4.port))),
               "POLICY_DENIED");
  // sendto with MSG_FASTOPEN on a TCP socket opens a connection: a connect.
  ExpectDenied(Untyped(SendTo(c, NewSocket(c, v1::FAMILY_INET), "GET /", Inet("127.0.0.1", v4.port),
                              MSG_FASTOPEN)),
               "POLICY_DENIED");
  // Nothing reached the listener, and what the policy allows still works.
  pollfd p{v4.fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "a denied connect reached the peer";
  SW_EXPECT_OK(Connect(c, NewSocket(c, v1::FAMILY_INET), Inet("127.0.0.1", open_port.port)));
}

TEST(PolicyAttacks, BindDenyCoversDualStackAndSourceAddress) {
  Listener target(AF_INET, "127.0.0.1");
  PolicyFile policy(R"({"rules": [{"action": "deny", "ops": ["bind", "listen"], "cidr": "0.0.0.0/0",
                                   "ports": [1, 1023]},
                                  {"action": "deny", "ops": ["bind"], "cidr": "127.0.0.1", "ports": [1, 1023]}]})");
  DaemonProcess d({policy.arg()});
  Client c(d);
  // [::]:80 on a dual-stack socket also binds 0.0.0.0:80.
  ExpectDenied(Bind(c, NewSocket(c, v1::FAMILY_INET6), Inet6("::", 80)), "POLICY_DENIED");
  ExpectDenied(Bind(c, NewSocket(c, v1::FAMILY_INET6), Inet6("::ffff:0.0.0.0", 80)), "POLICY_DENIED");
  // create_connection's source_address is a bind.
  v1::CreateConnectionRequest req;
  *req.mutable_address() = Inet("127.0.0.1", target.port);
  *req.mutable_source_address() = Inet("127.0.0.1", 81);
  ExpectDenied(Untyped(Invoke(c, &v1::SocketService::Stub::CreateConnection, req)), "POLICY_DENIED");
  // An allowed source works.
  *req.mutable_source_address() = Inet("127.0.0.1", 0);
  SW_EXPECT_OK(Invoke(c, &v1::SocketService::Stub::CreateConnection, req));
}

// --- Options and families -----------------------------------------------------

TEST(PolicyAttacks, RawOptionsOutsideTheAllowListNeverReachTheKernel) {
  DaemonProcess d;
  Client c(d);
  const std::string tcp = NewSocket(c, v1::FAMILY_INET);
  v1::OptionValue one;
  int on = 1;
  one.set_bytes_value(std::string(reinterpret_cast<const char*>(&on), sizeof on));
  constexpr int kIptSoSetReplace = 64;  // carries a user-space pointer
  for (auto [level, name] : std::vector<std::pair<int, int>>{{IPPROTO_IP, kIptSoSetReplace},
                                                             {IPPROTO_IPV6, kIptSoSetReplace},
                                                             {IPPROTO_IP, IP_TRANSPARENT},
                                                             {SOL_SOCKET, SO_MARK},
                                                             {SOL_SOCKET, SO_BINDTODEVICE},
                                                             {IPPROTO_TCP, TCP_REPAIR},
                                                             {SOL_SOCKET, SO_ATTACH_FILTER},
                                                             {SOL_SOCKET, SO_PRIORITY}}) {
    v1::OptionValue v = one;
    if (name == SO_PRIORITY) {
      int prio = 7;  // above 6 needs CAP_NET_ADMIN
      v.set_bytes_value(std::string(reinterpret_cast<const char*>(&prio), sizeof prio));
    }
    ExpectDenied(SetRawOpt(c, tcp, level, name, v), "OPTION_DENIED");
  }
  // Reading the firewall (IPT_SO_GET_INFO = 64 on getsockopt) is refused too.
  ExpectDenied(Untyped(GetRawOpt(c, tcp, IPPROTO_IP, kIptSoSetReplace, 84)), "OPTION_DENIED");
  // The kernel still saw none of it: SO_MARK is 0.
  auto mark = GetRawOpt(c, tcp, SOL_SOCKET, SO_MARK, 4);
  SW_ASSERT_OK(mark);
  EXPECT_EQ(mark->bytes_value(), std::string(4, '\0'));
  // Plain options keep working in both forms.
  SW_EXPECT_OK(SetRawOpt(c, tcp, IPPROTO_TCP, TCP_NODELAY, one));
  SW_EXPECT_OK(SetOpt(c, tcp, v1::OPTION_SO_KEEPALIVE, 1));
}

TEST(PolicyAttacks, PrivilegedOptionWorksOnlyWhenGranted) {
  PolicyFile policy(R"({"privileged_options": ["SO_MARK"]})");
  DaemonProcess d({policy.arg()});
  Client c(d);
  const std::string tcp = NewSocket(c, v1::FAMILY_INET);
  v1::OptionValue v;
  int mark = 42;
  v.set_bytes_value(std::string(reinterpret_cast<const char*>(&mark), sizeof mark));
  auto r = SetRawOpt(c, tcp, SOL_SOCKET, SO_MARK, v);
  if (geteuid() == 0) {
    SW_EXPECT_OK(r);  // granted: the kernel makes its own CAP_NET_ADMIN check
  }
  ExpectDenied(SetRawOpt(c, tcp, IPPROTO_IP, IP_TRANSPARENT, v), "OPTION_DENIED");
}

TEST(PolicyAttacks, RawSocketsCannotWriteTheirOwnHeader) {
  PolicyFile policy(R"({"allow_raw_sockets": true})");
  DaemonProcess d({policy.arg()});
  Client c(d);
  ExpectDenied(Untyped(Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_RAW, IPPROTO_RAW)), "OPTION_DENIED");
  auto icmp = Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_RAW, IPPROTO_ICMP);
  if (!icmp.ok()) GTEST_SKIP() << "no raw sockets here: " << icmp.Describe();
  v1::OptionValue one;
  int on = 1;
  one.set_bytes_value(std::string(reinterpret_cast<const char*>(&on), sizeof on));
  ExpectDenied(SetRawOpt(c, icmp->handle(), IPPROTO_IP, IP_HDRINCL, one), "OPTION_DENIED");
}

// --- AF_UNIX --------------------------------------------------------------------

TEST(PolicyAttacks, UnixPathsOutsideTheGrantAndTheDaemonsOwnSocketsAreRefused) {
  DaemonProcess d;  // its test policy grants d.temp_dir() and abstract names
  Client c(d);
  // A root-only socket inside a 0700 directory outside the grant.
  char tmpl[] = "/tmp/sockwire-private-XXXXXX";
  std::string priv = mkdtemp(tmpl);
  ASSERT_EQ(chmod(priv.c_str(), 0700), 0);
  std::string secret = priv + "/secret.sock";
  int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::snprintf(sun.sun_path, sizeof sun.sun_path, "%s", secret.c_str());
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
  ASSERT_EQ(::listen(lfd, 4), 0);
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_UNIX), UnixPath(secret)), "POLICY_DENIED");
  // ".." out of the granted directory.
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_UNIX), UnixPath(d.temp_dir() + "/.." + priv.substr(4) + "/secret.sock")),
               "POLICY_DENIED");
  ExpectDenied(Bind(c, NewSocket(c, v1::FAMILY_UNIX), UnixPath(d.temp_dir() + "/../escaped.sock")), "POLICY_DENIED");
  // The daemon's own listener sits inside the granted directory: still refused.
  std::string own = d.grpc_target().substr(5);
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_UNIX), UnixPath(own)), "OWN_SOCKET");
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_UNIX), UnixPath(d.temp_dir() + "/./sockwired.sock")), "OWN_SOCKET");
  pollfd p{lfd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "a denied connect reached the private socket";
  ::close(lfd);
  unlink(secret.c_str());
  rmdir(priv.c_str());
  // What is granted works.
  const std::string srv = NewSocket(c, v1::FAMILY_UNIX);
  SW_EXPECT_OK(Bind(c, srv, UnixPath(d.temp_dir() + "/granted.sock")));
  SW_EXPECT_OK(Listen(c, srv, 1));
  SW_EXPECT_OK(Connect(c, NewSocket(c, v1::FAMILY_UNIX), UnixPath(d.temp_dir() + "/granted.sock")));
}

TEST(PolicyAttacks, OwnTcpListenerIsUnreachable) {
  DaemonProcess d({"--rest-listen=tcp:127.0.0.1:0", "--insecure-tcp"});
  Client c(d);
  const std::string& rest = d.rest_target();
  ASSERT_FALSE(rest.empty()) << d.ready_line();
  uint32_t port = static_cast<uint32_t>(std::stoul(rest.substr(rest.rfind(':') + 1)));
  // A connection from the daemon is loopback's (and root's): never allowed.
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_INET), Inet("127.0.0.1", port)), "OWN_SOCKET");
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_INET), Inet("0.0.0.0", port)), "OWN_SOCKET");
  ExpectDenied(Connect(c, NewSocket(c, v1::FAMILY_INET6), Inet6("::ffff:127.0.0.1", port)), "OWN_SOCKET");
}

// The netfilter and netlink attacks, in a network namespace of their own so
// that a regression cannot touch the host's firewall or interfaces.
TEST(PolicyAttacks, NetlinkAndNetfilterStayClosedInANetworkNamespace) {
  if (system("unshare --net true 2>/dev/null") != 0) GTEST_SKIP() << "cannot create a network namespace (needs CAP_SYS_ADMIN/CAP_NET_ADMIN)";
  char tmpl[] = "/tmp/sockwire-netns-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string wrapper = dir + "/sockwired-in-netns";
  std::ofstream(wrapper) << "#!/bin/sh\nexec unshare --net -- " << SockwiredPath() << " \"$@\"\n";
  ASSERT_EQ(chmod(wrapper.c_str(), 0755), 0);
  std::string saved = SockwiredPath();
  setenv("SOCKWIRED", wrapper.c_str(), 1);
  {
    DaemonProcess d;
    Client c(d);
    auto netlink = Create(c, static_cast<v1::Family>(AF_NETLINK), v1::SOCKET_TYPE_RAW, 0 /* NETLINK_ROUTE */);
    ExpectDenied(Untyped(netlink), "FAMILY_DENIED");
    ExpectDenied(Untyped(Create(c, static_cast<v1::Family>(AF_PACKET), v1::SOCKET_TYPE_RAW, 0)), "FAMILY_DENIED");
    v1::OptionValue blob;
    blob.set_bytes_value(std::string(96, '\0'));  // an ipt_replace header's worth
    ExpectDenied(SetRawOpt(c, NewSocket(c, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM), IPPROTO_IP, 64, blob),
                 "OPTION_DENIED");
    SW_EXPECT_OK(Create(c, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM));
  }
  {
    PolicyFile policy(R"({"families": ["AF_NETLINK"]})");
    DaemonProcess d({policy.arg()});
    Client c(d);
    // Granted explicitly: the kernel decides.
    SW_EXPECT_OK(Create(c, static_cast<v1::Family>(AF_NETLINK), v1::SOCKET_TYPE_RAW, 0));
    ExpectDenied(Untyped(Create(c, static_cast<v1::Family>(AF_PACKET), v1::SOCKET_TYPE_RAW, 0)), "FAMILY_DENIED");
  }
  setenv("SOCKWIRED", saved.c_str(), 1);
  unlink(wrapper.c_str());
  rmdir(dir.c_str());
}

TEST(PolicyAttacks, ForgedCredentialsAreRefused) {
  DaemonProcess d;
  Client c(d);
  auto pair = CreatePair(c, v1::FAMILY_UNIX, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(pair);
  SW_ASSERT_OK(SetOpt(c, pair->second().handle(), v1::OPTION_SO_PASSCRED, 1));
  for (ucred cred : {ucred{d.pid(), 1234, 1234}, ucred{1, 0, 0}, ucred{d.pid(), 0, 1234}}) {
    v1::SendMsgRequest req;
    req.set_handle(pair->first().handle());
    req.add_buffers("I am someone else");
    auto* anc = req.add_ancillary();
    anc->set_level(SOL_SOCKET);
    anc->set_type(SCM_CREDENTIALS);
    anc->set_data(std::string(reinterpret_cast<const char*>(&cred), sizeof cred));
    ExpectDenied(Untyped(SendMsg(c, req)), "CREDENTIALS_DENIED");
  }
  // Nothing was delivered.
  auto r = RecvMsg(c, pair->second().handle(), 64, 64, MSG_DONTWAIT);
  EXPECT_FALSE(r.ok());
}

// --- Configuration that fails closed -------------------------------------------

// Runs sockwired with `args` and returns (exit status, output). A daemon
// that starts instead of refusing is stopped after 5 s (status 124) and
// its output says "serving".
std::pair<int, std::string> RunDaemon(const std::vector<std::string>& args) {
  std::string cmd = "timeout 5 " + SockwiredPath();
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1 </dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) out += buf;
  int status = p != nullptr ? pclose(p) : -1;
  return {status, out};
}

TEST(PolicyAttacks, PolicyFileThatDoesNotParseRefusesToStart) {
  char tmpl[] = "/tmp/sockwire-badpolicy-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  const std::pair<const char*, const char*> cases[] = {
      {R"({"rules": [{"action": "deny", "ops": ["conect"]}]})", "unknown op \"conect\""},
      {R"({"rules": [], "allow_raw_socket": false})", "unknown key \"allow_raw_socket\""},
      {R"({"rules": [{"action": "deny", "ports": [1023, 1]}]})", "ports [1023, 1]"},
      {R"({"rules": [{"action": "deny", "cidr": "10.0.0.0/abc"}]})", "malformed prefix length"},
  };
  for (const auto& [json, message] : cases) {
    std::string path = dir + "/p.json";
    std::ofstream(path) << json;
    auto [status, out] = RunDaemon({"--listen=unix:" + dir + "/d.sock", "--policy-file=" + path});
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 124) << json << "\n" << out;
    EXPECT_EQ(out.find("serving"), std::string::npos) << out;
    EXPECT_NE(out.find(message), std::string::npos) << out;
    EXPECT_NE(out.find(path), std::string::npos) << "the message names the file: " << out;
    unlink(path.c_str());
  }
  rmdir(dir.c_str());
}

TEST(PolicyAttacks, RestOnTcpNeedsATokenEvenOnLoopback) {
  char tmpl[] = "/tmp/sockwire-resttok-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto [status, out] = RunDaemon({"--listen=unix:" + dir + "/d.sock", "--rest-listen=tcp:127.0.0.1:0"});
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 124) << out;
  EXPECT_EQ(out.find("serving"), std::string::npos) << out;
  EXPECT_NE(out.find("--token-file"), std::string::npos) << out;
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace sockwire::testing
