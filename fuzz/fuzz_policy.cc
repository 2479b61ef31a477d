// The policy file (--policy): JSON from the operator, but parsed by a daemon
// with privileges, reloaded on SIGHUP; it must fail closed on anything
// malformed, never crash. Only the public entry point Policy::FromJson is
// fuzzed, so the harness survives a rewrite of the parser.
#include <cstdint>
#include <string>

#include "core/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)sockwire::core::Policy::FromJson(text);
  return 0;
}
