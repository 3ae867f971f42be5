// The session layer's API: start sessions from prekey bundles (X3DH) and encrypt and decrypt
// Signal v3 messages with the Double Ratchet, byte-compatible with libsignal-protocol-c 2.3.3.
//
// How to use it (pure: no I/O; RNG injected; the caller loads and stores records):
//
//   Rng& rng = ...;                           // crypto::SystemRng, or DeterministicRng in tests
//   IdentityKeyPair me = IdentityKeyPair::generate(rng);
//   std::uint32_t my_reg = generate_registration_id(rng);
//
//   // Initiator (Alice), given Bob's PreKeyBundle:
//   SessionRecord record;                     // or SessionRecord::deserialize(stored)
//   BC_TRY(process_prekey_bundle(record, me, my_reg, bundle, rng));
//   BC_ASSIGN_OR_RETURN(CiphertextMessage msg, encrypt(record, plaintext));
//   // msg.type == MessageType::kPreKey until Bob's first reply arrives, then kSignal.
//   store(record.serialize());
//
//   // Responder (Bob), holding his prekeys in something implementing PreKeyLookup:
//   BC_ASSIGN_OR_RETURN(PreKeyDecryption d,
//       decrypt_prekey_message(record, me, my_reg, my_prekeys, msg.serialized, rng));
//   if (d.used_prekey_id) remove_one_time_prekey(*d.used_prekey_id);   // after storing record
//   BC_ASSIGN_OR_RETURN(Bytes plaintext, decrypt_message(record, later.serialized, rng));
//
// For benchmarks (bench/session): a steady stream is encrypt(alice_record, pt) ->
// alice_record.serialize_to(buf) -> decrypt_message(bob_record, msg.serialized, rng) ->
// bob_record.serialize_to(buf); ping-pong alternates the direction (a DH-ratchet step per
// message); a handshake is process_prekey_bundle -> encrypt -> decrypt_prekey_message; the
// state per session is record.serialize().size(). Encryption draws no randomness; a
// DH-ratchet step draws one key pair. tests/unit/protocol/test_party.hpp is a header-only
// helper holding one side's identity, prekeys and record (include dir: tests/).
//
// Every call is transactional: on any failure the record is exactly as before (its
// serialization is byte-identical). Errors: kMalformed / kUnsupportedVersion for bad framing,
// kAuthFailed for every cryptographic failure (bad MAC, bad padding, bad signature, low-order
// key), kDuplicate for a message already decrypted (or whose key was evicted), kLimitExceeded
// for a message more than kMaxForwardJump ahead on its chain, kNotFound when there is no
// session or the prekey named is unknown, kUntrustedIdentity when the sender's identity is not
// the expected one.
#pragma once

#include <cstdint>
#include <optional>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "protocol/keys.hpp"
#include "protocol/session_state.hpp"

namespace bc::protocol {

// MessageType is libsignal's ciphertext message type.
enum class MessageType : std::uint8_t { kSignal = 2, kPreKey = 3 };

// CiphertextMessage is an encrypted message as it goes on the wire.
struct CiphertextMessage {
  MessageType type = MessageType::kSignal;
  Bytes serialized;  // a serialized SignalMessage or PreKeySignalMessage
};

// PreKeyLookup finds our own prekeys by id (implemented by the client's store; tests use a map).
class PreKeyLookup {
 public:
  virtual ~PreKeyLookup() = default;
  // one_time_prekey returns our one-time prekey `id`, or null when unknown (or used).
  [[nodiscard]] virtual const KeyPair* one_time_prekey(std::uint32_t id) const = 0;
  // signed_prekey returns our signed prekey `id`, or null when unknown.
  [[nodiscard]] virtual const KeyPair* signed_prekey(std::uint32_t id) const = 0;
};

// process_prekey_bundle runs X3DH as the initiator against `bundle` and makes the new session
// the record's current one (an existing current one is archived). The bundle's signed prekey
// signature is checked first (kAuthFailed); a low-order key gives kAuthFailed. The record is
// unchanged on failure. Draws two key pairs from `rng`.
[[nodiscard]] Result<void> process_prekey_bundle(SessionRecord& record,
                                                 const IdentityKeyPair& our_identity,
                                                 std::uint32_t our_registration_id,
                                                 const PreKeyBundle& bundle, Rng& rng);

// encrypt encrypts `plaintext` with the record's current session: a PreKeySignalMessage while
// the session is unacknowledged, a SignalMessage after. kNotFound without a session,
// kLimitExceeded when the sending chain is exhausted (2^32 - 1 messages) or the plaintext is
// larger than wire::kMaxCiphertextSize - 16. The record advances only on success.
[[nodiscard]] Result<CiphertextMessage> encrypt(SessionRecord& record, ByteView plaintext);

// decrypt_message decrypts a serialized SignalMessage (type 2) with the current session or, if
// that fails, an archived one (which then becomes current). Errors as in the file comment;
// the record changes only on success. Draws a key pair from `rng` on a DH-ratchet step.
[[nodiscard]] Result<Bytes> decrypt_message(SessionRecord& record, ByteView serialized, Rng& rng);

// PreKeyDecryption is the result of decrypting a PreKeySignalMessage.
struct PreKeyDecryption {
  Bytes plaintext;
  IdentityKey sender_identity;
  std::uint32_t sender_registration_id = 0;
  // used_prekey_id is the one-time prekey consumed by a new session: the caller deletes it
  // once the record is stored. Empty when the message belonged to a known session.
  std::optional<std::uint32_t> used_prekey_id;
};

// decrypt_prekey_message decrypts a serialized PreKeySignalMessage (type 3): if the record
// already has a session from its base key, the inner message is decrypted with it; otherwise
// X3DH runs as the responder with our prekeys and the new session becomes current (the old one
// is archived). When `expected_identity` is set and the sender's identity differs, fails with
// kUntrustedIdentity. Other errors as in the file comment; the record changes only on success.
[[nodiscard]] Result<PreKeyDecryption> decrypt_prekey_message(
    SessionRecord& record, const IdentityKeyPair& our_identity, std::uint32_t our_registration_id,
    const PreKeyLookup& prekeys, ByteView serialized, Rng& rng,
    const std::optional<IdentityKey>& expected_identity = std::nullopt);

// peek_prekey_message_identity returns the sender identity named in a serialized
// PreKeySignalMessage without decrypting it (for trust decisions). kMalformed /
// kUnsupportedVersion on bad framing.
[[nodiscard]] Result<IdentityKey> peek_prekey_message_identity(ByteView serialized);

}  // namespace bc::protocol
