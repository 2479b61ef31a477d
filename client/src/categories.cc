// The resolver error categories; kept apart from errors.cc because <netdb.h>
// defines h_errno as a macro, which breaks ErrorDetail::h_errno().
#include <netdb.h>

#include <string>

#include "sockwire/errors.h"

namespace sockwire {
namespace {

class GaiCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "gai"; }
  std::string message(int code) const override { return ::gai_strerror(code); }
};

class HerrorCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "herror"; }
  std::string message(int code) const override { return ::hstrerror(code); }
};

}  // namespace

const std::error_category& gai_category() noexcept {
  static const GaiCategory category;
  return category;
}

const std::error_category& herror_category() noexcept {
  static const HerrorCategory category;
  return category;
}

}  // namespace sockwire
