// HTTP request parts -> request message, and response message -> JSON, with
// protobuf's canonical JSON mapping (the same schema as gRPC; bytes are
// base64, int64/uint64 are JSON strings, enums are names, Duration is "1.5s").
//
// Request message = JSON body (unknown fields rejected), then path variables
// (top-level string fields), then query parameters (top-level scalar or
// repeated-scalar fields, by proto or JSON name). A path variable that
// contradicts the body is an error, not a silent override.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sockwire::server::rest {

// A fresh, empty message of `type` from the generated factory.
std::unique_ptr<google::protobuf::Message> NewMessage(const google::protobuf::Descriptor* type);

// Fills `msg`. INVALID_ARGUMENT with a readable message on malformed JSON,
// unknown fields, wrong types, bad query values.
absl::Status BuildRequest(std::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& path_params,
                          std::string_view query, google::protobuf::Message* msg);

// Query string "a=1&b=x" -> decoded pairs. INVALID_ARGUMENT on a bad escape.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view query);

// Canonical JSON (lowerCamelCase names, default-valued scalars included so
// clients see e.g. "data": "" on EOF), newline-terminated.
absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& msg);

}  // namespace sockwire::server::rest
