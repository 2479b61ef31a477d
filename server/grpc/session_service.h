// gRPC adapter for sockwire.v1.SessionService.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "core/core.h"

namespace sockwire::server {

std::unique_ptr<grpc::Service> MakeSessionService(core::Core& core, std::string bearer_token);

// Sends KIND_SHUTTING_DOWN on every Hold stream of `session_service` (made by
// MakeSessionService) and ends them; new Holds get UNAVAILABLE.
void NotifyHoldStreamsOfShutdown(grpc::Service* session_service);

}  // namespace sockwire::server
