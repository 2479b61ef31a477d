// Proto <-> core values. No policy here: validation lives in the core.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "core/core.h"
#include "google/protobuf/duration.pb.h"
#include "sockwire/v1/socket.pb.h"

namespace sockwire::server {

core::Address FromProto(const sockwire::v1::Address& a);
void ToProto(const core::Address& a, sockwire::v1::Address* out);
void ToProto(const core::SocketInfo& i, sockwire::v1::SocketInfo* out);
// INVALID_ARGUMENT (reason BAD_DURATION) unless `d` is a well-formed
// google.protobuf.Duration (|nanos| < 1e9, seconds and nanos of one sign,
// within its +-10,000 years) that also fits in int64 nanoseconds (~292
// years, Python's own limit: OverflowError). Negative values pass; the
// operation decides about those.
absl::Status ValidateDuration(const google::protobuf::Duration& d, std::string_view what);
// nullopt when !has (Python's None). Validated as above.
absl::StatusOr<core::Timeout> TimeoutFromProto(bool has, const google::protobuf::Duration& d);
void TimeoutToProto(const core::Timeout& t, sockwire::v1::TimeoutMode* out);
core::OptionValue FromProto(const sockwire::v1::OptionValue& v);
void ToProto(const core::OptionValue& v, sockwire::v1::OptionValue* out);

}  // namespace sockwire::server
