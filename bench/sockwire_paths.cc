#include "sockwire_paths.h"

#include <sys/socket.h>

#include <mutex>

namespace sockwire::bench {

constexpr size_t kMaxFrame = 256 << 10;

SwClient::SwClient(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  sockets = v1::SocketService::NewStub(channel);
  streams = v1::StreamService::NewStub(channel);
  sessions = v1::SessionService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::OpenSessionResponse r;
  auto st = sessions->Open(&ctx, v1::OpenSessionRequest(), &r);
  if (!st.ok()) Die("OpenSession: " + st.error_message());
  session = r.session();
}

std::unique_ptr<grpc::ClientContext> SwClient::Ctx(int deadline_s) const {
  auto c = std::make_unique<grpc::ClientContext>();
  c->AddMetadata("sockwire-session", session);
  if (deadline_s > 0) c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_s));
  return c;
}

std::string SwClient::Dial(int port) const {
  v1::CreateConnectionRequest q;
  q.mutable_address()->mutable_inet()->set_host("127.0.0.1");
  q.mutable_address()->mutable_inet()->set_port(static_cast<uint32_t>(port));
  v1::SocketInfo info;
  auto ctx = Ctx();
  auto st = sockets->CreateConnection(ctx.get(), q, &info);
  if (!st.ok()) Die("CreateConnection: " + st.error_message());
  // Echo round trips: no Nagle delay, as the direct path sets.
  v1::SetSockOptRequest so;
  so.set_handle(info.handle());
  so.set_name(v1::OPTION_TCP_NODELAY);
  so.mutable_value()->set_int_value(1);
  v1::Empty e;
  auto ctx2 = Ctx();
  st = sockets->SetSockOpt(ctx2.get(), so, &e);
  if (!st.ok()) Die("SetSockOpt TCP_NODELAY: " + st.error_message());
  return info.handle();
}

void SwClient::Close(const std::string& handle) const {
  v1::HandleRequest q;
  q.set_handle(handle);
  v1::Empty e;
  auto ctx = Ctx();
  sockets->Close(ctx.get(), q, &e);
}

// ---------------------------------------------------------------------------

BareStreamConn::BareStreamConn(v1::StreamService::Stub* stub) : rw_(stub->Stream(&ctx_)) {}

BareStreamConn::~BareStreamConn() {
  if (finished_) return;
  ctx_.TryCancel();
  while (rw_->Read(&in_)) {
  }
  rw_->Finish();
}

void BareStreamConn::Write(const char* p, size_t n) {
  while (n > 0) {
    size_t k = std::min(n, kMaxFrame);
    out_.Clear();
    out_.set_data(p, k);
    if (!rw_->Write(out_)) {
      finished_ = true;
      Die("bare stream write failed: " + rw_->Finish().error_message());
    }
    p += k;
    n -= k;
  }
}

size_t BareStreamConn::Read(char* p, size_t n) {
  while (off_ == buf_.size()) {
    if (finished_) return 0;
    if (!rw_->Read(&in_)) {
      finished_ = true;
      auto st = rw_->Finish();
      if (!st.ok()) Die("bare stream: " + st.error_message());
      return 0;
    }
    buf_ = std::move(*in_.mutable_data());
    off_ = 0;
  }
  size_t k = std::min(n, buf_.size() - off_);
  memcpy(p, buf_.data() + off_, k);
  off_ += k;
  return k;
}

void BareStreamConn::ShutdownWrite() {
  out_.Clear();
  out_.set_shutdown_write(true);
  if (!rw_->Write(out_)) {
    finished_ = true;
    Die("bare stream shutdown write failed: " + rw_->Finish().error_message());
  }
}

// ---------------------------------------------------------------------------

void UnaryConn::Write(const char* p, size_t n) {
  while (n > 0) {
    size_t k = std::min(n, kMaxFrame);
    v1::SendRequest q;
    q.set_handle(handle_);
    q.set_data(p, k);
    v1::SendResponse r;
    auto ctx = c_->Ctx();
    auto st = c_->sockets->SendAll(ctx.get(), q, &r);
    if (!st.ok()) Die("SendAll: " + st.error_message());
    p += k;
    n -= k;
  }
}

size_t UnaryConn::Read(char* p, size_t n) {
  v1::RecvRequest q;
  q.set_handle(handle_);
  q.set_bufsize(static_cast<int64_t>(std::min(n, kMaxFrame)));
  v1::RecvResponse r;
  auto ctx = c_->Ctx();
  auto st = c_->sockets->Recv(ctx.get(), q, &r);
  if (!st.ok()) Die("Recv: " + st.error_message());
  memcpy(p, r.data().data(), r.data().size());
  return r.data().size();
}

void UnaryConn::ShutdownWrite() {
  v1::ShutdownRequest q;
  q.set_handle(handle_);
  q.set_how(v1::SHUTDOWN_HOW_WR);
  v1::Empty e;
  auto ctx = c_->Ctx();
  auto st = c_->sockets->Shutdown(ctx.get(), q, &e);
  if (!st.ok()) Die("Shutdown: " + st.error_message());
}

// ---------------------------------------------------------------------------

