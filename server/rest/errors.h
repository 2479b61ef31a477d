// gRPC status + sockwire.v1.ErrorDetail -> HTTP status + JSON error body.
//
// Body shape (snake_case, fixed):
//   {"code": 5, "status": "NOT_FOUND", "message": "...", "errno": 0,
//    "errno_name": "", "kind": "ERROR_KIND_REQUEST", "reason": "UNKNOWN_HANDLE",
//    "eai_code": 0, "h_errno": 0}
//
// HTTP status by gRPC code (and, for UNAVAILABLE/FAILED_PRECONDITION, by detail):
//   OK 200, CANCELLED 499, UNKNOWN 500, INVALID_ARGUMENT 400,
//   DEADLINE_EXCEEDED 504, NOT_FOUND 404, ALREADY_EXISTS 409,
//   PERMISSION_DENIED 403, RESOURCE_EXHAUSTED 429,
//   FAILED_PRECONDITION 409 for an OS error (the socket's state conflicts:
//     EISCONN, ENOTCONN, EPIPE...) else 400,
//   ABORTED 409, OUT_OF_RANGE 400, UNIMPLEMENTED 501, INTERNAL 500,
//   UNAVAILABLE: reason WOULD_BLOCK (EAGAIN on a non-blocking socket), and
//     EINPROGRESS/EALREADY (a non-blocking connect under way) 409 — the
//     request was fine, the socket is not ready, retry later;
//     any other OS error (ECONNREFUSED, ENETUNREACH, ECONNRESET...) 502 — the
//     upstream network failed, not the daemon; otherwise 503 (shutting down),
//   DATA_LOSS 500, UNAUTHENTICATED 401.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "sockwire/v1/common.pb.h"

namespace sockwire::server::rest {

struct HttpError {
  int http_status = 500;
  std::string body;  // JSON, newline-terminated
};

// From a finished gRPC call: `error_detail` is the raw value of its
// "sockwire-error-bin" trailer (a serialized ErrorDetail), "" when absent.
HttpError ErrorFromGrpc(const grpc::Status& status, const std::string& error_detail);

// For errors the gateway finds itself (bad JSON, unknown route, body too
// large): kind ERROR_KIND_REQUEST unless `kind` says otherwise.
HttpError GatewayError(grpc::StatusCode code, std::string reason, std::string message,
                       sockwire::v1::ErrorKind kind = sockwire::v1::ERROR_KIND_REQUEST);

// The same, with an explicit HTTP status (405, 413, 431, 503 ...).
HttpError GatewayErrorWithStatus(int http_status, grpc::StatusCode code, std::string reason,
                                 std::string message);

int HttpStatusFor(grpc::StatusCode code, const sockwire::v1::ErrorDetail& detail);
const char* StatusCodeName(grpc::StatusCode code);

// Builds the JSON body.
std::string ErrorJson(grpc::StatusCode code, const std::string& message,
                      const sockwire::v1::ErrorDetail& detail);

// JSON string literal with escapes (quotes included).
std::string JsonQuote(std::string_view s);

}  // namespace sockwire::server::rest
