// The pure parts of the client, no daemon: byte order, inet_*, Address,
// the exception hierarchy, the default timeout.
#include <gtest/gtest.h>

#include <stdexcept>

#include "sockwire/proto_convert.h"
#include "sockwire/sockwire.h"

// After the generated headers: <netdb.h> defines h_errno as a macro.
#include <netdb.h>
#include <sstream>

namespace {

using sockwire::Address;

TEST(ByteOrder, SwapsLikeTheCLibrary) {
  EXPECT_EQ(sockwire::ntohs(sockwire::htons(0x1234)), 0x1234);
  EXPECT_EQ(sockwire::ntohl(sockwire::htonl(0x12345678u)), 0x12345678u);
  uint16_t n = sockwire::htons(0x0102);
  const auto* b = reinterpret_cast<const unsigned char*>(&n);
  EXPECT_EQ(b[0], 1);
  EXPECT_EQ(b[1], 2);
  EXPECT_EQ(sockwire::htonl(1), ::htonl(1));
}

TEST(InetAton, PacksDottedQuadAndShortForms) {
  EXPECT_EQ(sockwire::inet_aton("127.0.0.1"), std::string("\x7f\x00\x00\x01", 4));
  EXPECT_EQ(sockwire::inet_aton("255.255.255.255"), std::string(4, '\xff'));
  // inet_aton(3) syntax, as CPython accepts it.
  EXPECT_EQ(sockwire::inet_aton("127.1"), std::string("\x7f\x00\x00\x01", 4));
}

TEST(InetAton, IllegalStringRaisesOSError) {
  for (const char* bad : {"x", "1.2.3.4.5", "256.1.1.1", ""}) {
    try {
      sockwire::inet_aton(bad);
      FAIL() << "no error for " << bad;
    } catch (const sockwire::error& e) {
      EXPECT_EQ(e.code(), std::errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("illegal IP address string passed to inet_aton"),
                std::string::npos);
    }
  }
  EXPECT_THROW(sockwire::inet_aton(std::string("1.2.3.4\0x", 9)), sockwire::error);
}

TEST(InetNtoa, UnpacksAndRejectsWrongLength) {
  EXPECT_EQ(sockwire::inet_ntoa(std::string("\x0a\x00\x00\x02", 4)), "10.0.0.2");
  try {
    sockwire::inet_ntoa("abc");
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_NE(std::string(e.what()).find("packed IP wrong length for inet_ntoa"),
              std::string::npos);
  }
}

TEST(InetPton, RoundTripsBothFamilies) {
  std::string v4 = sockwire::inet_pton(AF_INET, "192.168.1.2");
  EXPECT_EQ(v4, std::string("\xc0\xa8\x01\x02", 4));
  EXPECT_EQ(sockwire::inet_ntop(AF_INET, v4), "192.168.1.2");
  std::string v6 = sockwire::inet_pton(AF_INET6, "::1");
  ASSERT_EQ(v6.size(), 16u);
  EXPECT_EQ(v6[15], 1);
  EXPECT_EQ(sockwire::inet_ntop(AF_INET6, v6), "::1");
  EXPECT_EQ(sockwire::inet_ntop(AF_INET6, sockwire::inet_pton(AF_INET6, "fe80:0:0::1:2")),
            "fe80::1:2");
}

TEST(InetPton, BadInputRaisesLikeCPython) {
  try {
    sockwire::inet_pton(AF_INET, "1.2.3");  // inet_pton is stricter than inet_aton
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("illegal IP address string passed to inet_pton"),
              std::string::npos);
  }
  EXPECT_THROW(sockwire::inet_pton(AF_INET6, "1::2::3"), sockwire::error);
  try {
    sockwire::inet_pton(12345, "1.2.3.4");
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::address_family_not_supported);
  }
}

TEST(InetNtop, WrongLengthOrFamilyIsValueError) {
  EXPECT_THROW(sockwire::inet_ntop(AF_INET, "abc"), std::invalid_argument);
  EXPECT_THROW(sockwire::inet_ntop(AF_INET6, std::string(4, '\0')), std::invalid_argument);
  EXPECT_THROW(sockwire::inet_ntop(12345, std::string(4, '\0')), std::invalid_argument);
}

TEST(Address, PrintsLikePythonRepr) {
  EXPECT_EQ(Address("127.0.0.1", 80).to_string(), "('127.0.0.1', 80)");
  EXPECT_EQ(Address("::1", 80).to_string(), "('::1', 80, 0, 0)");
  EXPECT_EQ(Address::inet6("fe80::1", 5, 1, 2).to_string(), "('fe80::1', 5, 1, 2)");
  EXPECT_EQ(Address("/tmp/s").to_string(), "'/tmp/s'");
  EXPECT_EQ(Address::abstract("name").to_string(), "b'\\x00name'");
  EXPECT_EQ(Address().to_string(), "None");
  std::ostringstream os;
  os << Address("", 50007);
  EXPECT_EQ(os.str(), "('', 50007)");
}

