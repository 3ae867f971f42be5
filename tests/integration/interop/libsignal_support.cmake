# bc_libsignal_support: the test-only libsignal-protocol-c driver (GPL-3.0). Linked only into
# tests and benchmarks, never into a Backchannel library or app. Included by the interop tests,
# the fingerprint unit test and bench/session; defined once.
if(NOT TARGET bc_libsignal_support)
  pkg_check_modules(LIBSIGNAL REQUIRED IMPORTED_TARGET GLOBAL libsignal-protocol-c)
  add_library(bc_libsignal_support STATIC
              ${PROJECT_SOURCE_DIR}/tests/integration/interop/signal_support.cpp)
  target_include_directories(bc_libsignal_support PUBLIC ${PROJECT_SOURCE_DIR}/tests
                                                         ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(bc_libsignal_support PUBLIC bc_core PkgConfig::LIBSIGNAL
                        PRIVATE OpenSSL::Crypto bc_options)
endif()