namespace {

// The client library's paths as Conns. Each owns its Socket; the path's
// object is declared after it, so it ends before the socket closes.
class ByteStreamConn : public Conn {
 public:
  explicit ByteStreamConn(sockwire::Socket sock) : sock_(std::move(sock)), s_(sock_.stream()) {}
  void Write(const char* p, size_t n) override { s_.write(std::string_view(p, n)); }
  size_t Read(char* p, size_t n) override { return s_.read_into(std::span<char>(p, n)); }
  void ShutdownWrite() override { s_.shutdown_write(); }

 private:
  sockwire::Socket sock_;
  sockwire::ByteStream s_;
};

class DataChannelConn : public Conn {
 public:
  explicit DataChannelConn(sockwire::Socket sock) : sock_(std::move(sock)), ch_(sock_.data_channel()) {}
  void Write(const char* p, size_t n) override { ch_.write(std::string_view(p, n)); }
  size_t Read(char* p, size_t n) override { return ch_.read_into(std::span<char>(p, n)); }
  void ShutdownWrite() override { ch_.shutdown_write(); }

 private:
  sockwire::Socket sock_;
  sockwire::DataChannel ch_;
};

class LocalSocketConn : public Conn {
 public:
  explicit LocalSocketConn(sockwire::Socket sock) : sock_(std::move(sock)) { sock_.use_local_descriptor(); }
  void Write(const char* p, size_t n) override { sock_.sendall(std::string_view(p, n)); }
  size_t Read(char* p, size_t n) override { return sock_.recv_into(std::span<char>(p, n)); }
  // Through the daemon: the descriptor shares its socket.
  void ShutdownWrite() override { sock_.shutdown(SHUT_WR); }

 private:
  sockwire::Socket sock_;
};

}  // namespace

sockwire::Socket DialSocket(const sockwire::Client& client, int port) {
  sockwire::Socket sock = sockwire::create_connection(client, {"127.0.0.1", port}, std::nullopt);
  sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  return sock;
}

std::unique_ptr<Conn> OpenClientPath(sockwire::Socket sock, ClientPath path) {
  switch (path) {
    case ClientPath::kStream:
      return std::make_unique<ByteStreamConn>(std::move(sock));
    case ClientPath::kRawChannel:
      return std::make_unique<DataChannelConn>(std::move(sock));
    case ClientPath::kFdPassing:
      return std::make_unique<LocalSocketConn>(std::move(sock));
  }
  Die("unknown client path");
}

// ---------------------------------------------------------------------------

namespace {

class BareStream final : public grpc::ServerBidiReactor<v1::StreamFrame, v1::StreamFrame> {
 public:
  BareStream() { StartRead(&in_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> l(mu_);
      done_reading_ = true;
      if (!writing_ && !finished_) {
        finished_ = true;
        Finish(grpc::Status::OK);
      }
      return;
    }
    const std::string& d = in_.data();
    size_t off = 0;
    if (mode_ == 0 && !d.empty()) {
      mode_ = d[0];
      off = 1;
    }
    if (mode_ == 'E' && d.size() > off) {
      out_.Clear();
      out_.set_data(d.data() + off, d.size() - off);
      {
        std::lock_guard<std::mutex> l(mu_);
        writing_ = true;
      }
      StartWrite(&out_);  // The next read starts when the echo is written.
      return;
    }
    if (mode_ == 'L' && want_ < 0 && d.size() >= off + 8) {
      uint64_t w;
      memcpy(&w, d.data() + off, 8);
      want_ = static_cast<int64_t>(w);
      off += 8;
    }
    if (mode_ == 'S' || mode_ == 'L') sum_.Add(d.data() + off, d.size() - off);
    uint64_t counted[3];
    sum_.Final(counted);
    if ((in_.shutdown_write() && mode_ == 'S') || (mode_ == 'L' && static_cast<int64_t>(counted[0]) == want_)) {
      uint64_t r[3];
      sum_.Final(r);
      out_.Clear();
      out_.set_data(reinterpret_cast<char*>(r), sizeof r);
      {
        std::lock_guard<std::mutex> l(mu_);
        writing_ = true;
      }
      StartWrite(&out_);
      return;
    }
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> l(mu_);
    writing_ = false;
    if ((done_reading_ || !ok) && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
      return;
    }
    if (!done_reading_) StartRead(&in_);
  }
  void OnDone() override { delete this; }

 private:
  v1::StreamFrame in_, out_;
  char mode_ = 0;
  int64_t want_ = -1;
  Sum sum_;
  std::mutex mu_;
  bool writing_ = false, done_reading_ = false, finished_ = false;
};

class BareService final : public v1::StreamService::CallbackService {
  grpc::ServerBidiReactor<v1::StreamFrame, v1::StreamFrame>* Stream(grpc::CallbackServerContext*) override {
    return new BareStream();
  }
  grpc::ServerUnaryReactor* OpenDataChannel(grpc::CallbackServerContext* ctx, const v1::DataChannelRequest* q,
                                            v1::DataChannelResponse* p) override {
    p->set_token(q->handle());
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

}  // namespace

int ServeBare(const std::string& address) {
  BareService svc;
  grpc::ServerBuilder b;
  b.SetMaxReceiveMessageSize(64 << 20);
  b.SetMaxSendMessageSize(64 << 20);
  b.AddListeningPort(address, grpc::InsecureServerCredentials());
  b.RegisterService(&svc);
  auto server = b.BuildAndStart();
  if (!server) return 1;
  // Readiness: the parent polls for the socket file.
  server->Wait();
  return 0;
}

}  // namespace sockwire::bench
