#include "grpc/identity.h"

#include <fstream>
#include <sstream>

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/principal.h"

namespace sockwire::server {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, " cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, " holds no PEM data"));
  }
  return ss.str();
}

std::string FirstProperty(const grpc::AuthContext& auth, const char* name) {
  for (const auto& v : auth.FindPropertyValues(name)) {
    if (!v.empty()) return std::string(v.data(), v.size());
  }
  return "";
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeTlsServerCredentials(const Options& o) {
  if (o.tls_cert_file.empty() && o.tls_key_file.empty()) {
    if (!o.tls_client_ca_file.empty()) return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    return std::shared_ptr<grpc::ServerCredentials>();
  }
  if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  auto cert = ReadPem(o.tls_cert_file, "--tls-cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(o.tls_key_file, "--tls-key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions opts;
  opts.pem_key_cert_pairs.push_back({*key, *cert});
  if (!o.tls_client_ca_file.empty()) {
    auto ca = ReadPem(o.tls_client_ca_file, "--tls-client-ca");
    if (!ca.ok()) return ca.status();
    opts.pem_root_certs = *ca;
    opts.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    opts.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  // gRPC's TLS stack negotiates TLS 1.2 or 1.3 only.
  return grpc::SslServerCredentials(opts);
}

std::string PrincipalOf(const grpc::ServerContextBase* ctx, bool bearer_checked) {
  auto auth = ctx->auth_context();
  if (auth != nullptr && FirstProperty(*auth, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME) == "ssl") {
    // Present only when the client sent a certificate that verified.
    if (std::string uri = FirstProperty(*auth, GRPC_PEER_URI_PROPERTY_NAME); !uri.empty()) return uri;
    if (std::string dns = FirstProperty(*auth, GRPC_PEER_DNS_PROPERTY_NAME); !dns.empty()) return "dns:" + dns;
    if (std::string cn = FirstProperty(*auth, GRPC_X509_CN_PROPERTY_NAME); !cn.empty()) return "cn:" + cn;
  }
  if (absl::StartsWith(ctx->peer(), "unix:")) return std::string(core::kLocalPrincipal);
  if (bearer_checked) return std::string(core::kTokenPrincipal);
  return std::string(core::kAnonymousPrincipal);
}

}  // namespace sockwire::server
