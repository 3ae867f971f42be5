// SqliteRelayStore: RelayStore in one SQLite file, WAL mode, exclusive lock. Durable commits run
// with synchronous=FULL (the WAL is fsync'd before COMMIT returns); relaxed commits with
// synchronous=NORMAL (written to the WAL, fsync'd by the next durable commit or checkpoint).
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "store/coalescing_vfs.hpp"
#include "store/relay_sql.hpp"
#include "store/relay_store.hpp"
#include "store/sqlite_relay_store.hpp"

namespace bc::store {
namespace {

Errc errc_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      return Errc::kConflict;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Errc::kMalformed;
    case SQLITE_NOMEM:
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
      return Errc::kInternal;
    default:  // SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, ...
      return Errc::kUnavailable;
  }
}

Unexpected sql_fail(sqlite3* db, int rc, std::string_view what) {
  std::string detail = "relay store: ";
  detail += what;
  detail += ": ";
  detail += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return fail(errc_of(rc), std::move(detail));
}

// Stmt is one cached prepared statement, reset and cleared on destruction of the guard.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Stmt() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  void bind(int index, std::int64_t v) { sqlite3_bind_int64(stmt_, index, v); }
  void bind_u64(int index, std::uint64_t v) {
    sqlite3_bind_int64(stmt_, index, static_cast<std::int64_t>(v));
  }
  void bind(int index, ByteView v) {
    if (v.empty()) {
      sqlite3_bind_zeroblob(stmt_, index, 0);
    } else {
      sqlite3_bind_blob(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    }
  }
  // bind_optional binds NULL for an absent blob.
  void bind_optional(int index, const std::optional<Bytes>& v) {
    if (v) {
      bind(index, ByteView(*v));
    } else {
      sqlite3_bind_null(stmt_, index);
    }
  }
  // step returns true for a row, false when done.
  Result<bool> step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return sql_fail(db_, rc, "statement failed");
  }
  Result<void> run() {
    BC_ASSIGN_OR_RETURN(bool row, step());
    (void)row;
    return ok();
  }
  [[nodiscard]] std::int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  [[nodiscard]] std::uint64_t u64(int col) const {
    return static_cast<std::uint64_t>(sqlite3_column_int64(stmt_, col));
  }
  [[nodiscard]] Bytes blob(int col) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
    const int n = sqlite3_column_bytes(stmt_, col);
    if (p == nullptr || n <= 0) return {};
    return Bytes(p, p + n);
  }
  [[nodiscard]] std::optional<Bytes> optional_blob(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return blob(col);
  }
  template <std::size_t N>
  Result<std::array<std::uint8_t, N>> fixed(int col) const {
    Bytes b = blob(col);
    if (b.size() != N) return fail(Errc::kMalformed, "relay store: stored id has the wrong size");
    std::array<std::uint8_t, N> out{};
    std::copy(b.begin(), b.end(), out.begin());
    return out;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

struct QueueRow {
  std::int64_t rowid = 0;
  RelayQueueRecord record;
  RelayMessageId next_message_id = 1;
  RelayUsage usage;
};

class SqliteRelayStore;

class SqliteTxn final : public RelayStoreTxn {
 public:
  explicit SqliteTxn(SqliteRelayStore& store) : store_(store) {}

  Result<void> create_queue(const RelayQueueRecord& queue) override;
  Result<RelayQueueRecord> find_queue(const RelayQueueId& recipient_id) override {
    BC_ASSIGN_OR_RETURN(QueueRow row, load(relay_sql::kSelectQueueByRecipient, recipient_id));
    return row.record;
  }
  Result<RelayQueueRecord> find_queue_by_sender(const RelayQueueId& sender_id) override {
    BC_ASSIGN_OR_RETURN(QueueRow row, load(relay_sql::kSelectQueueBySender, sender_id));
    return row.record;
  }
  Result<RelayUsage> queue_usage(const RelayQueueId& recipient_id) override {
    BC_ASSIGN_OR_RETURN(QueueRow row, load(relay_sql::kSelectQueueByRecipient, recipient_id));
    return row.usage;
  }
  Result<RelayUsage> delete_queue(const RelayQueueId& recipient_id) override;
  Result<AppendedEnvelope> append_envelope(const RelayQueueId& sender_id, ByteView body,
                                           std::int64_t received_ms) override;
  Result<std::vector<StoredEnvelope>> list_envelopes(const RelayQueueId& recipient_id,
                                                     RelayMessageId after,
                                                     std::int64_t min_received_ms,
                                                     std::size_t limit) override;
  Result<RelayUsage> delete_envelopes(const RelayQueueId& recipient_id,
                                      std::span<const RelayMessageId> message_ids) override;
  Result<RelayUsage> purge_expired(std::int64_t before_ms) override;
  Result<void> put_bundle(const RelayQueueId& recipient_id, const StoredBundle& bundle) override;
  Result<TakenBundle> take_bundle(const RelayQueueId& sender_id) override;
  Result<void> create_escrow(const EscrowRecord& escrow) override;
  Result<EscrowRecord> find_escrow(const EscrowId& exchange_id) override;
  Result<void> update_escrow(const EscrowRecord& escrow) override;
  Result<std::uint64_t> expire_escrows(std::int64_t now_ms) override;
  Result<std::uint64_t> forget_escrows(std::int64_t before_ms) override;

 private:
  // changes is how many rows the last statement changed.
  std::uint64_t changes();
  Result<QueueRow> load(std::string_view sql, const RelayQueueId& id);
  Result<Stmt> stmt(std::string_view sql);

  SqliteRelayStore& store_;
};

class SqliteRelayStore final : public RelayStore {
 public:
  ~SqliteRelayStore() override {
    for (auto& [sql, s] : statements_) sqlite3_finalize(s);
    if (db_ != nullptr) sqlite3_close(db_);
  }

  static Result<std::unique_ptr<SqliteRelayStore>> open(const std::filesystem::path& path) {
    auto store = std::unique_ptr<SqliteRelayStore>(new SqliteRelayStore());
    BC_TRY(store->init(path));
    return store;
  }

  Result<void> write(Durability durability, const TxnFn& fn) override {
    std::lock_guard lock(mu_);
    BC_TRY(set_synchronous(durability == Durability::kDurable ? 2 : 1));
    BC_TRY(exec("BEGIN IMMEDIATE"));
    SqliteTxn txn(*this);
    Result<void> result = fn(txn);
    if (!result) {
      rollback();
      return result;
    }
    const int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      auto err = sql_fail(db_, rc, "commit failed");
      rollback();
      return err;
    }
    return ok();
  }

  Result<void> read(const TxnFn& fn) override {
    std::lock_guard lock(mu_);
    BC_TRY(exec("BEGIN"));
    SqliteTxn txn(*this);
    Result<void> result = fn(txn);
    rollback();
    return result;
  }

  Result<RelayStoreStats> stats() override {
    std::lock_guard lock(mu_);
    BC_ASSIGN_OR_RETURN(Stmt s, prepared(relay_sql::kStats));
    BC_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return fail(Errc::kInternal, "relay store: no stats row");
    RelayStoreStats out{s.u64(0), RelayUsage{s.u64(1), s.u64(2)}};
    BC_ASSIGN_OR_RETURN(Stmt e, prepared(relay_sql::kEscrowCount));
    BC_ASSIGN_OR_RETURN(bool erow, e.step());
    if (!erow) return fail(Errc::kInternal, "relay store: no escrow count row");
    out.escrows = e.u64(0);
    return out;
  }

  [[nodiscard]] sqlite3* db() const noexcept { return db_; }

  // prepared returns the cached statement for `sql` (callers hold mu_).
  Result<Stmt> prepared(std::string_view sql) {
    auto it = statements_.find(sql.data());
    if (it == statements_.end()) {
      sqlite3_stmt* s = nullptr;
      const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &s, nullptr);
      if (rc != SQLITE_OK) return sql_fail(db_, rc, "prepare failed");
      it = statements_.emplace(sql.data(), s).first;
    }
    return Stmt(db_, it->second);
  }

 private:
  SqliteRelayStore() = default;

  Result<void> exec(const char* sql) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return sql_fail(db_, rc, sql);
    return ok();
  }

  void rollback() {
    if (sqlite3_get_autocommit(db_) == 0) {
      (void)sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  // set_synchronous switches between NORMAL (1) and FULL (2) outside a transaction.
  Result<void> set_synchronous(int level) {
    if (level == synchronous_) return ok();
    BC_TRY(exec(level == 2 ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
    synchronous_ = level;
    return ok();
  }

  Result<std::string> pragma_text(const char* sql) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql, -1, &s, nullptr);
    if (rc != SQLITE_OK) return sql_fail(db_, rc, sql);
    std::string out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(s, 0);
      if (text != nullptr) out = reinterpret_cast<const char*>(text);
    } else if (rc != SQLITE_DONE) {
      auto err = sql_fail(db_, rc, sql);
      sqlite3_finalize(s);
      return err;
    }
    sqlite3_finalize(s);
    return out;
  }

  Result<void> init(const std::filesystem::path& path) {
    const int rc = sqlite3_open_v2(
        path.c_str(), &db_,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
        coalescing_vfs_name());  // one write per transaction to the WAL (coalescing_vfs.hpp)
    if (rc != SQLITE_OK) return sql_fail(db_, rc, "cannot open the relay database");
    sqlite3_extended_result_codes(db_, 1);
    BC_TRY(exec("PRAGMA busy_timeout=200"));
    // One relay process per file: the exclusive lock is taken at the first write below.
    BC_TRY(exec("PRAGMA locking_mode=EXCLUSIVE"));
    BC_ASSIGN_OR_RETURN(std::string mode, pragma_text("PRAGMA journal_mode=WAL"));
    if (mode != "wal") return fail(Errc::kUnavailable, "relay store: cannot enable WAL mode");
    BC_TRY(exec("PRAGMA synchronous=FULL"));
    synchronous_ = 2;
    BC_TRY(exec("PRAGMA foreign_keys=ON"));
    BC_TRY(migrate());
    sync_directory(path);
    return ok();
  }

  Result<void> migrate() {
    BC_TRY(exec("BEGIN IMMEDIATE"));
    Result<void> r = migrate_in_txn();
    if (!r) {
      rollback();
      return r;
    }
    const int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      auto err = sql_fail(db_, rc, "schema commit failed");
      rollback();
      return err;
    }
    return ok();
  }

  Result<void> migrate_in_txn() {
    BC_ASSIGN_OR_RETURN(std::string has_version,
                        pragma_text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                    "name = 'relay_schema_version'"));
    BC_ASSIGN_OR_RETURN(std::string tables, pragma_text("SELECT count(*) FROM sqlite_master"));
    if (has_version == "0" && tables != "0") {
      return fail(Errc::kMalformed, "relay store: the file is not a relay store");
    }
    BC_TRY(exec(std::string(relay_sql::kCreateVersionTable).c_str()));
    std::int64_t version = 0;
    {
      BC_ASSIGN_OR_RETURN(Stmt s, prepared(relay_sql::kSelectVersion));
      BC_ASSIGN_OR_RETURN(bool row, s.step());
      if (row) {
        version = s.i64(0);
      } else {
        BC_ASSIGN_OR_RETURN(Stmt ins, prepared(relay_sql::kInsertVersion));
        ins.bind(1, std::int64_t{0});
        BC_TRY(ins.run());
      }
    }
    const auto latest = static_cast<std::int64_t>(relay_sql::kMigrations.size());
    if (version > latest || version < 0) {
      return fail(Errc::kUnsupportedVersion, "relay store: schema is newer than this relay");
    }
    for (std::int64_t v = version; v < latest; ++v) {
      BC_TRY(exec(std::string(relay_sql::kMigrations[static_cast<std::size_t>(v)]).c_str()));
    }
    if (version != latest) {
      BC_ASSIGN_OR_RETURN(Stmt up, prepared(relay_sql::kUpdateVersion));
      up.bind(1, latest);
      BC_TRY(up.run());
    }
    return ok();
  }

  // sync_directory makes the new file's directory entry durable (best effort).
  static void sync_directory(const std::filesystem::path& path) {
    std::filesystem::path dir = path.parent_path();
    if (dir.empty()) dir = ".";
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      (void)::fsync(fd);
      ::close(fd);
    }
  }

  std::mutex mu_;
  sqlite3* db_ = nullptr;
  int synchronous_ = 0;
  std::map<const char*, sqlite3_stmt*> statements_;  // keyed by the relay_sql constant's address
};