TEST(Address, FamiliesFollowPythonRules) {
  EXPECT_EQ(Address("10.0.0.1", 1).family(), AF_INET);
  EXPECT_EQ(Address("::", 1).family(), AF_INET6);
  EXPECT_EQ(Address("/x").family(), AF_UNIX);
  EXPECT_FALSE(Address("/x").is_abstract());
  Address abs(std::string("\0abc", 4));
  EXPECT_TRUE(abs.is_abstract());
  EXPECT_EQ(abs, Address::abstract("abc"));
  EXPECT_TRUE(Address().empty());
}

TEST(Address, ConvertsToAndFromProto) {
  for (const Address& a : {Address("1.2.3.4", 5), Address::inet6("::1", 6, 7, 8),
                           Address("/run/x.sock"), Address::abstract("abs"),
                           Address(std::string()), Address()}) {
    EXPECT_EQ(sockwire::FromProto(sockwire::ToProto(a)), a) << a;
  }
  auto p = sockwire::ToProto(Address::abstract("abs"));
  EXPECT_EQ(p.unix_domain().abstract(), "abs");
  // An AF_INET6 socket sends a (host, port) pair as AF_INET6.
  auto six = sockwire::ToProto(Address("", 80), AF_INET6);
  EXPECT_TRUE(six.has_inet6());
  EXPECT_EQ(six.inet6().port(), 80u);
}

TEST(Constants, MatchTheWireNumbers) {
  static_assert(AF_INET == sockwire::v1::FAMILY_INET);
  static_assert(AF_INET6 == sockwire::v1::FAMILY_INET6);
  static_assert(AF_UNIX == sockwire::v1::FAMILY_UNIX);
  static_assert(int{sockwire::SOCK_STREAM} == int{sockwire::v1::SOCKET_TYPE_STREAM});
  static_assert(int{sockwire::SOCK_DGRAM} == int{sockwire::v1::SOCKET_TYPE_DGRAM});
  static_assert(int{sockwire::SOCK_RAW} == int{sockwire::v1::SOCKET_TYPE_RAW});
  static_assert(int{sockwire::SOCK_RDM} == int{sockwire::v1::SOCKET_TYPE_RDM});
  static_assert(int{sockwire::SOCK_SEQPACKET} == int{sockwire::v1::SOCKET_TYPE_SEQPACKET});
  EXPECT_EQ(sockwire::SHUT_RDWR, 2);
  EXPECT_EQ(sockwire::MSG_PEEK, 2);
}

TEST(Errors, HierarchyMirrorsPython) {
  try {
    throw sockwire::timeout();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
    EXPECT_STREQ(e.what(), "[Errno 110] Connection timed out: timed out");
  }
  try {
    throw sockwire::blocking_io_error(EAGAIN);
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::resource_unavailable_try_again);
  }
  sockwire::gaierror g(EAI_NONAME, "lookup failed");
  EXPECT_EQ(g.eai_code(), EAI_NONAME);
  EXPECT_EQ(g.code().category(), sockwire::gai_category());
  EXPECT_EQ(g.code().message(), ::gai_strerror(EAI_NONAME));
  sockwire::herror h(1);
  EXPECT_EQ(h.h_errno_value(), 1);
  EXPECT_EQ(h.code().category(), sockwire::herror_category());
  sockwire::error e(ECONNREFUSED);
  EXPECT_EQ(e.code(), std::errc::connection_refused);
  EXPECT_STREQ(e.what(), "[Errno 111] Connection refused");
  static_assert(std::is_base_of_v<std::system_error, sockwire::error>);
  static_assert(std::is_base_of_v<sockwire::error, sockwire::timeout>);
  static_assert(std::is_base_of_v<sockwire::error, sockwire::gaierror>);
  static_assert(std::is_base_of_v<sockwire::error, sockwire::herror>);
  static_assert(std::is_base_of_v<sockwire::error, sockwire::blocking_io_error>);
}

TEST(DefaultTimeout, StartsNoneAndRejectsNegative) {
  EXPECT_EQ(sockwire::getdefaulttimeout(), std::nullopt);
  sockwire::setdefaulttimeout(1.5);
  EXPECT_EQ(sockwire::getdefaulttimeout(), 1.5);
  EXPECT_THROW(sockwire::setdefaulttimeout(-1.0), std::invalid_argument);
  sockwire::setdefaulttimeout(std::nullopt);
  EXPECT_EQ(sockwire::getdefaulttimeout(), std::nullopt);
}

TEST(Client, UnreachableDaemonRaisesError) {
  sockwire::ClientOptions options;
  options.rpc_timeout = std::chrono::milliseconds(2000);
  try {
    sockwire::Client client("unix:/nonexistent/sockwire.sock", options);
    FAIL();
  } catch (const sockwire::error& e) {
    EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
  }
}

}  // namespace
