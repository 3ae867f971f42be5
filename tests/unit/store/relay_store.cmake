# Conformance tests of the relay store (in-memory and SQLite), restart test.
find_package(SQLite3 REQUIRED)
bc_test(relay_store_test SOURCES relay_store_test.cpp DEPS bc_store SQLite::SQLite3 LABELS store relay)
