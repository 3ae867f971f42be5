// RelayStore: the relay's persistence (queues, envelopes, prekey bundles) behind one interface.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::store {

// kRelayQueueIdSize: queue ids are 128-bit random values (same as wire::kQueueIdSize).
inline constexpr std::size_t kRelayQueueIdSize = 16;
using RelayQueueId = std::array<std::uint8_t, kRelayQueueIdSize>;
using RelayOwnerKey = std::array<std::uint8_t, 32>;
using RelayMessageId = std::uint64_t;

// RelayQueueRecord is one queue: two unrelated ids, the owner's key and its quota.
struct RelayQueueRecord {
  RelayQueueId sender_id{};
  RelayQueueId recipient_id{};
  RelayOwnerKey owner_key{};
  std::uint64_t max_messages = 0;  // quota: envelopes stored at once
  std::uint64_t max_bytes = 0;     // quota: envelope bytes stored at once
  std::int64_t created_ms = 0;
  friend bool operator==(const RelayQueueRecord&, const RelayQueueRecord&) = default;
};

// RelayUsage counts envelopes and their bytes.
struct RelayUsage {
  std::uint64_t envelopes = 0;
  std::uint64_t bytes = 0;
  friend bool operator==(const RelayUsage&, const RelayUsage&) = default;
};

// RelayStoreStats is the whole store's size.
struct RelayStoreStats {
  std::uint64_t queues = 0;
  RelayUsage usage;
  std::uint64_t escrows = 0;  // escrow exchanges held (open, or a terminal record kept a while)
  friend bool operator==(const RelayStoreStats&, const RelayStoreStats&) = default;
};

// StoredEnvelope is one envelope as stored: message ids are the queue's sequence numbers,
// consecutive from 1 and never reused. The relay signs its receipt (docs/relay-protocol.md,
// "Receipts") from these fields whenever it pushes the envelope; nothing of it is stored.
struct StoredEnvelope {
  RelayMessageId message_id = 0;
  std::int64_t received_ms = 0;
  Bytes body;
  friend bool operator==(const StoredEnvelope&, const StoredEnvelope&) = default;
};

// AppendedEnvelope is what append_envelope assigned: the envelope's message id, and the recipient
// id of the queue it went to.
struct AppendedEnvelope {
  RelayMessageId message_id = 0;
  RelayQueueId recipient_id{};
  friend bool operator==(const AppendedEnvelope&, const AppendedEnvelope&) = default;
};

// StoredBundle is a prekey bundle as published (opaque bytes).
struct StoredBundle {
  Bytes identity_key;
  Bytes signed_prekey;
  std::vector<Bytes> one_time_prekeys;
  friend bool operator==(const StoredBundle&, const StoredBundle&) = default;
};

// TakenBundle is what one fetch hands out: at most one one-time prekey, never handed out again.
struct TakenBundle {
  Bytes identity_key;
  Bytes signed_prekey;
  std::optional<Bytes> one_time_prekey;
  friend bool operator==(const TakenBundle&, const TakenBundle&) = default;
};

// ---- escrow exchanges (docs/relay-protocol.md, "Escrow") ----
inline constexpr std::size_t kEscrowIdSize = 16;
using EscrowId = std::array<std::uint8_t, kEscrowIdSize>;
// EscrowTokenHash is SHA-256 of a side's token: the store never holds a token itself, so a copy
// of the database does not let anyone deposit, cancel or ask for the status.
using EscrowTokenHash = std::array<std::uint8_t, 32>;

// EscrowPhase is an exchange's stored state (stable numbers, also in the database).
enum class EscrowPhase : std::uint8_t { kOpen = 1, kReleased = 2, kExpired = 3 };

// EscrowRecord is one exchange. Side A is the opener: its deposit goes to queue_b (the
// counterparty's queue) and side B's to queue_a; both queues are named by their sender ids.
// Deposits exist only while open; a released exchange keeps its certificate.
struct EscrowRecord {
  EscrowId exchange_id{};
  std::int64_t deadline_ms = 0;
  RelayQueueId queue_a{};
  RelayQueueId queue_b{};
  EscrowTokenHash token_hash_a{};
  EscrowTokenHash token_hash_b{};
  EscrowPhase phase = EscrowPhase::kOpen;
  std::optional<Bytes> deposit_a;
  std::optional<Bytes> deposit_b;
  std::optional<Bytes> certificate;
  std::int64_t created_ms = 0;
  friend bool operator==(const EscrowRecord&, const EscrowRecord&) = default;
};

// Durability of a write transaction's commit.
enum class Durability : std::uint8_t {
  kDurable,  // on stable storage (fsync'd) before write() returns
  kRelaxed,  // survives a process crash; may be lost on power failure until the next durable
             // commit (used for deletions, which need no fsync of their own)
};

// RelayStoreTxn is the view of the store inside one transaction (see RelayStore::write). Logical
// failures (kNotFound, kConflict, kLimitExceeded) change nothing and leave the transaction usable.
// kUnavailable / kInternal mean the transaction is doomed: return the error from the callback.
class RelayStoreTxn {
 public:
  virtual ~RelayStoreTxn() = default;

  // create_queue adds a queue with no envelopes. kConflict if either id is already used.
  [[nodiscard]] virtual Result<void> create_queue(const RelayQueueRecord& queue) = 0;
  // find_queue looks a queue up by recipient id; kNotFound if absent.
  [[nodiscard]] virtual Result<RelayQueueRecord> find_queue(const RelayQueueId& recipient_id) = 0;
  // find_queue_by_sender looks a queue up by sender id; kNotFound if absent.
  [[nodiscard]] virtual Result<RelayQueueRecord> find_queue_by_sender(
      const RelayQueueId& sender_id) = 0;
  // queue_usage reports what a queue holds; kNotFound if absent.
  [[nodiscard]] virtual Result<RelayUsage> queue_usage(const RelayQueueId& recipient_id) = 0;
  // delete_queue removes a queue with its envelopes and bundle and returns what it held;
  // kNotFound if absent.
  [[nodiscard]] virtual Result<RelayUsage> delete_queue(const RelayQueueId& recipient_id) = 0;

