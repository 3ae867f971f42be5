// Every SQL statement and schema migration of the relay store, in one place (plain SQL that a
// PostgreSQL implementation of RelayStore can follow).
#pragma once

#include <array>
#include <string_view>

namespace bc::store::relay_sql {

// kMigrations[i] takes the schema from version i to version i + 1; the version lives in
// relay_schema_version. Append new migrations; never edit a released one.
inline constexpr std::array<std::string_view, 3> kMigrations = {
    R"sql(
CREATE TABLE queues (
  id              INTEGER PRIMARY KEY,
  sender_id       BLOB    NOT NULL UNIQUE,
  recipient_id    BLOB    NOT NULL UNIQUE,
  owner_key       BLOB    NOT NULL,
  max_messages    INTEGER NOT NULL,
  max_bytes       INTEGER NOT NULL,
  next_message_id INTEGER NOT NULL,
  stored_count    INTEGER NOT NULL,
  stored_bytes    INTEGER NOT NULL,
  created_ms      INTEGER NOT NULL
);
CREATE TABLE envelopes (
  queue       INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
  message_id  INTEGER NOT NULL,
  received_ms INTEGER NOT NULL,
  body        BLOB    NOT NULL,
  UNIQUE (queue, message_id)
);
CREATE INDEX envelopes_by_time ON envelopes(received_ms);
CREATE TABLE bundles (
  queue         INTEGER PRIMARY KEY REFERENCES queues(id) ON DELETE CASCADE,
  identity_key  BLOB NOT NULL,
  signed_prekey BLOB NOT NULL
);
CREATE TABLE one_time_prekeys (
  queue  INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
  seq    INTEGER NOT NULL,
  prekey BLOB    NOT NULL,
  PRIMARY KEY (queue, seq)
);
)sql",
    // 2: escrow exchanges. Tokens are stored only as SHA-256 hashes; deposits and the certificate
    // are NULL when absent. queue_a / queue_b are sender ids (a deleted queue leaves the exchange
    // unreleasable, not dangling).
    R"sql(
CREATE TABLE escrows (
  exchange_id  BLOB    PRIMARY KEY,
  deadline_ms  INTEGER NOT NULL,
  queue_a      BLOB    NOT NULL,
  queue_b      BLOB    NOT NULL,
  token_hash_a BLOB    NOT NULL,
  token_hash_b BLOB    NOT NULL,
  state        INTEGER NOT NULL,
  deposit_a    BLOB,
  deposit_b    BLOB,
  certificate  BLOB,
  created_ms   INTEGER NOT NULL
);
CREATE INDEX escrows_by_deadline ON escrows(deadline_ms);
)sql",
    // 3: the relay's receipt signature per envelope, from relays that signed each receipt on its
    // own (protocol version 2). Relays that sign receipts per batch neither write nor read it:
    // they sign whenever they push from the store. Message ids were already per-queue sequence
    // numbers.
    R"sql(
ALTER TABLE envelopes ADD COLUMN receipt_signature BLOB;
)sql"};

inline constexpr std::string_view kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS relay_schema_version (version INTEGER NOT NULL)";
inline constexpr std::string_view kSelectVersion = "SELECT version FROM relay_schema_version";
inline constexpr std::string_view kInsertVersion =
    "INSERT INTO relay_schema_version (version) VALUES (?1)";
inline constexpr std::string_view kUpdateVersion = "UPDATE relay_schema_version SET version = ?1";

inline constexpr std::string_view kInsertQueue =
    "INSERT INTO queues (sender_id, recipient_id, owner_key, max_messages, max_bytes, "
    "next_message_id, stored_count, stored_bytes, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, 1, 0, 0, "
    "?6)";
inline constexpr std::string_view kQueueIdInUse =
    "SELECT 1 FROM queues WHERE sender_id IN (?1, ?2) OR recipient_id IN (?1, ?2)";
// Columns 0..9: id, sender_id, recipient_id, owner_key, max_messages, max_bytes,
// next_message_id, stored_count, stored_bytes, created_ms.
inline constexpr std::string_view kSelectQueueByRecipient =
    "SELECT id, sender_id, recipient_id, owner_key, max_messages, max_bytes, next_message_id, "
    "stored_count, stored_bytes, created_ms FROM queues WHERE recipient_id = ?1";
inline constexpr std::string_view kSelectQueueBySender =
    "SELECT id, sender_id, recipient_id, owner_key, max_messages, max_bytes, next_message_id, "
    "stored_count, stored_bytes, created_ms FROM queues WHERE sender_id = ?1";
inline constexpr std::string_view kDeleteQueue = "DELETE FROM queues WHERE id = ?1";
inline constexpr std::string_view kDeleteQueueEnvelopes = "DELETE FROM envelopes WHERE queue = ?1";
inline constexpr std::string_view kDeleteQueueBundle = "DELETE FROM bundles WHERE queue = ?1";
inline constexpr std::string_view kDeleteQueuePrekeys =
    "DELETE FROM one_time_prekeys WHERE queue = ?1";

