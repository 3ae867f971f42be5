# Conformance tests of the relay store (in-memory and SQLite), restart test.
find_package(SQLite3 REQUIRED)
bc_test(relay_store_test SOURCES relay_store_test.cpp DEPS bc_store SQLite::SQLite3 LABELS store relay)
# The relay store's WAL-write-coalescing SQLite VFS.
bc_test(coalescing_vfs_test SOURCES coalescing_vfs_test.cpp DEPS bc_store SQLite::SQLite3
        LABELS store)
