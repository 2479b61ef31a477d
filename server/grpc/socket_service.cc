#include "grpc/socket_service.h"

#include "server/obs/metrics.h"

#include <sys/socket.h>

#include "core/errors.h"
#include "grpc/call.h"
#include "grpc/convert.h"
#include "sockwire/v1/socket.grpc.pb.h"

namespace sockwire::server {
namespace {

namespace v1 = sockwire::v1;
using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

class SocketServiceImpl final : public v1::SocketService::CallbackService {
 public:
  SocketServiceImpl(core::Core& core, std::string token) : core_(core), token_(std::move(token)) {}

  // Authenticates, then hands the call to `fn(call, reactor)`, which must end
  // in exactly one reactor->Complete().
  template <class Fn>
  ServerUnaryReactor* Serve(CallbackServerContext* ctx, Fn&& fn) {
    auto* r = new CallReactor(ctx, core_);
    auto call = Authenticate(ctx, core_, r->cancel(), token_);
    if (!call.ok()) {
      r->Complete(call.status());
    } else {
      fn(*call, r);
    }
    return r;
  }

  ServerUnaryReactor* Create(CallbackServerContext* ctx, const v1::CreateRequest* q, v1::SocketInfo* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto info = core_.Create(c, q->family(), q->type(), q->proto(), q->nonblock(), q->cloexec());
      if (info.ok()) ToProto(*info, p);
      r->Complete(info.status());
    });
  }

