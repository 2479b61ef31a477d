// absl::Status from the core -> grpc::Status with the structured detail.
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "sockwire/v1/common.pb.h"

namespace sockwire::server {

// The detail a client reads instead of parsing text.
sockwire::v1::ErrorDetail ToErrorDetail(const absl::Status& s);

// Status code and message, with grpc-status-details-bin holding a
// google.rpc.Status that carries Any(ErrorDetail).
grpc::Status ToGrpcStatus(const absl::Status& s);

// Also puts the serialized ErrorDetail in the "sockwire-error-bin" trailer,
// for clients without google.rpc. Call before Finish.
grpc::Status ToGrpcStatus(const absl::Status& s, grpc::ServerContextBase* ctx);

}  // namespace sockwire::server
