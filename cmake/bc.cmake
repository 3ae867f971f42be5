# Shared target settings: warnings and sanitizers, applied per target (no global flags).
add_library(bc_options INTERFACE)
target_compile_options(bc_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(BC_WERROR)
  target_compile_options(bc_options INTERFACE -Werror)
endif()
if(BC_SANITIZE)
  target_compile_options(bc_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                               -fno-sanitize-recover=undefined)
  target_link_options(bc_options INTERFACE -fsanitize=address,undefined)
endif()

# bc_library(NAME SOURCES... DEPS ...): one static library per layer.
function(bc_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE bc_options ${ARG_PRIVATE_DEPS})
endfunction()

# bc_test(NAME SOURCES... DEPS ... [LABELS ...] [TIMEOUT S] [COST N]): one GoogleTest executable,
# discovered by ctest.
function(bc_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT;COST" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} bc_test_support GTest::gtest_main GTest::gmock
                                        bc_options)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  # The source and build trees reach tests through bc_test_support's compiled-in defaults
  # (tests/support/CMakeLists.txt), so no ENVIRONMENT list has to survive list expansion here.
  set(props TIMEOUT ${ARG_TIMEOUT})
  # COST: a long test with a high cost is started first by ctest -j, so it overlaps the others.
  if(ARG_COST)
    list(APPEND props COST ${ARG_COST})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES ${props})
  # LABELS: gtest_discover_tests hands its properties on as one flat list, in which a second
  # label would be read as a property name. So the labels are set by a script ctest includes
  # after the discovered tests, over the list of their names that discovery leaves behind.
  if(ARG_LABELS)
    set(labels_file "${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake")
    file(WRITE "${labels_file}"
         "if(NOT \"\${${name}_TESTS}\" STREQUAL \"\")\n"
         "  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${ARG_LABELS}\")\n"
         "endif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_file}")
  endif()
endfunction()

# bc_fuzzer(NAME SOURCES... DEPS ...): a libFuzzer target (fuzz preset, clang). Its committed
# corpus lives in fuzz/corpus/NAME/.
function(bc_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} bc_options)
  if(NOT TARGET bc_fuzzers)
    add_custom_target(bc_fuzzers)
  endif()
  add_dependencies(bc_fuzzers ${name})
endfunction()

# bc_benchmark(NAME SOURCES... DEPS ...): a Google Benchmark executable (release preset).
function(bc_benchmark name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark bc_options)
endfunction()
