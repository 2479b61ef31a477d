#include "grpc/session_service.h"

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "core/errors.h"
#include "core/registry.h"
#include "grpc/call.h"
#include "grpc/identity.h"
#include "sockwire/v1/session.grpc.pb.h"

namespace sockwire::server {
namespace {

namespace v1 = sockwire::v1;
using grpc::CallbackServerContext;

void SetDuration(std::chrono::milliseconds ms, google::protobuf::Duration* d) {
  d->set_seconds(ms.count() / 1000);
  d->set_nanos(static_cast<int32_t>((ms.count() % 1000) * 1000000));
}

class SessionServiceImpl;

bool HasMetadata(const grpc::ServerContextBase* ctx, const char* key) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(key);
  return it != md.end() && it->second == "1";
}

// Held for the life of a client's session: one KIND_HELD event, then silence
// until the client goes away (OnCancel) or the daemon stops (one
// KIND_SHUTTING_DOWN event, then OK). Writes never overlap: a write waits for
// the previous OnWriteDone, and Finish for the outstanding write.
class HoldReactor final : public grpc::ServerWriteReactor<v1::HoldEvent> {
 public:
  HoldReactor(core::Core& core, std::shared_ptr<core::Session> s, SessionServiceImpl* owner)
      : core_(core), session_(std::move(s)), owner_(owner) {
    core_.HoldSession(session_);
    event_.set_kind(v1::HoldEvent::KIND_HELD);
    StartWrite(&event_);
  }
  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (cancelled_ || !ok) return FinishLocked(grpc::Status::CANCELLED);
    if (shutting_down_) {
      if (!sent_shutdown_) return WriteShutdownLocked();
      FinishLocked(grpc::Status::OK);
    }
  }
  void OnCancel() override {
    // The client disconnected or cancelled: ending the call starts the grace
    // period.
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(grpc::Status::CANCELLED);
  }
  // The daemon is stopping: tell the client, then end the stream.
  void NotifyShutdown() {
    absl::MutexLock lock(&mu_);
    if (finished_ || cancelled_) return;
    shutting_down_ = true;
    if (!writing_) WriteShutdownLocked();
  }
  void OnDone() override;

 private:
  void WriteShutdownLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    sent_shutdown_ = true;
    writing_ = true;
    event_.set_kind(v1::HoldEvent::KIND_SHUTTING_DOWN);
    StartWrite(&event_);
  }
  void FinishLocked(grpc::Status s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(s));
  }

  core::Core& core_;
  std::shared_ptr<core::Session> session_;
  SessionServiceImpl* owner_;
  v1::HoldEvent event_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = true;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool sent_shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
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
    // The REST gateway marks the sessions it opens for header-less requests
    // (a client setting this only limits itself).
    auto s = core_.OpenSession(PrincipalOf(ctx, !token_.empty()), HasMetadata(ctx, "sockwire-implicit"));
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
    absl::MutexLock lock(&holds_mu_);
    if (shutting_down_) return new ErrorWriter(grpc::Status(grpc::StatusCode::UNAVAILABLE, "daemon is shutting down"));
    auto* r = new HoldReactor(core_, call->session, this);
    holds_.insert(r);
    return r;
  }

  // Lock order: holds_mu_, then a reactor's mu_.
  void NotifyShutdown() {
    absl::MutexLock lock(&holds_mu_);
    shutting_down_ = true;
    for (HoldReactor* r : holds_) r->NotifyShutdown();
  }

  void Forget(HoldReactor* r) {
    absl::MutexLock lock(&holds_mu_);
    holds_.erase(r);
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
    if (!call.ok()) {
      r->Complete(call.status());
      return r;
    }
    // The REST gateway ends a header-less request's session only if the
    // request left no socket in it.
    if (HasMetadata(ctx, "sockwire-close-if-empty") && core_.SessionHandleCount(call->session) > 0) {
      r->Complete(core::RequestError(absl::StatusCode::kFailedPrecondition, "SESSION_IN_USE",
                                     "the session holds sockets; it was kept"));
      return r;
    }
    p->set_closed_sockets(core_.CloseSession(call->session));
    r->Complete(absl::OkStatus());
    return r;
  }

 private:
  core::Core& core_;
  const std::string token_;
  absl::Mutex holds_mu_;
  absl::flat_hash_set<HoldReactor*> holds_ ABSL_GUARDED_BY(holds_mu_);
  bool shutting_down_ ABSL_GUARDED_BY(holds_mu_) = false;
};

void HoldReactor::OnDone() {
  owner_->Forget(this);
  core_.ReleaseSession(session_);
  delete this;
}

}  // namespace

void NotifyHoldStreamsOfShutdown(grpc::Service* session_service) {
  static_cast<SessionServiceImpl*>(session_service)->NotifyShutdown();
}

std::unique_ptr<grpc::Service> MakeSessionService(core::Core& core, std::string bearer_token) {
  return std::make_unique<SessionServiceImpl>(core, std::move(bearer_token));
}

}  // namespace sockwire::server
