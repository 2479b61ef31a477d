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
  // TLS on gRPC TCP listeners: PEM certificate chain and key, and an
  // optional CA whose client certificates are required (mutual TLS; the
  // certificate's identity becomes the caller's principal).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // fd to which one JSON line of bound addresses is written once serving.
  int ready_fd = -1;
  std::string log_level = "info";
  // "text" or "json" (one object per line; README "Operations").
  std::string log_format = "text";
  // Prometheus /metrics, /healthz, /readyz listener ("tcp:HOST:PORT" or
  // "unix:/path"). Empty: none (REST serves them too when it is on).
  std::string metrics_listen;
  // On SIGTERM: how long health reports NOT_SERVING (gRPC health, /readyz)
  // while the daemon still serves, before it stops accepting.
  std::chrono::milliseconds drain_period{0};

  std::chrono::milliseconds session_grace{5000};
  std::chrono::milliseconds session_lease{60000};
  std::chrono::milliseconds orphan_ttl{600000};
  // Per-session handle quota; 0 = min(200000, max_handles / 2), so one
  // session cannot take every descriptor the daemon may lend.
  uint32_t max_handles_per_session = 0;
  uint32_t max_sessions = 10000;

  // ---- Resource limits (server/core/fd_limits.h derives the 0 = auto ones
  // from RLIMIT_NOFILE at start, after raising the soft limit to the hard).
  // Descriptors never lent out: gRPC's connections and internals, REST and
  // data-listener connections, the resolver. 0 = max(min(limit / 2, 256), limit / 8).
  uint32_t fd_reserve = 0;
  // Descriptors the daemon holds for clients, daemon-wide: handles, plus the
  // pipes of raw data channels and the epoll set of a pending Poll. 0 = the
  // limit minus the reserve.
  uint32_t max_handles = 0;
  // The RLIMIT_NOFILE soft limit in effect (filled at start, not a flag).
  uint64_t fd_limit = 0;
  // Open REST connections (HTTP and WebSocket). 0 = min(512, reserve / 4).
  uint32_t rest_max_connections = 0;
  // Time a new REST connection has to send its request head.
  std::chrono::milliseconds rest_header_timeout{10000};
  // Concurrent REST requests (and WebSocket streams) that carry one session.
  uint32_t rest_slots_per_session = 8;
  // Sessions the REST gateway opened for header-less requests that are still
  // alive (they hold sockets). 0 = max(1, max_sessions / 4).
  uint32_t max_implicit_sessions = 0;
  // Data-listener connections that have not presented a token yet.
  // 0 = min(256, reserve / 8).
  uint32_t data_max_pending = 0;
  // Time a data-listener connection has to present its token.
  std::chrono::milliseconds data_handshake_timeout{5000};
  // Payload bytes held by pending Send/SendAll/SendTo/SendMsg calls,
  // daemon-wide and per session.
  uint64_t max_bytes_in_flight = 256u << 20;
  uint64_t max_bytes_in_flight_per_session = 64u << 20;
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
