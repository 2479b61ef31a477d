// gRPC adapter for sockwire.v1.StreamService: the per-socket byte stream
// (credit-based flow control, half-close, in-band errors) and the tokens for
// the raw data channel and descriptor passing (redeemed by server/data/).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "core/core.h"

namespace sockwire::server {

std::unique_ptr<grpc::Service> MakeStreamService(core::Core& core, std::string bearer_token);

}  // namespace sockwire::server
