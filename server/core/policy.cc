#include "policy.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "errors.h"

namespace sockwire::core {
namespace {

using nlohmann::json;

absl::Status Bad(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("policy: ", AV(where), ": ", AV(what)));
}

absl::Status Denied(std::string_view reason, std::string_view message) {
  return PolicyError(absl::StatusCode::kPermissionDenied, reason, message);
}

// Families a policy may grant. INET, INET6 and UNIX need no grant.
struct FamilyName {
  const char* name;
  int family;
};
constexpr FamilyName kFamilies[] = {
    {"AF_NETLINK", AF_NETLINK}, {"AF_PACKET", AF_PACKET},     {"AF_VSOCK", AF_VSOCK},
    {"AF_TIPC", AF_TIPC},       {"AF_CAN", AF_CAN},           {"AF_BLUETOOTH", AF_BLUETOOTH},
    {"AF_ALG", AF_ALG},         {"AF_XDP", AF_XDP},           {"AF_RDS", AF_RDS},
    {"AF_KEY", AF_KEY},         {"AF_QIPCRTR", AF_QIPCRTR},   {"AF_SMC", AF_SMC},
};

bool ParseOp(const std::string& s, PolicyOp* op) {
  for (PolicyOp o : {PolicyOp::kConnect, PolicyOp::kBind, PolicyOp::kSendTo, PolicyOp::kListen}) {
    if (s == PolicyOpName(o)) {
      *op = o;
      return true;
    }
  }
  return false;
}

absl::Status OnlyKeys(const json& obj, std::initializer_list<const char*> keys, std::string_view where) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return it.key() == k; })) {
      return Bad(where, absl::StrCat("unknown key \"", it.key(), "\" (known: ", absl::StrJoin(keys, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Strings(const json& v, std::string_view where) {
  if (!v.is_array()) return Bad(where, "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) return Bad(where, "must be an array of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

// "10.0.0.0/8", "::1", "::ffff:10.0.0.0/104" (an IPv4-mapped prefix is
// stored as the IPv4 prefix, as addresses are normalised the same way).
absl::Status ParseCidr(const std::string& cidr, int* family, unsigned char* prefix, int* len,
                       std::string_view where) {
  auto slash = cidr.find('/');
  std::string addr = cidr.substr(0, slash);
  int max;
  if (inet_pton(AF_INET, addr.c_str(), prefix) == 1) {
    *family = AF_INET;
    max = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), prefix) == 1) {
    *family = AF_INET6;
    max = 128;
  } else {
    return Bad(where, absl::StrCat("cidr \"", cidr, "\" is not an IPv4 or IPv6 address"));
  }
  int bits = max;
  if (slash != std::string::npos) {
    std::string b = cidr.substr(slash + 1);
    if (b.empty() || b.size() > 3 || b.find_first_not_of("0123456789") != std::string::npos ||
        !absl::SimpleAtoi(b, &bits) || bits > max) {
      return Bad(where, absl::StrCat("cidr \"", cidr, "\" has a malformed prefix length (0-", max, ")"));
    }
  }
  for (int i = bits; i < max; ++i) {
    if (prefix[i / 8] & (0x80 >> (i % 8))) {
      return Bad(where, absl::StrCat("cidr \"", cidr, "\" has bits set past its prefix length"));
    }
  }
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (*family == AF_INET6 && bits >= 96 && std::memcmp(prefix, kMapped, 12) == 0) {
    std::memmove(prefix, prefix + 12, 4);
    std::memset(prefix + 4, 0, 12);
    *family = AF_INET;
    bits -= 96;
  }
  *len = bits;
  return absl::OkStatus();
}

absl::Status ParsePathPattern(const std::string& p, std::string_view where) {
  if (p.empty() || (p[0] != '/' && p[0] != '@')) {
    return Bad(where, absl::StrCat("path \"", p, "\" must be absolute (\"/...\") or abstract (\"@...\")"));
  }
  if (p[0] == '/') {
    std::string s = p.back() == '/' ? p : absl::StrCat(p, "/");
    if (absl::StrContains(s, "/../") || absl::StrContains(s, "/./") || absl::StrContains(s, "//")) {
      return Bad(where, absl::StrCat("path \"", p, "\" must be canonical (no \".\", \"..\" or \"//\")"));
    }
  }
  if (size_t star = p.find('*'); star != std::string::npos && star != p.size() - 1) {
    return Bad(where, absl::StrCat("path \"", p, "\": \"*\" is only allowed at the end"));
  }
  return absl::OkStatus();
}

bool PathMatches(const std::string& pattern, const std::string& name) {
  if (!pattern.empty() && pattern.back() == '*') {
    return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  }
  if (pattern.size() > 1 && pattern.back() == '/') return absl::StartsWith(name, pattern);
  return name == pattern;
}

bool PrefixMatches(const unsigned char* addr, const unsigned char* prefix, int bits) {
  int full = bits / 8, rest = bits % 8;
  if (std::memcmp(addr, prefix, full) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (addr[full] & mask) == (prefix[full] & mask);
}

std::string Printable(const SockAddr& sa) {
  char buf[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa.family() == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&sa.storage);
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    port = ntohs(sin->sin_port);
    return absl::StrCat(buf, ":", port);
  }
  auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&sa.storage);
  inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
  port = ntohs(sin6->sin6_port);
  return absl::StrCat("[", buf, "]:", port);
}

}  // namespace

absl::StatusOr<Policy::Rule> Policy::ParseRule(const json& r, size_t index) {
  std::string where = absl::StrCat("rules[", index, "]");
  if (!r.is_object()) return Bad(where, "must be an object");
  if (auto st = OnlyKeys(r, {"action", "ops", "cidr", "ports", "paths", "principals"}, where); !st.ok()) return st;
  Rule rule;
  if (r.contains("action")) {
    if (!r["action"].is_string() || (r["action"] != "allow" && r["action"] != "deny")) {
      return Bad(where, "action must be \"allow\" or \"deny\"");
    }
    rule.deny = r["action"] == "deny";
  }
  if (r.contains("ops")) {
    auto ops = Strings(r["ops"], where + ".ops");
    if (!ops.ok()) return ops.status();
    if (ops->empty()) return Bad(where, "ops is empty (omit it to match every operation)");
    for (const auto& o : *ops) {
      PolicyOp op;
      if (!ParseOp(o, &op)) return Bad(where, absl::StrCat("unknown op \"", o, "\" (known: connect, bind, sendto, listen)"));
      rule.ops.insert(op);
    }
  }
  if (r.contains("paths") && (r.contains("cidr") || r.contains("ports"))) {
    return Bad(where, "a rule has either paths (AF_UNIX) or cidr/ports (inet), not both");
  }
  if (r.contains("cidr")) {
    if (!r["cidr"].is_string()) return Bad(where, "cidr must be a string");
    if (auto st = ParseCidr(r["cidr"].get<std::string>(), &rule.family, rule.prefix, &rule.prefix_len, where);
        !st.ok()) {
      return st;
    }
  }
  if (r.contains("ports")) {
    const auto& p = r["ports"];
    if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number_integer()) {
      return Bad(where, "ports must be [lo, hi]");
    }
    int64_t lo = p[0].get<int64_t>(), hi = p[1].get<int64_t>();
    if (lo < 0 || hi > 65535 || lo > hi) {
      return Bad(where, absl::StrCat("ports [", lo, ", ", hi, "] must satisfy 0 <= lo <= hi <= 65535"));
    }
    rule.port_lo = static_cast<int>(lo);
    rule.port_hi = static_cast<int>(hi);
  }
  if (r.contains("paths")) {
    auto paths = Strings(r["paths"], where + ".paths");
    if (!paths.ok()) return paths.status();
    if (paths->empty()) return Bad(where, "paths is empty");
    for (const auto& p : *paths) {
      if (auto st = ParsePathPattern(p, where); !st.ok()) return st;
    }
    rule.paths = *std::move(paths);
  }
  if (r.contains("principals")) {
    auto ps = Strings(r["principals"], where + ".principals");
    if (!ps.ok()) return ps.status();
    if (ps->empty()) return Bad(where, "principals is empty (omit it to match every caller)");
    for (const auto& p : *ps) {
      if (p.empty()) return Bad(where, "a principal is empty");
      if (size_t star = p.find('*'); star != std::string::npos && star != p.size() - 1) {
        return Bad(where, absl::StrCat("principal \"", p, "\": \"*\" is only allowed at the end"));
      }
    }
    rule.principals = *std::move(ps);
  }
  return rule;
}

absl::StatusOr<Policy> Policy::FromJson(const std::string& text) {
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("policy: not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("policy: must be a JSON object");
  if (auto st = OnlyKeys(j, {"default_action", "allow_raw_sockets", "families", "privileged_options", "rules"},
                         "top level");
      !st.ok()) {
    return st;
  }
  Policy p;
  if (j.contains("default_action")) {
    const auto& d = j["default_action"];
    if (!d.is_string() || (d != "allow" && d != "deny")) return Bad("default_action", "must be \"allow\" or \"deny\"");
    p.default_deny_ = d == "deny";
  }
  if (j.contains("allow_raw_sockets")) {
    if (!j["allow_raw_sockets"].is_boolean()) return Bad("allow_raw_sockets", "must be a boolean");
    p.allow_raw_ = j["allow_raw_sockets"].get<bool>();
  }
  if (j.contains("families")) {
    auto names = Strings(j["families"], "families");
    if (!names.ok()) return names.status();
    for (const auto& n : *names) {
      auto it = std::find_if(std::begin(kFamilies), std::end(kFamilies),
                             [&](const FamilyName& f) { return n == f.name; });
      if (it == std::end(kFamilies)) return Bad("families", absl::StrCat("unknown family \"", n, "\""));
      p.families_.insert(it->family);
    }
  }
  if (j.contains("privileged_options")) {
    auto names = Strings(j["privileged_options"], "privileged_options");
    if (!names.ok()) return names.status();
    for (const auto& n : *names) {
      if (!IsPrivilegedOptionName(n)) return Bad("privileged_options", absl::StrCat("unknown privileged option \"", n, "\""));
      p.privileged_options_.insert(n);
    }
  }
  if (j.contains("rules")) {
    if (!j["rules"].is_array()) return Bad("rules", "must be an array");
    for (size_t i = 0; i < j["rules"].size(); ++i) {
      auto rule = ParseRule(j["rules"][i], i);
      if (!rule.ok()) return rule.status();
      p.rules_.push_back(*std::move(rule));
    }
  }
  return p;
}

absl::StatusOr<Policy> Policy::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("policy file ", path, " cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto p = FromJson(ss.str());
  if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", p.status().message()));
  return p;
}

absl::Status Policy::CheckSocket(int family, int type, int proto) const {
  // Numbers the kernel has no family for get its EAFNOSUPPORT, as in Python.
  if (family != AF_INET && family != AF_INET6 && family != AF_UNIX && family > 0 && family < AF_MAX) {
    if (families_.count(family) != 0) return absl::OkStatus();
    return Denied("FAMILY_DENIED", absl::StrCat("address family ", family,
                                                " is not INET, INET6 or UNIX and the policy does not grant it"));
  }
  int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (base == SOCK_RAW || base == SOCK_PACKET) {
    if (!allow_raw_) return Denied("RAW_DENIED", "raw sockets are not allowed by the daemon's policy");
    // IPPROTO_RAW writes its own IP header (IP_HDRINCL): the destination in
    // that header would bypass every address rule.
    if (family != AF_UNIX && proto == IPPROTO_RAW && privileged_options_.count("IP_HDRINCL") == 0) {
      return Denied("OPTION_DENIED", "IPPROTO_RAW sockets write their own IP header; the policy must grant IP_HDRINCL");
    }
  }
  return absl::OkStatus();
}

absl::Status Policy::CheckOption(const OptionVerdict& v, const char* call) const {
  switch (v.cls) {
    case OptionClass::kPlain:
      return absl::OkStatus();
    case OptionClass::kPrivileged:
      if (privileged_options_.count(v.name) != 0) return absl::OkStatus();
      return Denied("OPTION_DENIED", absl::StrCat(call, " ", v.name,
                                                  " has privileged effects; the policy must grant it in privileged_options"));
    case OptionClass::kDenied:
    default:
      return Denied("OPTION_DENIED", absl::StrCat(call, " ", v.name, " is not on the daemon's allow-list of options"));
  }
}

bool Policy::RuleMatchesInet(const Rule& r, const SockAddr& sa) const {
  if (!r.paths.empty()) return false;
  int port;
  const unsigned char* bytes;
  if (sa.family() == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&sa.storage);
    port = ntohs(sin->sin_port);
    bytes = reinterpret_cast<const unsigned char*>(&sin->sin_addr);
  } else {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&sa.storage);
    port = ntohs(sin6->sin6_port);
    bytes = reinterpret_cast<const unsigned char*>(&sin6->sin6_addr);
  }
  if (r.family != 0 && (r.family != sa.family() || !PrefixMatches(bytes, r.prefix, r.prefix_len))) return false;
  return port >= r.port_lo && port <= r.port_hi;
}

