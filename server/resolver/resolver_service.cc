#include "resolver/resolver_service.h"

namespace sockwire::server {

std::unique_ptr<grpc::Service> MakeResolverService(core::Core&, const Options&) { return nullptr; }

}  // namespace sockwire::server
