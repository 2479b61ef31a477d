// Unit tests of the REST gateway's pieces (route table from the descriptors,
// JSON codec, error mapping) and a smoke test with real curl against a real
// sockwired (DaemonProcess), including a handle shared between gRPC and REST.
#include <stdio.h>
#include <sys/wait.h>

#include <array>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "daemon_process.h"
#include "rest/errors.h"
#include "rest/json_codec.h"
#include "rest/route_table.h"
#include "sockwire/v1/resolver.pb.h"
#include "sockwire/v1/session.pb.h"
#include "sockwire/v1/socket.grpc.pb.h"
#include "sockwire/v1/stream.pb.h"

namespace sockwire::server::rest {
namespace {

namespace pb = google::protobuf;
namespace v1 = sockwire::v1;

// Makes sure every proto file's generated code is linked into this test, so
// the generated pool holds all services.
void LinkAllProtos() {
  (void)v1::CreateRequest::descriptor();
  (void)v1::OpenSessionRequest::descriptor();
  (void)v1::GetAddrInfoRequest::descriptor();
  (void)v1::StreamFrame::descriptor();
}

TEST(RouteTable, EveryRpcHasARoute) {
  LinkAllProtos();
  std::vector<std::string> problems;
  RouteTable t = RouteTable::FromGeneratedPool(&problems);
  EXPECT_TRUE(problems.empty()) << problems.front();
  std::vector<std::string> unrouted;
  for (const auto* m : t.unrouted()) unrouted.push_back(m->full_name());
  EXPECT_TRUE(unrouted.empty()) << "no REST route for " << unrouted.front();

  // Count every method of every service in sockwire/v1/*.proto.
  std::set<std::string> routed;
  for (const Route& r : t.routes()) routed.insert(r.method->full_name());
  for (const auto* m : t.websocket_methods()) routed.insert(m->full_name());
  size_t methods = 0;
  for (const auto* s : t.services()) {
    for (int i = 0; i < s->method_count(); ++i) {
      ++methods;
      EXPECT_TRUE(routed.count(s->method(i)->full_name())) << s->method(i)->full_name();
    }
  }
  EXPECT_GE(t.services().size(), 4u);  // socket, session, resolver, stream
  EXPECT_EQ(methods, routed.size());
  EXPECT_EQ(t.websocket_methods().size(), 1u);
}

TEST(RouteTable, Matching) {
  LinkAllProtos();
  RouteTable t = RouteTable::FromGeneratedPool(nullptr);
  auto m = t.Find("POST", "/v1/sockets/sw1.abc.def:bind");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->grpc_path, "/sockwire.v1.SocketService/Bind");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "handle");
  EXPECT_EQ(m.params[0].second, "sw1.abc.def");

  m = t.Find("GET", "/v1/sockets/h%2Fx/sockname");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params[0].second, "h/x");

  EXPECT_EQ(t.Find("POST", "/v1/sockets:pair").route->grpc_path, "/sockwire.v1.SocketService/CreatePair");
  EXPECT_EQ(t.Find("POST", "/v1/sockets").route->grpc_path, "/sockwire.v1.SocketService/Create");
  EXPECT_EQ(t.Find("GET", "/v1/sockets").route->grpc_path, "/sockwire.v1.SocketService/List");
  EXPECT_EQ(t.Find("GET", "/v1/sessions/hold").route->grpc_path, "/sockwire.v1.SessionService/Hold");

  // Unknown verb: no route (not a handle "h:nope").
  m = t.Find("POST", "/v1/sockets/h:nope");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.allowed_methods.empty());
  // Known path, wrong method: the allowed ones.
  m = t.Find("PUT", "/v1/sockets/h");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(std::set<std::string>(m.allowed_methods.begin(), m.allowed_methods.end()),
            (std::set<std::string>{"GET", "DELETE"}));
  EXPECT_EQ(t.Find("GET", "/v1/sockets/%zz").route, nullptr);
  EXPECT_EQ(t.Find("GET", "/v1/sockets/").route, nullptr);
  EXPECT_EQ(t.Find("GET", "").route, nullptr);
}

TEST(RouteTable, Templates) {
  auto r = ParseTemplate("POST", "/v1/sockets/{handle}:bind");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verb, "bind");
  ASSERT_EQ(r->segments.size(), 3u);
  EXPECT_TRUE(r->segments[2].variable);
  EXPECT_FALSE(ParseTemplate("FETCH", "/v1/x"));
  EXPECT_FALSE(ParseTemplate("GET", "v1/x"));
  EXPECT_FALSE(ParseTemplate("GET", "/v1/{a"));
  EXPECT_FALSE(ParseTemplate("GET", "/v1//x"));
  EXPECT_EQ(*PercentDecode("a%20b+c", true), "a b c");
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
  EXPECT_FALSE(PercentDecode("%2", false));
  EXPECT_FALSE(PercentDecode("%", false));
}