absl::Status Policy::CheckDestination(PolicyOp op, const Destination& d, std::string_view principal) const {
  const char* name = PolicyOpName(op);
  auto applies = [op, principal](const Rule& r) {
    if (!r.ops.empty() && r.ops.count(op) == 0) return false;
    if (r.principals.empty()) return true;
    return std::any_of(r.principals.begin(), r.principals.end(), [&](const std::string& p) {
      if (!p.empty() && p.back() == '*') return principal.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1);
      return principal == p;
    });
  };
  if (d.family == AF_UNIX) {
    if (d.unix_name.empty()) return absl::OkStatus();  // Unnamed: reaches nothing.
    for (const auto& r : rules_) {
      if (r.paths.empty() || !applies(r)) continue;
      if (std::none_of(r.paths.begin(), r.paths.end(), [&](const std::string& p) { return PathMatches(p, d.unix_name); })) {
        continue;
      }
      if (!r.deny) return absl::OkStatus();
      break;
    }
    return Denied("POLICY_DENIED", absl::StrCat(name, " to AF_UNIX address ", d.unix_name,
                                                " is not granted by the daemon's policy"));
  }
  // Every address the kernel may act on must be allowed.
  for (const auto& sa : d.inet) {
    bool deny = default_deny_;
    for (const auto& r : rules_) {
      if (!applies(r) || !RuleMatchesInet(r, sa)) continue;
      deny = r.deny;
      break;
    }
    if (deny) {
      return Denied("POLICY_DENIED", absl::StrCat(name, " to ", Printable(sa), " is refused by the daemon's policy"));
    }
  }
  return absl::OkStatus();
}

}  // namespace sockwire::core
