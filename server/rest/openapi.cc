#include "rest/openapi.h"

#include <google/protobuf/descriptor.h>

#include <map>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rest/errors.h"

namespace sockwire::server::rest {
namespace {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

std::string Q(std::string_view s) { return JsonQuote(s); }

std::string Ref(const pb::Descriptor* d) {
  return absl::StrCat("{\"$ref\":", Q(absl::StrCat("#/components/schemas/", d->full_name())), "}");
}

// Schemas of the well-known types, as protobuf's JSON mapping writes them;
// "" when `d` is an ordinary message.
std::string WellKnown(const pb::Descriptor* d) {
  const std::string& n = d->full_name();
  if (n == "google.protobuf.Duration") {
    return R"({"type":"string","format":"duration","example":"1.5s","description":"seconds with an 's' suffix, up to 9 fractional digits"})";
  }
  if (n == "google.protobuf.Timestamp") return R"({"type":"string","format":"date-time"})";
  if (n == "google.protobuf.Empty") return R"({"type":"object"})";
  if (n == "google.protobuf.Struct") return R"({"type":"object","additionalProperties":true})";
  if (n == "google.protobuf.Value") return R"({})";
  if (n == "google.protobuf.ListValue") return R"({"type":"array","items":{}})";
  if (n == "google.protobuf.Any") return R"({"type":"object","properties":{"@type":{"type":"string"}},"additionalProperties":true})";
  if (n == "google.protobuf.FieldMask") return R"({"type":"string"})";
  if (n == "google.protobuf.BoolValue") return R"({"type":"boolean","nullable":true})";
  if (n == "google.protobuf.StringValue") return R"({"type":"string","nullable":true})";
  if (n == "google.protobuf.BytesValue") return R"({"type":"string","format":"byte","nullable":true})";
  if (n == "google.protobuf.Int32Value" || n == "google.protobuf.UInt32Value") {
    return R"({"type":"integer","nullable":true})";
  }
  if (n == "google.protobuf.Int64Value" || n == "google.protobuf.UInt64Value") {
    return R"({"type":"string","format":"int64","nullable":true})";
  }
  if (n == "google.protobuf.DoubleValue" || n == "google.protobuf.FloatValue") {
    return R"({"type":"number","nullable":true})";
  }
  return "";
}

class SchemaBuilder {
 public:
  // The schema of a field's value (not repeated-ness).
  std::string ValueSchema(const FD* f) {
    switch (f->type()) {
      case FD::TYPE_INT32:
      case FD::TYPE_SINT32:
      case FD::TYPE_SFIXED32:
        return R"({"type":"integer","format":"int32"})";
      case FD::TYPE_UINT32:
      case FD::TYPE_FIXED32:
        return R"({"type":"integer","format":"int64","minimum":0,"maximum":4294967295})";
      // 64-bit integers are JSON strings in the canonical mapping (numbers
      // are accepted on input).
      case FD::TYPE_INT64:
      case FD::TYPE_SINT64:
      case FD::TYPE_SFIXED64:
        return R"({"type":"string","format":"int64"})";
      case FD::TYPE_UINT64:
      case FD::TYPE_FIXED64:
        return R"({"type":"string","format":"uint64"})";
      case FD::TYPE_DOUBLE: return R"({"type":"number","format":"double"})";
      case FD::TYPE_FLOAT: return R"({"type":"number","format":"float"})";
      case FD::TYPE_BOOL: return R"({"type":"boolean"})";
      case FD::TYPE_STRING: return R"({"type":"string"})";
      case FD::TYPE_BYTES: return R"({"type":"string","format":"byte","description":"base64"})";
      case FD::TYPE_ENUM: {
        std::vector<std::string> names;
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          names.push_back(Q(f->enum_type()->value(i)->name()));
        }
        return absl::StrCat(R"({"type":"string","enum":[)", absl::StrJoin(names, ","),
                            R"(],"description":"enum )", f->enum_type()->full_name(),
                            R"(; its number is accepted too"})");
      }
      case FD::TYPE_MESSAGE:
      case FD::TYPE_GROUP: {
        std::string wk = WellKnown(f->message_type());
        if (!wk.empty()) return wk;
        Need(f->message_type());
        return Ref(f->message_type());
      }
    }
    return "{}";
  }

  std::string FieldSchema(const FD* f) {
    if (f->is_map()) {
      return absl::StrCat(R"({"type":"object","additionalProperties":)",
                          ValueSchema(f->message_type()->map_value()), "}");
    }
    if (f->is_repeated()) return absl::StrCat(R"({"type":"array","items":)", ValueSchema(f), "}");
    return ValueSchema(f);
  }

  void Need(const pb::Descriptor* d) {
    if (!WellKnown(d).empty()) return;
    if (seen_.insert(d->full_name()).second) queue_.push_back(d);
  }

  // "name": {schema} for every needed message (transitively).
  std::string Components() {
    std::vector<std::string> out;
    while (!queue_.empty()) {
      const pb::Descriptor* d = queue_.back();
      queue_.pop_back();
      std::vector<std::string> props;
      std::vector<std::string> oneofs;
      for (int i = 0; i < d->field_count(); ++i) {
        const FD* f = d->field(i);
        props.push_back(absl::StrCat(Q(f->json_name()), ":", FieldSchema(f)));
      }
      for (int i = 0; i < d->real_oneof_decl_count(); ++i) {
        const pb::OneofDescriptor* o = d->oneof_decl(i);
        std::vector<std::string> names;
        for (int k = 0; k < o->field_count(); ++k) names.push_back(o->field(k)->json_name());
        oneofs.push_back(absl::StrCat(o->name(), ": at most one of ", absl::StrJoin(names, ", ")));
      }
      std::string desc = absl::StrCat("protobuf message ", d->full_name());
      if (!oneofs.empty()) absl::StrAppend(&desc, " (oneof ", absl::StrJoin(oneofs, "; "), ")");
      schemas_[d->full_name()] = absl::StrCat(
          R"({"type":"object","description":)", Q(desc), R"(,"additionalProperties":false,"properties":{)",
          absl::StrJoin(props, ","), "}}");
    }
    for (const auto& [name, schema] : schemas_) out.push_back(absl::StrCat(Q(name), ":", schema));
    return absl::StrJoin(out, ",");
  }

 private:
  std::set<std::string> seen_;
  std::vector<const pb::Descriptor*> queue_;
  std::map<std::string, std::string> schemas_;
};

