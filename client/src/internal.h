// Connection state shared by a Client, its copies and its Sockets, and the
// helpers every RPC wrapper uses.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "sockwire/client.h"
#include "sockwire/stream.h"
#include "sockwire/v1/session.grpc.pb.h"
#include "sockwire/v1/resolver.grpc.pb.h"
#include "sockwire/v1/socket.grpc.pb.h"
#include "sockwire/v1/stream.grpc.pb.h"

namespace sockwire::internal {

// Throws the sockwire exception for a failed call: from the trailer
// "sockwire-error-bin" (an ErrorDetail), else from google.rpc.Status
// details, else from the status code alone.
[[noreturn]] void ThrowStatus(const grpc::Status& status, const grpc::ClientContext& ctx);
// Throws the sockwire exception for an ErrorDetail (e.g. one that arrived
// in-band on a stream); `code` is the call's status code.
[[noreturn]] void ThrowDetail(const v1::ErrorDetail& detail, grpc::StatusCode code);

// Keeps the session's Hold stream open on gRPC's callback threads.
class HoldReactor : public grpc::ClientReadReactor<v1::HoldEvent> {
 public:
  HoldReactor() = default;
  void Start(v1::SessionService::Stub* stub, const std::string& session,
             const std::string& bearer);
  // Cancels the stream and waits until gRPC is done with this object.
  void Stop();
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  grpc::ClientContext ctx_;
  v1::HoldRequest request_;
  v1::HoldEvent event_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool done_ = false;
};

class ClientImpl {
 public:
  ClientImpl(const std::string& target, ClientOptions options);
  ~ClientImpl();

  // A context with the session (and bearer) metadata. `deadline_s`: seconds
  // from now; nullopt = no deadline.
  std::unique_ptr<grpc::ClientContext> Context(std::optional<double> deadline_s) const;
  // The deadline for calls that do not wait on the network.
  double quick() const { return options_.rpc_timeout.count() / 1000.0; }
  double margin() const { return options_.timeout_margin.count() / 1000.0; }

  // Runs fn(ctx) -> grpc::Status; throws on failure.
  template <typename Fn>
  void Call(std::optional<double> deadline_s, Fn&& fn) const {
    auto ctx = Context(deadline_s);
    grpc::Status status = fn(ctx.get());
    if (!status.ok()) ThrowStatus(status, *ctx);
  }

  v1::SocketService::Stub& sockets() const { return *sockets_; }
  v1::SessionService::Stub& sessions() const { return *sessions_; }
  v1::ResolverService::Stub& resolver() const { return *resolver_; }
  v1::StreamService::Stub& streams() const { return *streams_; }
  const std::string& target() const { return target_; }
  const std::string& session() const { return session_; }
  const ClientOptions& options() const { return options_; }

  // ClientOptions::local_descriptors: set once the daemon refused to pass a
  // descriptor, so that further sockets do not ask again. Shared by threads.
  bool local_refused() const { return local_refused_.load(std::memory_order_relaxed); }
  void set_local_refused() const { local_refused_.store(true, std::memory_order_relaxed); }

 private:
  std::string target_;
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SocketService::Stub> sockets_;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::ResolverService::Stub> resolver_;
  std::unique_ptr<v1::StreamService::Stub> streams_;
  std::string session_;
  std::unique_ptr<HoldReactor> hold_;
  mutable std::atomic<bool> local_refused_{false};
};

// Sends all of `data` over `s` and returns once the daemon confirmed every
// byte is in the socket (a `flush` frame, stream.proto). Returns data.size().
std::size_t StreamSendConfirmed(ByteStream& s, std::string_view data);

// Seconds <-> google.protobuf.Duration.
void ToDuration(double seconds, google::protobuf::Duration* d);
double FromDuration(const google::protobuf::Duration& d);
std::optional<double> FromTimeoutMode(const v1::TimeoutMode& mode);

}  // namespace sockwire::internal
