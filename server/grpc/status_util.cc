#include "grpc/status_util.h"

#include "core/errors.h"
#include "google/rpc/status.pb.h"

namespace sockwire::server {

sockwire::v1::ErrorDetail ToErrorDetail(const absl::Status& s) {
  sockwire::v1::ErrorDetail d;
  core::ErrorKind kind = core::KindOf(s);
  d.set_kind(static_cast<sockwire::v1::ErrorKind>(kind));
  if (kind == core::ErrorKind::kUnspecified) d.set_kind(sockwire::v1::ERROR_KIND_REQUEST);
  if (int e = core::ErrnoOf(s); e != 0) {
    d.set_os_errno(e);
    d.set_errno_name(core::ErrnoName(e));
  }
  d.set_eai_code(core::EaiOf(s));
  d.set_herror_code(core::HErrnoOf(s));
  d.set_message(std::string(s.message()));
  d.set_reason(core::ReasonOf(s));
  return d;
}

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  google::rpc::Status rpc;
  rpc.set_code(static_cast<int>(s.code()));
  rpc.set_message(std::string(s.message()));
  rpc.add_details()->PackFrom(ToErrorDetail(s));
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()),
                      rpc.SerializeAsString());
}

grpc::Status ToGrpcStatus(const absl::Status& s, grpc::ServerContextBase* ctx) {
  if (!s.ok() && ctx != nullptr) {
    ctx->AddTrailingMetadata("sockwire-error-bin", ToErrorDetail(s).SerializeAsString());
  }
  return ToGrpcStatus(s);
}

}  // namespace sockwire::server
