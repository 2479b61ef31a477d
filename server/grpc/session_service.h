// gRPC adapter for sockwire.v1.SessionService.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "core/core.h"

namespace sockwire::server {

std::unique_ptr<grpc::Service> MakeSessionService(core::Core& core, std::string bearer_token);

}  // namespace sockwire::server
