#include "rest/route_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "rest/strings.h"
#include "sockwire/v1/annotations.pb.h"

#ifndef SOCKWIRE_REST_PROTO_FILES
// Set by server/extra_deps.cmake from the proto directory; this fallback only
// matters for builds that bypass it.
#define SOCKWIRE_REST_PROTO_FILES \
  "sockwire/v1/session.proto,sockwire/v1/socket.proto,sockwire/v1/resolver.proto"
#endif

namespace sockwire::server::rest {
namespace {

namespace pb = google::protobuf;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ValidName(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

// Splits the last segment "x:verb" of a request path. The verb separator is
// the last ':' (handles never contain one; a percent-encoded %3A is data).
std::pair<std::string_view, std::string_view> SplitVerb(std::string_view seg) {
  auto pos = seg.rfind(':');
  if (pos == std::string_view::npos) return {seg, {}};
  return {seg.substr(0, pos), seg.substr(pos + 1)};
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<Route> ParseTemplate(std::string_view http_method, std::string_view path) {
  if (http_method != "GET" && http_method != "POST" && http_method != "DELETE" &&
      http_method != "PUT" && http_method != "PATCH") {
    return std::nullopt;
  }
  if (path.size() < 2 || path[0] != '/') return std::nullopt;
  Route r;
  r.http_method = std::string(http_method);
  r.path = std::string(path);
  std::vector<std::string_view> parts = SplitView(path.substr(1), '/');
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (i + 1 == parts.size()) {
      // The verb follows the last ':' outside braces.
      auto close = p.rfind('}');
      auto colon = p.rfind(':');
      if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close)) {
        r.verb = std::string(p.substr(colon + 1));
        p = p.substr(0, colon);
        if (!ValidName(r.verb)) return std::nullopt;
      }
    }
    Segment s;
    if (p.size() >= 2 && p.front() == '{' && p.back() == '}') {
      s.variable = true;
      s.text = std::string(p.substr(1, p.size() - 2));
    } else {
      s.text = std::string(p);
    }
    if (!ValidName(s.text)) return std::nullopt;
    if (!s.variable && (s.text.find('{') != std::string::npos)) return std::nullopt;
    r.segments.push_back(std::move(s));
  }
  return r;
}

RouteTable RouteTable::FromGeneratedPool(std::vector<std::string>* problems) {
  RouteTable table;
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  std::vector<const pb::ServiceDescriptor*> services;
  auto add = [&](const pb::ServiceDescriptor* s) {
    if (s != nullptr && std::find(services.begin(), services.end(), s) == services.end()) {
      services.push_back(s);
    }
  };
  // The files found by the build, then the known names (in case the file list
  // was not passed in); resolver.proto may be absent: then it has no routes,
  // exactly as it has no gRPC service.
  for (std::string_view name : SplitView(SOCKWIRE_REST_PROTO_FILES, ',', true)) {
    const pb::FileDescriptor* f = pool->FindFileByName(std::string(name));
    if (f == nullptr) continue;
    for (int i = 0; i < f->service_count(); ++i) add(f->service(i));
  }
  for (const char* name :
       {"sockwire.v1.SessionService", "sockwire.v1.SocketService", "sockwire.v1.ResolverService"}) {
    add(pool->FindServiceByName(name));
  }
  for (const auto* s : services) table.AddService(s, problems);
  return table;
}

void RouteTable::AddService(const pb::ServiceDescriptor* service,
                            std::vector<std::string>* problems) {
  services_.push_back(service);
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* m = service->method(i);
    const auto& opts = m->options();
    if (!opts.HasExtension(sockwire::v1::http)) {
      // A bidirectional byte stream cannot be one HTTP exchange; its REST
      // form is the WebSocket (see websocket.h).
      if (m->full_name() == kWebSocketMethod) {
        websocket_methods_.push_back(m);
        continue;
      }
      unrouted_.push_back(m);
      continue;
    }
    const sockwire::v1::HttpRoute& http = opts.GetExtension(sockwire::v1::http);
    std::optional<Route> r = ParseTemplate(http.method(), http.path());
    std::string bad;
    if (!r) {
      bad = "malformed template";
    } else if (m->client_streaming()) {
      bad = "client-streaming RPCs cannot be mapped to one HTTP request";
    } else {
      for (const Segment& s : r->segments) {
        if (!s.variable) continue;
        const pb::FieldDescriptor* f = m->input_type()->FindFieldByName(s.text);
        if (f == nullptr || f->is_repeated() || f->type() != pb::FieldDescriptor::TYPE_STRING) {
          bad = absl::StrCat("{", s.text, "} is not a string field of ", m->input_type()->full_name());
        }
      }
      for (const Route& other : routes_) {
        if (other.http_method == r->http_method && other.path == r->path) {
          bad = absl::StrCat("duplicate of ", other.method->full_name());
        }
      }
    }
    if (!bad.empty()) {
      if (problems != nullptr) {
        problems->push_back(
            absl::StrCat(m->full_name(), " ", http.method(), " ", http.path(), ": ", bad));
      }
      unrouted_.push_back(m);
      continue;
    }
    r->method = m;
    r->grpc_path = absl::StrCat("/", service->full_name(), "/", m->name());
    r->session_service = service->full_name() == "sockwire.v1.SessionService";
    routes_.push_back(std::move(*r));
  }
}

RouteMatch RouteTable::Find(std::string_view http_method, std::string_view path) const {
  RouteMatch result;
  if (path.empty() || path[0] != '/') return result;
  std::vector<std::string_view> parts = SplitView(path.substr(1), '/');
  // The best match prefers literal segments over variables, left to right,
  // so "/v1/sessions/hold" beats a hypothetical "/v1/sessions/{id}".
  int best_score = -1;
  for (const Route& r : routes_) {
    if (r.segments.size() != parts.size()) continue;
    std::vector<std::pair<std::string, std::string>> params;
    bool ok = true;
    int score = 0;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      std::string_view p = parts[i];
      if (i + 1 == parts.size()) {
        auto [head, verb] = SplitVerb(p);
        if (!r.verb.empty()) {
          if (verb != r.verb || head.size() + 1 + verb.size() != p.size()) {
            ok = false;
            break;
          }
          p = head;
        } else if (p.find(':') != std::string_view::npos) {
          // "/v1/sockets/h:unknownverb" is no route, not a handle "h:unknownverb".
          ok = false;
          break;
        }
      }
      const Segment& s = r.segments[i];
      if (s.variable) {
        std::optional<std::string> v = PercentDecode(p, false);
        if (!v || v->empty()) {
          ok = false;
          break;
        }
        params.emplace_back(s.text, std::move(*v));
      } else {
        if (p != s.text) ok = false;
        score += 1 << (16 - std::min<size_t>(i, 16));
      }
    }
    if (!ok) continue;
    if (r.http_method != http_method) {
      if (std::find(result.allowed_methods.begin(), result.allowed_methods.end(), r.http_method) ==
          result.allowed_methods.end()) {
        result.allowed_methods.push_back(r.http_method);
      }
      continue;
    }
    if (score > best_score) {
      best_score = score;
      result.route = &r;
      result.params = std::move(params);
    }
  }
  if (result.route != nullptr) result.allowed_methods.clear();
  return result;
}

}  // namespace sockwire::server::rest
