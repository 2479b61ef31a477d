#include "resolver/resolver_service.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/errors.h"
#include "grpc/call.h"
#include "grpc/convert.h"
#include "grpc/status_util.h"
#include "server/core/lookup_pool.h"
#include "server/resolver/netdb_calls.h"
#include "sockwire/v1/resolver.grpc.pb.h"

namespace sockwire::server {
namespace {

namespace v1 = ::sockwire::v1;
using core::Clock;

// The longest margin kept before the caller's gRPC deadline, so that a
// lookup that runs out of time still reaches the caller as gaierror
// EAI_AGAIN rather than as a bare DEADLINE_EXCEEDED from gRPC.
constexpr std::chrono::milliseconds kDeadlineMargin{200};

// One unary call. Completions may come from any thread (a pool worker, the
// pool's deadline thread, OnCancel); the first one wins and is the only one
// that touches the response and calls Finish. They hold `Once`, never the
// reactor itself: the reactor deletes itself in OnDone, which gRPC runs only
// after Finish, and Finish comes only from the winner.
class Call final : public grpc::ServerUnaryReactor {
 public:
  struct Once {
    std::atomic<bool> finished{false};
    Call* call = nullptr;
  };

  // A copyable, thread-safe handle that completes the call once.
  class Completer {
   public:
    explicit Completer(std::shared_ptr<Once> once) : once_(std::move(once)) {}
    // OK: runs `fill` (which writes the response), then finishes OK.
    // Error: finishes with the status and its structured detail.
    template <class Fill>
    void Complete(const absl::Status& s, Fill&& fill) const {
      if (once_->finished.exchange(true, std::memory_order_acq_rel)) return;
      Call* call = once_->call;
      if (s.ok()) {
        fill();
        call->Finish(grpc::Status::OK);
      } else {
        call->Finish(ToGrpcStatus(s, call->ctx_));
      }
    }
    void Fail(const absl::Status& s) const { Complete(s, [] {}); }

   private:
    std::shared_ptr<Once> once_;
  };

  Call(core::EventLoop& loop, grpc::CallbackServerContext* ctx)
      : loop_(loop),
        ctx_(ctx),
        once_(std::make_shared<Once>()),
        cancel_(std::make_shared<core::CancelToken>()) {
    once_->call = this;
  }

  Completer completer() const { return Completer(once_); }
  const std::shared_ptr<core::CancelToken>& cancel() const { return cancel_; }

  void OnCancel() override {
    // Queued lookups are skipped and the pool stops waiting for this one.
    loop_.Cancel(cancel_);
    completer().Fail(absl::CancelledError("cancelled by the caller"));
  }
  void OnDone() override { delete this; }

 private:
  core::EventLoop& loop_;
  grpc::CallbackServerContext* ctx_;
  std::shared_ptr<Once> once_;
  std::shared_ptr<core::CancelToken> cancel_;
};

// What the service's own pool hands back; each RPC reads its part.
struct Answer {
  resolver::HostEntry host;
  std::string first;
  std::string second;
};

v1::Address ToProtoAddress(const core::SockAddr& sa) {
  v1::Address out;
  if (sa.family() == AF_INET) {
    auto* in = out.mutable_inet();
    in->set_host(resolver::NumericHost(sa));
    in->set_port(resolver::PortOf(sa));
  } else if (sa.family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa.get());
    auto* in6 = out.mutable_inet6();
    in6->set_host(resolver::NumericHost(sa));
    in6->set_port(resolver::PortOf(sa));
    in6->set_flowinfo(ntohl(sin6->sin6_flowinfo));
    in6->set_scope_id(sin6->sin6_scope_id);
  }
  return out;
}

// The bearer token the daemon requires of TCP peers: the first line of
// --token-file, as the daemon reads it.
std::string ReadBearerToken(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path);
  std::string tok;
  std::getline(in, tok);
  while (!tok.empty() && (tok.back() == '\r' || tok.back() == ' ')) tok.pop_back();
  return tok;
}

void ToProto(const resolver::HostEntry& e, v1::HostEntry* out) {
  out->set_hostname(e.hostname);
  for (const auto& a : e.aliases) out->add_aliases(a);
  for (const auto& a : e.addresses) out->add_addresses(a);
}

class ResolverServiceImpl final : public v1::ResolverService::CallbackService {
 public:
  ResolverServiceImpl(core::Core& core, const Options& options)
      : core_(core),
        allow_sethostname_(options.allow_sethostname),
        bearer_token_(ReadBearerToken(options.token_file)),
        pool_(std::max(1, options.resolver_threads)) {}

