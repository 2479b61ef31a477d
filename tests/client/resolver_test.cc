// The client's resolver functions against a real daemon. Only numeric
// names, the local host name and /etc files: nothing here needs DNS.
#include <gtest/gtest.h>
#include <unistd.h>

#include "daemon_process.h"
#include "sockwire/sockwire.h"

// After the generated headers: <netdb.h> defines h_errno as a macro.
#include <netdb.h>

namespace {

sockwire::testing::DaemonProcess& Daemon() {
  static sockwire::testing::DaemonProcess daemon;
  return daemon;
}

TEST(Resolver, GetaddrinfoNumericHost) {
  sockwire::Client c(Daemon().grpc_target());
  auto results = sockwire::getaddrinfo(c, "127.0.0.1", 80, AF_INET, SOCK_STREAM);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].family, AF_INET);
  EXPECT_EQ(results[0].type, SOCK_STREAM);
  EXPECT_EQ(results[0].sockaddr, sockwire::Address("127.0.0.1", 80));
  auto passive = sockwire::getaddrinfo(c, std::nullopt, std::string("8080"), AF_INET6,
                                       SOCK_DGRAM, 0, AI_PASSIVE);
  ASSERT_FALSE(passive.empty());
  EXPECT_EQ(passive[0].sockaddr, sockwire::Address::inet6("::", 8080));
}

TEST(Resolver, GetaddrinfoFailureIsGaierror) {
  sockwire::Client c(Daemon().grpc_target());
  try {
    sockwire::getaddrinfo(c, "not an address", 80, 0, 0, 0, AI_NUMERICHOST);
    FAIL();
  } catch (const sockwire::gaierror& e) {
    EXPECT_EQ(e.eai_code(), EAI_NONAME) << e.what();
    EXPECT_EQ(e.code().category(), sockwire::gai_category());
  }
}

TEST(Resolver, GetnameinfoAndGethostbyname) {
  sockwire::Client c(Daemon().grpc_target());
  auto [host, port] = sockwire::getnameinfo(c, sockwire::Address("127.0.0.1", 8080),
                                            NI_NUMERICHOST | NI_NUMERICSERV);
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, "8080");
  EXPECT_EQ(sockwire::gethostbyname(c, "127.0.0.1"), "127.0.0.1");
  auto entry = sockwire::gethostbyname_ex(c, "127.0.0.1");
  EXPECT_EQ(entry.ipaddrlist, std::vector<std::string>{"127.0.0.1"});
}

TEST(Resolver, HostnameIsTheDaemons) {
  sockwire::Client c(Daemon().grpc_target());
  char local[256] = {};
  ::gethostname(local, sizeof local - 1);
  EXPECT_EQ(sockwire::gethostname(c), local);  // same host, same UTS namespace
  EXPECT_FALSE(sockwire::getfqdn(c).empty());
  try {
    sockwire::sethostname(c, "nope");
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.info().reason, "SETHOSTNAME_DISABLED") << e.what();
  }
}

TEST(Resolver, ServicesAndProtocols) {
  sockwire::Client c(Daemon().grpc_target());
  EXPECT_EQ(sockwire::getprotobyname(c, "tcp"), IPPROTO_TCP);
  EXPECT_EQ(sockwire::getprotobyname(c, "udp"), IPPROTO_UDP);
  if (::getservbyname("http", "tcp") != nullptr) {
    EXPECT_EQ(sockwire::getservbyname(c, "http", "tcp"), 80);
    EXPECT_EQ(sockwire::getservbyport(c, 80, "tcp"), "http");
  }
  EXPECT_THROW(sockwire::getservbyname(c, "no-such-service-xyz", "tcp"), sockwire::error);
}

}  // namespace
