// Errors inside the core: absl::Status with payloads that keep the Python
// exception kind, errno, EAI code and h_errno, so each front-end can build its
// own structured detail without parsing message text.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sockwire::core {

// Debian's Abseil is built with its own string_view (not std::): convert at
// the boundary.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

enum class ErrorKind { kUnspecified = 0, kOs = 1, kGai = 2, kHerror = 3, kTimeout = 4, kRequest = 5, kPolicy = 6 };

// An OSError for `err`, with the code chosen by meaning (see ErrnoToCode).
absl::Status OsError(int err, std::string_view context);
// socket.timeout.
absl::Status TimeoutError(std::string_view context);
// socket.gaierror: `eai` is the (negative) EAI_* value.
absl::Status GaiError(int eai, std::string_view context);
// socket.herror.
absl::Status HError(int h_err, std::string_view context);
// A malformed request: INVALID_ARGUMENT (or `code`) with a reason tag.
absl::Status RequestError(absl::StatusCode code, std::string_view reason, std::string_view message);
// Refused by policy or quota.
absl::Status PolicyError(absl::StatusCode code, std::string_view reason, std::string_view message);

absl::StatusCode ErrnoToCode(int err);
// "ECONNREFUSED" etc.; "E<number>" when unknown.
std::string ErrnoName(int err);

// Accessors; 0 / "" / kUnspecified when absent.
ErrorKind KindOf(const absl::Status& s);
int ErrnoOf(const absl::Status& s);
int EaiOf(const absl::Status& s);
int HErrnoOf(const absl::Status& s);
std::string ReasonOf(const absl::Status& s);

}  // namespace sockwire::core
