// The SQLite relay store's connection, for tests that watch the statements a call runs.
#pragma once

struct sqlite3;

namespace bc::store {

class RelayStore;

// sqlite_connection returns the SQLite connection of a store made by open_sqlite_store, or
// nullptr for any other store. Only for tests (e.g. sqlite3_trace_v2 on it inside a write): the
// store's lock is not taken, so use it only on the thread that is inside the store's write or
// read callback, or while no other thread uses the store.
[[nodiscard]] sqlite3* sqlite_connection(RelayStore& store) noexcept;

}  // namespace bc::store