Result<Stmt> SqliteTxn::stmt(std::string_view sql) { return store_.prepared(sql); }

Result<QueueRow> SqliteTxn::load(std::string_view sql, const RelayQueueId& id) {
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(sql));
  s.bind(1, ByteView(id));
  BC_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return fail(Errc::kNotFound, "no such queue");
  QueueRow out;
  out.rowid = s.i64(0);
  BC_ASSIGN_OR_RETURN(out.record.sender_id, s.fixed<kRelayQueueIdSize>(1));
  BC_ASSIGN_OR_RETURN(out.record.recipient_id, s.fixed<kRelayQueueIdSize>(2));
  BC_ASSIGN_OR_RETURN(out.record.owner_key, s.fixed<32>(3));
  out.record.max_messages = s.u64(4);
  out.record.max_bytes = s.u64(5);
  out.next_message_id = s.u64(6);
  out.usage.envelopes = s.u64(7);
  out.usage.bytes = s.u64(8);
  out.record.created_ms = s.i64(9);
  return out;
}

Result<void> SqliteTxn::create_queue(const RelayQueueRecord& queue) {
  {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kQueueIdInUse));
    s.bind(1, ByteView(queue.sender_id));
    s.bind(2, ByteView(queue.recipient_id));
    BC_ASSIGN_OR_RETURN(bool used, s.step());
    if (used) return fail(Errc::kConflict, "queue id already in use");
  }
  if (queue.sender_id == queue.recipient_id) return fail(Errc::kConflict, "queue ids collide");
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kInsertQueue));
  s.bind(1, ByteView(queue.sender_id));
  s.bind(2, ByteView(queue.recipient_id));
  s.bind(3, ByteView(queue.owner_key));
  s.bind_u64(4, queue.max_messages);
  s.bind_u64(5, queue.max_bytes);
  s.bind(6, queue.created_ms);
  return s.run();
}

