// Operations endpoints shared by the metrics listener and the REST listener:
// GET /metrics (Prometheus text format 0.0.4), /healthz (alive: 200 while
// the process serves HTTP at all) and /readyz (200 while serving, 503 while
// starting or draining).
#pragma once

#include <string>
#include <string_view>

namespace sockwire::server::ops {

// Readiness, flipped by the daemon (also exported as sockwire_ready).
void SetReady(bool ready);
bool Ready();

struct OpsReply {
  int status = 200;
  std::string content_type;
  std::string body;
};

// True for the three paths above; fills `reply` (any method but GET/HEAD: 405).
bool HandleOpsPath(std::string_view method, std::string_view path, OpsReply* reply);
bool IsOpsPath(std::string_view path);

}  // namespace sockwire::server::ops
