// The stream reactor never blocks a thread: socket I/O is non-blocking and
// "would block" becomes an event-loop wait whose callbacks re-enter Step().
// All state is under one mutex; gRPC operations (StartRead/StartWrite/Finish)
// are decided under it and issued after it is released.
//
// Memory per stream is bounded whatever either side does:
//   client -> socket: at most kWindow bytes queued (the client's write credit;
//     a frame beyond it is a protocol error);
//   socket -> client: at most one chunk read ahead plus one frame in flight.
//
// Payload bytes are not copied in user space: the method is registered raw
// (grpc::ByteBuffer), received data is queued as references to gRPC's own
// slices and written with sendmsg(), and socket data is recv()'d straight
// into the slice that gRPC then sends (see frame_codec.h).
#include "grpc/stream_service.h"

#include "server/obs/metrics.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <deque>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "core/errors.h"
#include "core/socket_entry.h"
#include "data/hub.h"
#include "grpc/call.h"
#include "grpc/frame_codec.h"
#include "sockwire/v1/stream.grpc.pb.h"

namespace sockwire::server {
namespace {

namespace v1 = sockwire::v1;
using grpc::CallbackServerContext;

constexpr int64_t kWindow = 1 << 20;      // Client write window.
constexpr int64_t kChunk = 256 << 10;     // Largest data frame we send.
constexpr int64_t kMaxCredit = int64_t{1} << 40;
// Reads shorter than this are copied out of the receive buffer, which is then
// reused; longer ones hand the buffer itself to gRPC.
constexpr size_t kCopyBelow = 16 << 10;
constexpr int kMaxIov = 64;
// Received pieces smaller than this are copied out of gRPC's buffer.
constexpr size_t kCopyPieceBelow = 4 << 10;
// Gathered small pieces become one queue slice at this size.
constexpr size_t kSmallBatch = 16 << 10;

bool WouldBlock(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

class StreamReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamReactor(CallbackServerContext* ctx, core::Core& core, const std::string& bearer)
      : ctx_(ctx), core_(core) {
    auto call = Authenticate(ctx, core_, nullptr, bearer);
    if (!call.ok()) {
      finished_ = true;
      Finish(ToGrpcStatus(call.status(), ctx_));
      return;
    }
    call_ = *std::move(call);
    reading_ = true;
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (!finished_) {
        if (!ok) {
          client_done_ = true;
          if (!opened_) {
            if (!error_) error_ = core::RequestError(absl::StatusCode::kInvalidArgument, "NO_HANDLE",
                                                     "the stream ended before its first frame named a handle");
          } else if (!ctx_->IsCancelled()) {
            want_shut_wr_ = true;  // WritesDone is a half-close.
          }
        } else if (auto st = ParseFrame(in_, &frame_); !st.ok()) {
          error_ = std::move(st);
        } else {
          in_.Clear();
          if (!opened_) Open();
          if (opened_) Consume();
        }
        StepLocked(&act);  // Also starts the next read (MaybeReadLocked).
      }
    }
    Perform(act);
  }

