#include "ops/ops.h"

#include <atomic>

#include "server/obs/metrics.h"

namespace sockwire::server::ops {
namespace {
std::atomic<bool> g_ready{false};
}  // namespace

void SetReady(bool ready) {
  g_ready.store(ready);
  obs::metrics::Ready().Set(ready ? 1 : 0);
}

bool Ready() { return g_ready.load(); }

bool IsOpsPath(std::string_view path) { return path == "/metrics" || path == "/healthz" || path == "/readyz"; }

bool HandleOpsPath(std::string_view method, std::string_view path, OpsReply* reply) {
  if (!IsOpsPath(path)) return false;
  reply->content_type = "text/plain; charset=utf-8";
  if (method != "GET" && method != "HEAD") {
    reply->status = 405;
    reply->body = "method not allowed\n";
  } else if (path == "/metrics") {
    reply->status = 200;
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
    reply->body = obs::Registry::Get().Expose();
  } else if (path == "/healthz") {
    reply->status = 200;
    reply->body = "ok\n";
  } else if (Ready()) {
    reply->status = 200;
    reply->body = "ready\n";
  } else {
    reply->status = 503;
    reply->body = "not ready (starting or draining)\n";
  }
  return true;
}

}  // namespace sockwire::server::ops
