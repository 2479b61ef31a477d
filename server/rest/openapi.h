// GET /v1/openapi.json: an OpenAPI 3.0 document generated from the same
// route table and message descriptors the gateway serves, so it lists every
// route (plus the WebSocket stream and the document itself) and every
// request/response schema in protobuf's JSON mapping. Each operation carries
// "x-grpc-method" naming the RPC it reaches.
#pragma once

#include <string>

#include "rest/route_table.h"

namespace sockwire::server::rest {

std::string BuildOpenApi(const RouteTable& routes);

}  // namespace sockwire::server::rest
