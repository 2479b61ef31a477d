// A gRPC server interceptor that counts every call (REST reaches the same
// services through the in-process channel, so it is counted too): calls by
// service, method and code, their duration, policy denials and quota
// refusals by reason (read from the ErrorDetail of the status), and the
// rate-limited log lines for denials, limits and unexpected errors.
#pragma once

#include <memory>

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_interceptor.h>

namespace sockwire::server {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeMetricsInterceptorFactory();

}  // namespace sockwire::server