  void OnWriteDone(bool ok) override {
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) cancelled_ = true;  // The client is gone.
      StepLocked(&act);
    }
    Perform(act);
  }

  void OnCancel() override {
    Actions act;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      StepLocked(&act);
    }
    Perform(act);
  }

  void OnDone() override { Unref(); }

 private:
  struct Actions {
    bool read = false;
    bool write = false;
    std::optional<grpc::Status> finish;
  };

  void Perform(Actions& act) {
    if (act.write) StartWrite(&out_);
    if (act.read) StartRead(&in_);
    if (act.finish) Finish(*act.finish);
  }

  void Unref() {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      last = --refs_ == 0;
    }
    if (last) delete this;
  }

  void Open() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto e = core_.Lookup(call_, frame_.handle);
    if (!e.ok()) {
      error_ = e.status();
      return;
    }
    if (((*e)->type() & 0xf) != SOCK_STREAM) {
      // Frames are not datagrams: queued frames are written with one
      // sendmsg() and socket reads are cut at the credit.
      error_ = core::RequestError(absl::StatusCode::kFailedPrecondition, "NOT_A_STREAM",
                                  "the byte stream carries SOCK_STREAM sockets only");
      return;
    }
    entry_ = *std::move(e);
    opened_ = true;
    rtok_ = std::make_shared<core::CancelToken>();
  }

  // Takes in the client's frame: credit, data, half-close.
  void Consume() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (frame_.credit < 0) {
      error_ = core::RequestError(absl::StatusCode::kInvalidArgument, "FLOW_CONTROL", "negative credit");
      return;
    }
    credit_ = std::min(kMaxCredit, credit_ + frame_.credit);
    if (frame_.data_size > 0) {
      int64_t n = static_cast<int64_t>(frame_.data_size);
      if (n > client_credit_ || want_shut_wr_) {
        error_ = core::RequestError(absl::StatusCode::kResourceExhausted, "FLOW_CONTROL",
                                    want_shut_wr_ ? "data after shutdown_write"
                                                  : "data beyond the write credit the daemon granted");
        return;
      }
      client_credit_ -= n;
      for (auto& piece : frame_.data) {
        // Small pieces are gathered into small_ (and later one slice), so
        // they neither keep whole receive buffers of gRPC's alive nor cost
        // a queue entry each: a million 1-byte frames within the credit
        // cost about a megabyte.
        if (piece.size() < kCopyPieceBelow) {
          small_.append(reinterpret_cast<const char*>(piece.begin()), piece.size());
          if (small_.size() >= kSmallBatch) CommitSmall();
        } else {
          CommitSmall();  // Order: earlier small bytes first.
          wq_.push_back(std::move(piece));
        }
      }
    }
    if (frame_.shutdown_write) want_shut_wr_ = true;
    if (frame_.flush) flush_ = true;
    frame_ = InFrame();
  }

  // Moves the gathered small bytes to the end of the queue, as one slice.
  void CommitSmall() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (small_.empty()) return;
    wq_.push_back(grpc::Slice(small_.data(), small_.size()));
    small_.clear();
  }

  bool QueueEmpty() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wq_.empty() && small_.empty(); }

  // Writes queued client data to the socket. False when it must wait.
  bool SendLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Small bytes wait in small_ only while the socket is behind; once the
    // queue is empty they go now (an echo's request must not wait).
    if (wq_.empty()) CommitSmall();
    while (!wq_.empty()) {
      // One sendmsg() for as many queued pieces as fit (a 256 KiB frame
      // arrives as many slices of gRPC's read buffers).
      iovec iov[kMaxIov];
      int cnt = 0;
      for (auto it = wq_.begin(); it != wq_.end() && cnt < kMaxIov; ++it, ++cnt) {
        size_t skip = cnt == 0 ? woff_ : 0;
        iov[cnt].iov_base = const_cast<uint8_t*>(it->begin()) + skip;
        iov[cnt].iov_len = it->size() - skip;
      }
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = static_cast<size_t>(cnt);
      ssize_t n = ::sendmsg(entry_->fd(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) {
        core_.TouchSession(call_.session, &last_touch_);  // Traffic renews the lease.
        obs::metrics::BytesIn(obs::metrics::Path::kStream).Inc(static_cast<uint64_t>(n));
        grant_pending_ += n;
        size_t left = static_cast<size_t>(n);
        while (left > 0) {
          size_t avail = wq_.front().size() - woff_;
          if (left < avail) {
            woff_ += left;
            break;
          }
          left -= avail;
          wq_.pop_front();
          woff_ = 0;
        }
        if (wq_.empty()) CommitSmall();
        continue;
      }
      if (errno == EINTR) continue;
      if (WouldBlock(errno)) return false;
      error_ = core::OsError(errno, "send");
      return true;
    }
    if (want_shut_wr_ && !shut_wr_done_) {
      shut_wr_done_ = true;
      if (::shutdown(entry_->fd(), SHUT_WR) != 0 && errno != ENOTCONN) error_ = core::OsError(errno, "shutdown");
    }
    return true;
  }

  // Reads one chunk (within the client's credit) into rbuf_. False when it
  // must wait.
  bool RecvLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (!eof_seen_ && !rbuf_full_ && credit_ > 0) {
      // spare_ is ours alone (freshly allocated or never handed out), so
      // writing into it is safe.
      if (spare_.size() == 0) spare_ = grpc::Slice(static_cast<size_t>(kChunk));
      char* buf = const_cast<char*>(reinterpret_cast<const char*>(spare_.begin()));
      ssize_t n = ::recv(entry_->fd(), buf, static_cast<size_t>(std::min(credit_, kChunk)), MSG_DONTWAIT);
      if (n > 0) {
        core_.TouchSession(call_.session, &last_touch_);  // Traffic renews the lease.
        obs::metrics::BytesOut(obs::metrics::Path::kStream).Inc(static_cast<uint64_t>(n));
        size_t got = static_cast<size_t>(n);
        if (got < kCopyBelow) {
          rbuf_ = grpc::Slice(buf, got);
        } else {
          rbuf_ = spare_.sub(0, got);  // gRPC sends from it; allocate anew.
          spare_ = grpc::Slice();
        }
        rbuf_full_ = true;
        credit_ -= n;
      } else if (n == 0) {
        eof_seen_ = true;
      } else if (errno == EINTR) {
        continue;
      } else if (WouldBlock(errno)) {
        return false;
      } else {
        error_ = core::OsError(errno, "recv");
      }
      return true;
    }
    return true;
  }

  bool Dead() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return finished_ || cancelled_ || error_.has_value(); }

  // One wait per stream, registered once for its whole life: every readiness
  // edge of the socket (either direction) runs StepLocked, which does all the
  // I/O possible now. No epoll_ctl and no loop post per chunk; I/O that the
  // gRPC side unblocks (new credit, a drained frame) runs on that thread.
  void ArmOnce() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (armed_) return;
    armed_ = true;
    ++refs_;
    core_.loop().Wait(
        entry_, EPOLLIN | EPOLLOUT, call_.deadline, rtok_,
        [this]() -> bool {
          Actions act;
          bool end;
          {
            absl::MutexLock lock(&mu_);
            StepLocked(&act);
            end = Dead();
          }
          Perform(act);
          if (!end) return false;  // Keep waiting for the next edge.
          Unref();
          return true;
        },
        [this](absl::Status st) {
          Actions act;
          {
            absl::MutexLock lock(&mu_);
            if (!Dead() && !absl::IsCancelled(st)) error_ = std::move(st);
            StepLocked(&act);
          }
          Perform(act);
          Unref();
        },
        [] { return core::TimeoutError("stream"); });
  }

  // Starts the next read of a client frame unless one is pending or the
  // client is done. (Pausing reads while the queue is long only moved the
  // frames into gRPC's own buffers, which cost more per frame than wq_.)
  void MaybeReadLocked(Actions* act) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || client_done_ || Dead()) return;
    reading_ = true;
    act->read = true;
  }

  // Moves everything forward as far as it can without blocking.
  void StepLocked(Actions* act) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (opened_ && !Dead()) {
      if (entry_->closed()) error_ = core::OsError(EBADF, "socket was closed while streaming");
    }
    if (opened_ && !Dead()) {
      // Would-block needs no action: the stream's wait is registered.
      SendLocked();
      if (!Dead()) RecvLocked();
      ArmOnce();
    }
    MaybeReadLocked(act);
    if (!writing_ && !cancelled_) {
      if (error_) {
        if (!error_sent_) {
          error_sent_ = true;
          out_ = BuildErrorFrame(ToErrorDetail(*error_));
          writing_ = true;
          act->write = true;
        }
      } else if (opened_) {
        bool have = false;
        int64_t credit = 0;
        bool eof = false;
        std::optional<grpc::Slice> data;
        if (!first_sent_) {
          first_sent_ = true;
          credit = kWindow;
          have = true;
        }
        if (rbuf_full_) {
          data = std::move(rbuf_);
          rbuf_ = grpc::Slice();
          rbuf_full_ = false;
          have = true;
        } else if (eof_seen_ && !eof_sent_) {
          eof = true;
          eof_sent_ = true;
          have = true;
        }
        // Credit for written bytes rides on a frame we send anyway, or goes
        // on its own once half a window is pending, or once the queue has
        // drained after the client asked (`flush`: the client's sendall
        // waits for its whole window to know every byte is in the socket).
        // Not on every drain unasked: in an echo that would put a
        // credit-only frame (and its write completion) before every reply.
        if (flush_ && QueueEmpty()) {
          flush_ = false;
          if (grant_pending_ > 0) have = true;
        }
        if (grant_pending_ > 0 && (have || grant_pending_ >= kWindow / 2)) {
          credit += grant_pending_;
          client_credit_ += grant_pending_;
          grant_pending_ = 0;
          have = true;
        }
        if (have) {
          out_ = BuildFrame(credit, eof, data ? &*data : nullptr);
          writing_ = true;
          act->write = true;
          // Read the next chunk while this frame is in flight.
          if (!Dead()) RecvLocked();
        }
      }
    }
    if (writing_) return;  // Finish after the write in flight.
    std::optional<grpc::Status> fin;
    if (cancelled_) {
      fin = grpc::Status::CANCELLED;
    } else if (error_ && error_sent_) {
      fin = ToGrpcStatus(*error_, ctx_);
    } else if (opened_ && eof_sent_ && shut_wr_done_ && QueueEmpty()) {
      fin = grpc::Status::OK;
    }
    if (fin) {
      finished_ = true;
      if (rtok_) core_.loop().Cancel(rtok_);
      act->finish = std::move(fin);
    }
  }

  CallbackServerContext* const ctx_;
  core::Core& core_;
  core::CallContext call_;
  // Read/written by gRPC while reading_/writing_; otherwise under mu_.
  grpc::ByteBuffer in_;
  grpc::ByteBuffer out_;
  InFrame frame_ ABSL_GUARDED_BY(mu_);

  absl::Mutex mu_;
  int refs_ ABSL_GUARDED_BY(mu_) = 1;  // gRPC's (OnDone) + the loop wait's.
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool opened_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<core::SocketEntry> entry_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<core::CancelToken> rtok_;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  core::Clock::time_point last_touch_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> error_ ABSL_GUARDED_BY(mu_);
  bool error_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool first_sent_ ABSL_GUARDED_BY(mu_) = false;
  // Client -> socket.
  // Pieces of received frames (references into gRPC's buffers).
  std::deque<grpc::Slice> wq_ ABSL_GUARDED_BY(mu_);
  std::string small_ ABSL_GUARDED_BY(mu_);  // Small pieces after wq_, not yet a slice.
  size_t woff_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t client_credit_ ABSL_GUARDED_BY(mu_) = kWindow;
  int64_t grant_pending_ ABSL_GUARDED_BY(mu_) = 0;
  bool want_shut_wr_ ABSL_GUARDED_BY(mu_) = false;
  bool flush_ ABSL_GUARDED_BY(mu_) = false;  // Return all credit once wq_ drains.
  bool shut_wr_done_ ABSL_GUARDED_BY(mu_) = false;
  bool client_done_ ABSL_GUARDED_BY(mu_) = false;
  // Socket -> client.
  int64_t credit_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Slice rbuf_ ABSL_GUARDED_BY(mu_);   // The next frame's data.
  grpc::Slice spare_ ABSL_GUARDED_BY(mu_);  // Receive buffer, reused when copied from.
  bool rbuf_full_ ABSL_GUARDED_BY(mu_) = false;
  bool eof_seen_ ABSL_GUARDED_BY(mu_) = false;
  bool eof_sent_ ABSL_GUARDED_BY(mu_) = false;
};