constexpr char kErrorSchema[] = R"({"type":"object","description":"Every error: the gRPC status and the sockwire.v1.ErrorDetail","properties":{"code":{"type":"integer","description":"gRPC status code"},"status":{"type":"string","example":"NOT_FOUND"},"message":{"type":"string"},"errno":{"type":"integer"},"errno_name":{"type":"string","example":"ECONNREFUSED"},"kind":{"type":"string","example":"ERROR_KIND_OS"},"reason":{"type":"string","example":"UNKNOWN_HANDLE"},"eai_code":{"type":"integer"},"h_errno":{"type":"integer"}}})";

constexpr char kSessionParam[] = R"({"$ref":"#/components/parameters/Session"})";
constexpr char kTimeoutParam[] = R"({"$ref":"#/components/parameters/Timeout"})";

std::string ErrorResponses() {
  return R"("default":{"description":"An error (4xx/5xx), see the Error schema","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}})";
}

std::string PathParam(const std::string& name) {
  return absl::StrCat(R"({"name":)", Q(name), R"(,"in":"path","required":true,"schema":{"type":"string"}})");
}

}  // namespace

std::string BuildOpenApi(const RouteTable& routes) {
  SchemaBuilder schemas;
  // path -> list of "method": {operation}
  std::map<std::string, std::vector<std::string>> paths;

  for (const Route& r : routes.routes()) {
    const pb::MethodDescriptor* m = r.method;
    std::vector<std::string> params;
    std::set<std::string> path_fields;
    for (const Segment& s : r.segments) {
      if (s.variable) {
        params.push_back(PathParam(s.text));
        path_fields.insert(s.text);
      }
    }
    if (!r.session_service || m->name() != "Open") params.push_back(kSessionParam);
    params.push_back(kTimeoutParam);
    std::string body;
    if (r.http_method == "GET" || r.http_method == "DELETE") {
      // Query parameters: the top-level scalar fields not in the path.
      const pb::Descriptor* in = m->input_type();
      for (int i = 0; i < in->field_count(); ++i) {
        const FD* f = in->field(i);
        if (path_fields.count(f->name()) || f->cpp_type() == FD::CPPTYPE_MESSAGE) continue;
        params.push_back(absl::StrCat(R"({"name":)", Q(f->name()), R"(,"in":"query","schema":)",
                                      schemas.FieldSchema(f), "}"));
      }
    }
    if (r.http_method != "GET") {
      schemas.Need(m->input_type());
      body = absl::StrCat(
          R"("requestBody":{"required":false,"description":"the request message as JSON; path variables fill their fields","content":{"application/json":{"schema":)",
          Ref(m->input_type()), "}}},");
    }
    std::string out_schema = WellKnown(m->output_type());
    if (out_schema.empty()) {
      schemas.Need(m->output_type());
      out_schema = Ref(m->output_type());
    }
    std::string ok_content =
        m->server_streaming()
            ? absl::StrCat(R"("application/x-ndjson":{"schema":)", out_schema, "}")
            : absl::StrCat(R"("application/json":{"schema":)", out_schema, "}");
    std::string op = absl::StrCat(
        Q(absl::AsciiStrToLower(r.http_method)), ":{", R"("operationId":)",
        Q(absl::StrCat(m->service()->name(), "_", m->name())), R"(,"tags":[)",
        Q(m->service()->name()), R"(],"summary":)",
        Q(absl::StrCat(m->full_name(), m->server_streaming() ? " (server stream as NDJSON)" : "")),
        R"(,"x-grpc-method":)", Q(r.grpc_path), R"(,"parameters":[)", absl::StrJoin(params, ","),
        "],", body, R"("responses":{"200":{"description":"OK","headers":{"Sockwire-Session":{"description":"the session token, when the gateway opened one for this call","schema":{"type":"string"}}},"content":{)",
        ok_content, "}},", ErrorResponses(), "}}");
    paths[r.path].push_back(std::move(op));
  }

  // The REST form of the gRPC byte stream (StreamService.Stream).
  std::string ws_method = "/sockwire.v1.StreamService/Stream";
  for (const auto* m : routes.websocket_methods()) {
    ws_method = absl::StrCat("/", m->service()->full_name(), "/", m->name());
  }
  paths["/v1/sockets/{handle}/stream"].push_back(absl::StrCat(
      R"("get":{"operationId":"Stream","tags":["SocketService"],"summary":"WebSocket byte stream over one socket","description":"Upgrade to WebSocket. Binary (or text) messages from the client are sent to the socket in order; bytes read from the socket come back as binary messages. Flow control: the next client message is read only after the previous one was sent, and the socket is read again only after the previous message was written. An empty message is end-of-stream: from the client it shuts the socket's write side (SHUT_WR); from the gateway it means the socket reached EOF. The gateway closes with 1000 once both directions ended, or with 1011 and the error on a socket error. A close frame from the client also shuts the socket's write side. The session comes from the Sockwire-Session header or ?session=. The socket stays open after the stream ends.")",
      R"(,"x-grpc-method":)", Q(ws_method), R"(,"parameters":[)", PathParam("handle"), ",", kSessionParam,
      R"(,{"name":"session","in":"query","schema":{"type":"string"}}],"responses":{"101":{"description":"Switching Protocols"},"426":{"description":"Not a WebSocket upgrade request"},)",
      ErrorResponses(), "}}"));
  paths["/v1/openapi.json"].push_back(
      R"("get":{"operationId":"OpenApi","summary":"This document","responses":{"200":{"description":"OpenAPI 3 document","content":{"application/json":{"schema":{"type":"object"}}}}}})");

  std::vector<std::string> path_items;
  for (const auto& [path, ops] : paths) {
    path_items.push_back(absl::StrCat(Q(path), ":{", absl::StrJoin(ops, ","), "}"));
  }
  std::vector<std::string> tags;
  for (const auto* s : routes.services()) {
    tags.push_back(absl::StrCat(R"({"name":)", Q(s->name()), R"(,"description":)",
                                Q(absl::StrCat("gRPC service ", s->full_name())), "}"));
  }
  std::string components = schemas.Components();
  return absl::StrCat(
      R"({"openapi":"3.0.3","info":{"title":"sockwire REST gateway","version":"v1","description":"Generated from the sockwire.v1 proto descriptors: each route calls the gRPC method named in x-grpc-method, with protobuf's canonical JSON mapping (bytes as base64, 64-bit integers as strings, enums by name, Duration as \"1.5s\")."},)",
      R"("tags":[)", absl::StrJoin(tags, ","), "],",
      R"("paths":{)", absl::StrJoin(path_items, ","), "},",
      R"("components":{"securitySchemes":{"bearer":{"type":"http","scheme":"bearer","description":"required when the daemon runs with --token-file"}},)",
      R"("parameters":{"Session":{"name":"Sockwire-Session","in":"header","required":false,"description":"the session token; when absent on a call outside SessionService the gateway opens a session and returns it in this response header","schema":{"type":"string"}},"Timeout":{"name":"Sockwire-Timeout","in":"header","required":false,"description":"the call's deadline, e.g. 250ms, 5s, 2m","schema":{"type":"string"}}},)",
      R"("schemas":{"Error":)", kErrorSchema, components.empty() ? "" : ",", components, "}}}\n");
}

}  // namespace sockwire::server::rest
