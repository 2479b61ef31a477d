// Proto <-> core values. No policy here: validation lives in the core.
#pragma once

#include "core/core.h"
#include "google/protobuf/duration.pb.h"
#include "sockwire/v1/socket.pb.h"

namespace sockwire::server {

core::Address FromProto(const sockwire::v1::Address& a);
void ToProto(const core::Address& a, sockwire::v1::Address* out);
void ToProto(const core::SocketInfo& i, sockwire::v1::SocketInfo* out);
core::Timeout TimeoutFromProto(bool has, const google::protobuf::Duration& d);
void TimeoutToProto(const core::Timeout& t, sockwire::v1::TimeoutMode* out);
core::OptionValue FromProto(const sockwire::v1::OptionValue& v);
void ToProto(const core::OptionValue& v, sockwire::v1::OptionValue* out);

}  // namespace sockwire::server
