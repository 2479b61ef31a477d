# ctest driver: install the client package into a temp prefix, configure and
# build tests/client/outside_project against it, run the result.
#   -DBUILD_DIR=<this project's build dir> -DSOURCE_DIR=<outside_project> -DGENERATOR=<gen>
#   [-DSANITIZE_FLAGS="-fsanitize=..."]: a sanitizer build's installed library
#   needs its runtime, so the consumer compiles and links with the same flags.
string(RANDOM LENGTH 8 suffix)
if(DEFINED ENV{TMPDIR})
  set(tmp "$ENV{TMPDIR}/sockwire-outside-${suffix}")
else()
  set(tmp "/tmp/sockwire-outside-${suffix}")
endif()
set(prefix "${tmp}/prefix")
set(build "${tmp}/build")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    file(REMOVE_RECURSE "${tmp}")
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" --component sockwire_client)
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${build}" -G "${GENERATOR}"
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_CXX_FLAGS=${SANITIZE_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${SANITIZE_FLAGS}")
run(${CMAKE_COMMAND} --build "${build}")
run("${build}/outside")
message(STATUS "outside: ${last_output}")
if(NOT last_output MATCHES "htons\\(1\\) = 256")
  file(REMOVE_RECURSE "${tmp}")
  message(FATAL_ERROR "unexpected output: ${last_output}")
endif()
file(REMOVE_RECURSE "${tmp}")
