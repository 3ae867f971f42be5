# The relay's store: in-memory and SQLite (WAL) implementations of RelayStore.
find_package(SQLite3 REQUIRED)
bc_library(bc_store
  SOURCES memory_relay_store.cpp sqlite_relay_store.cpp coalescing_vfs.cpp
  DEPS bc_core
  PRIVATE_DEPS SQLite::SQLite3 Threads::Threads)
if(BC_BUILD_FUZZ)
  target_compile_options(bc_store PRIVATE -fsanitize=fuzzer-no-link)  # coverage for libFuzzer
endif()
