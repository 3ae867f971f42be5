#include "store/client_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>

#include "crypto/cipher.hpp"
#include "crypto/hash.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/random.hpp"

namespace bc::store {
namespace {

constexpr int kFormatVersion = 1;
constexpr int kBusyTimeoutMs = 10'000;
constexpr std::string_view kCheckPlaintext = "backchannel client store v1";

// The schema: one place for all SQL of the client store.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS records (
  row_id BLOB PRIMARY KEY,
  table_tag BLOB NOT NULL,
  sealed BLOB NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS records_by_table ON records (table_tag);
)sql";

struct StmtFree {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFree>;

Unexpected db_error(sqlite3* db, int rc, std::string_view what) {
  const int primary = rc & 0xff;
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
    return fail(Errc::kMalformed, std::string("store file is damaged (") + std::string(what) + ")");
  }
  if (primary == SQLITE_FULL) return fail(Errc::kUnavailable, "disk full while writing the store");
  return fail(Errc::kUnavailable,
              std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

}  // namespace

struct ClientStore::Impl {
  sqlite3* db = nullptr;
  SecretBytes seal_key;   // K_seal: XChaCha20-Poly1305 key for records
  SecretBytes index_key;  // K_index: HMAC key for row ids and table tags
  bool in_transaction = false;

  ~Impl() {
    if (db != nullptr) sqlite3_close_v2(db);
  }

  Result<void> exec(const char* sql) const {
    char* msg = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
    sqlite3_free(msg);
    if (rc != SQLITE_OK) return db_error(db, rc, "statement failed");
    return ok();
  }

  Result<Stmt> prepare(const char* sql) const {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
    if (rc != SQLITE_OK) return db_error(db, rc, "prepare failed");
    return Stmt(s);
  }

  Result<std::optional<Bytes>> meta(std::string_view name) const {
    BC_ASSIGN_OR_RETURN(Stmt s, prepare("SELECT value FROM meta WHERE name = ?1"));
    sqlite3_bind_text(s.get(), 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return std::optional<Bytes>();
    if (rc != SQLITE_ROW) return db_error(db, rc, "reading store metadata");
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s.get(), 0));
    const int n = sqlite3_column_bytes(s.get(), 0);
    return std::optional<Bytes>(Bytes(p, p + n));
  }

