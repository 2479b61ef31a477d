# Sanitizer builds. Included before any target is defined, so generated proto
# code, the daemon, the tests and the installed client library are all built
# and linked the same way (the outside-project test reads
# SOCKWIRE_SANITIZE_FLAGS to link its consumer with them too).
#
#   SOCKWIRE_SANITIZE: "" (none), "address" (ASan + UBSan), "thread" (TSan).
#
# Memory bounds in tests are measured without a sanitizer's redzones, shadow
# and quarantine; under a sanitizer, tests multiply them by
# SOCKWIRE_MEMORY_SLACK (a compile definition of the test targets, see
# tests/CMakeLists.txt): 1 plain, 4 under ASan, 8 under TSan.
set(SOCKWIRE_SANITIZE "" CACHE STRING "Sanitizer build: '', 'address' (ASan+UBSan) or 'thread' (TSan)")
set_property(CACHE SOCKWIRE_SANITIZE PROPERTY STRINGS "" address thread)
set(SOCKWIRE_MEMORY_SLACK 1)
set(SOCKWIRE_SANITIZE_FLAGS "")
if(SOCKWIRE_SANITIZE STREQUAL "address")
  set(_sw_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  set(SOCKWIRE_MEMORY_SLACK 4)
elseif(SOCKWIRE_SANITIZE STREQUAL "thread")
  set(_sw_san -fsanitize=thread -fno-omit-frame-pointer)
  set(SOCKWIRE_MEMORY_SLACK 8)
elseif(NOT SOCKWIRE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "SOCKWIRE_SANITIZE must be '', 'address' or 'thread', not '${SOCKWIRE_SANITIZE}'")
endif()
if(DEFINED _sw_san)
  add_compile_options(${_sw_san})
  add_link_options(${_sw_san})
  string(REPLACE ";" " " SOCKWIRE_SANITIZE_FLAGS "${_sw_san}")
endif()