Result<RelayUsage> SqliteTxn::delete_queue(const RelayQueueId& recipient_id) {
  BC_ASSIGN_OR_RETURN(QueueRow row, load(relay_sql::kSelectQueueByRecipient, recipient_id));
  for (std::string_view sql : {relay_sql::kDeleteQueueEnvelopes, relay_sql::kDeleteQueuePrekeys,
                               relay_sql::kDeleteQueueBundle, relay_sql::kDeleteQueue}) {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(sql));
    s.bind(1, row.rowid);
    BC_TRY(s.run());
  }
  return row.usage;
}

// append_envelope runs three statements: the queue's row (id, quota, usage, next message id), the
// envelope's INSERT, the queue's counters.
Result<AppendedEnvelope> SqliteTxn::append_envelope(const RelayQueueId& sender_id, ByteView body,
                                                    std::int64_t received_ms) {
  BC_ASSIGN_OR_RETURN(QueueRow row, load(relay_sql::kSelectQueueBySender, sender_id));
  if (row.usage.envelopes + 1 > row.record.max_messages ||
      row.usage.bytes + body.size() > row.record.max_bytes) {
    return fail(Errc::kLimitExceeded, "queue full");
  }
  {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kInsertEnvelope));
    s.bind(1, row.rowid);
    s.bind_u64(2, row.next_message_id);
    s.bind(3, received_ms);
    s.bind(4, body);
    BC_TRY(s.run());
  }
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kQueueAfterAppend));
  s.bind(1, row.rowid);
  s.bind_u64(2, body.size());
  BC_TRY(s.run());
  return AppendedEnvelope{row.next_message_id, row.record.recipient_id};
}

