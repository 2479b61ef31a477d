// Wires the core to its front-ends and runs them. main.cc only parses flags.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "activation.h"
#include "options.h"

namespace sockwire::core {
class Core;
}

namespace sockwire::server {
namespace ops {
class MetricsServer;
}

// A front-end beside gRPC (REST, the raw data channel, ...). Started after the
// gRPC server is up, so it can reach every RPC through InProcessChannel().
class Frontend {
 public:
  virtual ~Frontend() = default;
  // Binds and starts serving; returns the bound address ("127.0.0.1:PORT" or
  // "unix:/path") for the ready line.
  virtual absl::StatusOr<std::string> Start() = 0;
  // Stops accepting, closes connections; must be idempotent.
  virtual void Shutdown() = 0;
};

class Daemon {
 public:
  explicit Daemon(Options options);
  ~Daemon();

  // Listening sockets from the service manager (TakeListenFds), served in
  // addition to --listen (instead of the default listener). Before Start().
  void InheritListeners(std::vector<InheritedListener> listeners) { inherited_ = std::move(listeners); }
  // Binds every listener and starts serving. Writes the ready line.
  absl::Status Start();
  // Blocks until Shutdown() (e.g. from a signal) has completed.
  void Wait();
  // Readiness off: /readyz 503 and gRPC health NOT_SERVING, while every
  // listener still serves, for --drain-period; then returns. Shutdown()
  // drains (without the wait) if this was not called. Idempotent.
  void Drain();
  // Thread-safe, idempotent.
  void Shutdown();

  core::Core& core() { return *core_; }
  const Options& options() const { return options_; }
  grpc::Server* grpc_server() { return server_.get(); }

 private:
  Options options_;
  std::unique_ptr<core::Core> core_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::unique_ptr<Frontend>> frontends_;
  std::vector<std::string> grpc_addresses_;
  std::vector<InheritedListener> inherited_;
  std::vector<std::unique_ptr<InheritedAcceptor>> acceptors_;
  std::atomic<bool> shut_down_{false};
  std::atomic<bool> drained_{false};
  std::unique_ptr<ops::MetricsServer> metrics_;
  std::shared_ptr<std::atomic<bool>> probe_stop_;  // Ends the event-loop lag probe.
  grpc::Service* session_service_ = nullptr;  // Owned by services_.
};

// unix:$XDG_RUNTIME_DIR/sockwire/sockwired.sock, /run/sockwire/... for root,
// else /tmp/sockwire-$UID/....
std::string DefaultListenAddress();

}  // namespace sockwire::server
