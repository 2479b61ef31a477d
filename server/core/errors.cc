#include "errors.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sockwire::core {
namespace {

constexpr char kKindKey[] = "sockwire/kind";
constexpr char kErrnoKey[] = "sockwire/errno";
constexpr char kEaiKey[] = "sockwire/eai";
constexpr char kHErrnoKey[] = "sockwire/herrno";
constexpr char kReasonKey[] = "sockwire/reason";

void SetInt(absl::Status& s, const char* key, int v) { s.SetPayload(key, absl::Cord(absl::StrCat(v))); }

int GetInt(const absl::Status& s, const char* key) {
  auto p = s.GetPayload(key);
  int v = 0;
  if (p.has_value() && absl::SimpleAtoi(std::string(*p), &v)) return v;
  return 0;
}

}  // namespace

std::string ErrnoName(int err) {
  // strerrorname_np is glibc >= 2.32; Debian 12 has 2.36.
  const char* n = strerrordesc_np(err) ? strerrorname_np(err) : nullptr;
  return n != nullptr ? n : absl::StrCat("E", err);
}

absl::StatusCode ErrnoToCode(int err) {
  switch (err) {
    case EINVAL: case EAFNOSUPPORT: case EPROTONOSUPPORT: case EPROTOTYPE:
    case ESOCKTNOSUPPORT: case EOPNOTSUPP: case ENOPROTOOPT: case EDESTADDRREQ:
    case EMSGSIZE: case EFAULT: case ENAMETOOLONG: case ENOTSOCK:
      return absl::StatusCode::kInvalidArgument;
    case EACCES: case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case EADDRINUSE: case EEXIST: case EISCONN:
      return absl::StatusCode::kAlreadyExists;
    case ENOENT: case EADDRNOTAVAIL:
      return absl::StatusCode::kNotFound;
    case ECONNREFUSED: case ENETUNREACH: case EHOSTUNREACH: case ECONNRESET:
    case ECONNABORTED: case EPIPE: case EAGAIN: case EINPROGRESS: case EALREADY:
    case ENETDOWN: case EHOSTDOWN:
      return absl::StatusCode::kUnavailable;
    case ENOTCONN: case EBADF: case ESHUTDOWN:
      return absl::StatusCode::kFailedPrecondition;
    case ETIMEDOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
      return absl::StatusCode::kResourceExhausted;
    case ECANCELED:
      return absl::StatusCode::kCancelled;
    default:
      return absl::StatusCode::kUnknown;
  }
}

absl::Status OsError(int err, std::string_view context) {
  absl::Status s(ErrnoToCode(err), absl::StrCat(AV(context), ": [Errno ", err, "] ", strerror(err)));
  SetInt(s, kKindKey, static_cast<int>(ErrorKind::kOs));
  SetInt(s, kErrnoKey, err);
  if (err == EAGAIN) s.SetPayload(kReasonKey, absl::Cord("WOULD_BLOCK"));
  return s;
}

absl::Status TimeoutError(std::string_view context) {
  absl::Status s(absl::StatusCode::kDeadlineExceeded, absl::StrCat(AV(context), ": timed out"));
  SetInt(s, kKindKey, static_cast<int>(ErrorKind::kTimeout));
  s.SetPayload(kReasonKey, absl::Cord("TIMEOUT"));
  return s;
}

absl::Status GaiError(int eai, std::string_view context) {
  absl::StatusCode code = absl::StatusCode::kNotFound;
  if (eai == EAI_AGAIN) code = absl::StatusCode::kUnavailable;
  if (eai == EAI_BADFLAGS || eai == EAI_FAMILY || eai == EAI_SOCKTYPE || eai == EAI_SERVICE)
    code = absl::StatusCode::kInvalidArgument;
  if (eai == EAI_MEMORY) code = absl::StatusCode::kResourceExhausted;
  if (eai == EAI_SYSTEM || eai == EAI_FAIL) code = absl::StatusCode::kUnknown;
  absl::Status s(code, absl::StrCat(AV(context), ": [Errno ", eai, "] ", gai_strerror(eai)));
  SetInt(s, kKindKey, static_cast<int>(ErrorKind::kGai));
  SetInt(s, kEaiKey, eai);
  return s;
}

absl::Status HError(int h_err, std::string_view context) {
  absl::StatusCode code = h_err == TRY_AGAIN ? absl::StatusCode::kUnavailable : absl::StatusCode::kNotFound;
  absl::Status s(code, absl::StrCat(AV(context), ": [Errno ", h_err, "] ", hstrerror(h_err)));
  SetInt(s, kKindKey, static_cast<int>(ErrorKind::kHerror));
  SetInt(s, kHErrnoKey, h_err);
  return s;
}

absl::Status RequestError(absl::StatusCode code, std::string_view reason, std::string_view message) {
  absl::Status s(code, AV(message));
  SetInt(s, kKindKey, static_cast<int>(ErrorKind::kRequest));
  s.SetPayload(kReasonKey, absl::Cord(AV(reason)));
  return s;
}

absl::Status PolicyError(absl::StatusCode code, std::string_view reason, std::string_view message) {
  absl::Status s(code, AV(message));
  SetInt(s, kKindKey, static_cast<int>(ErrorKind::kPolicy));
  s.SetPayload(kReasonKey, absl::Cord(AV(reason)));
  return s;
}

ErrorKind KindOf(const absl::Status& s) { return static_cast<ErrorKind>(GetInt(s, kKindKey)); }
int ErrnoOf(const absl::Status& s) { return GetInt(s, kErrnoKey); }
int EaiOf(const absl::Status& s) { return GetInt(s, kEaiKey); }
int HErrnoOf(const absl::Status& s) { return GetInt(s, kHErrnoKey); }
std::string ReasonOf(const absl::Status& s) {
  auto p = s.GetPayload(kReasonKey);
  return p.has_value() ? std::string(*p) : std::string();
}

}  // namespace sockwire::core
