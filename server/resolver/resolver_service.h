// The sockwire.v1 resolver service (getaddrinfo and friends), resolved in the
// daemon's own network namespace. Owned by the resolver issue.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "core/core.h"
#include "server/options.h"

namespace sockwire::server {

// nullptr while the service is not built; the daemon then skips it.
std::unique_ptr<grpc::Service> MakeResolverService(core::Core& core, const Options& options);

}  // namespace sockwire::server