// Stream is raw (ByteBuffer) so payloads are not copied; the other two
// methods are ordinary callback methods.
using StreamServiceBase = v1::StreamService::WithRawCallbackMethod_Stream<
    v1::StreamService::WithCallbackMethod_OpenDataChannel<
        v1::StreamService::WithCallbackMethod_TakeDescriptor<v1::StreamService::Service>>>;

class StreamServiceImpl final : public StreamServiceBase {
 public:
  StreamServiceImpl(core::Core& core, std::string token) : core_(core), token_(std::move(token)) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(CallbackServerContext* ctx) override {
    return new StreamReactor(ctx, core_, token_);
  }

  grpc::ServerUnaryReactor* OpenDataChannel(CallbackServerContext* ctx, const v1::DataChannelRequest* q,
                                            v1::DataChannelResponse* p) override {
    return Issue(ctx, q, p, data::TokenKind::kRelay);
  }

  grpc::ServerUnaryReactor* TakeDescriptor(CallbackServerContext* ctx, const v1::DataChannelRequest* q,
                                           v1::DataChannelResponse* p) override {
    return Issue(ctx, q, p, data::TokenKind::kDescriptor);
  }

 private:
  grpc::ServerUnaryReactor* Issue(CallbackServerContext* ctx, const v1::DataChannelRequest* q,
                                  v1::DataChannelResponse* p, data::TokenKind kind) {
    auto* r = new CallReactor(ctx, core_);
    r->Complete([&]() -> absl::Status {
      auto call = Authenticate(ctx, core_, r->cancel(), token_);
      if (!call.ok()) return call.status();
      auto e = core_.Lookup(*call, q->handle());
      if (!e.ok()) return e.status();
      if (kind == data::TokenKind::kDescriptor && !core_.options().allow_fd_passing) {
        return core::PolicyError(absl::StatusCode::kPermissionDenied, "FD_PASSING_DISABLED",
                                 "descriptor passing needs the daemon to run with --allow-fd-passing");
      }
      if (kind == data::TokenKind::kRelay && ((*e)->type() & 0xf) != SOCK_STREAM) {
        return core::RequestError(absl::StatusCode::kFailedPrecondition, "NOT_A_STREAM",
                                  "the raw data channel relays SOCK_STREAM sockets only");
      }
      auto& hub = data::Hub::For(core_);
      std::string address = hub.address();
      if (address.empty()) {
        return core::RequestError(absl::StatusCode::kFailedPrecondition, "NO_DATA_LISTENER",
                                  "the daemon runs without --data-listen");
      }
      if (kind == data::TokenKind::kDescriptor && address.rfind("unix:", 0) != 0) {
        return core::RequestError(absl::StatusCode::kFailedPrecondition, "NO_UNIX_DATA_LISTENER",
                                  "descriptor passing needs a unix: --data-listen address");
      }
      p->set_token(hub.Issue(*std::move(e), kind, call->session));
      p->set_address(address);
      return absl::OkStatus();
    }());
    return r;
  }

  core::Core& core_;
  const std::string token_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeStreamService(core::Core& core, std::string bearer_token) {
  return std::make_unique<StreamServiceImpl>(core, std::move(bearer_token));
}

}  // namespace sockwire::server
