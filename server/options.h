// Daemon configuration, filled from flags by main.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sockwire::server {

struct Options {
  // gRPC listeners: "unix:/path" or "tcp:HOST:PORT" (port 0 = pick one).
  // Empty: one Unix socket (0600) in the runtime directory.
  std::vector<std::string> listen;
  // REST (HTTP/1.1 + WebSocket) listener, same syntax. Empty: none.
  std::string rest_listen;
  // Raw data-channel listener (issue 6), same syntax. Empty: none.
  std::string data_listen;
  // Bearer token required on TCP listeners (read from this file). A TCP
  // listener without one is refused unless --insecure-tcp is given.
  std::string token_file;
  bool insecure_tcp = false;
  // fd to which one JSON line of bound addresses is written once serving.
  int ready_fd = -1;
  std::string log_level = "info";

  std::chrono::milliseconds session_grace{5000};
  std::chrono::milliseconds session_lease{60000};
  std::chrono::milliseconds orphan_ttl{600000};
  uint32_t max_handles_per_session = 200000;
  uint32_t max_sessions = 10000;
  // Largest payload of one call (send data, recv bufsize, gRPC message).
  uint64_t max_message_bytes = 16u << 20;
  // Allow SessionService/Resolver sethostname to change the UTS hostname.
  bool allow_sethostname = false;
  // Allow handing real descriptors to local clients (SCM_RIGHTS).
  bool allow_fd_passing = false;
  // Worker threads for the resolver.
  int resolver_threads = 4;
  // JSON policy file (empty: allow everything the kernel allows).
  std::string policy_file;
};

}  // namespace sockwire::server
