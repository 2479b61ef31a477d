// The daemon's egress/ingress policy: which sockets and addresses clients may
// use. Loaded from a JSON file (--policy-file); with no file everything the
// kernel allows is allowed.
//
//   {
//     "allow_raw_sockets": false,          // SOCK_RAW / SOCK_PACKET
//     "rules": [                           // first match wins; default allow
//       {"action": "deny", "ops": ["connect", "sendto"], "cidr": "10.0.0.0/8"},
//       {"action": "deny", "ops": ["bind"], "ports": [1, 1023]}
//     ]
//   }
//
// ops: connect (also create_connection, connect_ex), bind, sendto (also
// sendmsg with an address). cidr: an IPv4/IPv6 prefix (absent: any address,
// AF_UNIX included). ports: [lo, hi] inclusive (absent: any).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "resolver.h"

namespace sockwire::core {

class Policy {
 public:
  // Allows everything.
  Policy() = default;
  static absl::StatusOr<Policy> FromJson(const std::string& text);
  static absl::StatusOr<Policy> FromFile(const std::string& path);

  // PERMISSION_DENIED (kind POLICY, reason POLICY_DENIED) or OK.
  absl::Status CheckSocket(int family, int type) const;
  absl::Status CheckAddress(const std::string& op, const SockAddr& addr) const;

 private:
  struct Rule {
    bool deny = true;
    std::vector<std::string> ops;
    int family = 0;  // 0: any
    unsigned char prefix[16] = {};
    int prefix_len = -1;  // -1: any address
    int port_lo = 0, port_hi = 65535;
  };
  bool allow_raw_ = true;
  std::vector<Rule> rules_;
};

}  // namespace sockwire::core
