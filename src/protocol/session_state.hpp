// Session state (one Double Ratchet session) and SessionRecord (all sessions with one peer
// device), with their versioned binary serialization.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "core/secret.hpp"
#include "protocol/keys.hpp"
#include "protocol/ratchet.hpp"

namespace bc::protocol {

// The session version this layer speaks (libsignal's CIPHERTEXT_CURRENT_VERSION).
inline constexpr std::uint32_t kSessionVersion = 3;
// kMaxForwardJump: a message more than this many past a chain's next index is refused
// (libsignal: "Over 2000 messages into the future").
inline constexpr std::uint32_t kMaxForwardJump = 2000;
// kMaxSkippedKeysPerChain: stored keys of skipped messages on one receiving chain (libsignal's
// MAX_MESSAGE_KEYS); the oldest is evicted beyond it.
inline constexpr std::size_t kMaxSkippedKeysPerChain = 2000;
// kMaxSkippedKeysPerState: the total cap of stored skipped-message keys across all receiving
// chains of one session state; the oldest chains lose their keys first.
inline constexpr std::size_t kMaxSkippedKeysPerState = 2000;
// kMaxReceiverChains: receiving chains kept per session state (libsignal keeps 5).
inline constexpr std::size_t kMaxReceiverChains = 5;
// kMaxArchivedStates: previous session states kept per record (libsignal keeps 40).
inline constexpr std::size_t kMaxArchivedStates = 40;

// SkippedKey is the stored key seed of a message that has not arrived yet (counter N).
struct SkippedKey {
  std::uint32_t counter = 0;
  SecretBytes seed;  // HMAC(CK_N, 0x01); the message keys are derived from it on use
};

// ReceiverChain is a receiving chain: the peer's ratchet key, CK_r, and skipped keys (oldest
// first).
struct ReceiverChain {
  PublicKey their_ratchet_key;
  ChainKey chain_key;
  std::deque<SkippedKey> skipped;
};

// SenderChain is our sending chain: our current ratchet key pair and CK_s.
struct SenderChain {
  KeyPair ratchet_key;
  ChainKey chain_key;
};

// PendingPreKey is set on the initiator's state until the first reply arrives: every message
// sent until then is wrapped in a PreKeySignalMessage carrying these.
struct PendingPreKey {
  std::optional<std::uint32_t> prekey_id;
  std::uint32_t signed_prekey_id = 0;
  PublicKey base_key;
};

// SessionState is one Double Ratchet session (libsignal's session_state).
struct SessionState {
  std::uint32_t version = kSessionVersion;
  IdentityKey local_identity;
  IdentityKey remote_identity;
  std::uint32_t local_registration_id = 0;
  std::uint32_t remote_registration_id = 0;
  SecretBytes root_key;                // RK
  PublicKey alice_base_key;            // the initiator's X3DH base key: names the session
  std::uint32_t previous_counter = 0;  // PN
  std::optional<SenderChain> sender;
  std::optional<PendingPreKey> pending_prekey;
  std::vector<ReceiverChain> receiver_chains;  // oldest first

  // copy makes a deep copy (secrets included). Never fails.
  [[nodiscard]] SessionState copy() const;
  // find_receiver_chain returns the chain for `their_ratchet_key`, or null.
  [[nodiscard]] ReceiverChain* find_receiver_chain(const PublicKey& their_ratchet_key);
  [[nodiscard]] const ReceiverChain* find_receiver_chain(const PublicKey& key) const;
  // skipped_key_count counts stored skipped-message keys over all receiving chains.
  [[nodiscard]] std::size_t skipped_key_count() const noexcept;
  // add_receiver_chain appends a chain, evicting the oldest beyond kMaxReceiverChains.
  void add_receiver_chain(ReceiverChain chain);
  // enforce_skipped_key_cap evicts the oldest skipped keys beyond kMaxSkippedKeysPerState.
  void enforce_skipped_key_cap();
};

// SessionRecord holds all session states with one peer device: the current one (used to send)
// and up to kMaxArchivedStates previous ones (newest first), tried in turn on receive.
class SessionRecord {
 public:
  SessionRecord() = default;
  SessionRecord(SessionRecord&&) noexcept = default;
  SessionRecord& operator=(SessionRecord&&) noexcept = default;

  // has_current_state: whether there is a session to send with.
  [[nodiscard]] bool has_current_state() const noexcept { return current_.has_value(); }
  // current_state returns the current state, or null.
  [[nodiscard]] SessionState* current_state() noexcept { return current_ ? &*current_ : nullptr; }
  [[nodiscard]] const SessionState* current_state() const noexcept {
    return current_ ? &*current_ : nullptr;
  }
  // previous_states are the archived states, newest first.
  [[nodiscard]] std::deque<SessionState>& previous_states() noexcept { return previous_; }
  [[nodiscard]] const std::deque<SessionState>& previous_states() const noexcept {
    return previous_;
  }
  // set_current_state archives the current state (if any) and makes `state` current,
  // evicting the oldest archived state beyond kMaxArchivedStates. Never fails.
  void set_current_state(SessionState state);
  // promote_previous_state makes archived state `index` current and archives the current one.
  // Aborts on an index out of range (an invariant).
  void promote_previous_state(std::size_t index);
  // has_state_with_base_key: whether any state was set up from this X3DH base key.
  [[nodiscard]] bool has_state_with_base_key(const PublicKey& base_key) const noexcept {
    return find_state_with_base_key(base_key) != nullptr;
  }
  // find_state_with_base_key returns the state set up from this X3DH base key, or null.
  [[nodiscard]] const SessionState* find_state_with_base_key(
      const PublicKey& base_key) const noexcept;

  // serialize renders the record in the format documented in docs/protocol.md ("BCSR" v1).
  // The output holds secret keys. Never fails.
  [[nodiscard]] SecretBytes serialize() const;
  // serialize_to appends the same bytes to `out` (for callers that manage their own buffer).
  void serialize_to(Bytes& out) const;
  // deserialize parses a serialized record: kUnsupportedVersion for an unknown format
  // version, kLimitExceeded for counts above the named bounds, kMalformed otherwise.
  [[nodiscard]] static Result<SessionRecord> deserialize(ByteView bytes);

 private:
  std::optional<SessionState> current_;
  std::deque<SessionState> previous_;
};

}  // namespace bc::protocol
