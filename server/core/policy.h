// The daemon's policy: which sockets, options and addresses callers may use.
// docs/security.md is the threat model this implements.
//
// Loaded from a JSON file (--policy-file). The parser is strict: an unknown
// key, an unknown operation/family/option name, a reversed port range or a
// malformed prefix refuses to load, with a message that names it.
//
//   {
//     "default_action": "allow",              // unmatched inet addresses
//     "allow_raw_sockets": false,             // SOCK_RAW / SOCK_PACKET
//     "families": ["AF_NETLINK"],             // beyond INET, INET6, UNIX
//     "privileged_options": ["SO_MARK"],      // see sockopt_rules.h
//     "rules": [                              // first match wins
//       {"action": "deny", "ops": ["connect", "sendto"], "cidr": "10.0.0.0/8"},
//       {"action": "deny", "ops": ["bind"], "ports": [1, 1023]},
//       {"action": "allow", "ops": ["connect"], "paths": ["/run/app/", "@app-"]},
//       {"action": "allow", "principals": ["spiffe://prod/web"], "cidr": "10.0.0.0/8"}
//     ]
//   }
//
// ops: connect (also create_connection, and a sendto that opens a TCP
// connection), bind (also create_connection's source_address), sendto (and
// sendmsg with an address), listen. Absent: all four.
// A rule matches inet addresses (optionally a "cidr" and "ports" [lo, hi])
// or, with "paths", AF_UNIX addresses: "/dir/" matches everything under dir,
// "/x.sock" exactly that path, a trailing "*" any suffix, and "@name" the
// abstract name. AF_UNIX addresses that no rule allows are denied; so are
// the daemon's own sockets, always. "principals" limits a rule to callers
// with those principals (server/grpc/identity.h): "*" any, a trailing "*"
// a prefix ("spiffe://prod/*"), else exact.
// With no file, the defaults above apply (inet allowed, AF_UNIX names,
// raw sockets, other families and privileged options denied).
#pragma once

#include <set>
#include <string_view>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "destination.h"
#include <nlohmann/json_fwd.hpp>
#include "sockopt_rules.h"

namespace sockwire::core {

class Policy {
 public:
  // The defaults (no policy file).
  Policy() = default;
  static absl::StatusOr<Policy> FromJson(const std::string& text);
  static absl::StatusOr<Policy> FromFile(const std::string& path);

  // Each returns OK or PERMISSION_DENIED (kind POLICY) with a reason:
  // FAMILY_DENIED, RAW_DENIED, OPTION_DENIED, POLICY_DENIED.
  absl::Status CheckSocket(int family, int type, int proto) const;
  absl::Status CheckOption(const OptionVerdict& v, const char* call) const;
  // `principal`: the caller's (principal.h); rules with "principals" apply
  // only to those they name.
  absl::Status CheckDestination(PolicyOp op, const Destination& d, std::string_view principal) const;

 private:
  struct Rule {
    bool deny = true;
    std::set<PolicyOp> ops;  // empty: all
    // inet: family 0 = any address.
    int family = 0;
    unsigned char prefix[16] = {};
    int prefix_len = 0;
    int port_lo = 0, port_hi = 65535;
    // AF_UNIX rule when non-empty.
    std::vector<std::string> paths;
    // Empty: every caller. "*" any, "spiffe://org/*" a prefix, else exact.
    std::vector<std::string> principals;
  };
  static absl::StatusOr<Rule> ParseRule(const nlohmann::json& r, size_t index);
  bool RuleMatchesInet(const Rule& r, const SockAddr& sa) const;

  bool default_deny_ = false;
  bool allow_raw_ = false;
  std::set<int> families_;
  std::set<std::string> privileged_options_;
  std::vector<Rule> rules_;
};

}  // namespace sockwire::core