// receipt_signature (migration 3) is left NULL: receipts are signed per batch, never stored.
inline constexpr std::string_view kInsertEnvelope =
    "INSERT INTO envelopes (queue, message_id, received_ms, body) VALUES (?1, ?2, ?3, ?4)";
inline constexpr std::string_view kQueueAfterAppend =
    "UPDATE queues SET next_message_id = next_message_id + 1, stored_count = stored_count + 1, "
    "stored_bytes = stored_bytes + ?2 WHERE id = ?1";
inline constexpr std::string_view kListEnvelopes =
    "SELECT message_id, received_ms, body FROM envelopes WHERE queue = ?1 AND "
    "message_id > ?2 AND received_ms >= ?3 ORDER BY message_id LIMIT ?4";
inline constexpr std::string_view kEnvelopeSize =
    "SELECT length(body) FROM envelopes WHERE queue = ?1 AND message_id = ?2";
inline constexpr std::string_view kDeleteEnvelope =
    "DELETE FROM envelopes WHERE queue = ?1 AND message_id = ?2";
inline constexpr std::string_view kQueueAfterDelete =
    "UPDATE queues SET stored_count = stored_count - ?2, stored_bytes = stored_bytes - ?3 WHERE "
    "id = ?1";
inline constexpr std::string_view kExpiredTotals =
    "SELECT count(*), coalesce(sum(length(body)), 0) FROM envelopes WHERE received_ms < ?1";
inline constexpr std::string_view kQueuesAfterPurge =
    "UPDATE queues SET stored_count = stored_count - gone.n, stored_bytes = stored_bytes - gone.b "
    "FROM (SELECT queue, count(*) AS n, sum(length(body)) AS b FROM envelopes WHERE received_ms < "
    "?1 GROUP BY queue) AS gone WHERE queues.id = gone.queue";
inline constexpr std::string_view kPurgeExpired = "DELETE FROM envelopes WHERE received_ms < ?1";

inline constexpr std::string_view kUpsertBundle =
    "INSERT INTO bundles (queue, identity_key, signed_prekey) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (queue) DO UPDATE SET identity_key = excluded.identity_key, "
    "signed_prekey = excluded.signed_prekey";
inline constexpr std::string_view kInsertPrekey =
    "INSERT INTO one_time_prekeys (queue, seq, prekey) VALUES (?1, ?2, ?3)";
inline constexpr std::string_view kSelectBundle =
    "SELECT identity_key, signed_prekey FROM bundles WHERE queue = ?1";
inline constexpr std::string_view kFirstPrekey =
    "SELECT seq, prekey FROM one_time_prekeys WHERE queue = ?1 ORDER BY seq LIMIT 1";
inline constexpr std::string_view kDeletePrekey =
    "DELETE FROM one_time_prekeys WHERE queue = ?1 AND seq = ?2";

// Escrow exchanges. Columns 0..10 of kSelectEscrow: exchange_id, deadline_ms, queue_a, queue_b,
// token_hash_a, token_hash_b, state, deposit_a, deposit_b, certificate, created_ms.
// State numbers: 1 open, 2 released, 3 expired.
inline constexpr std::string_view kInsertEscrow =
    "INSERT INTO escrows (exchange_id, deadline_ms, queue_a, queue_b, token_hash_a, token_hash_b, "
    "state, deposit_a, deposit_b, certificate, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
    "?9, ?10, ?11)";
inline constexpr std::string_view kEscrowIdInUse = "SELECT 1 FROM escrows WHERE exchange_id = ?1";
inline constexpr std::string_view kSelectEscrow =
    "SELECT exchange_id, deadline_ms, queue_a, queue_b, token_hash_a, token_hash_b, state, "
    "deposit_a, deposit_b, certificate, created_ms FROM escrows WHERE exchange_id = ?1";
inline constexpr std::string_view kUpdateEscrow =
    "UPDATE escrows SET state = ?2, deposit_a = ?3, deposit_b = ?4, certificate = ?5 WHERE "
    "exchange_id = ?1";
inline constexpr std::string_view kExpireEscrows =
    "UPDATE escrows SET state = 3, deposit_a = NULL, deposit_b = NULL WHERE state = 1 AND "
    "deadline_ms <= ?1";
inline constexpr std::string_view kForgetEscrows =
    "DELETE FROM escrows WHERE state IN (2, 3) AND deadline_ms < ?1";
inline constexpr std::string_view kEscrowCount = "SELECT count(*) FROM escrows";

inline constexpr std::string_view kStats =
    "SELECT count(*), coalesce(sum(stored_count), 0), coalesce(sum(stored_bytes), 0) FROM queues";

}  // namespace bc::store::relay_sql
