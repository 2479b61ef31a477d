// resolve, health, ls: the daemon's resolver, its gRPC health, its sockets.
#include <netdb.h>

#include <iostream>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>

#include "commands.h"
#include "sockwire/errors.h"
#include "sockwire/proto_convert.h"
#include "sockwire/resolver.h"
#include "sockwire/v1/socket.grpc.pb.h"

namespace sockwire::cli {
namespace {

const char* FamilyName(int f) {
  switch (f) {
    case AF_INET: return "AF_INET";
    case AF_INET6: return "AF_INET6";
    case AF_UNIX: return "AF_UNIX";
    default: return "AF_?";
  }
}
const char* TypeName(int t) {
  switch (t) {
    case SOCK_STREAM: return "SOCK_STREAM";
    case SOCK_DGRAM: return "SOCK_DGRAM";
    case SOCK_RAW: return "SOCK_RAW";
    case SOCK_SEQPACKET: return "SOCK_SEQPACKET";
    default: return "SOCK_?";
  }
}

// The gRPC target for a raw channel, by the Client's rule: "unix:/p",
// "tcp:h:p" or "h:p".
std::string ChannelTarget(const std::string& addr) {
  if (addr.rfind("tcp:", 0) == 0) return addr.substr(4);
  return addr;
}

std::unique_ptr<grpc::ClientContext> Context(const GlobalOptions& g, double timeout_s) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)));
  if (!g.token_file.empty()) ctx->AddMetadata("authorization", "Bearer " + ReadToken(g.token_file));
  return ctx;
}

std::string AddrText(const sockwire::v1::Address& a) {
  if (a.kind_case() == sockwire::v1::Address::KIND_NOT_SET) return "-";
  sockwire::Address x = sockwire::FromProto(a);
  if (x.family() == AF_UNIX) return x.path().empty() ? "(unnamed)" : x.path();
  if (x.family() == AF_INET6) return "[" + x.host() + "]:" + std::to_string(x.port());
  return x.host() + ":" + std::to_string(x.port());
}

}  // namespace

int RunResolve(const GlobalOptions& g, const std::string& name, const std::string& service) {
  sockwire::Client client = Connect(g);
  try {
    std::optional<std::string> svc;
    if (!service.empty()) svc = service;
    auto ais = svc ? sockwire::getaddrinfo(client, name, *svc, 0, 0, 0, AI_CANONNAME)
                   : sockwire::getaddrinfo(client, name, std::nullopt, 0, 0, 0, AI_CANONNAME);
    for (const auto& ai : ais) {
      std::cout << ai.sockaddr.host();
      if (svc) std::cout << " " << ai.sockaddr.port();
      std::cout << " " << FamilyName(ai.family) << " " << TypeName(ai.type);
      if (!ai.canonname.empty()) std::cout << " " << ai.canonname;
      std::cout << "\n";
    }
  } catch (const std::exception& e) {
    return ReportError("resolve", e, service.empty() ? name : name + " " + service);
  }
  return 0;
}

int RunHealth(const GlobalOptions& g, double timeout_s) {
  std::string addr = DaemonAddress(g);
  std::shared_ptr<grpc::Channel> ch;
  std::unique_ptr<grpc::ClientContext> ctx;
  try {
    sockwire::ClientOptions o = ClientOptionsFor(g);
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
    if (!o.tls_root_pem.empty() || !o.tls_cert_pem.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = o.tls_root_pem;
      ssl.pem_cert_chain = o.tls_cert_pem;
      ssl.pem_private_key = o.tls_key_pem;
      creds = grpc::SslCredentials(ssl);
    }
    ch = grpc::CreateChannel(ChannelTarget(addr), creds);
    ctx = Context(g, timeout_s);
  } catch (const std::exception& e) {
    std::cerr << "sockwire: health: " << e.what() << "\n";
    return 2;
  }
  // grpc.health.v1.Health/Check with an empty HealthCheckRequest (the whole
  // server); the reply is HealthCheckResponse{status = 1 SERVING} = 08 01.
  grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                   grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::ByteBuffer req, resp;
  grpc::Slice empty;
  req = grpc::ByteBuffer(&empty, 1);
  grpc::Status st = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      ch.get(), method, ctx.get(), req, &resp);
  if (!st.ok()) {
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
        st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      std::cerr << "sockwire: health: cannot reach sockwired at " << addr << ": "
                << st.error_message() << "\n";
    } else {
      std::cerr << "sockwire: health: " << addr << ": " << st.error_message() << "\n";
    }
    return 1;
  }
  std::vector<grpc::Slice> slices;
  std::string body;
  if (resp.Dump(&slices).ok()) {
    for (const auto& s : slices) body.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  // Field 1 (status), varint: SERVING is 1.
  int status = body.size() >= 2 && body[0] == 0x08 ? body[1] : 0;
  const char* names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  std::cout << (status >= 0 && status <= 3 ? names[status] : "UNKNOWN") << "\n";
  return status == 1 ? 0 : 1;
}

int RunLs(const GlobalOptions& g) {
  std::string session = g.session;
  sockwire::Client client = Connect(g);  // Checks the daemon; a fresh session otherwise.
  if (session.empty()) session = client.session();
  auto ch = grpc::CreateChannel(ChannelTarget(DaemonAddress(g)), grpc::InsecureChannelCredentials());
  auto stub = sockwire::v1::SocketService::NewStub(ch);
  auto ctx = Context(g, 10);
  ctx->AddMetadata("sockwire-session", session);
  sockwire::v1::ListRequest req;
  sockwire::v1::ListResponse resp;
  grpc::Status st = stub->List(ctx.get(), req, &resp);
  if (!st.ok()) {
    std::cerr << "sockwire: ls: " << st.error_message() << "\n";
    return 1;
  }
  std::cout << "HANDLE\tFAMILY\tTYPE\tLOCAL\tPEER\tSTATE\n";
  for (const auto& s : resp.sockets()) {
    std::string state = s.listening() ? "LISTEN" : (s.has_peer_address() &&
                                                     s.peer_address().kind_case() != 0
                                                         ? "CONNECTED" : "-");
    if (s.detached()) state += ",detached";
    std::cout << s.handle() << "\t" << FamilyName(s.family()) << "\t" << TypeName(s.type()) << "\t"
              << AddrText(s.local_address()) << "\t" << AddrText(s.peer_address()) << "\t" << state
              << "\n";
  }
  return 0;
}

}  // namespace sockwire::cli