Result<std::vector<StoredEnvelope>> SqliteTxn::list_envelopes(const RelayQueueId& recipient_id,
                                                              RelayMessageId after,
                                                              std::int64_t min_received_ms,
                                                              std::size_t limit) {
  BC_ASSIGN_OR_RETURN(QueueRow row, load(relay_sql::kSelectQueueByRecipient, recipient_id));
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kListEnvelopes));
  s.bind(1, row.rowid);
  s.bind_u64(2, after);
  s.bind(3, min_received_ms);
  s.bind(4, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
  std::vector<StoredEnvelope> out;
  while (true) {
    BC_ASSIGN_OR_RETURN(bool more, s.step());
    if (!more) break;
    out.push_back(StoredEnvelope{s.u64(0), s.i64(1), s.blob(2)});
  }
  return out;
}

// Two statements per id (its size, then the delete), one lookup of the queue and one update of
// its totals for all. (DELETE ... RETURNING would save one, but SQLite gathers the returned rows
// in a temporary table it allocates and frees on every run: slower.)
Result<RelayUsage> SqliteTxn::delete_envelopes(const RelayQueueId& recipient_id,
                                               std::span<const RelayMessageId> message_ids) {
  BC_ASSIGN_OR_RETURN(QueueRow row, load(relay_sql::kSelectQueueByRecipient, recipient_id));
  RelayUsage gone;
  for (const RelayMessageId id : message_ids) {
    {
      BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kEnvelopeSize));
      s.bind(1, row.rowid);
      s.bind_u64(2, id);
      BC_ASSIGN_OR_RETURN(bool found, s.step());
      if (!found) continue;
      gone.envelopes += 1;
      gone.bytes += s.u64(0);
    }
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kDeleteEnvelope));
    s.bind(1, row.rowid);
    s.bind_u64(2, id);
    BC_TRY(s.run());
  }
  if (gone.envelopes == 0) return gone;
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kQueueAfterDelete));
  s.bind(1, row.rowid);
  s.bind_u64(2, gone.envelopes);
  s.bind_u64(3, gone.bytes);
  BC_TRY(s.run());
  return gone;
}

