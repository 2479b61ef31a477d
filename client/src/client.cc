#include "sockwire/client.h"

#include <cmath>

#include <grpc/grpc.h>

#include "internal.h"
#include "sockwire/errors.h"
#include "sockwire/socket.h"

namespace sockwire {
namespace internal {

void ToDuration(double seconds, google::protobuf::Duration* d) {
  double whole = std::floor(seconds);
  d->set_seconds(static_cast<std::int64_t>(whole));
  d->set_nanos(static_cast<std::int32_t>(std::llround((seconds - whole) * 1e9)));
  if (d->nanos() >= 1000000000) {
    d->set_seconds(d->seconds() + 1);
    d->set_nanos(0);
  }
}

double FromDuration(const google::protobuf::Duration& d) {
  return static_cast<double>(d.seconds()) + d.nanos() / 1e9;
}

std::optional<double> FromTimeoutMode(const v1::TimeoutMode& mode) {
  if (!mode.has_timeout()) return std::nullopt;
  return FromDuration(mode.timeout());
}

void HoldReactor::Start(v1::SessionService::Stub* stub, const std::string& session,
                        const std::string& bearer) {
  ctx_.AddMetadata("sockwire-session", session);
  if (!bearer.empty()) ctx_.AddMetadata("authorization", "Bearer " + bearer);
  stub->async()->Hold(&ctx_, &request_, this);
  StartRead(&event_);
  StartCall();
  std::lock_guard<std::mutex> lock(mu_);
  started_ = true;
}

void HoldReactor::OnReadDone(bool ok) {
  // Events (HELD, SHUTTING_DOWN) need no action; keep reading until the
  // stream ends so OnDone reports it.
  if (ok) StartRead(&event_);
}

void HoldReactor::OnDone(const grpc::Status& /*status*/) {
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
  cv_.notify_all();
}

void HoldReactor::Stop() {
  ctx_.TryCancel();
  std::unique_lock<std::mutex> lock(mu_);
  if (!started_) return;
  cv_.wait(lock, [this] { return done_; });
}

namespace {

std::string ChannelTarget(const std::string& target) {
  if (target.rfind("tcp:", 0) == 0) return target.substr(4);
  return target;
}

}  // namespace

ClientImpl::ClientImpl(const std::string& target, ClientOptions options)
    : target_(target), options_(std::move(options)) {
  // Keep gRPC initialized for the life of the process. Otherwise the last
  // Client's destruction runs grpc_shutdown(), which can block for ~10 s
  // waiting on gRPC's internal threads, and the next Client re-initializes.
  static const bool grpc_initialized = [] {
    grpc_init();
    return true;
  }();
  (void)grpc_initialized;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!options_.tls_root_pem.empty() || !options_.tls_cert_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.tls_root_pem;  // Empty: the system's roots.
    ssl.pem_cert_chain = options_.tls_cert_pem;
    ssl.pem_private_key = options_.tls_key_pem;
    creds = grpc::SslCredentials(ssl);
  }
  channel_ = grpc::CreateCustomChannel(ChannelTarget(target), creds,
                                       args);
  sockets_ = v1::SocketService::NewStub(channel_);
  sessions_ = v1::SessionService::NewStub(channel_);
  resolver_ = v1::ResolverService::NewStub(channel_);
  streams_ = v1::StreamService::NewStub(channel_);

  grpc::ClientContext ctx;
  if (!options_.bearer_token.empty()) {
    ctx.AddMetadata("authorization", "Bearer " + options_.bearer_token);
  }
  ctx.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  v1::OpenSessionResponse resp;
  grpc::Status status = sessions_->Open(&ctx, v1::OpenSessionRequest(), &resp);
  if (!status.ok()) ThrowStatus(status, ctx);
  session_ = resp.session();

  hold_ = std::make_unique<HoldReactor>();
  hold_->Start(sessions_.get(), session_, options_.bearer_token);
}

ClientImpl::~ClientImpl() {
  if (hold_) hold_->Stop();
}

std::unique_ptr<grpc::ClientContext> ClientImpl::Context(std::optional<double> deadline_s) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("sockwire-session", session_);
  if (!options_.bearer_token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + options_.bearer_token);
  }
  if (deadline_s) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(
                          std::chrono::duration<double>(*deadline_s)));
  }
  return ctx;
}

}  // namespace internal

Client::Client(const std::string& target, ClientOptions options)
    : impl_(std::make_shared<internal::ClientImpl>(target, std::move(options))) {}

Client::~Client() = default;

const std::string& Client::target() const { return impl_->target(); }
const std::string& Client::session() const { return impl_->session(); }

Socket Client::socket(int family, int type, int proto) const {
  return Socket(*this, family, type, proto);
}

int Client::close_session() {
  v1::CloseSessionResponse resp;
  impl_->Call(impl_->quick(), [&](grpc::ClientContext* ctx) {
    return impl_->sessions().Close(ctx, v1::CloseSessionRequest(), &resp);
  });
  return resp.closed_sockets();
}

}  // namespace sockwire
