// Calls the daemon's own gRPC methods in-process, with raw bytes.
//
// Design (decided by the lead): the REST gateway is a thin adapter. Every HTTP
// request is dispatched to the SAME gRPC method through
// grpc::Server::InProcessChannel() and a grpc::GenericStub (ByteBuffer in,
// ByteBuffer out). So every RPC is reachable over REST without per-RPC code,
// sessions, handles, quotas and errors are identical to gRPC's, and the two
// front-ends cannot drift apart.
//
// Threading: completion callbacks run on gRPC's callback threads, possibly
// inline in the starting call; they must not block (ours only post to Asio).
// Shutdown: CancelAll() + WaitIdle() make sure no callback runs after the
// owner (and the io_context the callbacks post to) is gone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

namespace sockwire::server::rest {

struct RpcOptions {
  std::string session;        // sent as metadata "sockwire-session" when set
  std::string authorization;  // forwarded as metadata "authorization" when set
  std::optional<std::chrono::system_clock::time_point> deadline;
  // More metadata, for the gateway's own calls (e.g. "sockwire-implicit").
  std::vector<std::pair<std::string, std::string>> metadata;
};

struct RpcResult {
  grpc::Status status;
  std::string response;      // serialized response message (OK only)
  std::string error_detail;  // raw "sockwire-error-bin" trailer, "" if none
};

// A started call. Cancel() is safe from any thread, any number of times,
// before or after completion.
class RpcCall {
 public:
  virtual ~RpcCall() = default;
  virtual void Cancel() = 0;
};

// A started server-streaming call. Messages arrive one at a time: after
// `on_message`, nothing more comes until Next() is called (flow control).
class RpcStream : public RpcCall {
 public:
  virtual void Next() = 0;
};

class RpcBridge {
 public:
  explicit RpcBridge(std::shared_ptr<grpc::Channel> channel);
  ~RpcBridge();

  // `method` is "/pkg.Service/Method". `done` runs exactly once.
  std::shared_ptr<RpcCall> Unary(const std::string& method, std::string request,
                                 const RpcOptions& options, std::function<void(RpcResult)> done);

  // `on_message` gets each serialized response; `on_done` runs exactly once,
  // after the last on_message.
  std::shared_ptr<RpcStream> ServerStream(const std::string& method, std::string request,
                                          const RpcOptions& options,
                                          std::function<void(std::string)> on_message,
                                          std::function<void(RpcResult)> on_done);

  // Refuses new calls (they finish at once with UNAVAILABLE) and cancels
  // every call in flight.
  void CancelAll();
  // Waits until no call is in flight; false on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  class UnaryCall;
  class StreamCall;
  friend class UnaryCall;
  friend class StreamCall;

  bool Register(const std::shared_ptr<RpcCall>& c);
  void Unregister(RpcCall* c);
  static void Prepare(grpc::ClientContext* ctx, const RpcOptions& options);

  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
  std::mutex mu_;
  std::condition_variable idle_cv_;
  bool closed_ = false;
  // Calls in flight (weak: a call is owned by gRPC's callback until it completes).
  std::unordered_map<RpcCall*, std::weak_ptr<RpcCall>> live_;
};

}  // namespace sockwire::server::rest