  // append_envelope stores `body` at the end of the queue named by its sender id and returns the
  // new message id and the queue's recipient id. kNotFound for an unknown queue; kLimitExceeded
  // when the queue's message or byte quota would be exceeded (nothing stored, no id taken).
  [[nodiscard]] virtual Result<AppendedEnvelope> append_envelope(const RelayQueueId& sender_id,
                                                                 ByteView body,
                                                                 std::int64_t received_ms) = 0;
  // list_envelopes returns up to `limit` envelopes with message id > `after` and
  // received_ms >= `min_received_ms`, in message-id order. kNotFound for an unknown queue.
  [[nodiscard]] virtual Result<std::vector<StoredEnvelope>> list_envelopes(
      const RelayQueueId& recipient_id, RelayMessageId after, std::int64_t min_received_ms,
      std::size_t limit) = 0;
  // delete_envelope removes one envelope and returns its size in bytes; kNotFound if the queue
  // or the envelope is absent.
  [[nodiscard]] Result<std::uint64_t> delete_envelope(const RelayQueueId& recipient_id,
                                                      RelayMessageId message_id) {
    BC_ASSIGN_OR_RETURN(const RelayUsage gone,
                        delete_envelopes(recipient_id, std::span(&message_id, 1)));
    if (gone.envelopes == 0) return fail(Errc::kNotFound, "no such message");
    return gone.bytes;
  }
  // delete_envelopes removes those of the envelopes named that the queue still holds (the others
  // are skipped) and returns how many it removed and their bytes; kNotFound for an unknown queue.
  [[nodiscard]] virtual Result<RelayUsage> delete_envelopes(
      const RelayQueueId& recipient_id, std::span<const RelayMessageId> message_ids) = 0;
  // purge_expired removes every envelope with received_ms < `before_ms` and returns what went.
  [[nodiscard]] virtual Result<RelayUsage> purge_expired(std::int64_t before_ms) = 0;

  // put_bundle replaces the queue's prekey bundle (and its one-time prekeys); kNotFound for an
  // unknown queue.
  [[nodiscard]] virtual Result<void> put_bundle(const RelayQueueId& recipient_id,
                                                const StoredBundle& bundle) = 0;
  // take_bundle returns the bundle of the queue named by its sender id and removes the oldest
  // one-time prekey it hands out. kNotFound for an unknown queue or a queue without a bundle.
  [[nodiscard]] virtual Result<TakenBundle> take_bundle(const RelayQueueId& sender_id) = 0;

  // create_escrow adds an exchange. kConflict if its id is already used.
  [[nodiscard]] virtual Result<void> create_escrow(const EscrowRecord& escrow) = 0;
  // find_escrow looks an exchange up by id; kNotFound if absent.
  [[nodiscard]] virtual Result<EscrowRecord> find_escrow(const EscrowId& exchange_id) = 0;
  // update_escrow stores the phase, deposits and certificate of `escrow` (the other fields never
  // change); kNotFound if the exchange is absent.
  [[nodiscard]] virtual Result<void> update_escrow(const EscrowRecord& escrow) = 0;
  // expire_escrows turns every open exchange whose deadline_ms <= now_ms into an expired one
  // without deposits, and returns how many it expired.
  [[nodiscard]] virtual Result<std::uint64_t> expire_escrows(std::int64_t now_ms) = 0;
  // forget_escrows deletes every released or expired exchange whose deadline_ms < before_ms and
  // returns how many went (open ones are kept: expire them first).
  [[nodiscard]] virtual Result<std::uint64_t> forget_escrows(std::int64_t before_ms) = 0;
};

// RelayStore owns the data. One writer at a time: calls are serialized by the implementation
// and may come from any thread.
class RelayStore {
 public:
  virtual ~RelayStore() = default;
  using TxnFn = std::function<Result<void>(RelayStoreTxn&)>;

  // write runs `fn` in one transaction and commits it with the given durability. If `fn` returns
  // an error, or the commit fails (kUnavailable: disk full, I/O error), nothing `fn` did is kept
  // and that error is returned.
  [[nodiscard]] virtual Result<void> write(Durability durability, const TxnFn& fn) = 0;
  // read runs `fn` in a transaction that is never committed (for lookups); `fn` must not write.
  [[nodiscard]] virtual Result<void> read(const TxnFn& fn) = 0;
  // stats counts queues, envelopes, bytes and escrow exchanges. kUnavailable if the store cannot be
  // read.
  [[nodiscard]] virtual Result<RelayStoreStats> stats() = 0;
};

// make_memory_relay_store builds an in-memory store (tests, fuzzing). Never fails.
[[nodiscard]] std::unique_ptr<RelayStore> make_memory_relay_store();

// kRelayDbFileName is the store's file name under the relay's --data directory.
inline constexpr const char* kRelayDbFileName = "relay.sqlite3";

// open_sqlite_store opens (creating if needed) the SQLite relay store at `path` in WAL mode,
// applies schema migrations and takes an exclusive lock on the file. Fails with kUnavailable if
// the file cannot be opened or is locked by another process, kUnsupportedVersion if its schema
// is newer than this build, kMalformed if it is not a relay store.
[[nodiscard]] Result<std::unique_ptr<RelayStore>> open_sqlite_store(
    const std::filesystem::path& path);

}  // namespace bc::store
