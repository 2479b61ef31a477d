// Small helpers shared by the resolver tests: reading the structured error
// detail from both places the daemon puts it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "google/rpc/status.pb.h"
#include "sockwire/v1/common.pb.h"

namespace sockwire::testing {

// ErrorDetail from grpc-status-details-bin (google.rpc.Status with an Any).
inline std::optional<sockwire::v1::ErrorDetail> DetailFromStatus(const grpc::Status& s) {
  google::rpc::Status rpc;
  if (s.error_details().empty() || !rpc.ParseFromString(s.error_details())) return std::nullopt;
  for (const auto& any : rpc.details()) {
    sockwire::v1::ErrorDetail d;
    if (any.UnpackTo(&d)) return d;
  }
  return std::nullopt;
}

// ErrorDetail from the "sockwire-error-bin" trailer.
inline std::optional<sockwire::v1::ErrorDetail> DetailFromTrailer(const grpc::ClientContext& ctx) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find("sockwire-error-bin");
  if (it == md.end()) return std::nullopt;
  sockwire::v1::ErrorDetail d;
  if (!d.ParseFromArray(it->second.data(), static_cast<int>(it->second.size()))) return std::nullopt;
  return d;
}

}  // namespace sockwire::testing
