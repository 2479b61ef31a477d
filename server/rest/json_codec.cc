#include "rest/json_codec.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rest/strings.h"
#include "rest/route_table.h"

namespace sockwire::server::rest {
namespace {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

const FD* FindField(const pb::Descriptor* d, std::string_view name) {
  const FD* f = d->FindFieldByName(std::string(name));
  if (f == nullptr) f = d->FindFieldByCamelcaseName(std::string(name));
  if (f == nullptr) {
    for (int i = 0; i < d->field_count(); ++i) {
      if (d->field(i)->json_name() == name) return d->field(i);
    }
  }
  return f;
}

template <class T>
bool ParseInt(std::string_view s, T* out) {
  return absl::SimpleAtoi(AV(TrimView(s)), out);
}

// Sets (or, for repeated fields, appends) one scalar from its query text.
absl::Status SetScalar(pb::Message* msg, const FD* f, const std::string& value) {
  const pb::Reflection* r = msg->GetReflection();
  bool rep = f->is_repeated();
  auto bad = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter ", f->name(), ": invalid ", f->type_name(), " \"",
                     value.substr(0, 64), "\""));
  };
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32: {
      int32_t v;
      if (!ParseInt(value, &v)) return bad();
      rep ? r->AddInt32(msg, f, v) : r->SetInt32(msg, f, v);
      break;
    }
    case FD::CPPTYPE_INT64: {
      int64_t v;
      if (!ParseInt(value, &v)) return bad();
      rep ? r->AddInt64(msg, f, v) : r->SetInt64(msg, f, v);
      break;
    }
    case FD::CPPTYPE_UINT32: {
      uint32_t v;
      if (!ParseInt(value, &v)) return bad();
      rep ? r->AddUInt32(msg, f, v) : r->SetUInt32(msg, f, v);
      break;
    }
    case FD::CPPTYPE_UINT64: {
      uint64_t v;
      if (!ParseInt(value, &v)) return bad();
      rep ? r->AddUInt64(msg, f, v) : r->SetUInt64(msg, f, v);
      break;
    }
    case FD::CPPTYPE_DOUBLE:
    case FD::CPPTYPE_FLOAT: {
      double v;
      if (!absl::SimpleAtod(value, &v) || !std::isfinite(v)) return bad();
      if (f->cpp_type() == FD::CPPTYPE_DOUBLE) {
        rep ? r->AddDouble(msg, f, v) : r->SetDouble(msg, f, v);
      } else {
        if (std::fabs(v) > std::numeric_limits<float>::max()) return bad();
        rep ? r->AddFloat(msg, f, static_cast<float>(v)) : r->SetFloat(msg, f, static_cast<float>(v));
      }
      break;
    }
    case FD::CPPTYPE_BOOL: {
      bool v;
      if (value == "true" || value == "1") {
        v = true;
      } else if (value == "false" || value == "0") {
        v = false;
      } else {
        return bad();
      }
      rep ? r->AddBool(msg, f, v) : r->SetBool(msg, f, v);
      break;
    }
    case FD::CPPTYPE_ENUM: {
      const pb::EnumValueDescriptor* ev = f->enum_type()->FindValueByName(value);
      int num;
      if (ev == nullptr && ParseInt(value, &num)) {
        // Unknown numbers pass through (open enums), as in the JSON mapping.
        ev = f->enum_type()->FindValueByNumber(num);
        if (ev == nullptr) {
          rep ? r->AddEnumValue(msg, f, num) : r->SetEnumValue(msg, f, num);
          break;
        }
      }
      if (ev == nullptr) return bad();
      rep ? r->AddEnum(msg, f, ev) : r->SetEnum(msg, f, ev);
      break;
    }
    case FD::CPPTYPE_STRING: {
      std::string v = value;
      if (f->type() == FD::TYPE_BYTES) {
        // Standard or URL-safe base64, as the JSON mapping accepts.
        if (!absl::Base64Unescape(value, &v) && !absl::WebSafeBase64Unescape(value, &v)) {
          return bad();
        }
      }
      rep ? r->AddString(msg, f, std::move(v)) : r->SetString(msg, f, std::move(v));
      break;
    }
    case FD::CPPTYPE_MESSAGE:
      return absl::InvalidArgumentError(absl::StrCat(
          "query parameter ", f->name(), " is a message; send it in a JSON body with POST"));
  }
  return absl::OkStatus();
}

}  // namespace

std::unique_ptr<pb::Message> NewMessage(const pb::Descriptor* type) {
  const pb::Message* proto = pb::MessageFactory::generated_factory()->GetPrototype(type);
  if (proto == nullptr) return nullptr;
  return std::unique_ptr<pb::Message>(proto->New());
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string_view part : SplitView(query, '&', true)) {
    auto eq = part.find('=');
    std::string_view k = part.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    auto dk = PercentDecode(k, true);
    auto dv = PercentDecode(v, true);
    if (!dk || !dv) return absl::InvalidArgumentError("malformed percent-escape in the query string");
    out.emplace_back(std::move(*dk), std::move(*dv));
  }
  return out;
}

absl::Status BuildRequest(std::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& path_params,
                          std::string_view query, pb::Message* msg) {
  if (!TrimView(body).empty()) {
    pb::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = false;  // a typo must not be silently dropped
    auto st = pb::util::JsonStringToMessage(pb::StringPiece(body.data(), body.size()), msg, opts);
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid JSON body for ", msg->GetDescriptor()->full_name(), ": ",
                       std::string(st.message().data(), st.message().size())));
    }
  }
  const pb::Descriptor* d = msg->GetDescriptor();
  const pb::Reflection* r = msg->GetReflection();
  for (const auto& [name, value] : path_params) {
    const FD* f = d->FindFieldByName(name);
    if (f == nullptr || f->cpp_type() != FD::CPPTYPE_STRING || f->is_repeated()) {
      return absl::InternalError(absl::StrCat("route variable {", name, "} has no string field"));
    }
    std::string have = r->GetString(*msg, f);
    if (!have.empty() && have != value) {
      return absl::InvalidArgumentError(absl::StrCat(
          "field ", name, " in the body contradicts the path (\"", value.substr(0, 80), "\")"));
    }
    r->SetString(msg, f, value);
  }
  if (!query.empty()) {
    auto pairs = ParseQuery(query);
    if (!pairs.ok()) return pairs.status();
    for (const auto& [k, v] : *pairs) {
      const FD* f = FindField(d, k);
      if (f == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("unknown query parameter \"", k.substr(0, 64),
                                                       "\" for ", d->full_name()));
      }
      if (f->is_map()) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter ", k, " is a map; send it in a JSON body"));
      }
      if (auto st = SetScalar(msg, f, v); !st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MessageToJson(const pb::Message& msg) {
  pb::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  std::string out;
  auto st = pb::util::MessageToJsonString(msg, &out, opts);
  if (!st.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot encode the response as JSON: ",
                     std::string(st.message().data(), st.message().size())));
  }
  out.push_back('\n');
  return out;
}

}  // namespace sockwire::server::rest
