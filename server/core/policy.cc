#include "policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "errors.h"

namespace sockwire::core {
namespace {

bool PrefixMatches(const unsigned char* addr, const unsigned char* prefix, int bits) {
  int full = bits / 8, rest = bits % 8;
  if (std::memcmp(addr, prefix, full) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (addr[full] & mask) == (prefix[full] & mask);
}

}  // namespace

absl::StatusOr<Policy> Policy::FromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("policy: not a JSON object");
  Policy p;
  if (j.contains("allow_raw_sockets")) {
    if (!j["allow_raw_sockets"].is_boolean()) return absl::InvalidArgumentError("policy: allow_raw_sockets must be a boolean");
    p.allow_raw_ = j["allow_raw_sockets"].get<bool>();
  }
  if (j.contains("rules")) {
    if (!j["rules"].is_array()) return absl::InvalidArgumentError("policy: rules must be an array");
    for (const auto& r : j["rules"]) {
      if (!r.is_object()) return absl::InvalidArgumentError("policy: each rule must be an object");
      Rule rule;
      std::string action = r.value("action", "deny");
      if (action != "deny" && action != "allow") return absl::InvalidArgumentError("policy: action is allow or deny");
      rule.deny = action == "deny";
      if (r.contains("ops")) {
        if (!r["ops"].is_array()) return absl::InvalidArgumentError("policy: ops must be an array");
        for (const auto& o : r["ops"]) {
          if (!o.is_string()) return absl::InvalidArgumentError("policy: ops are strings");
          rule.ops.push_back(o.get<std::string>());
        }
      }
      if (r.contains("cidr")) {
        if (!r["cidr"].is_string()) return absl::InvalidArgumentError("policy: cidr must be a string");
        std::string cidr = r["cidr"].get<std::string>();
        auto slash = cidr.find('/');
        std::string addr = cidr.substr(0, slash);
        if (inet_pton(AF_INET, addr.c_str(), rule.prefix) == 1) {
          rule.family = AF_INET;
          rule.prefix_len = 32;
        } else if (inet_pton(AF_INET6, addr.c_str(), rule.prefix) == 1) {
          rule.family = AF_INET6;
          rule.prefix_len = 128;
        } else {
          return absl::InvalidArgumentError(absl::StrCat("policy: bad cidr ", cidr));
        }
        if (slash != std::string::npos) {
          int bits = std::atoi(cidr.c_str() + slash + 1);
          if (bits < 0 || bits > rule.prefix_len) return absl::InvalidArgumentError(absl::StrCat("policy: bad cidr ", cidr));
          rule.prefix_len = bits;
        }
      }
      if (r.contains("ports")) {
        const auto& ports = r["ports"];
        if (!ports.is_array() || ports.size() != 2 || !ports[0].is_number_integer() || !ports[1].is_number_integer()) {
          return absl::InvalidArgumentError("policy: ports must be [lo, hi]");
        }
        rule.port_lo = ports[0].get<int>();
        rule.port_hi = ports[1].get<int>();
      }
      p.rules_.push_back(std::move(rule));
    }
  }
  return p;
}

absl::StatusOr<Policy> Policy::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("policy file ", path, " cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  return FromJson(ss.str());
}

absl::Status Policy::CheckSocket(int /*family*/, int type) const {
  int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (!allow_raw_ && (base == SOCK_RAW || base == SOCK_PACKET)) {
    return PolicyError(absl::StatusCode::kPermissionDenied, "POLICY_DENIED",
                       "raw sockets are not allowed by the daemon's policy");
  }
  return absl::OkStatus();
}

absl::Status Policy::CheckAddress(const std::string& op, const SockAddr& sa) const {
  int port = -1;
  const unsigned char* bytes = nullptr;
  if (sa.family() == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&sa.storage);
    port = ntohs(sin->sin_port);
    bytes = reinterpret_cast<const unsigned char*>(&sin->sin_addr);
  } else if (sa.family() == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&sa.storage);
    port = ntohs(sin6->sin6_port);
    bytes = reinterpret_cast<const unsigned char*>(&sin6->sin6_addr);
  }
  for (const auto& r : rules_) {
    if (!r.ops.empty() && std::find(r.ops.begin(), r.ops.end(), op) == r.ops.end()) continue;
    if (r.prefix_len >= 0) {
      if (bytes == nullptr || r.family != sa.family() || !PrefixMatches(bytes, r.prefix, r.prefix_len)) continue;
    }
    if (r.port_lo != 0 || r.port_hi != 65535) {
      if (port < r.port_lo || port > r.port_hi) continue;
    }
    if (!r.deny) return absl::OkStatus();
    return PolicyError(absl::StatusCode::kPermissionDenied, "POLICY_DENIED",
                       absl::StrCat(op, " to this address is refused by the daemon's policy"));
  }
  return absl::OkStatus();
}

}  // namespace sockwire::core
