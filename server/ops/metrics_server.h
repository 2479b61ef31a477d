// The --metrics-listen HTTP/1.1 server: /metrics, /healthz, /readyz only
// (ops.h), on "tcp:HOST:PORT" (port 0 picks one) or "unix:/path" (0600).
// One io thread; each connection has a 10 s budget per request and a small
// header limit, so a slow or hostile client costs one socket, not the thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace sockwire::server::ops {

class MetricsServer {
 public:
  MetricsServer();
  ~MetricsServer();
  // Returns "HOST:PORT" or "unix:/path".
  absl::StatusOr<std::string> Start(const std::string& spec);
  // Stops accepting, closes connections, joins the thread. Idempotent.
  void Shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sockwire::server::ops
