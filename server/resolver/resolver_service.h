// The sockwire.v1 ResolverService (getaddrinfo and friends), answered in the
// daemon's own network namespace.
//
// Threading: every RPC is a callback-API unary reactor. Lookups that may wait
// on DNS run on resolver pools (getaddrinfo through core.resolver(); the
// gethostbyname_r / gethostbyaddr_r / getnameinfo family on the service's
// own bounded pool), never on a gRPC or event-loop thread, so a slow or dead
// DNS server cannot hold up socket traffic. Lookups of local files
// (getservbyname, getprotobyname) and of the UTS name run inline.
//
// Each call finishes exactly once: with the answer, with EAI_AGAIN when its
// deadline passes (the request's timeout, or shortly before the caller's
// gRPC deadline so the caller still gets a gaierror), or CANCELLED.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "core/core.h"
#include "server/options.h"

namespace sockwire::server {

// The service, ready to register. `core` must outlive it.
std::unique_ptr<grpc::Service> MakeResolverService(core::Core& core, const Options& options);

}  // namespace sockwire::server
