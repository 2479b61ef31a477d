#include "rest/errors.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sockwire::server::rest {

namespace v1 = sockwire::v1;

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

int HttpStatusFor(grpc::StatusCode code, const v1::ErrorDetail& detail) {
  switch (code) {
    case grpc::StatusCode::OK: return 200;
    // nginx's "client closed request": the caller cancelled a waiting call.
    case grpc::StatusCode::CANCELLED: return 499;
    case grpc::StatusCode::INVALID_ARGUMENT: return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::ALREADY_EXISTS: return 409;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return 429;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return detail.kind() == v1::ERROR_KIND_OS ? 409 : 400;
    case grpc::StatusCode::ABORTED: return 409;
    case grpc::StatusCode::OUT_OF_RANGE: return 400;
    case grpc::StatusCode::UNIMPLEMENTED: return 501;
    case grpc::StatusCode::UNAVAILABLE:
      // 503 means "the daemon cannot serve now" (shutting down). EAGAIN and
      // network errors reached the daemon fine; they are about the socket.
      if (detail.reason() == "WOULD_BLOCK" || detail.os_errno() == EAGAIN ||
          detail.os_errno() == EINPROGRESS || detail.os_errno() == EALREADY) {
        return 409;
      }
      if (detail.kind() == v1::ERROR_KIND_OS || detail.os_errno() != 0) return 502;
      return 503;
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
    default: return 500;
  }
}

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  // Invalid UTF-8 in a message (e.g. an echoed hostile path) would make the
  // document invalid JSON; replace such bytes.
  std::string clean;
  clean.reserve(out.size());
  for (size_t i = 0; i < out.size();) {
    unsigned char c = out[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= out.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(out[i + k]) >> 6) == 2;
    if (ok) {
      clean.append(out, i, len);
      i += len;
    } else {
      clean += "\\ufffd";
      i += 1;
    }
  }
  clean += "\"";
  return clean;
}

std::string ErrorJson(grpc::StatusCode code, const std::string& message,
                      const v1::ErrorDetail& detail) {
  const std::string& msg = detail.message().empty() ? message : detail.message();
  return absl::StrCat("{\"code\":", static_cast<int>(code), ",\"status\":",
                      JsonQuote(StatusCodeName(code)), ",\"message\":", JsonQuote(msg),
                      ",\"errno\":", detail.os_errno(), ",\"errno_name\":",
                      JsonQuote(detail.errno_name()), ",\"kind\":",
                      JsonQuote(v1::ErrorKind_Name(detail.kind())), ",\"reason\":",
                      JsonQuote(detail.reason()), ",\"eai_code\":", detail.eai_code(),
                      ",\"h_errno\":", detail.herror_code(), "}\n");
}

HttpError ErrorFromGrpc(const grpc::Status& status, const std::string& error_detail) {
  v1::ErrorDetail detail;
  // A detail that does not parse is ignored: the status alone still holds.
  if (!error_detail.empty() && !detail.ParseFromString(error_detail)) detail.Clear();
  HttpError e;
  e.http_status = HttpStatusFor(status.error_code(), detail);
  e.body = ErrorJson(status.error_code(), status.error_message(), detail);
  return e;
}

HttpError GatewayError(grpc::StatusCode code, std::string reason, std::string message,
                       v1::ErrorKind kind) {
  v1::ErrorDetail detail;
  detail.set_kind(kind);
  detail.set_reason(std::move(reason));
  detail.set_message(std::move(message));
  HttpError e;
  e.http_status = HttpStatusFor(code, detail);
  e.body = ErrorJson(code, detail.message(), detail);
  return e;
}

HttpError GatewayErrorWithStatus(int http_status, grpc::StatusCode code, std::string reason,
                                 std::string message) {
  HttpError e = GatewayError(code, std::move(reason), std::move(message));
  e.http_status = http_status;
  return e;
}

}  // namespace sockwire::server::rest
