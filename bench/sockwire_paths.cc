#include "sockwire_paths.h"

#include <sys/socket.h>

#include <mutex>

namespace sockwire::bench {

constexpr int64_t kReadWindow = 1 << 20;
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

StreamConn::StreamConn(v1::StreamService::Stub* stub, std::unique_ptr<grpc::ClientContext> ctx,
                       const std::string& handle, bool bare)
    : ctx_(std::move(ctx)), bare_(bare) {
  rw_ = stub->Stream(ctx_.get());
  if (bare_) return;
  out_.Clear();
  out_.set_handle(handle);
  out_.set_credit(kReadWindow);
  if (!rw_->Write(out_)) Die("stream: first write failed");
  // The daemon's first frame grants the write window (or carries the error).
  if (!ReadFrame()) {
    finished_ = true;
    auto st = rw_->Finish();
    Die("stream open: " + st.error_message());
  }
}

StreamConn::~StreamConn() {
  if (finished_) return;
  if (eof_) {
    // The daemon sent everything: end our side cleanly.
    rw_->WritesDone();
    while (rw_->Read(&in_)) {
    }
  } else {
    ctx_->TryCancel();
  }
  rw_->Finish();
}

void StreamConn::FailWrite(const std::string& what) {
  std::string why = what;
  while (rw_->Read(&in_)) {
    if (in_.has_error()) why += ": " + in_.error().message();
  }
  finished_ = true;
  auto st = rw_->Finish();
  Die(why + " (" + st.error_message() + ")");
}

bool StreamConn::ReadFrame() {
  if (!rw_->Read(&in_)) return false;
  if (in_.has_error()) Die("stream error frame: " + in_.error().message());
  write_credit_ += in_.credit();
  if (!in_.data().empty()) {
    if (off_ == buf_.size()) {
      buf_ = std::move(*in_.mutable_data());
      off_ = 0;
    } else {
      buf_.append(in_.data());
    }
  }
  if (in_.eof()) eof_ = true;
  return true;
}

void StreamConn::Write(const char* p, size_t n) {
  while (n > 0) {
    size_t k = std::min(n, kMaxFrame);
    if (!bare_) {
      while (write_credit_ < static_cast<int64_t>(k)) {
        if (write_credit_ > 0) {
          k = static_cast<size_t>(write_credit_);
          break;
        }
        if (!ReadFrame()) {
          finished_ = true;
          auto st = rw_->Finish();
          Die("stream ended while waiting for write credit: " + st.error_message());
        }
      }
      write_credit_ -= static_cast<int64_t>(k);
    }
    out_.Clear();
    out_.set_data(p, k);
    if (consumed_ > 0) {
      out_.set_credit(consumed_);
      consumed_ = 0;
    }
    if (!rw_->Write(out_)) FailWrite("stream write failed");
    p += k;
    n -= k;
  }
}

size_t StreamConn::Read(char* p, size_t n) {
  while (off_ == buf_.size()) {
    if (eof_) return 0;
    if (!ReadFrame()) {
      finished_ = true;
      auto st = rw_->Finish();
      if (!st.ok()) Die("stream: " + st.error_message());
      eof_ = true;
      return 0;
    }
  }
  size_t k = std::min(n, buf_.size() - off_);
  memcpy(p, buf_.data() + off_, k);
  off_ += k;
  if (!bare_) {
    consumed_ += static_cast<int64_t>(k);
    if (consumed_ >= kReadWindow / 2) {
      out_.Clear();
      out_.set_credit(consumed_);
      consumed_ = 0;
      // A failed grant means the daemon already finished its side (all data
      // sent, or an error); the next Read reports which.
      rw_->Write(out_);
    }
  }
  return k;
}

void StreamConn::ShutdownWrite() {
  out_.Clear();
  out_.set_shutdown_write(true);
  if (consumed_ > 0) {
    out_.set_credit(consumed_);
    consumed_ = 0;
  }
  if (!rw_->Write(out_)) FailWrite("stream shutdown write failed");
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

int ConnectAddress(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) return ConnectUnix(address.substr(5));
  if (address.rfind("tcp:", 0) == 0) {
    size_t colon = address.rfind(':');
    return ConnectTcp(atoi(address.c_str() + colon + 1));
  }
  Die("bad data address " + address);
}

// Presents the token; returns the connection after "OK\n" (and the passed
// descriptor, when `fd_out`).
int Present(const std::string& address, const std::string& token, int* fd_out) {
  int fd = ConnectAddress(address);
  std::string line = token + "\n";
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    DieErrno("send token");
  }
  char reply[128];
  size_t got = 0;
  while (got < sizeof reply) {
    ssize_t n;
    if (fd_out != nullptr && got == 0) {
      iovec iov{reply, sizeof reply};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      msghdr m{};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = control;
      m.msg_controllen = sizeof control;
      n = ::recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); n > 0 && c != nullptr; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(fd_out, CMSG_DATA(c), sizeof(int));
      }
    } else {
      n = ::recv(fd, reply + got, 1, 0);  // Byte by byte: relay data follows.
    }
    if (n <= 0) break;
    got += static_cast<size_t>(n);
    if (reply[got - 1] == '\n') break;
  }
  std::string r(reply, got);
  if (r != "OK\n") {
    ::close(fd);
    Die("data channel refused: " + r);
  }
  return fd;
}

v1::DataChannelResponse Issue(const SwClient& c, const std::string& handle, bool descriptor) {
  v1::DataChannelRequest q;
  q.set_handle(handle);
  v1::DataChannelResponse r;
  auto ctx = c.Ctx();
  auto st = descriptor ? c.streams->TakeDescriptor(ctx.get(), q, &r) : c.streams->OpenDataChannel(ctx.get(), q, &r);
  if (!st.ok()) Die(std::string(descriptor ? "TakeDescriptor: " : "OpenDataChannel: ") + st.error_message());
  return r;
}

}  // namespace

std::unique_ptr<Conn> OpenRawChannel(const SwClient& c, const std::string& handle) {
  auto r = Issue(c, handle, false);
  return std::make_unique<FdConn>(Present(r.address(), r.token(), nullptr));
}

std::unique_ptr<Conn> TakeDescriptor(const SwClient& c, const std::string& handle) {
  auto r = Issue(c, handle, true);
  int fd = -1;
  int conn = Present(r.address(), r.token(), &fd);
  ::close(conn);
  if (fd < 0) Die("no descriptor attached");
  return std::make_unique<FdConn>(fd);
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
