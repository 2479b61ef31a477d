// How much a test's memory and timing bounds grow under a sanitizer.
//
// Bounds such as "the daemon grows by less than 8 MiB" are measured on a plain
// build. ASan adds redzones around every heap block and holds freed blocks in a
// quarantine (scripts/test.sh caps it at 16 MiB for the suite), TSan keeps
// shadow memory: RSS grows for reasons that are not the daemon's, and every
// instrumented path is several times slower. cmake/sanitize.cmake sets
//   SOCKWIRE_MEMORY_SLACK  1 plain, 10 ASan, 8 TSan
//   SOCKWIRE_TIME_SLACK    1 plain, 4 ASan, 8 TSan
// and the environment variables of the same names override them (the Python
// tests read the environment, set by tests/rest/CMakeLists.txt). A test
// multiplies its bound, it is never skipped.
#pragma once

#include <cstdlib>

#ifndef SOCKWIRE_MEMORY_SLACK
#define SOCKWIRE_MEMORY_SLACK 1
#endif
#ifndef SOCKWIRE_TIME_SLACK
#define SOCKWIRE_TIME_SLACK 1
#endif

namespace sockwire::testing {

inline long SlackFrom(const char* env_name, long built_in) {
  if (const char* env = std::getenv(env_name)) {
    long v = std::strtol(env, nullptr, 10);
    if (v >= 1) return v;
  }
  return built_in;
}

inline long MemorySlack() { return SlackFrom("SOCKWIRE_MEMORY_SLACK", SOCKWIRE_MEMORY_SLACK); }
inline long TimeSlack() { return SlackFrom("SOCKWIRE_TIME_SLACK", SOCKWIRE_TIME_SLACK); }

}  // namespace sockwire::testing
