#include "rest/rpc_bridge.h"

#include <vector>

namespace sockwire::server::rest {
namespace {

grpc::ByteBuffer ToByteBuffer(std::string bytes) {
  grpc::Slice slice(std::move(bytes));
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& bb) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!bb.Dump(&slices).ok()) return out;
  out.reserve(bb.Length());
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

std::string ErrorDetailOf(grpc::ClientContext& ctx) {
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find("sockwire-error-bin");
  if (it == trailers.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

class RpcBridge::UnaryCall : public RpcCall {
 public:
  void Cancel() override { ctx.TryCancel(); }
  grpc::ClientContext ctx;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
};

// A server-streaming call over the generic (bidi) reactor. A hold keeps
// OnDone from running while the consumer still owns a message it has not
// acknowledged with Next(); it is released exactly once, when a read fails
// (end of stream) or on Cancel() with no read outstanding.
class RpcBridge::StreamCall : public RpcStream,
                              public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamCall(RpcBridge* bridge, std::function<void(std::string)> on_message,
             std::function<void(RpcResult)> on_done)
      : bridge_(bridge), on_message_(std::move(on_message)), on_done_(std::move(on_done)) {}

  void Begin(std::shared_ptr<StreamCall> self) {
    self_ = std::move(self);
    AddHold();
    StartWriteLast(&request, grpc::WriteOptions());
    read_pending_ = true;
    StartRead(&response_);
    StartCall();
  }

  void Next() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (cancelled_ || released_ || read_pending_) return;
      read_pending_ = true;
    }
    StartRead(&response_);
  }

  void Cancel() override {
    bool release = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (done_) return;
      cancelled_ = true;
      if (!read_pending_ && !released_) release = released_ = true;
    }
    ctx.TryCancel();
    if (release) RemoveHold();
  }

  void OnReadDone(bool ok) override {
    bool release = false;
    bool deliver = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      read_pending_ = false;
      if (!ok || cancelled_) {
        if (!released_) release = released_ = true;
      } else {
        deliver = true;
      }
    }
    if (deliver) {
      on_message_(FromByteBuffer(response_));
    } else if (release) {
      RemoveHold();
    }
  }

  void OnWriteDone(bool) override {}

  // Finishes a call that was never started.
  void Fail(RpcResult r) {
    auto done = std::move(on_done_);
    done(std::move(r));
  }

  void OnDone(const grpc::Status& s) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    RpcResult r;
    r.status = s;
    if (!s.ok()) r.error_detail = ErrorDetailOf(ctx);
    auto done = std::move(on_done_);
    on_message_ = nullptr;
    done(std::move(r));
    bridge_->Unregister(this);
    // Last: may destroy this object (and ctx), which gRPC allows in OnDone.
    auto self = std::move(self_);
  }

  grpc::ClientContext ctx;
  grpc::ByteBuffer request;

 private:
  RpcBridge* bridge_;
  std::function<void(std::string)> on_message_;
  std::function<void(RpcResult)> on_done_;
  grpc::ByteBuffer response_;
  std::shared_ptr<StreamCall> self_;
  std::mutex mu_;
  bool read_pending_ = false;
  bool cancelled_ = false;
  bool released_ = false;
  bool done_ = false;
};

RpcBridge::RpcBridge(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), stub_(channel_) {}

RpcBridge::~RpcBridge() {
  CancelAll();
  WaitIdle(std::chrono::seconds(10));
}

void RpcBridge::Prepare(grpc::ClientContext* ctx, const RpcOptions& options) {
  if (!options.session.empty()) ctx->AddMetadata("sockwire-session", options.session);
  if (!options.authorization.empty()) ctx->AddMetadata("authorization", options.authorization);
  if (options.deadline) ctx->set_deadline(*options.deadline);
  for (const auto& [k, v] : options.metadata) ctx->AddMetadata(k, v);
}

bool RpcBridge::Register(const std::shared_ptr<RpcCall>& c) {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_) return false;
  live_.emplace(c.get(), c);
  return true;
}

void RpcBridge::Unregister(RpcCall* c) {
  std::lock_guard<std::mutex> l(mu_);
  live_.erase(c);
  if (live_.empty()) idle_cv_.notify_all();
}

std::shared_ptr<RpcCall> RpcBridge::Unary(const std::string& method, std::string request,
                                          const RpcOptions& options,
                                          std::function<void(RpcResult)> done) {
  auto call = std::make_shared<UnaryCall>();
  if (!Register(call)) {
    done(RpcResult{grpc::Status(grpc::StatusCode::UNAVAILABLE, "the daemon is shutting down"),
                   "", ""});
    return call;
  }
  Prepare(&call->ctx, options);
  call->request = ToByteBuffer(std::move(request));
  // The callback owns the call (and its ClientContext) until it has run;
  // gRPC holds its own reference to the underlying call meanwhile, so the
  // context may be destroyed from inside the callback.
  stub_.UnaryCall(&call->ctx, method, grpc::StubOptions(), &call->request, &call->response,
                  [this, call, done = std::move(done)](grpc::Status s) {
                    RpcResult r;
                    if (s.ok()) {
                      r.response = FromByteBuffer(call->response);
                    } else {
                      r.error_detail = ErrorDetailOf(call->ctx);
                    }
                    r.status = std::move(s);
                    done(std::move(r));
                    Unregister(call.get());
                  });
  return call;
}

std::shared_ptr<RpcStream> RpcBridge::ServerStream(const std::string& method, std::string request,
                                                   const RpcOptions& options,
                                                   std::function<void(std::string)> on_message,
                                                   std::function<void(RpcResult)> on_done) {
  auto call = std::make_shared<StreamCall>(this, std::move(on_message), std::move(on_done));
  if (!Register(call)) {
    call->Fail(RpcResult{grpc::Status(grpc::StatusCode::UNAVAILABLE, "the daemon is shutting down"),
                         "", ""});
    return call;
  }
  Prepare(&call->ctx, options);
  call->request = ToByteBuffer(std::move(request));
  stub_.PrepareBidiStreamingCall(&call->ctx, method, grpc::StubOptions(), call.get());
  call->Begin(call);
  return call;
}

void RpcBridge::CancelAll() {
  std::vector<std::shared_ptr<RpcCall>> calls;
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    for (auto& [raw, weak] : live_) {
      if (auto c = weak.lock()) calls.push_back(std::move(c));
    }
  }
  // Outside the lock: a cancellation may complete a call on this thread.
  for (auto& c : calls) c->Cancel();
}

bool RpcBridge::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  return idle_cv_.wait_for(l, timeout, [this] { return live_.empty(); });
}

}  // namespace sockwire::server::rest
