// ClientStore: one user's local state in a single SQLite file, sealed under a passphrase.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "crypto/pwhash.hpp"

namespace bc::store {

// ClientStore is an encrypted key-value store: records live in named tables; every record (its
// key and its value) is sealed with XChaCha20-Poly1305 under a key derived from the passphrase
// with Argon2id, bound to its slot, so the file shows neither names nor contents. Row ids are
// keyed hashes of (table, key). Several processes may open the same file at once: every write
// runs in an IMMEDIATE transaction and readers wait (busy timeout) instead of failing.
class ClientStore {
 public:
  ~ClientStore();
  ClientStore(const ClientStore&) = delete;
  ClientStore& operator=(const ClientStore&) = delete;

  // create makes a new store file at `path`. Fails with kConflict when the file exists,
  // kUnavailable when it cannot be written. The file is created with mode 0600.
  [[nodiscard]] static Result<std::unique_ptr<ClientStore>> create(
      const std::string& path, ByteView passphrase,
      crypto::PwhashCost cost = crypto::PwhashCost::moderate());
  // open opens an existing store. Fails with kNotFound when there is no file, kAuthFailed on a
  // wrong passphrase, kMalformed when the file is not a store or is damaged. Never writes on
  // failure.
  [[nodiscard]] static Result<std::unique_ptr<ClientStore>> open(const std::string& path,
                                                                 ByteView passphrase);

  // put inserts or replaces a record. Fails with kUnavailable when the file cannot be written;
  // the store is unchanged on failure.
  [[nodiscard]] Result<void> put(std::string_view table, std::string_view key, ByteView value);
  // get reads a record; std::nullopt when absent. kMalformed when the stored record does not
  // authenticate (a damaged or tampered file).
  [[nodiscard]] Result<std::optional<Bytes>> get(std::string_view table, std::string_view key);
  // erase deletes a record (absent is not an error).
  [[nodiscard]] Result<void> erase(std::string_view table, std::string_view key);
  // list returns every (key, value) of a table, ordered by key.
  [[nodiscard]] Result<std::vector<std::pair<std::string, Bytes>>> list(std::string_view table);

  // transaction runs `body` inside one IMMEDIATE transaction: it commits when body succeeds and
  // rolls back (leaving the store as before) when body fails. Not reentrant.
  [[nodiscard]] Result<void> transaction(const std::function<Result<void>(ClientStore&)>& body);

 private:
  struct Impl;
  explicit ClientStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bc::store
