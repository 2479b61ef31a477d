#include "grpc/convert.h"

#include <sys/socket.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "core/errors.h"

namespace sockwire::server {

core::Address FromProto(const sockwire::v1::Address& a) {
  core::Address out;
  switch (a.kind_case()) {
    case sockwire::v1::Address::kInet:
      out.family = AF_INET;
      out.host = a.inet().host();
      out.port = a.inet().port();
      break;
    case sockwire::v1::Address::kInet6:
      out.family = AF_INET6;
      out.host = a.inet6().host();
      out.port = a.inet6().port();
      out.flowinfo = a.inet6().flowinfo();
      out.scope_id = a.inet6().scope_id();
      break;
    case sockwire::v1::Address::kUnixDomain:
      out.family = AF_UNIX;
      if (a.unix_domain().name_case() == sockwire::v1::UnixAddress::kAbstract) {
        out.abstract = true;
        out.path = a.unix_domain().abstract();
      } else {
        out.path = a.unix_domain().path();
      }
      break;
    default:
      break;
  }
  return out;
}

void ToProto(const core::Address& a, sockwire::v1::Address* out) {
  switch (a.family) {
    case AF_INET:
      out->mutable_inet()->set_host(a.host);
      out->mutable_inet()->set_port(a.port);
      break;
    case AF_INET6: {
      auto* i6 = out->mutable_inet6();
      i6->set_host(a.host);
      i6->set_port(a.port);
      i6->set_flowinfo(a.flowinfo);
      i6->set_scope_id(a.scope_id);
      break;
    }
    case AF_UNIX:
      if (a.abstract) {
        out->mutable_unix_domain()->set_abstract(a.path);
      } else {
        out->mutable_unix_domain()->set_path(a.path);
      }
      break;
    default:
      break;
  }
}

void ToProto(const core::SocketInfo& i, sockwire::v1::SocketInfo* out) {
  out->set_handle(i.handle);
  out->set_family(static_cast<sockwire::v1::Family>(i.family));
  out->set_type(static_cast<sockwire::v1::SocketType>(i.type));
  out->set_proto(i.proto);
  if (i.local) ToProto(*i.local, out->mutable_local_address());
  if (i.peer) ToProto(*i.peer, out->mutable_peer_address());
  TimeoutToProto(i.timeout, out->mutable_timeout());
  out->set_inheritable(i.inheritable);
  out->set_detached(i.detached);
  out->set_listening(i.listening);
}

absl::Status ValidateDuration(const google::protobuf::Duration& d, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return core::RequestError(absl::StatusCode::kInvalidArgument, "BAD_DURATION",
                              absl::StrCat(core::AV(what), " {seconds: ", d.seconds(), ", nanos: ", d.nanos(),
                                           "} ", core::AV(why)));
  };
  if (d.nanos() <= -1000000000 || d.nanos() >= 1000000000) return bad("has nanos outside (-1e9, 1e9)");
  if ((d.seconds() > 0 && d.nanos() < 0) || (d.seconds() < 0 && d.nanos() > 0)) {
    return bad("mixes signs (seconds and nanos must have the same sign)");
  }
  // int64 nanoseconds hold +-9223372036.854775807 s.
  constexpr int64_t kMaxSeconds = INT64_MAX / 1000000000 - 1;
  if (d.seconds() > kMaxSeconds || d.seconds() < -kMaxSeconds) {
    return bad(absl::StrCat("is out of range (at most ", kMaxSeconds, " seconds, ~292 years)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<core::Timeout> TimeoutFromProto(bool has, const google::protobuf::Duration& d) {
  if (!has) return core::Timeout(std::nullopt);
  if (auto st = ValidateDuration(d, "timeout"); !st.ok()) return st;
  return core::Timeout(std::chrono::seconds(d.seconds()) + std::chrono::nanoseconds(d.nanos()));
}

void TimeoutToProto(const core::Timeout& t, sockwire::v1::TimeoutMode* out) {
  if (!t.has_value()) return;
  auto ns = t->count();
  out->mutable_timeout()->set_seconds(ns / 1000000000);
  out->mutable_timeout()->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

core::OptionValue FromProto(const sockwire::v1::OptionValue& v) {
  core::OptionValue o;
  switch (v.value_case()) {
    case sockwire::v1::OptionValue::kIntValue:
      o.kind = core::OptionValue::Kind::kInt;
      o.int_value = v.int_value();
      break;
    case sockwire::v1::OptionValue::kBytesValue:
      o.kind = core::OptionValue::Kind::kBytes;
      o.bytes_value = v.bytes_value();
      break;
    case sockwire::v1::OptionValue::kLinger:
      o.kind = core::OptionValue::Kind::kLinger;
      o.linger_on = v.linger().onoff();
      o.linger_seconds = v.linger().seconds();
      break;
    case sockwire::v1::OptionValue::kMembership:
      o.kind = core::OptionValue::Kind::kMembership;
      o.group = v.membership().group();
      o.interface_address = v.membership().interface_address();
      o.interface_index = v.membership().interface_index();
      break;
    default:
      break;
  }
  return o;
}

void ToProto(const core::OptionValue& v, sockwire::v1::OptionValue* out) {
  switch (v.kind) {
    case core::OptionValue::Kind::kInt: out->set_int_value(v.int_value); break;
    case core::OptionValue::Kind::kBytes: out->set_bytes_value(v.bytes_value); break;
    case core::OptionValue::Kind::kLinger:
      out->mutable_linger()->set_onoff(v.linger_on);
      out->mutable_linger()->set_seconds(v.linger_seconds);
      break;
    default: break;
  }
}

}  // namespace sockwire::server
