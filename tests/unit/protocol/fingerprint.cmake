# Safety numbers, checked against libsignal-protocol-c (linked into this test only).
include(${PROJECT_SOURCE_DIR}/tests/integration/interop/libsignal_support.cmake)
find_package(rapidcheck REQUIRED)
bc_test(fingerprint_test
  SOURCES fingerprint_test.cpp
  DEPS bc_protocol bc_crypto bc_libsignal_support rapidcheck
  LABELS protocol)
