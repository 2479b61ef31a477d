// ByteStream over StreamService.Stream, the one client of the daemon's stream
// protocol (the benchmark and the data-path tests use it too):
// single-threaded, frames are read only when bytes or write credit are
// needed, read credit is granted as data is consumed.
#include "sockwire/stream.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "internal.h"
#include "sockwire/errors.h"

namespace sockwire {
namespace internal {

namespace {
StreamImpl& Open(StreamImpl* impl) {
  if (impl == nullptr) throw error(EBADF, "stream is closed");
  return *impl;
}
// Largest data frame we send (the daemon's own chunk size).
constexpr std::size_t kMaxFrame = 256 << 10;
}  // namespace

class StreamImpl {
 public:
  StreamImpl(std::shared_ptr<ClientImpl> client, const std::string& handle,
             std::optional<double> deadline_s, std::int64_t read_window)
      : client_(std::move(client)), read_window_(read_window) {
    ctx_ = client_->Context(deadline_s);
    rw_ = client_->streams().Stream(ctx_.get());
    out_.Clear();
    out_.set_handle(handle);
    out_.set_credit(read_window_);
    if (!rw_->Write(out_)) FailEnded();
    // The daemon's first frame grants the write window (or carries the error).
    if (!ReadFrame()) FailEnded();
    window_ = write_credit_;
  }

  ~StreamImpl() {
    try {
      Close();
    } catch (...) {
    }
  }

  // `flush`: the last frame asks the daemon to return all credit once every
  // byte is in the socket.
  void Write(std::string_view data, bool flush = false) {
    if (shut_wr_) throw error(EPIPE, "stream was shut down for writing");
    while (!data.empty()) {
      std::size_t k = std::min(data.size(), kMaxFrame);
      while (write_credit_ < static_cast<std::int64_t>(k)) {
        if (write_credit_ > 0) {
          k = static_cast<std::size_t>(write_credit_);
          break;
        }
        if (!ReadFrame()) FailEnded();
      }
      write_credit_ -= static_cast<std::int64_t>(k);
      out_.Clear();
      out_.set_data(data.data(), k);
      if (flush && k == data.size()) out_.set_flush(true);
      AttachGrant();
      if (!rw_->Write(out_)) FailEnded();
      data.remove_prefix(k);
    }
  }

  std::string Read(std::size_t max) {
    if (max == 0) throw std::invalid_argument("ByteStream::read: max must be > 0");
    std::size_t n = std::min(max, Available());
    if (n == 0) return std::string();  // EOF.
    std::string out(n, '\0');
    out.resize(ReadInto(out.data(), n));
    return out;
  }

  std::size_t ReadInto(char* p, std::size_t max) {
    if (max == 0) throw std::invalid_argument("ByteStream::read_into: the buffer must not be empty");
    while (off_ == buf_.size()) {
      if (eof_) return 0;
      if (!ReadFrame()) FailEnded();
    }
    std::size_t k = std::min(max, buf_.size() - off_);
    memcpy(p, buf_.data() + off_, k);
    off_ += k;
    consumed_ += static_cast<std::int64_t>(k);
    if (read_window_ > 0 && consumed_ >= read_window_ / 2 && !eof_) {
      out_.Clear();
      AttachGrant();
      // A failed grant means the daemon already finished its side (all data
      // sent, or an error); the next Read reports which.
      rw_->Write(out_);
    }
    return k;
  }

  void ShutdownWrite() {
    if (shut_wr_) return;
    out_.Clear();
    out_.set_shutdown_write(true);
    AttachGrant();
    if (!rw_->Write(out_)) FailEnded();
    shut_wr_ = true;
  }

  // Writes all of `data` and returns once the daemon confirms every byte is
  // in the socket: the last frame carries `flush`, and the daemon returns
  // credit only for bytes written, so the whole window coming back means
  // nothing is queued. Returns data.size().
  std::size_t SendConfirmed(std::string_view data) {
    if (data.empty()) return 0;
    Write(data, /*flush=*/true);
    while (write_credit_ < window_) {
      if (!ReadFrame()) FailEnded();
    }
    return data.size();
  }

