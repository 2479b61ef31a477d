// The REST route table, built from the (sockwire.v1.http) method options of
// the generated descriptors. Nothing here is written by hand per RPC: a new
// RPC with an http option gets a route, and an RPC without one shows up in
// unrouted() (a test checks that list is empty).
//
// Thread-safety: immutable after construction; Find() may run on any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>

namespace sockwire::server::rest {

// One path segment of a template: a literal ("sockets") or a variable
// ("{handle}", naming a top-level string field of the request).
struct Segment {
  bool variable = false;
  std::string text;  // the literal, or the field name
};

struct Route {
  std::string http_method;  // "GET", "POST", "DELETE"
  std::string path;         // the template as declared, e.g. "/v1/sockets/{handle}:bind"
  std::vector<Segment> segments;
  std::string verb;  // the ":verb" suffix of the last segment, "" if none
  const google::protobuf::MethodDescriptor* method = nullptr;
  // "/sockwire.v1.SocketService/Bind", the gRPC method path.
  std::string grpc_path;
  // True for SessionService methods: these never get an implicit session.
  bool session_service = false;
};

struct RouteMatch {
  const Route* route = nullptr;
  // Decoded path variables, in template order.
  std::vector<std::pair<std::string, std::string>> params;
  // When no route matched the method but some matched the path: their verbs.
  std::vector<std::string> allowed_methods;
};

class RouteTable {
 public:
  // Every service declared in a sockwire/v1/*.proto file linked into this
  // binary (DescriptorPool::generated_pool()). `problems` collects routes that
  // were skipped (bad template, unknown field) for the log.
  static RouteTable FromGeneratedPool(std::vector<std::string>* problems);

  // Adds every method of `service`. Exposed for tests.
  void AddService(const google::protobuf::ServiceDescriptor* service,
                  std::vector<std::string>* problems);

  // Matches `path` (no query string, still percent-encoded).
  RouteMatch Find(std::string_view http_method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }
  // Bidi byte-stream RPCs served by the WebSocket endpoint
  // GET /v1/sockets/{handle}/stream instead of a route (StreamService.Stream).
  const std::vector<const google::protobuf::MethodDescriptor*>& websocket_methods() const {
    return websocket_methods_;
  }
  // Methods that have no usable (sockwire.v1.http) option.
  const std::vector<const google::protobuf::MethodDescriptor*>& unrouted() const {
    return unrouted_;
  }
  const std::vector<const google::protobuf::ServiceDescriptor*>& services() const {
    return services_;
  }

 private:
  std::vector<Route> routes_;
  std::vector<const google::protobuf::MethodDescriptor*> unrouted_;
  std::vector<const google::protobuf::MethodDescriptor*> websocket_methods_;
  std::vector<const google::protobuf::ServiceDescriptor*> services_;
};

// The gRPC byte stream whose REST form is the WebSocket endpoint.
inline constexpr char kWebSocketMethod[] = "sockwire.v1.StreamService.Stream";

// Parses a template like "/v1/sockets/{handle}:bind". nullopt if malformed.
std::optional<Route> ParseTemplate(std::string_view http_method, std::string_view path);

// RFC 3986 percent-decoding; '+' stays '+' unless `plus_is_space` (query
// strings). nullopt on a bad escape.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space);

}  // namespace sockwire::server::rest
