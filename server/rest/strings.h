// Small string helpers. Debian's Abseil has its own absl::string_view (not
// std::string_view), so the gateway keeps to std::string_view and converts
// at the Abseil boundary with AV().
#pragma once

#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"

namespace sockwire::server::rest {

inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// Splits at every `sep`; empty pieces are kept unless `skip_empty`.
inline std::vector<std::string_view> SplitView(std::string_view s, char sep, bool skip_empty = false) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    std::string_view piece = s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start);
    if (!skip_empty || !piece.empty()) out.push_back(piece);
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

inline std::string_view TrimView(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace sockwire::server::rest
