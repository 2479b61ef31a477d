// DataChannel over StreamService.OpenDataChannel: after the token exchange
// (local_io.cc) the channel is a plain byte pipe, so each call is one
// syscall with the socket's timeout emulated as on the local descriptor.
#include "sockwire/data_channel.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "internal.h"
#include "local_io.h"
#include "sockwire/errors.h"
#include "sockwire/socket.h"

namespace sockwire {
namespace {
// Largest single read(): bounds what read(max) allocates.
constexpr std::size_t kMaxRead = 1 << 20;
}  // namespace

int DataChannel::checked_fd() const {
  if (!fd_) throw error(EBADF, "data channel is closed");
  return fd_.get();
}

void DataChannel::write(std::string_view data) {
  internal::SendAllLocal(checked_fd(), data, 0, internal::IoDeadline(timeout_));
}

std::string DataChannel::read(std::size_t max) {
  if (max == 0) throw std::invalid_argument("DataChannel::read: max must be > 0");
  std::string out(std::min(max, kMaxRead), '\0');
  out.resize(read_into(std::span<char>(out.data(), out.size())));
  return out;
}

std::size_t DataChannel::read_into(std::span<char> buffer) {
  int fd = checked_fd();
  if (buffer.empty()) return 0;
  return static_cast<std::size_t>(
      internal::RecvLocal(fd, buffer.data(), buffer.size(), 0, internal::IoDeadline(timeout_)));
}

void DataChannel::shutdown_write() {
  if (::shutdown(checked_fd(), SHUT_WR) != 0) internal::ThrowErrno(errno, "shutdown");
}

DataChannel Socket::data_channel() const {
  check_open();
  internal::Presented taken = internal::Present(*impl_, handle_, /*descriptor=*/false);
  // Non-blocking, so that the calls can emulate the socket's timeout mode
  // with poll (the handshake's SO_RCVTIMEO no longer applies then).
  int fd = taken.connection.get();
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) internal::ThrowErrno(errno, "fcntl");
  return DataChannel(std::move(taken.connection), timeout_);
}

}  // namespace sockwire
