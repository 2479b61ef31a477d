// Who is calling, for the gRPC front-end: TLS credentials for TCP listeners
// and the caller's principal.
//
// Principals (docs/security.md):
//   the mTLS client certificate: its URI SAN as is ("spiffe://org/app"),
//     else "dns:<first DNS SAN>", else "cn:<subject CN>";
//   "token" for a TCP caller that presented the bearer token;
//   "local" for a caller on a Unix-socket listener (0600: the daemon's uid);
//   "anonymous" otherwise (an --insecure-tcp listener without a token, the
//   REST gateway's in-process calls).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "server/options.h"

namespace sockwire::server {

// SslServerCredentials from --tls-cert/--tls-key (and --tls-client-ca:
// client certificates required and verified). nullptr when no certificate is
// configured. Errors name the file that could not be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeTlsServerCredentials(const Options& o);

// The caller's principal (see above). `bearer_checked`: the call passed
// CheckBearer with a configured token.
std::string PrincipalOf(const grpc::ServerContextBase* ctx, bool bearer_checked);

}  // namespace sockwire::server