  grpc::ServerUnaryReactor* GetAddrInfo(grpc::CallbackServerContext* ctx,
                                        const v1::GetAddrInfoRequest* req,
                                        v1::GetAddrInfoResponse* resp) override {
    auto [call, ok, deadline] = Start(ctx, req->has_timeout() ? &req->timeout() : nullptr);
    if (!ok) return call;
    core::AddrInfoQuery q;
    q.has_host = req->has_host();
    q.host = req->host();
    switch (req->port_case()) {
      case v1::GetAddrInfoRequest::kPortNumber:
        q.service = absl::StrCat(req->port_number());
        break;
      case v1::GetAddrInfoRequest::kService:
        q.service = req->service();
        break;
      default:
        q.has_service = false;
    }
    q.family = req->family();
    q.socktype = req->type();
    q.protocol = req->proto();
    q.flags = req->flags();
    auto done = call->completer();
    core_.resolver().GetAddrInfo(
        std::move(q), deadline, call->cancel(),
        [done, resp](absl::StatusOr<std::vector<core::AddrInfo>> r) {
          done.Complete(r.status(), [&] {
            for (const auto& a : *r) {
              auto* out = resp->add_results();
              out->set_family(static_cast<v1::Family>(a.family));
              out->set_type(static_cast<v1::SocketType>(a.socktype));
              out->set_proto(a.protocol);
              out->set_canonname(a.canonname);
              *out->mutable_address() = ToProtoAddress(a.addr);
            }
          });
        });
    return call;
  }

