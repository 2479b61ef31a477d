// The REST front-end's parsers of untrusted input: the route table's path
// matching (percent-decoding of path variables), the query string, and the
// JSON body -> request message mapping (server/rest/route_table.*,
// json_codec.*), as one HTTP request goes through them.
//
// Input: "METHOD\0PATH\0QUERY\0BODY" (missing parts are empty). A request
// that maps is encoded back to JSON, as responses are.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rest/json_codec.h"
#include "rest/route_table.h"
#include "sockwire/v1/resolver.pb.h"
#include "sockwire/v1/session.pb.h"
#include "sockwire/v1/socket.pb.h"
#include "sockwire/v1/stream.pb.h"

namespace {

const sockwire::server::rest::RouteTable& Table() {
  static const auto* table = [] {
    // The route table reads the generated pool: link every service's file
    // (nothing else in this binary references them).
    (void)sockwire::v1::Empty::default_instance();
    (void)sockwire::v1::OpenSessionRequest::default_instance();
    (void)sockwire::v1::GetAddrInfoRequest::default_instance();
    (void)sockwire::v1::StreamFrame::default_instance();
    std::vector<std::string> problems;
    auto* t = new sockwire::server::rest::RouteTable(
        sockwire::server::rest::RouteTable::FromGeneratedPool(&problems));
    if (t->routes().empty()) abort();  // The harness would test nothing.
    return t;
  }();
  return *table;
}

std::string_view Next(std::string_view* in) {
  size_t z = in->find('\0');
  std::string_view part = in->substr(0, z);
  in->remove_prefix(z == std::string_view::npos ? in->size() : z + 1);
  return part;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view method = Next(&in);
  std::string_view path = Next(&in);
  std::string_view query = Next(&in);
  std::string_view body = in;

  (void)sockwire::server::rest::ParseQuery(query);
  auto match = Table().Find(method, path);
  if (match.route == nullptr) return 0;
  auto msg = sockwire::server::rest::NewMessage(match.route->method->input_type());
  if (!msg) abort();
  auto st = sockwire::server::rest::BuildRequest(body, match.params, query, msg.get());
  if (st.ok()) {
    auto json = sockwire::server::rest::MessageToJson(*msg);
    if (!json.ok()) abort();  // Whatever we accepted we can print.
  }
  return 0;
}
