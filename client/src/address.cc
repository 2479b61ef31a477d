#include "sockwire/address.h"

#include <cstdio>
#include <sstream>

#include "sockwire/proto_convert.h"

namespace sockwire {
namespace {

// Python's repr() of a str: single quotes, backslash escapes.
std::string ReprStr(const std::string& s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

}  // namespace

Address::Address(std::string host, int port)
    : family_(host.find(':') != std::string::npos ? AF_INET6 : AF_INET),
      host_(std::move(host)),
      port_(port) {}

Address::Address(std::string host, int port, std::uint32_t flowinfo, std::uint32_t scope_id)
    : family_(AF_INET6),
      host_(std::move(host)),
      port_(port),
      flowinfo_(flowinfo),
      scope_id_(scope_id) {}

Address::Address(std::string path) : family_(AF_UNIX), path_(std::move(path)) {}
Address::Address(const char* path) : Address(std::string(path)) {}
Address::Address(std::string_view path) : Address(std::string(path)) {}

Address Address::inet(std::string host, int port) {
  Address a(std::move(host), port);
  a.family_ = AF_INET;
  return a;
}

Address Address::inet6(std::string host, int port, std::uint32_t flowinfo,
                       std::uint32_t scope_id) {
  return Address(std::move(host), port, flowinfo, scope_id);
}

Address Address::unix_path(std::string path) { return Address(std::move(path)); }

Address Address::abstract(std::string name) { return Address(std::string(1, '\0') + name); }

Address Address::as_inet6() const {
  if (family_ != AF_INET) return *this;
  return Address(host_, port_, 0, 0);
}

std::string Address::to_string() const {
  switch (family_) {
    case AF_INET:
      return "(" + ReprStr(host_) + ", " + std::to_string(port_) + ")";
    case AF_INET6:
      return "(" + ReprStr(host_) + ", " + std::to_string(port_) + ", " +
             std::to_string(flowinfo_) + ", " + std::to_string(scope_id_) + ")";
    case AF_UNIX:
      // Python shows abstract names as bytes.
      return is_abstract() ? "b" + ReprStr(path_) : ReprStr(path_);
    default:
      return "None";
  }
}

std::ostream& operator<<(std::ostream& os, const Address& a) { return os << a.to_string(); }

v1::Address ToProto(const Address& address, int socket_family) {
  v1::Address out;
  Address a = socket_family == AF_INET6 ? address.as_inet6() : address;
  switch (a.family()) {
    case AF_INET: {
      auto* inet = out.mutable_inet();
      inet->set_host(a.host());
      inet->set_port(static_cast<std::uint32_t>(a.port()));
      break;
    }
    case AF_INET6: {
      auto* inet6 = out.mutable_inet6();
      inet6->set_host(a.host());
      inet6->set_port(static_cast<std::uint32_t>(a.port()));
      inet6->set_flowinfo(a.flowinfo());
      inet6->set_scope_id(a.scope_id());
      break;
    }
    case AF_UNIX: {
      auto* un = out.mutable_unix_domain();
      if (a.is_abstract()) {
        un->set_abstract(a.path().substr(1));
      } else if (!a.path().empty()) {
        un->set_path(a.path());
      }
      break;
    }
    default:
      break;
  }
  return out;
}

Address FromProto(const v1::Address& address) {
  switch (address.kind_case()) {
    case v1::Address::kInet:
      return Address::inet(address.inet().host(), static_cast<int>(address.inet().port()));
    case v1::Address::kInet6:
      return Address::inet6(address.inet6().host(), static_cast<int>(address.inet6().port()),
                            address.inet6().flowinfo(), address.inet6().scope_id());
    case v1::Address::kUnixDomain:
      if (address.unix_domain().name_case() == v1::UnixAddress::kAbstract) {
        return Address::abstract(address.unix_domain().abstract());
      }
      return Address::unix_path(address.unix_domain().path());
    default:
      return Address();
  }
}

}  // namespace sockwire
