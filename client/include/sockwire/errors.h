// The exceptions of Python's socket module, as C++ types.
//
//   std::system_error
//     sockwire::error              OSError: code() is an errno in std::generic_category,
//       sockwire::blocking_io_error  BlockingIOError (EAGAIN/EWOULDBLOCK/EINPROGRESS/EALREADY)
//       sockwire::timeout            socket.timeout (code() == std::errc::timed_out)
//       sockwire::gaierror           code() in gai_category(), value = EAI_* (negative)
//       sockwire::herror             code() in herror_category(), value = h_errno
//
// The client rebuilds these from the daemon's structured ErrorDetail (kind,
// errno, EAI code, h_errno), never from message text. Failures that are not OS
// errors keep a sensible errno: an unknown or closed handle is EBADF, a
// malformed request EINVAL, a policy refusal EACCES, a quota ENOBUFS.
#pragma once

#include <string>
#include <system_error>

namespace sockwire {

// Categories for resolver errors; message() is gai_strerror / hstrerror.
const std::error_category& gai_category() noexcept;
const std::error_category& herror_category() noexcept;

// What the daemon said besides the code, when the error came from it.
struct ErrorInfo {
  std::string errno_name;  // "ECONNREFUSED", empty when not an OS error
  std::string reason;      // machine-readable tag, e.g. "WOULD_BLOCK", "UNKNOWN_HANDLE"
  int grpc_code = 0;       // grpc::StatusCode, 0 for client-side errors
};

class error : public std::system_error {
 public:
  // An OSError with errno `err`; what() reads like Python's str(OSError):
  // "[Errno 111] Connection refused" (+ ": detail" when `detail` says more).
  error(int err, const std::string& detail = {}, ErrorInfo info = {});
  error(std::error_code code, const std::string& detail, ErrorInfo info = {});

  const char* what() const noexcept override { return what_.c_str(); }
  // The errno (or EAI code / h_errno for the resolver errors).
  int errno_value() const noexcept { return code().value(); }
  // The detail text alone (the daemon's message, or the client's).
  const std::string& detail() const noexcept { return detail_; }
  const ErrorInfo& info() const noexcept { return info_; }

 private:
  std::string detail_;
  std::string what_;
  ErrorInfo info_;
};

// BlockingIOError: the operation would block on a non-blocking socket.
class blocking_io_error : public error {
 public:
  using error::error;
};

// socket.timeout: the socket's timeout passed (errno ETIMEDOUT, what() "timed out").
class timeout : public error {
 public:
  explicit timeout(const std::string& detail = "timed out", ErrorInfo info = {});
};

// socket.gaierror: getaddrinfo/getnameinfo failure. eai_code() is EAI_*.
class gaierror : public error {
 public:
  gaierror(int eai_code, const std::string& detail = {}, ErrorInfo info = {});
  int eai_code() const noexcept { return code().value(); }
};

// socket.herror: gethostbyname/gethostbyaddr failure. h_errno_value() is h_errno.
class herror : public error {
 public:
  herror(int h_errno_value, const std::string& detail = {}, ErrorInfo info = {});
  int h_errno_value() const noexcept { return code().value(); }
};

}  // namespace sockwire
