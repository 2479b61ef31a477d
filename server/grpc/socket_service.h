// gRPC adapter for sockwire.v1.SocketService: decode, call the core, encode.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "core/core.h"

namespace sockwire::server {

std::unique_ptr<grpc::Service> MakeSocketService(core::Core& core, std::string bearer_token);

}  // namespace sockwire::server