  Result<void> set_meta(std::string_view name, ByteView value) const {
    BC_ASSIGN_OR_RETURN(Stmt s,
                        prepare("INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)"));
    sqlite3_bind_text(s.get(), 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    sqlite3_bind_blob(s.get(), 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(s.get());
    if (rc != SQLITE_DONE) return db_error(db, rc, "writing store metadata");
    return ok();
  }

  // derive_keys: K = Argon2id(passphrase, salt); K_seal and K_index by HKDF from K.
  Result<void> derive_keys(ByteView passphrase, ByteView salt, crypto::PwhashCost cost) {
    BC_ASSIGN_OR_RETURN(SecretBytes root, crypto::argon2id(passphrase, salt, cost, 32));
    BC_ASSIGN_OR_RETURN(
        seal_key, crypto::hkdf_sha256(root.expose(), salt, as_bytes("backchannel store seal"), 32));
    BC_ASSIGN_OR_RETURN(index_key, crypto::hkdf_sha256(root.expose(), salt,
                                                       as_bytes("backchannel store index"), 32));
    return ok();
  }

  crypto::Sha256Digest tag(std::string_view domain, std::string_view table,
                           std::string_view key) const {
    const crypto::HmacSha256 mac(index_key.expose());
    Bytes input;
    input.reserve(domain.size() + table.size() + key.size() + 2);
    append(input, as_bytes(domain));
    input.push_back(0);
    append(input, as_bytes(table));
    input.push_back(0);
    append(input, as_bytes(key));
    return mac.mac(input);
  }

  // seal encrypts `plaintext` with a fresh random nonce, bound to `ad`: nonce || ciphertext.
  Bytes seal(ByteView ad, ByteView plaintext) const {
    Bytes out(crypto::kXChaChaNonceSize);
    crypto::random_bytes(out);
    auto body = crypto::xchacha20poly1305_seal(seal_key.expose(), ByteView(out), ad, plaintext);
    BC_CHECK(body.has_value());
    append(out, *body);
    return out;
  }

  Result<Bytes> open(ByteView ad, ByteView sealed) const {
    if (sealed.size() < crypto::kXChaChaNonceSize + crypto::kAeadTagSize) {
      return fail(Errc::kAuthFailed, "sealed record too short");
    }
    return crypto::xchacha20poly1305_open(seal_key.expose(),
                                          sealed.first(crypto::kXChaChaNonceSize), ad,
                                          sealed.subspan(crypto::kXChaChaNonceSize));
  }
};

namespace {

Result<sqlite3*> open_db(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    auto err = db_error(db, rc, "cannot open the store file");
    sqlite3_close_v2(db);
    return err;
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db, 1);
  return db;
}

Bytes encode_u64(std::uint64_t v) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
  return out;
}

Result<std::uint64_t> decode_u64(const std::optional<Bytes>& b) {
  if (!b || b->size() != 8) return fail(Errc::kMalformed, "store metadata is damaged");
  std::uint64_t v = 0;
  for (auto byte : *b) v = (v << 8) | byte;
  return v;
}

// A record's plaintext: key length (4 bytes) || key || value.
Bytes encode_record(std::string_view key, ByteView value) {
  Bytes out;
  out.reserve(4 + key.size() + value.size());
  const auto n = static_cast<std::uint32_t>(key.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(n >> (24 - 8 * i)));
  append(out, as_bytes(key));
  append(out, value);
  return out;
}

Result<std::pair<std::string, Bytes>> decode_record(ByteView plain) {
  if (plain.size() < 4) return fail(Errc::kMalformed, "store record is damaged");
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | plain[i];
  if (n > plain.size() - 4) return fail(Errc::kMalformed, "store record is damaged");
  return std::pair<std::string, Bytes>(to_string(plain.subspan(4, n)),
                                       to_bytes(plain.subspan(4 + n)));
}

}  // namespace

ClientStore::ClientStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClientStore::~ClientStore() = default;

Result<std::unique_ptr<ClientStore>> ClientStore::create(const std::string& path,
                                                         ByteView passphrase,
                                                         crypto::PwhashCost cost) {
  // Create the file ourselves, exclusively and private, before SQLite touches it.
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return fail(Errc::kConflict, "a store already exists at this path");
    return fail(Errc::kUnavailable,
                std::string("cannot create the store file: ") + std::strerror(errno));
  }
  ::close(fd);
  auto impl = std::make_unique<Impl>();
  auto cleanup = [&path] { std::filesystem::remove(path); };
  auto db = open_db(path, SQLITE_OPEN_READWRITE);
  if (!db) {
    cleanup();
    return fail(std::move(db).error());
  }
  impl->db = *db;
  Bytes salt(crypto::kPwhashSaltSize);
  crypto::random_bytes(salt);
  auto setup = [&]() -> Result<void> {
    BC_TRY(impl->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"));
    BC_TRY(impl->exec("BEGIN IMMEDIATE"));
    BC_TRY(impl->exec(kSchema));
    BC_TRY(impl->derive_keys(passphrase, salt, cost));
    BC_TRY(impl->set_meta("format", encode_u64(kFormatVersion)));
    BC_TRY(impl->set_meta("salt", salt));
    BC_TRY(impl->set_meta("ops", encode_u64(cost.ops)));
    BC_TRY(impl->set_meta("mem", encode_u64(cost.mem_bytes)));
    BC_TRY(impl->set_meta("check", impl->seal(as_bytes("check"), as_bytes(kCheckPlaintext))));
    return impl->exec("COMMIT");
  };
  if (auto r = setup(); !r) {
    impl.reset();
    cleanup();
    return fail(std::move(r).error());
  }
  return std::unique_ptr<ClientStore>(new ClientStore(std::move(impl)));
}

Result<std::unique_ptr<ClientStore>> ClientStore::open(const std::string& path,
                                                       ByteView passphrase) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return fail(Errc::kNotFound, "no store at this path");
  }
  auto impl = std::make_unique<Impl>();
  BC_ASSIGN_OR_RETURN(impl->db, open_db(path, SQLITE_OPEN_READWRITE));
  BC_ASSIGN_OR_RETURN(auto format_raw, impl->meta("format"));
  BC_ASSIGN_OR_RETURN(const std::uint64_t format, decode_u64(format_raw));
  if (format != kFormatVersion) {
    return fail(Errc::kUnsupportedVersion,
                "store format " + std::to_string(format) + " is not supported");
  }
  BC_ASSIGN_OR_RETURN(auto salt, impl->meta("salt"));
  BC_ASSIGN_OR_RETURN(auto ops, impl->meta("ops"));
  BC_ASSIGN_OR_RETURN(auto mem, impl->meta("mem"));
  BC_ASSIGN_OR_RETURN(auto check, impl->meta("check"));
  if (!salt || !check) return fail(Errc::kMalformed, "store metadata is damaged");
  crypto::PwhashCost cost;
  BC_ASSIGN_OR_RETURN(cost.ops, decode_u64(ops));
  BC_ASSIGN_OR_RETURN(cost.mem_bytes, decode_u64(mem));
  if (!cost.valid()) return fail(Errc::kMalformed, "store metadata is damaged");
  BC_TRY(impl->derive_keys(passphrase, *salt, cost));
  auto plain = impl->open(as_bytes("check"), *check);
  if (!plain || !ct_equal(*plain, as_bytes(kCheckPlaintext))) {
    return fail(Errc::kAuthFailed, "wrong passphrase");
  }
  return std::unique_ptr<ClientStore>(new ClientStore(std::move(impl)));
}

