// No <netdb.h> here: its h_errno macro would clash with ErrorDetail::h_errno().
#include "sockwire/errors.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "google/rpc/status.pb.h"
#include "internal.h"
#include "sockwire/v1/common.pb.h"

namespace sockwire {
namespace {

std::string Compose(const std::error_code& code, const std::string& detail) {
  std::string text = code.message();
  std::string what = "[Errno " + std::to_string(code.value()) + "] " + text;
  if (!detail.empty() && detail != text) what += ": " + detail;
  return what;
}

}  // namespace

error::error(int err, const std::string& detail, ErrorInfo info)
    : error(std::error_code(err, std::generic_category()), detail, std::move(info)) {}

error::error(std::error_code code, const std::string& detail, ErrorInfo info)
    : std::system_error(code, detail),
      detail_(detail),
      what_(Compose(code, detail)),
      info_(std::move(info)) {}

timeout::timeout(const std::string& detail, ErrorInfo info)
    : error(ETIMEDOUT, detail, std::move(info)) {
  // Python's str(socket.timeout()) is just "timed out".
}

gaierror::gaierror(int eai_code, const std::string& detail, ErrorInfo info)
    : error(std::error_code(eai_code, gai_category()), detail, std::move(info)) {}

herror::herror(int h_errno_value, const std::string& detail, ErrorInfo info)
    : error(std::error_code(h_errno_value, herror_category()), detail, std::move(info)) {}

namespace internal {
namespace {

bool FindDetail(const grpc::Status& status, const grpc::ClientContext& ctx,
                v1::ErrorDetail* detail) {
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find("sockwire-error-bin");
  if (it != trailers.end() &&
      detail->ParseFromArray(it->second.data(), static_cast<int>(it->second.size()))) {
    return true;
  }
  if (!status.error_details().empty()) {
    google::rpc::Status rpc_status;
    if (rpc_status.ParseFromString(status.error_details())) {
      for (const auto& any : rpc_status.details()) {
        if (any.Is<v1::ErrorDetail>() && any.UnpackTo(detail)) return true;
      }
    }
  }
  return false;
}

// The errno a failure without one stands for.
int ErrnoForCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::NOT_FOUND:
      return EBADF;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return EINVAL;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return EACCES;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return ENOBUFS;
    case grpc::StatusCode::CANCELLED:
      return ECANCELED;
    case grpc::StatusCode::UNAVAILABLE:
      return ECONNREFUSED;
    case grpc::StatusCode::UNIMPLEMENTED:
      return EOPNOTSUPP;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return ETIMEDOUT;
    default:
      return EIO;
  }
}

bool IsBlockingErrno(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINPROGRESS || err == EALREADY;
}

}  // namespace

void ThrowStatus(const grpc::Status& status, const grpc::ClientContext& ctx) {
  v1::ErrorDetail detail;
  if (!FindDetail(status, ctx, &detail)) {
    ErrorInfo info;
    info.grpc_code = static_cast<int>(status.error_code());
    // No structured detail: a transport failure or a client-side deadline.
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      throw timeout("timed out", info);
    }
    std::string message = status.error_message();
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      message = "sockwire daemon unavailable: " + message;
    }
    throw error(ErrnoForCode(status.error_code()), message, info);
  }
  ThrowDetail(detail, status.error_code());
}

void ThrowDetail(const v1::ErrorDetail& detail, grpc::StatusCode code) {
  ErrorInfo info;
  info.grpc_code = static_cast<int>(code);
  info.errno_name = detail.errno_name();
  info.reason = detail.reason();
  const std::string& message = detail.message();
  switch (detail.kind()) {
    case v1::ERROR_KIND_TIMEOUT:
      throw timeout(message.empty() ? "timed out" : message, info);
    case v1::ERROR_KIND_GAI:
      throw gaierror(detail.eai_code(), message, info);
    case v1::ERROR_KIND_HERROR:
      throw herror(detail.herror_code(), message, info);
    default:
      break;
  }
  int err = detail.os_errno();
  if (err == 0) err = ErrnoForCode(code);
  if (IsBlockingErrno(err) || info.reason == "WOULD_BLOCK") {
    throw blocking_io_error(err, message, info);
  }
  throw error(err, message, info);
}

}  // namespace internal
}  // namespace sockwire
