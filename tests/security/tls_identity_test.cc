// TLS and mutual TLS on a gRPC TCP listener, with certificates minted by
// openssl at test time (mint_certs.sh): who is refused in the handshake,
// how a certificate becomes a principal, per-principal rules, and sessions
// bound to their principal. Against a real sockwired.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "daemon_process.h"
#include "rpc_helpers.h"

namespace sockwire::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TlsIdentity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/sockwire-certs-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    std::string cmd = "bash " SECURITY_DIR "/mint_certs.sh " + *dir_;
    ASSERT_EQ(system(cmd.c_str()), 0) << "openssl could not mint the test certificates";
    std::ofstream(*dir_ + "/policy.json") << R"({"default_action": "deny", "rules": [
        {"action": "allow", "principals": ["spiffe://sockwire.test/a"], "ops": ["connect"], "cidr": "127.0.0.0/8"},
        {"action": "allow", "principals": ["spiffe://sockwire.test/*", "dns:app.sockwire.test"], "ops": ["bind"]}]})";
  }
  static void TearDownTestSuite() {
    std::string cmd = "rm -rf " + *dir_;
    (void)system(cmd.c_str());
    delete dir_;
  }

  static std::string F(const std::string& name) { return *dir_ + "/" + name; }

  // A daemon with a TLS listener on 127.0.0.1 port 0; returns its address.
  static std::string TcpAddress(const DaemonProcess& d) {
    const std::string& line = d.ready_line();
    auto pos = line.find("\"127.0.0.1:");
    EXPECT_NE(pos, std::string::npos) << line;
    if (pos == std::string::npos) return "";
    return line.substr(pos + 1, line.find('"', pos + 1) - pos - 1);
  }

  static std::shared_ptr<grpc::Channel> Channel(const std::string& addr, const std::string& client) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(F("ca.pem"));
    if (!client.empty()) {
      ssl.pem_cert_chain = Slurp(F(client + ".pem"));
      ssl.pem_private_key = Slurp(F(client + ".key"));
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(addr, grpc::SslCredentials(ssl), args);
  }

  // SessionService.Open over `channel`: the handshake's verdict.
  static grpc::Status TryOpen(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = v1::SessionService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::OpenSessionRequest req;
    v1::OpenSessionResponse resp;
    return stub->Open(&ctx, req, &resp);
  }

  std::vector<std::string> MtlsArgs() const {
    return {"--listen=tcp:127.0.0.1:0", "--tls-cert=" + F("server.pem"), "--tls-key=" + F("server.key"),
            "--tls-client-ca=" + F("ca.pem"), "--policy-file=" + F("policy.json")};
  }

  static std::string* dir_;
};

std::string* TlsIdentity::dir_ = nullptr;

TEST_F(TlsIdentity, HandshakeRefusesMissingForeignAndExpiredClientCertificates) {
  DaemonProcess d(MtlsArgs());
  std::string addr = TcpAddress(d);
  ASSERT_FALSE(addr.empty());
  EXPECT_TRUE(TryOpen(Channel(addr, "a")).ok());
  for (const char* who : {"", "stranger", "expired"}) {
    grpc::Status st = TryOpen(Channel(addr, who));
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << who << ": " << st.error_message();
  }
  // A plain-text client gets nowhere either.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto plain = grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
  EXPECT_EQ(TryOpen(plain).error_code(), grpc::StatusCode::UNAVAILABLE);
  // And the daemon still serves the good client.
  EXPECT_TRUE(TryOpen(Channel(addr, "a")).ok());
}

TEST_F(TlsIdentity, TwoPrincipalsGetDifferentDecisionsFromOnePolicy) {
  DaemonProcess d(MtlsArgs());
  std::string addr = TcpAddress(d);
  ASSERT_FALSE(addr.empty());
  Client a(Channel(addr, "a"));
  Client b(Channel(addr, "b"));
  Client dns(Channel(addr, "dns"));
  // A listener of the test's own to connect to.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  ASSERT_EQ(::listen(lfd, 8), 0);
  socklen_t len = sizeof sin;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&sin), &len);
  uint32_t port = ntohs(sin.sin_port);

  auto sa = Create(a, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(sa);
  SW_EXPECT_OK(Connect(a, sa->handle(), Inet("127.0.0.1", port)));
  auto sb = Create(b, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(sb);
  auto denied = Connect(b, sb->handle(), Inet("127.0.0.1", port));
  SW_EXPECT_CODE(denied, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.detail.reason(), "POLICY_DENIED") << denied.Describe();
  // Both may bind (a prefix rule), and so may the DNS-named client.
  SW_EXPECT_OK(Bind(b, sb->handle(), Inet("127.0.0.1", 0)));
  auto sd = Create(dns, v1::FAMILY_INET, v1::SOCKET_TYPE_DGRAM);
  SW_ASSERT_OK(sd);
  SW_EXPECT_OK(Bind(dns, sd->handle(), Inet("127.0.0.1", 0)));
  ::close(lfd);
}

TEST_F(TlsIdentity, ASessionBelongsToItsPrincipal) {
  DaemonProcess d(MtlsArgs());
  std::string addr = TcpAddress(d);
  ASSERT_FALSE(addr.empty());
  Client a(Channel(addr, "a"));
  auto s = Create(a, v1::FAMILY_INET, v1::SOCKET_TYPE_STREAM);
  SW_ASSERT_OK(s);
  // b presents a's session token: as if it did not exist.
  Client b_with_a_session(Channel(addr, "b"), a.session());
  SW_EXPECT_CODE(GetInfo(b_with_a_session, s->handle()), grpc::StatusCode::UNAUTHENTICATED);
  SW_EXPECT_CODE(List(b_with_a_session), grpc::StatusCode::UNAUTHENTICATED);
  // So does a local caller on the Unix listener.
  Client local_with_a_session(d.NewChannel(), a.session());
  SW_EXPECT_CODE(GetInfo(local_with_a_session, s->handle()), grpc::StatusCode::UNAUTHENTICATED);
  // a itself, over a second connection, still may.
  Client a_again(Channel(addr, "a"), a.session());
  SW_EXPECT_OK(GetInfo(a_again, s->handle()));
}

TEST_F(TlsIdentity, TcpWithoutTlsNeedsTheInsecureFlag) {
  char tmpl[] = "/tmp/sockwire-notls-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/token") << "t0ken\n";
  std::string cmd = "timeout 5 " + SockwiredPath() + " --listen=unix:" + dir + "/d.sock --listen=tcp:127.0.0.1:0 --token-file=" +
                    dir + "/token > " + dir + "/out 2>&1";
  int status = system(cmd.c_str());
  std::string out = Slurp(dir + "/out");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 124) << out;
  EXPECT_NE(out.find("needs TLS"), std::string::npos) << out;
  cmd = "rm -rf " + dir;
  (void)system(cmd.c_str());
}

}  // namespace
}  // namespace sockwire::testing
