# Warnings for sockwire's own targets (server, client, tests, examples, bench,
# fuzz). Included by the top-level CMakeLists after proto/, so generated
# protobuf/gRPC code is not held to them; its headers are SYSTEM includes.
#   SOCKWIRE_WERROR: -Werror on top of -Wall -Wextra (ON in CI, scripts/test.sh).
option(SOCKWIRE_WERROR "Treat compiler warnings as errors in sockwire's own code" OFF)
# -Wno-missing-field-initializers: GCC 12 flags C++20 designated initializers
# that leave members to their default member initializers (`{.fd = 3}`), the
# idiom we use for option structs; GCC 14 and clang no longer do.
add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wall> $<$<COMPILE_LANGUAGE:CXX>:-Wextra>
                    $<$<COMPILE_LANGUAGE:CXX>:-Wno-missing-field-initializers>)
if(SOCKWIRE_WERROR)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
# clang checks the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations
# (the fuzz build in scripts/fuzz.sh is a clang build of the core).
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wthread-safety>)
endif()