Result<RelayUsage> SqliteTxn::purge_expired(std::int64_t before_ms) {
  RelayUsage gone;
  {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kExpiredTotals));
    s.bind(1, before_ms);
    BC_ASSIGN_OR_RETURN(bool row, s.step());
    if (row) gone = RelayUsage{s.u64(0), s.u64(1)};
  }
  if (gone.envelopes == 0) return gone;
  for (std::string_view sql : {relay_sql::kQueuesAfterPurge, relay_sql::kPurgeExpired}) {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(sql));
    s.bind(1, before_ms);
    BC_TRY(s.run());
  }
  return gone;
}

Result<void> SqliteTxn::put_bundle(const RelayQueueId& recipient_id, const StoredBundle& bundle) {
  BC_ASSIGN_OR_RETURN(QueueRow row, load(relay_sql::kSelectQueueByRecipient, recipient_id));
  {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kUpsertBundle));
    s.bind(1, row.rowid);
    s.bind(2, ByteView(bundle.identity_key));
    s.bind(3, ByteView(bundle.signed_prekey));
    BC_TRY(s.run());
  }
  {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kDeleteQueuePrekeys));
    s.bind(1, row.rowid);
    BC_TRY(s.run());
  }
  std::int64_t seq = 0;
  for (const Bytes& key : bundle.one_time_prekeys) {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kInsertPrekey));
    s.bind(1, row.rowid);
    s.bind(2, seq++);
    s.bind(3, ByteView(key));
    BC_TRY(s.run());
  }
  return ok();
}

Result<TakenBundle> SqliteTxn::take_bundle(const RelayQueueId& sender_id) {
  BC_ASSIGN_OR_RETURN(QueueRow row, load(relay_sql::kSelectQueueBySender, sender_id));
  TakenBundle out;
  {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kSelectBundle));
    s.bind(1, row.rowid);
    BC_ASSIGN_OR_RETURN(bool found, s.step());
    if (!found) return fail(Errc::kNotFound, "no prekey bundle");
    out.identity_key = s.blob(0);
    out.signed_prekey = s.blob(1);
  }
  std::int64_t seq = 0;
  {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kFirstPrekey));
    s.bind(1, row.rowid);
    BC_ASSIGN_OR_RETURN(bool found, s.step());
    if (!found) return out;
    seq = s.i64(0);
    out.one_time_prekey = s.blob(1);
  }
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kDeletePrekey));
  s.bind(1, row.rowid);
  s.bind(2, seq);
  BC_TRY(s.run());
  return out;
}