Result<void> ClientStore::put(std::string_view table, std::string_view key, ByteView value) {
  const auto row = impl_->tag("row", table, key);
  const auto table_tag = impl_->tag("table", table, {});
  Bytes plain = encode_record(key, value);
  const Bytes sealed = impl_->seal(row, plain);
  secure_zero(plain.data(), plain.size());
  BC_ASSIGN_OR_RETURN(
      Stmt s,
      impl_->prepare(
          "INSERT OR REPLACE INTO records (row_id, table_tag, sealed) VALUES (?1, ?2, ?3)"));
  sqlite3_bind_blob(s.get(), 1, row.data(), static_cast<int>(row.size()), SQLITE_STATIC);
  sqlite3_bind_blob(s.get(), 2, table_tag.data(), static_cast<int>(table_tag.size()),
                    SQLITE_STATIC);
  sqlite3_bind_blob(s.get(), 3, sealed.data(), static_cast<int>(sealed.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_DONE) return db_error(impl_->db, rc, "writing a record");
  return ok();
}

Result<std::optional<Bytes>> ClientStore::get(std::string_view table, std::string_view key) {
  const auto row = impl_->tag("row", table, key);
  BC_ASSIGN_OR_RETURN(Stmt s, impl_->prepare("SELECT sealed FROM records WHERE row_id = ?1"));
  sqlite3_bind_blob(s.get(), 1, row.data(), static_cast<int>(row.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_DONE) return std::optional<Bytes>();
  if (rc != SQLITE_ROW) return db_error(impl_->db, rc, "reading a record");
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s.get(), 0));
  const ByteView sealed(p, static_cast<std::size_t>(sqlite3_column_bytes(s.get(), 0)));
  auto plain = impl_->open(row, sealed);
  if (!plain) return fail(Errc::kMalformed, "a stored record does not authenticate");
  BC_ASSIGN_OR_RETURN(auto record, decode_record(*plain));
  secure_zero(plain->data(), plain->size());
  if (record.first != key) return fail(Errc::kMalformed, "a stored record is in the wrong slot");
  return std::optional<Bytes>(std::move(record.second));
}

Result<void> ClientStore::erase(std::string_view table, std::string_view key) {
  const auto row = impl_->tag("row", table, key);
  BC_ASSIGN_OR_RETURN(Stmt s, impl_->prepare("DELETE FROM records WHERE row_id = ?1"));
  sqlite3_bind_blob(s.get(), 1, row.data(), static_cast<int>(row.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_DONE) return db_error(impl_->db, rc, "deleting a record");
  return ok();
}

Result<std::vector<std::pair<std::string, Bytes>>> ClientStore::list(std::string_view table) {
  const auto table_tag = impl_->tag("table", table, {});
  BC_ASSIGN_OR_RETURN(Stmt s,
                      impl_->prepare("SELECT row_id, sealed FROM records WHERE table_tag = ?1"));
  sqlite3_bind_blob(s.get(), 1, table_tag.data(), static_cast<int>(table_tag.size()),
                    SQLITE_STATIC);
  std::vector<std::pair<std::string, Bytes>> out;
  for (;;) {
    const int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return db_error(impl_->db, rc, "listing records");
    const auto* r = static_cast<const std::uint8_t*>(sqlite3_column_blob(s.get(), 0));
    const ByteView row(r, static_cast<std::size_t>(sqlite3_column_bytes(s.get(), 0)));
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s.get(), 1));
    const ByteView sealed(p, static_cast<std::size_t>(sqlite3_column_bytes(s.get(), 1)));
    auto plain = impl_->open(row, sealed);
    if (!plain) return fail(Errc::kMalformed, "a stored record does not authenticate");
    BC_ASSIGN_OR_RETURN(auto record, decode_record(*plain));
    secure_zero(plain->data(), plain->size());
    const auto expected = impl_->tag("row", table, record.first);
    if (!ct_equal(expected, row))
      return fail(Errc::kMalformed, "a stored record is in the wrong slot");
    out.push_back(std::move(record));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

Result<void> ClientStore::transaction(const std::function<Result<void>(ClientStore&)>& body) {
  BC_CHECK(!impl_->in_transaction);
  BC_TRY(impl_->exec("BEGIN IMMEDIATE"));
  impl_->in_transaction = true;
  auto r = body(*this);
  impl_->in_transaction = false;
  if (!r) {
    (void)impl_->exec("ROLLBACK");
    return r;
  }
  if (auto c = impl_->exec("COMMIT"); !c) {
    (void)impl_->exec("ROLLBACK");
    return c;
  }
  return ok();
}

}  // namespace bc::store
