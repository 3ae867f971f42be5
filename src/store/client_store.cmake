# The client's encrypted local store (its own target: the relay does not link it).
find_package(SQLite3 REQUIRED)
bc_library(bc_client_store SOURCES client_store.cpp DEPS bc_core bc_crypto PRIVATE_DEPS SQLite::SQLite3)
