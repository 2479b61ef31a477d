#include "sockwire/resolver.h"

#include "internal.h"
#include "sockwire/proto_convert.h"
#include "sockwire/v1/resolver.grpc.pb.h"

namespace sockwire {
namespace {

// Resolver calls use the client's rpc_timeout as their deadline; the daemon
// answers EAI_AGAIN just before it passes.
template <typename Req, typename Resp, typename Method>
Resp Resolve(const Client& client, const Req& req, Method method) {
  const auto& impl = client.impl();
  auto& stub = impl->resolver();
  Resp resp;
  impl->Call(impl->quick(), [&](grpc::ClientContext* ctx) {
    return (stub.*method)(ctx, req, &resp);
  });
  return resp;
}

std::vector<AddrInfo> Convert(const v1::GetAddrInfoResponse& resp) {
  std::vector<AddrInfo> out;
  for (const auto& r : resp.results()) {
    out.push_back(AddrInfo{r.family(), r.type(), r.proto(), r.canonname(),
                           FromProto(r.address())});
  }
  return out;
}

HostEntry Convert(const v1::HostEntry& e) {
  HostEntry out;
  out.hostname = e.hostname();
  out.aliaslist.assign(e.aliases().begin(), e.aliases().end());
  out.ipaddrlist.assign(e.addresses().begin(), e.addresses().end());
  return out;
}

v1::GetAddrInfoRequest AddrInfoRequest(const std::optional<std::string>& host, int family,
                                       int type, int proto, int flags) {
  v1::GetAddrInfoRequest req;
  if (host) req.set_host(*host);
  req.set_family(static_cast<v1::Family>(family));
  req.set_type(static_cast<v1::SocketType>(type));
  req.set_proto(proto);
  req.set_flags(flags);
  return req;
}

}  // namespace

std::vector<AddrInfo> getaddrinfo(const Client& client, std::optional<std::string> host,
                                  std::optional<int> port, int family, int type, int proto,
                                  int flags) {
  v1::GetAddrInfoRequest req = AddrInfoRequest(host, family, type, proto, flags);
  if (port) req.set_port_number(static_cast<std::uint32_t>(*port));
  return Convert(Resolve<v1::GetAddrInfoRequest, v1::GetAddrInfoResponse>(
      client, req, &v1::ResolverService::Stub::GetAddrInfo));
}

std::vector<AddrInfo> getaddrinfo(const Client& client, std::optional<std::string> host,
                                  const std::string& service, int family, int type, int proto,
                                  int flags) {
  v1::GetAddrInfoRequest req = AddrInfoRequest(host, family, type, proto, flags);
  req.set_service(service);
  return Convert(Resolve<v1::GetAddrInfoRequest, v1::GetAddrInfoResponse>(
      client, req, &v1::ResolverService::Stub::GetAddrInfo));
}

std::pair<std::string, std::string> getnameinfo(const Client& client, const Address& sockaddr,
                                                int flags) {
  v1::GetNameInfoRequest req;
  *req.mutable_address() = ToProto(sockaddr);
  req.set_flags(flags);
  auto resp = Resolve<v1::GetNameInfoRequest, v1::GetNameInfoResponse>(
      client, req, &v1::ResolverService::Stub::GetNameInfo);
  return {resp.host(), resp.service()};
}

std::string gethostbyname(const Client& client, const std::string& hostname) {
  v1::GetHostByNameRequest req;
  req.set_hostname(hostname);
  return Resolve<v1::GetHostByNameRequest, v1::GetHostByNameResponse>(
             client, req, &v1::ResolverService::Stub::GetHostByName)
      .address();
}

HostEntry gethostbyname_ex(const Client& client, const std::string& hostname) {
  v1::GetHostByNameRequest req;
  req.set_hostname(hostname);
  return Convert(Resolve<v1::GetHostByNameRequest, v1::HostEntry>(
      client, req, &v1::ResolverService::Stub::GetHostByNameEx));
}

HostEntry gethostbyaddr(const Client& client, const std::string& ip_address) {
  v1::GetHostByAddrRequest req;
  req.set_address(ip_address);
  return Convert(Resolve<v1::GetHostByAddrRequest, v1::HostEntry>(
      client, req, &v1::ResolverService::Stub::GetHostByAddr));
}

std::string getfqdn(const Client& client, const std::string& name) {
  v1::GetFqdnRequest req;
  req.set_name(name);
  return Resolve<v1::GetFqdnRequest, v1::GetFqdnResponse>(client, req,
                                                          &v1::ResolverService::Stub::GetFqdn)
      .fqdn();
}

std::string gethostname(const Client& client) {
  return Resolve<v1::GetHostNameRequest, v1::GetHostNameResponse>(
             client, v1::GetHostNameRequest(), &v1::ResolverService::Stub::GetHostName)
      .hostname();
}

void sethostname(const Client& client, const std::string& name) {
  v1::SetHostNameRequest req;
  req.set_hostname(name);
  Resolve<v1::SetHostNameRequest, v1::SetHostNameResponse>(
      client, req, &v1::ResolverService::Stub::SetHostName);
}

int getservbyname(const Client& client, const std::string& servicename,
                  const std::string& protocolname) {
  v1::GetServByNameRequest req;
  req.set_service(servicename);
  req.set_protocol(protocolname);
  return static_cast<int>(Resolve<v1::GetServByNameRequest, v1::GetServByNameResponse>(
                              client, req, &v1::ResolverService::Stub::GetServByName)
                              .port());
}

std::string getservbyport(const Client& client, int port, const std::string& protocolname) {
  v1::GetServByPortRequest req;
  req.set_port(static_cast<std::uint32_t>(port));
  req.set_protocol(protocolname);
  return Resolve<v1::GetServByPortRequest, v1::GetServByPortResponse>(
             client, req, &v1::ResolverService::Stub::GetServByPort)
      .service();
}

int getprotobyname(const Client& client, const std::string& protocolname) {
  v1::GetProtoByNameRequest req;
  req.set_protocol(protocolname);
  return Resolve<v1::GetProtoByNameRequest, v1::GetProtoByNameResponse>(
             client, req, &v1::ResolverService::Stub::GetProtoByName)
      .proto();
}

}  // namespace sockwire