  ServerUnaryReactor* CreatePair(CallbackServerContext* ctx, const v1::CreatePairRequest* q,
                                 v1::CreatePairResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto pair = core_.CreatePair(c, q->family(), q->type(), q->proto());
      if (pair.ok()) {
        ToProto(pair->first, p->mutable_first());
        ToProto(pair->second, p->mutable_second());
      }
      r->Complete(pair.status());
    });
  }

  ServerUnaryReactor* CreateConnection(CallbackServerContext* ctx, const v1::CreateConnectionRequest* q,
                                       v1::SocketInfo* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      std::optional<core::Address> source;
      if (q->has_source_address()) source = FromProto(q->source_address());
      auto timeout = TimeoutFromProto(q->has_timeout(), q->timeout());
      if (!timeout.ok()) return r->Complete(timeout.status());
      core_.CreateConnection(c, FromProto(q->address()), *timeout,
                             source, [p, r](absl::StatusOr<core::SocketInfo> info) {
                               if (info.ok()) ToProto(*info, p);
                               r->Complete(info.status());
                             });
    });
  }

  ServerUnaryReactor* Close(CallbackServerContext* ctx, const v1::HandleRequest* q, v1::Empty*) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) { r->Complete(core_.Close(c, q->handle())); });
  }

  ServerUnaryReactor* Dup(CallbackServerContext* ctx, const v1::HandleRequest* q, v1::SocketInfo* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) { Info(core_.Dup(c, q->handle()), p, r); });
  }

  ServerUnaryReactor* Detach(CallbackServerContext* ctx, const v1::HandleRequest* q,
                             v1::DetachResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto h = core_.Detach(c, q->handle());
      if (h.ok()) p->set_handle(*h);
      r->Complete(h.status());
    });
  }

  ServerUnaryReactor* Attach(CallbackServerContext* ctx, const v1::HandleRequest* q, v1::SocketInfo* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) { Info(core_.Attach(c, q->handle()), p, r); });
  }

  ServerUnaryReactor* Share(CallbackServerContext* ctx, const v1::HandleRequest* q, v1::ShareResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto t = core_.Share(c, q->handle());
      if (t.ok()) p->set_token(*t);
      r->Complete(t.status());
    });
  }

  ServerUnaryReactor* FromShare(CallbackServerContext* ctx, const v1::FromShareRequest* q,
                                v1::SocketInfo* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) { Info(core_.FromShare(c, q->token()), p, r); });
  }

  ServerUnaryReactor* GetInfo(CallbackServerContext* ctx, const v1::HandleRequest* q, v1::SocketInfo* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) { Info(core_.GetInfo(c, q->handle()), p, r); });
  }

  ServerUnaryReactor* List(CallbackServerContext* ctx, const v1::ListRequest*, v1::ListResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      for (const auto& i : core_.List(c)) ToProto(i, p->add_sockets());
      r->Complete(absl::OkStatus());
    });
  }

  ServerUnaryReactor* Bind(CallbackServerContext* ctx, const v1::AddressRequest* q, v1::Empty*) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core_.Bind(c, q->handle(), FromProto(q->address()), [r](absl::Status s) { r->Complete(s); });
    });
  }

  ServerUnaryReactor* Listen(CallbackServerContext* ctx, const v1::ListenRequest* q, v1::Empty*) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      std::optional<int> backlog;
      if (q->has_backlog()) backlog = q->backlog();
      r->Complete(core_.Listen(c, q->handle(), backlog));
    });
  }

  ServerUnaryReactor* Accept(CallbackServerContext* ctx, const v1::HandleRequest* q,
                             v1::AcceptResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core_.Accept(c, q->handle(), [p, r](absl::StatusOr<core::AcceptResult> a) {
        if (a.ok()) {
          ToProto(a->socket, p->mutable_socket());
          ToProto(a->peer, p->mutable_address());
        }
        r->Complete(a.status());
      });
    });
  }

  ServerUnaryReactor* Connect(CallbackServerContext* ctx, const v1::AddressRequest* q, v1::Empty*) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core_.Connect(c, q->handle(), FromProto(q->address()), [r](absl::Status s) { r->Complete(s); });
    });
  }

  ServerUnaryReactor* ConnectEx(CallbackServerContext* ctx, const v1::AddressRequest* q,
                                v1::ConnectExResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core_.Connect(c, q->handle(), FromProto(q->address()), [p, r](absl::Status s) {
        // connect_ex returns the errno instead of raising, for OS errors only;
        // a bad handle or address still fails the call, as in Python.
        if (int e = core::ErrnoOf(s); e != 0 && core::KindOf(s) == core::ErrorKind::kOs) {
          p->set_os_errno(e);
          p->set_errno_name(core::ErrnoName(e));
          return r->Complete(absl::OkStatus());
        }
        r->Complete(s);
      });
    });
  }

  ServerUnaryReactor* Shutdown(CallbackServerContext* ctx, const v1::ShutdownRequest* q, v1::Empty*) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      int how = static_cast<int>(q->how()) - 1;  // SHUTDOWN_HOW_RD = 1 -> SHUT_RD = 0.
      r->Complete(core_.Shutdown(c, q->handle(), how));
    });
  }

  ServerUnaryReactor* GetSockName(CallbackServerContext* ctx, const v1::HandleRequest* q, v1::Address* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto a = core_.GetSockName(c, q->handle());
      if (a.ok()) ToProto(*a, p);
      r->Complete(a.status());
    });
  }

  ServerUnaryReactor* GetPeerName(CallbackServerContext* ctx, const v1::HandleRequest* q, v1::Address* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto a = core_.GetPeerName(c, q->handle());
      if (a.ok()) ToProto(*a, p);
      r->Complete(a.status());
    });
  }

  // 0 selects the raw (level, optname) form; -1 says neither was given.
  template <class Req>
  static int TypedOrRaw(const Req& q) {
    if (q.has_raw()) return 0;
    return q.name() == 0 ? -1 : static_cast<int>(q.name());
  }

  ServerUnaryReactor* SetSockOpt(CallbackServerContext* ctx, const v1::SetSockOptRequest* q, v1::Empty*) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      r->Complete(core_.SetSockOpt(c, q->handle(), TypedOrRaw(*q),
                                   q->raw().level(), q->raw().optname(), FromProto(q->value()), q->optlen()));
    });
  }

  ServerUnaryReactor* GetSockOpt(CallbackServerContext* ctx, const v1::GetSockOptRequest* q,
                                 v1::OptionValue* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto v = core_.GetSockOpt(c, q->handle(), TypedOrRaw(*q),
                                q->raw().level(), q->raw().optname(), q->buflen());
      if (v.ok()) ToProto(*v, p);
      r->Complete(v.status());
    });
  }

  ServerUnaryReactor* SetTimeout(CallbackServerContext* ctx, const v1::SetTimeoutRequest* q, v1::Empty*) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto timeout = TimeoutFromProto(q->has_timeout(), q->timeout());
      if (!timeout.ok()) return r->Complete(timeout.status());
      r->Complete(core_.SetTimeout(c, q->handle(), *timeout));
    });
  }

  ServerUnaryReactor* GetTimeout(CallbackServerContext* ctx, const v1::HandleRequest* q,
                                 v1::TimeoutResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto t = core_.GetTimeout(c, q->handle());
      if (t.ok()) TimeoutToProto(*t, p->mutable_mode());
      r->Complete(t.status());
    });
  }

  ServerUnaryReactor* SetBlocking(CallbackServerContext* ctx, const v1::SetBlockingRequest* q, v1::Empty*) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core::Timeout t;
      if (!q->blocking()) t = std::chrono::nanoseconds(0);
      r->Complete(core_.SetTimeout(c, q->handle(), t));
    });
  }

  ServerUnaryReactor* GetBlocking(CallbackServerContext* ctx, const v1::HandleRequest* q,
                                  v1::BlockingResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto t = core_.GetTimeout(c, q->handle());
      // Python: getblocking() is False only for timeout 0.
      if (t.ok()) p->set_blocking(!(t->has_value() && (*t)->count() == 0));
      r->Complete(t.status());
    });
  }

  ServerUnaryReactor* SetInheritable(CallbackServerContext* ctx, const v1::SetInheritableRequest* q,
                                     v1::Empty*) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      r->Complete(core_.SetInheritable(c, q->handle(), q->inheritable()));
    });
  }

  ServerUnaryReactor* GetInheritable(CallbackServerContext* ctx, const v1::HandleRequest* q,
                                     v1::InheritableResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto v = core_.GetInheritable(c, q->handle());
      if (v.ok()) p->set_inheritable(*v);
      r->Complete(v.status());
    });
  }

  ServerUnaryReactor* Ioctl(CallbackServerContext* ctx, const v1::IoctlRequest* q, v1::IoctlResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      auto v = core_.Ioctl(c, q->handle(), static_cast<int>(q->request()));
      if (v.ok()) p->set_value(*v);
      r->Complete(v.status());
    });
  }

  ServerUnaryReactor* Send(CallbackServerContext* ctx, const v1::SendRequest* q, v1::SendResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core_.Send(c, q->handle(), q->data(), q->flags(), Sent(p, r, BytesIn(ctx)));
    });
  }

  ServerUnaryReactor* SendAll(CallbackServerContext* ctx, const v1::SendRequest* q, v1::SendResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core_.SendAll(c, q->handle(), q->data(), q->flags(), Sent(p, r, BytesIn(ctx)));
    });
  }

  ServerUnaryReactor* SendTo(CallbackServerContext* ctx, const v1::SendToRequest* q, v1::SendResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core_.SendTo(c, q->handle(), q->data(), q->flags(), FromProto(q->address()), Sent(p, r, BytesIn(ctx)));
    });
  }

  ServerUnaryReactor* SendMsg(CallbackServerContext* ctx, const v1::SendMsgRequest* q, v1::SendResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      std::vector<std::string> buffers(q->buffers().begin(), q->buffers().end());
      std::vector<core::Ancillary> anc;
      for (const auto& a : q->ancillary()) anc.push_back({a.level(), a.type(), a.data()});
      std::optional<core::Address> to;
      if (q->has_address()) to = FromProto(q->address());
      core_.SendMsg(c, q->handle(), std::move(buffers), std::move(anc), q->flags(), to, Sent(p, r, BytesIn(ctx)));
    });
  }

  ServerUnaryReactor* Recv(CallbackServerContext* ctx, const v1::RecvRequest* q, v1::RecvResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core_.Recv(c, q->handle(), q->bufsize(), q->flags(),
                 [p, r, bytes = BytesOut(ctx)](absl::StatusOr<core::RecvResult> x) {
        if (x.ok()) {
          bytes->Inc(x->data.size());
          p->set_data(std::move(x->data));
        }
        r->Complete(x.status());
      });
    });
  }

  ServerUnaryReactor* RecvFrom(CallbackServerContext* ctx, const v1::RecvRequest* q,
                               v1::RecvFromResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core_.RecvFrom(c, q->handle(), q->bufsize(), q->flags(),
                     [p, r, bytes = BytesOut(ctx)](absl::StatusOr<core::RecvResult> x) {
        if (x.ok()) {
          bytes->Inc(x->data.size());
          p->set_data(std::move(x->data));
          if (x->from) ToProto(*x->from, p->mutable_address());
        }
        r->Complete(x.status());
      });
    });
  }

  ServerUnaryReactor* RecvMsg(CallbackServerContext* ctx, const v1::RecvMsgRequest* q,
                              v1::RecvMsgResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      core_.RecvMsg(c, q->handle(), q->bufsize(), q->ancbufsize(), q->flags(),
                    [p, r, bytes = BytesOut(ctx)](absl::StatusOr<core::RecvResult> x) {
                      if (x.ok()) {
                        bytes->Inc(x->data.size());
                        p->set_data(std::move(x->data));
                        for (auto& a : x->ancillary) {
                          auto* o = p->add_ancillary();
                          o->set_level(a.level);
                          o->set_type(a.type);
                          o->set_data(std::move(a.data));
                        }
                        p->set_msg_flags(x->msg_flags);
                        if (x->from) ToProto(*x->from, p->mutable_address());
                      }
                      r->Complete(x.status());
                    });
    });
  }

  ServerUnaryReactor* Poll(CallbackServerContext* ctx, const v1::PollRequest* q, v1::PollResponse* p) override {
    return Serve(ctx, [&](core::CallContext& c, CallReactor* r) {
      std::vector<core::PollItem> items;
      for (const auto& i : q->items()) items.push_back({i.handle(), i.events()});
      std::optional<std::chrono::nanoseconds> timeout;
      if (q->has_timeout()) {
        auto t = TimeoutFromProto(true, q->timeout());
        if (!t.ok()) return r->Complete(t.status());
        timeout = **t;
      }
      core_.Poll(c, std::move(items), timeout, [p, r](absl::StatusOr<std::vector<core::PollReady>> ready) {
        if (ready.ok()) {
          for (const auto& x : *ready) {
            auto* o = p->add_ready();
            o->set_handle(x.handle);
            o->set_revents(x.revents);
          }
        }
        r->Complete(ready.status());
      });
    });
  }

 private:
  static void Info(const absl::StatusOr<core::SocketInfo>& info, v1::SocketInfo* p, CallReactor* r) {
    if (info.ok()) ToProto(*info, p);
    r->Complete(info.status());
  }

  // The WebSocket relay rides these RPCs in-process and says so in
  // metadata, so its bytes are counted under path="websocket", once.
  static bool FromWebSocket(const grpc::ServerContextBase* ctx) {
    auto it = ctx->client_metadata().find("sockwire-data-path");
    return it != ctx->client_metadata().end() && it->second == "websocket";
  }
  static obs::Counter* BytesIn(const grpc::ServerContextBase* ctx) {
    return &obs::metrics::BytesIn(FromWebSocket(ctx) ? obs::metrics::Path::kWebSocket : obs::metrics::Path::kUnary);
  }
  static obs::Counter* BytesOut(const grpc::ServerContextBase* ctx) {
    return &obs::metrics::BytesOut(FromWebSocket(ctx) ? obs::metrics::Path::kWebSocket : obs::metrics::Path::kUnary);
  }

  static core::Done<int64_t> Sent(v1::SendResponse* p, CallReactor* r, obs::Counter* bytes) {
    return [p, r, bytes](absl::StatusOr<int64_t> n) {
      if (n.ok()) {
        p->set_sent(*n);
        if (*n > 0) bytes->Inc(static_cast<uint64_t>(*n));
      }
      r->Complete(n.status());
    };
  }

  core::Core& core_;
  const std::string token_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeSocketService(core::Core& core, std::string bearer_token) {
  return std::make_unique<SocketServiceImpl>(core, std::move(bearer_token));
}

}  // namespace sockwire::server
