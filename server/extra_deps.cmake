# Extra dependencies of the daemon's front-ends, included by server/CMakeLists.txt.
# Owned by the REST gateway (issue 5).
#
# The REST gateway uses Boost.Beast (HTTP/1.1 + WebSocket) on Boost.Asio. Both
# are header-only in Debian's libboost-dev (Boost.System is header-only since
# 1.69), so only the include path is needed.
find_package(Boost 1.74 REQUIRED)
if(TARGET Boost::headers)
  target_link_libraries(sockwire_daemon PUBLIC Boost::headers)
else()
  target_link_libraries(sockwire_daemon PUBLIC Boost::boost)
endif()
target_compile_definitions(sockwire_daemon PRIVATE
  # No deprecated Asio interfaces; Beast's own std::string_view interop.
  BOOST_ASIO_NO_DEPRECATED
  BOOST_BEAST_USE_STD_STRING_VIEW)

# The gateway finds its services in the generated descriptor pool by file
# name: every .proto under proto/sockwire/v1, listed at build time so a new
# service file (e.g. resolver.proto) gets REST routes without code changes.
file(GLOB _sockwire_rest_protos CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/proto
     ${PROJECT_SOURCE_DIR}/proto/sockwire/v1/*.proto)
list(SORT _sockwire_rest_protos)
string(REPLACE ";" "," _sockwire_rest_protos_csv "${_sockwire_rest_protos}")
set_property(SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/rest/route_table.cc APPEND PROPERTY
  COMPILE_DEFINITIONS SOCKWIRE_REST_PROTO_FILES="${_sockwire_rest_protos_csv}")