std::uint64_t SqliteTxn::changes() {
  return static_cast<std::uint64_t>(sqlite3_changes(store_.db()));
}

Result<void> SqliteTxn::create_escrow(const EscrowRecord& escrow) {
  {
    BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kEscrowIdInUse));
    s.bind(1, ByteView(escrow.exchange_id));
    BC_ASSIGN_OR_RETURN(bool used, s.step());
    if (used) return fail(Errc::kConflict, "escrow id already in use");
  }
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kInsertEscrow));
  s.bind(1, ByteView(escrow.exchange_id));
  s.bind(2, escrow.deadline_ms);
  s.bind(3, ByteView(escrow.queue_a));
  s.bind(4, ByteView(escrow.queue_b));
  s.bind(5, ByteView(escrow.token_hash_a));
  s.bind(6, ByteView(escrow.token_hash_b));
  s.bind(7, static_cast<std::int64_t>(escrow.phase));
  s.bind_optional(8, escrow.deposit_a);
  s.bind_optional(9, escrow.deposit_b);
  s.bind_optional(10, escrow.certificate);
  s.bind(11, escrow.created_ms);
  return s.run();
}

Result<EscrowRecord> SqliteTxn::find_escrow(const EscrowId& exchange_id) {
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kSelectEscrow));
  s.bind(1, ByteView(exchange_id));
  BC_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return fail(Errc::kNotFound, "no such escrow");
  EscrowRecord out;
  BC_ASSIGN_OR_RETURN(out.exchange_id, s.fixed<kEscrowIdSize>(0));
  out.deadline_ms = s.i64(1);
  BC_ASSIGN_OR_RETURN(out.queue_a, s.fixed<kRelayQueueIdSize>(2));
  BC_ASSIGN_OR_RETURN(out.queue_b, s.fixed<kRelayQueueIdSize>(3));
  BC_ASSIGN_OR_RETURN(out.token_hash_a, s.fixed<32>(4));
  BC_ASSIGN_OR_RETURN(out.token_hash_b, s.fixed<32>(5));
  const std::int64_t phase = s.i64(6);
  if (phase < 1 || phase > 3) return fail(Errc::kMalformed, "relay store: bad escrow state");
  out.phase = static_cast<EscrowPhase>(phase);
  out.deposit_a = s.optional_blob(7);
  out.deposit_b = s.optional_blob(8);
  out.certificate = s.optional_blob(9);
  out.created_ms = s.i64(10);
  return out;
}

Result<void> SqliteTxn::update_escrow(const EscrowRecord& escrow) {
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kUpdateEscrow));
  s.bind(1, ByteView(escrow.exchange_id));
  s.bind(2, static_cast<std::int64_t>(escrow.phase));
  s.bind_optional(3, escrow.deposit_a);
  s.bind_optional(4, escrow.deposit_b);
  s.bind_optional(5, escrow.certificate);
  BC_TRY(s.run());
  if (changes() == 0) return fail(Errc::kNotFound, "no such escrow");
  return ok();
}

Result<std::uint64_t> SqliteTxn::expire_escrows(std::int64_t now_ms) {
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kExpireEscrows));
  s.bind(1, now_ms);
  BC_TRY(s.run());
  return changes();
}

Result<std::uint64_t> SqliteTxn::forget_escrows(std::int64_t before_ms) {
  BC_ASSIGN_OR_RETURN(Stmt s, stmt(relay_sql::kForgetEscrows));
  s.bind(1, before_ms);
  BC_TRY(s.run());
  return changes();
}

}  // namespace

sqlite3* sqlite_connection(RelayStore& store) noexcept {
  auto* sqlite = dynamic_cast<SqliteRelayStore*>(&store);
  return sqlite != nullptr ? sqlite->db() : nullptr;
}

Result<std::unique_ptr<RelayStore>> open_sqlite_store(const std::filesystem::path& path) {
  BC_ASSIGN_OR_RETURN(std::unique_ptr<SqliteRelayStore> store, SqliteRelayStore::open(path));
  return std::unique_ptr<RelayStore>(std::move(store));
}

}  // namespace bc::store