TEST(JsonCodec, RequestsFromBodyPathAndQuery) {
  v1::RecvRequest req;
  ASSERT_TRUE(BuildRequest(R"({"bufsize": "10", "flags": 2})", {{"handle", "h1"}}, "", &req).ok());
  EXPECT_EQ(req.handle(), "h1");
  EXPECT_EQ(req.bufsize(), 10);
  EXPECT_EQ(req.flags(), 2);

  v1::RecvRequest q;
  ASSERT_TRUE(BuildRequest("", {{"handle", "h"}}, "bufsize=7&flags=0x", &q).code() ==
              absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(BuildRequest("", {{"handle", "h"}}, "bufsize=7&flags=1", &q).ok());
  EXPECT_EQ(q.bufsize(), 7);

  v1::CreateRequest c;
  EXPECT_TRUE(BuildRequest("", {}, "family=FAMILY_INET6&nonblock=true", &c).ok());
  EXPECT_EQ(c.family(), v1::FAMILY_INET6);
  EXPECT_TRUE(c.nonblock());
  EXPECT_FALSE(BuildRequest(R"({"famly": 2})", {}, "", &c).ok());
  EXPECT_FALSE(BuildRequest(R"({"family": {}})", {}, "", &c).ok());
  EXPECT_FALSE(BuildRequest("{", {}, "", &c).ok());
  EXPECT_FALSE(BuildRequest("", {}, "nope=1", &c).ok());

  v1::SendRequest s;
  ASSERT_TRUE(BuildRequest(R"({"data": "AP8A"})", {{"handle", "h"}}, "", &s).ok());
  EXPECT_EQ(s.data(), std::string("\0\xff\0", 3));
  // The path wins only when the body agrees.
  EXPECT_FALSE(BuildRequest(R"({"handle": "other"})", {{"handle", "h"}}, "", &s).ok());

  v1::RecvResponse resp;
  resp.set_data(std::string("\0a", 2));
  EXPECT_EQ(*MessageToJson(resp), "{\"data\":\"AGE=\"}\n");
  resp.clear_data();
  EXPECT_EQ(*MessageToJson(resp), "{\"data\":\"\"}\n");
}

TEST(Errors, HttpStatusMapping) {
  v1::ErrorDetail none;
  v1::ErrorDetail would_block;
  would_block.set_kind(v1::ERROR_KIND_OS);
  would_block.set_os_errno(11);
  would_block.set_reason("WOULD_BLOCK");
  v1::ErrorDetail refused;
  refused.set_kind(v1::ERROR_KIND_OS);
  refused.set_os_errno(111);
  v1::ErrorDetail os_state;
  os_state.set_kind(v1::ERROR_KIND_OS);
  using C = grpc::StatusCode;
  EXPECT_EQ(HttpStatusFor(C::NOT_FOUND, none), 404);
  EXPECT_EQ(HttpStatusFor(C::INVALID_ARGUMENT, none), 400);
  EXPECT_EQ(HttpStatusFor(C::DEADLINE_EXCEEDED, none), 504);
  EXPECT_EQ(HttpStatusFor(C::PERMISSION_DENIED, none), 403);
  EXPECT_EQ(HttpStatusFor(C::RESOURCE_EXHAUSTED, none), 429);
  EXPECT_EQ(HttpStatusFor(C::UNAVAILABLE, none), 503);
  EXPECT_EQ(HttpStatusFor(C::UNAVAILABLE, would_block), 409);
  EXPECT_EQ(HttpStatusFor(C::UNAVAILABLE, refused), 502);
  EXPECT_EQ(HttpStatusFor(C::UNAUTHENTICATED, none), 401);
  EXPECT_EQ(HttpStatusFor(C::ALREADY_EXISTS, none), 409);
  EXPECT_EQ(HttpStatusFor(C::FAILED_PRECONDITION, none), 400);
  EXPECT_EQ(HttpStatusFor(C::FAILED_PRECONDITION, os_state), 409);
  EXPECT_EQ(HttpStatusFor(C::CANCELLED, none), 499);
  EXPECT_EQ(HttpStatusFor(C::UNKNOWN, none), 500);
  EXPECT_EQ(HttpStatusFor(C::INTERNAL, none), 500);
  EXPECT_EQ(HttpStatusFor(C::UNIMPLEMENTED, none), 501);

  auto e = ErrorFromGrpc(grpc::Status(C::UNAVAILABLE, "x"), refused.SerializeAsString());
  EXPECT_EQ(e.http_status, 502);
  EXPECT_NE(e.body.find("\"status\":\"UNAVAILABLE\""), std::string::npos);
  EXPECT_NE(e.body.find("\"errno\":111"), std::string::npos);
  // Garbage in the trailer is ignored, not trusted.
  EXPECT_EQ(ErrorFromGrpc(grpc::Status(C::UNAVAILABLE, "x"), "\xff\xff\xff").http_status, 503);
  EXPECT_EQ(JsonQuote("a\"\n\x01\xff"), "\"a\\\"\\n\\u0001\\ufffd\"");
}

// ---- against a real daemon, with real curl ----

struct CurlResult {
  int status = 0;
  std::string body;
  std::string headers;
};

CurlResult Curl(const std::string& target, const std::string& method, const std::string& path,
                const std::string& body, const std::string& session) {
  std::string cmd = "curl -sS -D - -X " + method + " -w '\\n%{http_code}'";
  if (!session.empty()) cmd += " -H 'Sockwire-Session: " + session + "'";
  if (!body.empty()) cmd += " -H 'Content-Type: application/json' --data-binary '" + body + "'";
  cmd += " 'http://" + target + path + "' 2>&1";
  CurlResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  pclose(p);
  auto last_nl = out.rfind('\n');
  if (last_nl == std::string::npos) return r;
  r.status = atoi(out.c_str() + last_nl + 1);
  out.resize(last_nl);
  auto split = out.find("\r\n\r\n");
  if (split != std::string::npos) {
    r.headers = out.substr(0, split);
    r.body = out.substr(split + 4);
  }
  return r;
}

std::string JsonString(const std::string& json, const std::string& key) {
  auto pos = json.find("\"" + key + "\":\"");
  if (pos == std::string::npos) return "";
  pos += key.size() + 4;
  return json.substr(pos, json.find('"', pos) - pos);
}

TEST(RestDaemon, CurlAndGrpcShareHandles) {
  sockwire::testing::DaemonProcess d({"--rest-listen=tcp:127.0.0.1:0", "--insecure-tcp"});
  ASSERT_FALSE(d.rest_target().empty()) << d.ready_line();
  const std::string& rest = d.rest_target();

  // Over REST, with the session the gateway opens.
  CurlResult c = Curl(rest, "POST", "/v1/sockets", R"({"family":"FAMILY_INET","type":"SOCKET_TYPE_STREAM"})", "");
  ASSERT_EQ(c.status, 200) << c.body;
  std::string handle = JsonString(c.body, "handle");
  ASSERT_FALSE(handle.empty());
  auto pos = c.headers.find("Sockwire-Session: ");
  ASSERT_NE(pos, std::string::npos) << c.headers;
  std::string session = c.headers.substr(pos + 18, c.headers.find("\r\n", pos) - pos - 18);

  // The same handle over gRPC, with the same session.
  auto stub = v1::SocketService::NewStub(d.NewChannel());
  v1::HandleRequest hr;
  hr.set_handle(handle);
  v1::SocketInfo info;
  auto ctx = sockwire::testing::SessionContext(session);
  ASSERT_TRUE(stub->GetInfo(ctx.get(), hr, &info).ok());
  EXPECT_EQ(info.family(), v1::FAMILY_INET);

  // Made over gRPC, closed over REST, then gone for both.
  v1::CreatePairRequest pr;
  v1::CreatePairResponse pair;
  auto ctx2 = sockwire::testing::SessionContext(session);
  ASSERT_TRUE(stub->CreatePair(ctx2.get(), pr, &pair).ok());
  EXPECT_EQ(Curl(rest, "DELETE", "/v1/sockets/" + pair.first().handle(), "", session).status, 200);
  CurlResult gone = Curl(rest, "GET", "/v1/sockets/" + pair.first().handle(), "", session);
  EXPECT_EQ(gone.status, 404);
  EXPECT_NE(gone.body.find("\"status\":\"NOT_FOUND\""), std::string::npos) << gone.body;
  hr.set_handle(pair.first().handle());
  auto ctx3 = sockwire::testing::SessionContext(session);
  EXPECT_EQ(stub->GetInfo(ctx3.get(), hr, &info).error_code(), grpc::StatusCode::NOT_FOUND);

  // Unknown session -> 401; the OpenAPI document is served.
  EXPECT_EQ(Curl(rest, "GET", "/v1/sockets", "", "ses1.bogus").status, 401);
  CurlResult doc = Curl(rest, "GET", "/v1/openapi.json", "", "");
  EXPECT_EQ(doc.status, 200);
  EXPECT_NE(doc.body.find("\"/v1/sockets/{handle}:bind\""), std::string::npos);
}

}  // namespace
}  // namespace sockwire::server::rest