  grpc::ServerUnaryReactor* GetNameInfo(grpc::CallbackServerContext* ctx,
                                        const v1::GetNameInfoRequest* req,
                                        v1::GetNameInfoResponse* resp) override {
    auto [call, ok, deadline] = Start(ctx, req->has_timeout() ? &req->timeout() : nullptr);
    if (!ok) return call;
    auto done = call->completer();
    std::string host;
    uint32_t port = 0, flowinfo = 0, scope_id = 0;
    bool inet6 = false;
    if (req->address().has_inet()) {
      host = req->address().inet().host();
      port = req->address().inet().port();
    } else if (req->address().has_inet6()) {
      inet6 = true;
      host = req->address().inet6().host();
      port = req->address().inet6().port();
      flowinfo = req->address().inet6().flowinfo();
      scope_id = req->address().inet6().scope_id();
    } else {
      done.Fail(core::RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS",
                                   "getnameinfo() argument 1 must be an inet or inet6 address"));
      return call;
    }
    int flags = req->flags();
    std::string key = absl::StrCat("ni", std::string(1, '\0'), host, std::string(1, '\0'), port,
                                   ",", inet6, ",", flowinfo, ",", scope_id, ",", flags);
    pool_.Submit(
        std::move(key),
        [=]() -> absl::StatusOr<Answer> {
          auto r = resolver::GetNameInfo(host, port, inet6, flowinfo, scope_id, flags);
          if (!r.ok()) return r.status();
          Answer a;
          a.first = std::move(r->first);
          a.second = std::move(r->second);
          return a;
        },
        deadline, call->cancel(), [] { return core::GaiError(EAI_AGAIN, "getnameinfo"); },
        [done, resp](absl::StatusOr<Answer> r) {
          done.Complete(r.status(), [&] {
            resp->set_host(r->first);
            resp->set_service(r->second);
          });
        });
    return call;
  }

  grpc::ServerUnaryReactor* GetHostByName(grpc::CallbackServerContext* ctx,
                                          const v1::GetHostByNameRequest* req,
                                          v1::GetHostByNameResponse* resp) override {
    auto [call, ok, deadline] = Start(ctx, req->has_timeout() ? &req->timeout() : nullptr);
    if (!ok) return call;
    auto done = call->completer();
    const std::string& name = req->hostname();
    // Numeric, "<broadcast>" and "" never need DNS: answer inline.
    if (name.empty()) {
      done.Complete(absl::OkStatus(), [&] { resp->set_address("0.0.0.0"); });
      return call;
    }
    if (auto local = resolver::SetIpAddrLocal(name, AF_INET)) {
      done.Complete(local->status(), [&] { resp->set_address(resolver::NumericHost(**local)); });
      return call;
    }
    core::AddrInfoQuery q;
    q.host = name;
    q.has_service = false;
    q.family = AF_INET;
    core_.resolver().GetAddrInfo(std::move(q), deadline, call->cancel(),
                                 [done, resp](absl::StatusOr<std::vector<core::AddrInfo>> r) {
                                   absl::Status s = r.status();
                                   if (s.ok() && r->empty()) {
                                     s = core::GaiError(EAI_NONAME, "getaddrinfo");
                                   }
                                   done.Complete(s, [&] {
                                     resp->set_address(resolver::NumericHost(r->front().addr));
                                   });
                                 });
    return call;
  }

  grpc::ServerUnaryReactor* GetHostByNameEx(grpc::CallbackServerContext* ctx,
                                            const v1::GetHostByNameRequest* req,
                                            v1::HostEntry* resp) override {
    std::string name = req->hostname();
    return HostEntryCall(ctx, req->has_timeout() ? &req->timeout() : nullptr, resp,
                         absl::StrCat("ex", std::string(1, '\0'), name), "gethostbyname_ex",
                         [name] { return resolver::GetHostByNameEx(name); });
  }

  grpc::ServerUnaryReactor* GetHostByAddr(grpc::CallbackServerContext* ctx,
                                          const v1::GetHostByAddrRequest* req,
                                          v1::HostEntry* resp) override {
    std::string ip = req->address();
    return HostEntryCall(ctx, req->has_timeout() ? &req->timeout() : nullptr, resp,
                         absl::StrCat("addr", std::string(1, '\0'), ip), "gethostbyaddr",
                         [ip] { return resolver::GetHostByAddr(ip); });
  }

  grpc::ServerUnaryReactor* GetFqdn(grpc::CallbackServerContext* ctx,
                                    const v1::GetFqdnRequest* req,
                                    v1::GetFqdnResponse* resp) override {
    auto [call, ok, deadline] = Start(ctx, req->has_timeout() ? &req->timeout() : nullptr);
    if (!ok) return call;
    auto done = call->completer();
    std::string name = req->name();
    if (name.find('\0') != std::string::npos) {
      done.Fail(core::RequestError(absl::StatusCode::kInvalidArgument, "BAD_ARGUMENT",
                                   "getfqdn: embedded null character"));
      return call;
    }
    pool_.Submit(
        absl::StrCat("fqdn", std::string(1, '\0'), name),
        [name]() -> absl::StatusOr<Answer> {
          Answer a;
          a.first = resolver::GetFqdn(name);
          return a;
        },
        deadline, call->cancel(), [] { return core::GaiError(EAI_AGAIN, "getfqdn"); },
        [done, resp, fallback = resolver::FqdnStartName(name)](absl::StatusOr<Answer> r) {
          // Python's getfqdn never raises on a lookup error, and running out
          // of time is one (gaierror EAI_AGAIN): answer the name unchanged.
          if (!r.ok() && core::KindOf(r.status()) == core::ErrorKind::kGai) {
            done.Complete(absl::OkStatus(), [&] { resp->set_fqdn(fallback); });
            return;
          }
          done.Complete(r.status(), [&] { resp->set_fqdn(r->first); });
        });
    return call;
  }

  grpc::ServerUnaryReactor* GetHostName(grpc::CallbackServerContext* ctx,
                                        const v1::GetHostNameRequest*,
                                        v1::GetHostNameResponse* resp) override {
    auto [call, ok, deadline] = Start(ctx, nullptr);
    if (!ok) return call;
    auto r = resolver::GetHostName();
    call->completer().Complete(r.status(), [&] { resp->set_hostname(*r); });
    return call;
  }

  grpc::ServerUnaryReactor* SetHostName(grpc::CallbackServerContext* ctx,
                                        const v1::SetHostNameRequest* req,
                                        v1::SetHostNameResponse*) override {
    auto [call, ok, deadline] = Start(ctx, nullptr);
    if (!ok) return call;
    if (!allow_sethostname_) {
      call->completer().Fail(core::PolicyError(
          absl::StatusCode::kPermissionDenied, "SETHOSTNAME_DISABLED",
          "sethostname is disabled; start sockwired with --allow-sethostname"));
      return call;
    }
    call->completer().Fail(resolver::SetHostName(req->hostname()));
    return call;
  }

  grpc::ServerUnaryReactor* GetServByName(grpc::CallbackServerContext* ctx,
                                          const v1::GetServByNameRequest* req,
                                          v1::GetServByNameResponse* resp) override {
    auto [call, ok, deadline] = Start(ctx, nullptr);
    if (!ok) return call;
    auto r = resolver::GetServByName(req->service(), req->protocol());
    call->completer().Complete(r.status(), [&] { resp->set_port(*r); });
    return call;
  }

  grpc::ServerUnaryReactor* GetServByPort(grpc::CallbackServerContext* ctx,
                                          const v1::GetServByPortRequest* req,
                                          v1::GetServByPortResponse* resp) override {
    auto [call, ok, deadline] = Start(ctx, nullptr);
    if (!ok) return call;
    auto r = resolver::GetServByPort(req->port(), req->protocol());
    call->completer().Complete(r.status(), [&] { resp->set_service(*r); });
    return call;
  }

  grpc::ServerUnaryReactor* GetProtoByName(grpc::CallbackServerContext* ctx,
                                           const v1::GetProtoByNameRequest* req,
                                           v1::GetProtoByNameResponse* resp) override {
    auto [call, ok, deadline] = Start(ctx, nullptr);
    if (!ok) return call;
    auto r = resolver::GetProtoByName(req->protocol());
    call->completer().Complete(r.status(), [&] { resp->set_proto(*r); });
    return call;
  }

 private:
  struct Started {
    Call* call;
    bool ok;
    Clock::time_point deadline;
  };

  // Creates the reactor, authenticates the session and computes the
  // deadline. When !ok the reactor is already finished with the error; the
  // handler just returns it.
  Started Start(grpc::CallbackServerContext* ctx, const google::protobuf::Duration* timeout) {
    Started st{new Call(core_.loop(), ctx), false, Clock::time_point::max()};
    // The same checks as every other service: bearer token (TCP), session.
    absl::Status s = Authenticate(ctx, core_, st.call->cancel(), bearer_token_).status();
    if (s.ok()) s = DeadlineFor(ctx, timeout, &st.deadline);
    if (s.ok()) {
      st.ok = true;
    } else {
      st.call->completer().Fail(s);
    }
    return st;
  }

  // min(request timeout, caller's gRPC deadline less a small margin).
  static absl::Status DeadlineFor(grpc::CallbackServerContext* ctx,
                                  const google::protobuf::Duration* timeout,
                                  Clock::time_point* out) {
    using std::chrono::duration_cast;
    Clock::time_point now = Clock::now();
    Clock::time_point d = CallerDeadline(ctx);
    if (d != Clock::time_point::max()) {
      Clock::duration remaining = std::max(d - now, Clock::duration::zero());
      d = now + (remaining - std::min<Clock::duration>(remaining / 10, kDeadlineMargin));
    }
    if (timeout != nullptr) {
      if (auto st = ValidateDuration(*timeout, "timeout"); !st.ok()) return st;
      if (timeout->seconds() < 0 || timeout->nanos() < 0) {
        return core::RequestError(absl::StatusCode::kInvalidArgument, "BAD_TIMEOUT",
                                  "timeout must be non-negative");
      }
      auto t = std::chrono::seconds(std::min<int64_t>(timeout->seconds(), 315576000000)) +
               std::chrono::nanoseconds(timeout->nanos());
      if (t < std::chrono::hours(24 * 365 * 100)) {
        d = std::min(d, now + duration_cast<Clock::duration>(t));
      }
    }
    *out = d;
    return absl::OkStatus();
  }

  template <class Fn>
  grpc::ServerUnaryReactor* HostEntryCall(grpc::CallbackServerContext* ctx,
                                          const google::protobuf::Duration* timeout,
                                          v1::HostEntry* resp, std::string key,
                                          const char* what, Fn fn) {
    auto [call, ok, deadline] = Start(ctx, timeout);
    if (!ok) return call;
    auto done = call->completer();
    pool_.Submit(
        std::move(key),
        [fn = std::move(fn)]() -> absl::StatusOr<Answer> {
          auto r = fn();
          if (!r.ok()) return r.status();
          Answer a;
          a.host = std::move(*r);
          return a;
        },
        deadline, call->cancel(), [what] { return core::GaiError(EAI_AGAIN, what); },
        [done, resp](absl::StatusOr<Answer> r) {
          done.Complete(r.status(), [&] { ToProto(r->host, resp); });
        });
    return call;
  }

  core::Core& core_;
  const bool allow_sethostname_;
  const std::string bearer_token_;
  resolver::LookupPool<Answer> pool_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeResolverService(core::Core& core, const Options& options) {
  return std::make_unique<ResolverServiceImpl>(core, options);
}

}  // namespace sockwire::server