  void Close() {
    if (finished_) return;
    finished_ = true;
    if (shut_wr_ && eof_) {
      rw_->WritesDone();
      while (rw_->Read(&in_)) {
        if (in_.has_error()) error_ = in_.error();
      }
      grpc::Status status = rw_->Finish();
      if (error_) ThrowDetail(*error_, status.error_code());
      if (!status.ok()) ThrowStatus(status, *ctx_);
      return;
    }
    ctx_->TryCancel();
    while (rw_->Read(&in_)) {
    }
    rw_->Finish();
  }

 private:
  // Bytes buffered now, or (none buffered) the size of the next frame at most.
  std::size_t Available() {
    while (off_ == buf_.size() && !eof_) {
      if (!ReadFrame()) FailEnded();
    }
    return buf_.size() - off_;
  }

  void AttachGrant() {
    if (consumed_ > 0 && read_window_ > 0) {
      out_.set_credit(consumed_);
      consumed_ = 0;
    }
  }

  // One frame from the daemon; false at the end of the call. An error frame
  // throws (after the call's status is in).
  bool ReadFrame() {
    if (finished_) throw error(EBADF, "stream is closed");
    if (!rw_->Read(&in_)) return false;
    if (in_.has_error()) {
      error_ = in_.error();
      FailEnded();
    }
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

  // The call is over (or a write failed): drain, finish and throw its error.
  [[noreturn]] void FailEnded() {
    finished_ = true;
    while (rw_->Read(&in_)) {
      if (in_.has_error()) error_ = in_.error();
    }
    grpc::Status status = rw_->Finish();
    if (error_) ThrowDetail(*error_, status.error_code());
    if (!status.ok()) ThrowStatus(status, *ctx_);
    throw error(EPIPE, "stream ended");
  }

  std::shared_ptr<ClientImpl> client_;
  std::int64_t read_window_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::StreamFrame, v1::StreamFrame>> rw_;
  std::int64_t window_ = 0;
  std::int64_t write_credit_ = 0;
  std::int64_t consumed_ = 0;
  std::string buf_;
  std::size_t off_ = 0;
  bool eof_ = false;
  bool shut_wr_ = false;
  bool finished_ = false;
  std::optional<v1::ErrorDetail> error_;
  v1::StreamFrame in_, out_;
};

std::size_t StreamSendConfirmed(ByteStream& s, std::string_view data) {
  return Open(s.impl()).SendConfirmed(data);
}

}  // namespace internal

ByteStream::ByteStream() = default;
ByteStream::ByteStream(ByteStream&&) noexcept = default;
ByteStream& ByteStream::operator=(ByteStream&& other) noexcept {
  if (this != &other) {
    impl_.reset();  // Closes, ignoring errors.
    impl_ = std::move(other.impl_);
  }
  return *this;
}
ByteStream::~ByteStream() = default;

ByteStream::ByteStream(std::shared_ptr<internal::ClientImpl> client, const std::string& handle,
                       std::optional<double> deadline_s, long long read_window)
    : impl_(std::make_unique<internal::StreamImpl>(std::move(client), handle, deadline_s,
                                                   read_window)) {}

void ByteStream::write(std::string_view data) { internal::Open(impl_.get()).Write(data); }
std::string ByteStream::read(std::size_t max) { return internal::Open(impl_.get()).Read(max); }
std::size_t ByteStream::read_into(std::span<char> buffer) {
  return internal::Open(impl_.get()).ReadInto(buffer.data(), buffer.size());
}
void ByteStream::shutdown_write() { internal::Open(impl_.get()).ShutdownWrite(); }

void ByteStream::close() {
  if (!impl_) return;
  auto impl = std::move(impl_);
  impl->Close();
}

}  // namespace sockwire
