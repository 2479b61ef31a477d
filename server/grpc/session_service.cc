#include "grpc/session_service.h"

#include "absl/synchronization/mutex.h"
#include "core/registry.h"
#include "grpc/call.h"
#include "sockwire/v1/session.grpc.pb.h"

namespace sockwire::server {
namespace {

namespace v1 = sockwire::v1;
using grpc::CallbackServerContext;

void SetDuration(std::chrono::milliseconds ms, google::protobuf::Duration* d) {
  d->set_seconds(ms.count() / 1000);
  d->set_nanos(static_cast<int32_t>((ms.count() % 1000) * 1000000));
}

// Held for the life of a client's session: one KIND_HELD event, then silence
// until the client goes away (OnCancel) or the daemon stops.
class HoldReactor final : public grpc::ServerWriteReactor<v1::HoldEvent> {
 public:
  HoldReactor(core::Core& core, std::shared_ptr<core::Session> s) : core_(core), session_(std::move(s)) {
    core_.HoldSession(session_);
    event_.set_kind(v1::HoldEvent::KIND_HELD);
    StartWrite(&event_);
  }
  void OnWriteDone(bool /*ok*/) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (cancelled_) Finish(grpc::Status::CANCELLED);
  }
  void OnCancel() override {
    // The client disconnected or cancelled: ending the call starts the grace
    // period. Finish waits for an outstanding write.
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (!writing_) Finish(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    core_.ReleaseSession(session_);
    delete this;
  }

 private:
  core::Core& core_;
  std::shared_ptr<core::Session> session_;
  v1::HoldEvent event_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = true;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

class ErrorWriter final : public grpc::ServerWriteReactor<v1::HoldEvent> {
 public:
  explicit ErrorWriter(grpc::Status s) { Finish(std::move(s)); }
  void OnDone() override { delete this; }
};

class SessionServiceImpl final : public v1::SessionService::CallbackService {
 public:
  SessionServiceImpl(core::Core& core, std::string token) : core_(core), token_(std::move(token)) {}

  grpc::ServerUnaryReactor* Open(CallbackServerContext* ctx, const v1::OpenSessionRequest*,
                                 v1::OpenSessionResponse* p) override {
    auto* r = new CallReactor(ctx, core_);
    if (auto st = CheckBearer(ctx, token_); !st.ok()) {
      r->Complete(st);
      return r;
    }
    auto s = core_.OpenSession();
    if (s.ok()) {
      p->set_session((*s)->token());
      SetDuration(core_.options().session_lease, p->mutable_lease());
      p->set_epoch(core_.epoch());
    }
    r->Complete(s.status());
    return r;
  }

  grpc::ServerWriteReactor<v1::HoldEvent>* Hold(CallbackServerContext* ctx, const v1::HoldRequest*) override {
    auto call = Authenticate(ctx, core_, nullptr, token_);
    if (!call.ok()) return new ErrorWriter(ToGrpcStatus(call.status(), ctx));
    return new HoldReactor(core_, call->session);
  }

  grpc::ServerUnaryReactor* Renew(CallbackServerContext* ctx, const v1::RenewRequest*,
                                  v1::RenewResponse* p) override {
    auto* r = new CallReactor(ctx, core_);
    auto call = Authenticate(ctx, core_, r->cancel(), token_);
    if (call.ok()) SetDuration(core_.options().session_lease, p->mutable_lease());
    r->Complete(call.status());
    return r;
  }

  grpc::ServerUnaryReactor* Close(CallbackServerContext* ctx, const v1::CloseSessionRequest*,
                                  v1::CloseSessionResponse* p) override {
    auto* r = new CallReactor(ctx, core_);
    auto call = Authenticate(ctx, core_, r->cancel(), token_);
    if (call.ok()) p->set_closed_sockets(core_.CloseSession(call->session));
    r->Complete(call.status());
    return r;
  }

 private:
  core::Core& core_;
  const std::string token_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeSessionService(core::Core& core, std::string bearer_token) {
  return std::make_unique<SessionServiceImpl>(core, std::move(bearer_token));
}

}  // namespace sockwire::server
