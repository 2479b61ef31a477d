# Sanitizer builds. Included before any target is defined, so generated proto
# code, the daemon, the tests and the installed client library are all built
# and linked the same way (the outside-project test reads
# SOCKWIRE_SANITIZE_FLAGS to link its consumer with them too).
#
#   SOCKWIRE_SANITIZE: "" (none), "address" (ASan + UBSan), "thread" (TSan).
#
# Memory and timing bounds in tests are measured on a plain build; under a
# sanitizer, tests multiply them by SOCKWIRE_MEMORY_SLACK (1 plain, 10 ASan,
# 8 TSan) and SOCKWIRE_TIME_SLACK (1, 4, 8): compile definitions of the test
# targets (tests/CMakeLists.txt), see tests/support/sanitizer_slack.h. ASan's
# 10 is its 16 MiB quarantine (scripts/test.sh) over the 4 MiB bound of
# StreamBounds.TinyFramesToAStalledPeerKeepDaemonMemoryBounded: 300,000
# freed one-byte frames sit in it; the real growth stays within 4x.
set(SOCKWIRE_SANITIZE "" CACHE STRING "Sanitizer build: '', 'address' (ASan+UBSan) or 'thread' (TSan)")
set_property(CACHE SOCKWIRE_SANITIZE PROPERTY STRINGS "" address thread)
set(SOCKWIRE_MEMORY_SLACK 1)
set(SOCKWIRE_TIME_SLACK 1)
set(SOCKWIRE_SANITIZE_FLAGS "")
if(SOCKWIRE_SANITIZE STREQUAL "address")
  set(_sw_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  set(SOCKWIRE_MEMORY_SLACK 10)
  set(SOCKWIRE_TIME_SLACK 4)
elseif(SOCKWIRE_SANITIZE STREQUAL "thread")
  set(_sw_san -fsanitize=thread -fno-omit-frame-pointer)
  set(SOCKWIRE_MEMORY_SLACK 8)
  set(SOCKWIRE_TIME_SLACK 8)
elseif(NOT SOCKWIRE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "SOCKWIRE_SANITIZE must be '', 'address' or 'thread', not '${SOCKWIRE_SANITIZE}'")
endif()
# The fuzz build (scripts/fuzz.sh, clang only): libraries get libFuzzer's
# coverage instrumentation plus ASan and UBSan; fuzz/ links the harnesses.
option(SOCKWIRE_FUZZ "Build the libFuzzer harnesses in fuzz/ (clang)" OFF)
if(SOCKWIRE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SOCKWIRE_FUZZ needs clang (scripts/fuzz.sh uses clang++-14)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(DEFINED _sw_san)
  add_compile_options(${_sw_san})
  add_link_options(${_sw_san})
  string(REPLACE ";" " " SOCKWIRE_SANITIZE_FLAGS "${_sw_san}")
endif()
