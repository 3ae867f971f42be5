// Relay frames: the strict, bounded, versioned binary codec spoken between clients and the relay.
//
// Layout of every frame (all integers big-endian; see docs/relay-protocol.md):
//   version:u8 (=1) | type:u8 | request_id:u32 | body (fixed per type, no trailing bytes)
// Variable-length fields carry an explicit length prefix and a named cap.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::wire {

// kRelayProtocolVersion is the only frame version this codec reads and writes (version 2 added
// the relay's signing key and receipts; version 3 signs receipts per batch, with a Merkle path).
inline constexpr std::uint8_t kRelayProtocolVersion = 3;
// kRelayHeaderSize is version + type + request id.
inline constexpr std::size_t kRelayHeaderSize = 6;
// kQueueIdSize: sender and recipient ids are 128-bit random values.
inline constexpr std::size_t kQueueIdSize = 16;
// kChallengeSize: the relay's per-connection challenge.
inline constexpr std::size_t kChallengeSize = 32;
// kOwnerKeySize / kSignatureSize: the queue owner's Ed25519 public key and signatures.
inline constexpr std::size_t kOwnerKeySize = 32;
inline constexpr std::size_t kSignatureSize = 64;
// kRelayKeySize: the relay's own Ed25519 public signing key (receipts, certificates).
inline constexpr std::size_t kRelayKeySize = 32;
// kEnvelopeBuckets: the only envelope sizes accepted (padding buckets); the last is the cap.
inline constexpr std::array<std::size_t, 5> kEnvelopeBuckets = {256, 1024, 4096, 16384, 65536};
inline constexpr std::size_t kMaxEnvelopeSize = 65536;
// Prekey bundle caps (the relay treats every key as opaque bytes).
inline constexpr std::size_t kMaxIdentityKeySize = 256;
inline constexpr std::size_t kMaxSignedPrekeySize = 1024;
inline constexpr std::size_t kMaxOneTimePrekeySize = 256;
inline constexpr std::size_t kMaxOneTimePrekeys = 200;
// Escrow (see docs/relay-protocol.md, "Escrow"): exchange ids and tokens are 128-bit random
// values; a release certificate travels as fixed-size opaque bytes (its codec is
// src/protocol/escrow_certificate.hpp, which checks the same size).
inline constexpr std::size_t kExchangeIdSize = 16;
inline constexpr std::size_t kEscrowTokenSize = 16;
inline constexpr std::size_t kEscrowHashSize = 32;
inline constexpr std::size_t kEscrowCertificateSize = 161;
// kMaxReceiptPathSize bounds a receipt's Merkle path: a batch holds at most 2^16 receipts.
inline constexpr std::size_t kMaxReceiptPathSize = 16;
inline constexpr std::uint32_t kMaxReceiptBatch = std::uint32_t{1} << kMaxReceiptPathSize;
// kMaxRelayFrameSize bounds every frame; the transport may reject larger messages unread.
inline constexpr std::size_t kMaxRelayFrameSize = kMaxEnvelopeSize + 1024;

using QueueId = std::array<std::uint8_t, kQueueIdSize>;
using Challenge = std::array<std::uint8_t, kChallengeSize>;
using OwnerKey = std::array<std::uint8_t, kOwnerKeySize>;
using Signature = std::array<std::uint8_t, kSignatureSize>;
using RelayKey = std::array<std::uint8_t, kRelayKeySize>;
using MessageId = std::uint64_t;
using RequestId = std::uint32_t;
using ExchangeId = std::array<std::uint8_t, kExchangeIdSize>;
using EscrowToken = std::array<std::uint8_t, kEscrowTokenSize>;
using EscrowHash = std::array<std::uint8_t, kEscrowHashSize>;
using EscrowCertificateBytes = std::array<std::uint8_t, kEscrowCertificateSize>;

// RelayErrorCode is the error carried by an Error frame (stable numbers, documented).
enum class RelayErrorCode : std::uint16_t {
  kMalformed = 1,              // the frame could not be decoded (the connection is then closed)
  kUnsupportedVersion = 2,     // unknown frame version
  kHandshakeRequired = 3,      // a request before Hello
  kAuthFailed = 4,             // bad subscription signature
  kNotSubscribed = 5,          // owner operation on a queue this connection has not subscribed
  kNotFound = 6,               // unknown queue, message or bundle
  kQueueFull = 7,              // the queue's message-count or byte quota is reached
  kBadEnvelopeSize = 8,        // envelope size is not one of the padding buckets
  kRateLimited = 9,            // per-connection request rate exceeded
  kTooManySubscriptions = 10,  // per-connection subscription cap reached
  kRelayFull = 11,             // relay-wide cap (queues, pending requests) reached
  kStorageUnavailable = 12,    // the store failed (e.g. disk full); nothing was stored
  kConflict = 13,              // duplicate (practically impossible with random ids)
  kInternal = 14,
  kEscrowClosed = 15,       // deposit or cancel on an exchange already released or expired
  kEscrowDuplicate = 16,    // this side of the exchange already holds a deposit
  kEscrowBadDeadline = 17,  // the deadline is not in the future or beyond the relay's cap
  kEscrowSameQueue = 18,    // an exchange between a queue and itself
};

// relay_error_name returns the documented snake_case name of `code` ("queue_full", ...).
[[nodiscard]] std::string_view relay_error_name(RelayErrorCode code) noexcept;

// PrekeyBundle is an owner's published bundle, opaque to the relay.
struct PrekeyBundle {
  Bytes identity_key;
  Bytes signed_prekey;
  std::vector<Bytes> one_time_prekeys;
  friend bool operator==(const PrekeyBundle&, const PrekeyBundle&) = default;
};

// ---- requests (client -> relay) ----
// Hello opens the handshake; the relay answers with ChallengeReply.
struct Hello {
  friend bool operator==(const Hello&, const Hello&) = default;
};
// CreateQueue: the owner presents a fresh Ed25519 public key; answered with QueueCreated.
struct CreateQueue {
  OwnerKey owner_key{};
  friend bool operator==(const CreateQueue&, const CreateQueue&) = default;
};
// Subscribe: signature = Ed25519(owner key, subscribe_proof_message(challenge, recipient_id)).
struct Subscribe {
  QueueId recipient_id{};
  Signature signature{};
  friend bool operator==(const Subscribe&, const Subscribe&) = default;
};
// Deposit: anyone holding the sender id; the envelope size must be a padding bucket.
struct Deposit {
  QueueId sender_id{};
  Bytes envelope;
  friend bool operator==(const Deposit&, const Deposit&) = default;
};
// Ack deletes one delivered envelope (the connection must have subscribed to the queue).
struct Ack {
  QueueId recipient_id{};
  MessageId message_id = 0;
  friend bool operator==(const Ack&, const Ack&) = default;
};
// AckMany deletes several delivered envelopes of one queue at once (subscribed connection only):
// 1 to kMaxAckMany message ids, strictly increasing. Ids no longer stored are skipped.
struct AckMany {
  QueueId recipient_id{};
  std::vector<MessageId> message_ids;
  friend bool operator==(const AckMany&, const AckMany&) = default;
};
inline constexpr std::size_t kMaxAckMany = 256;
// DeleteQueue deletes a queue and everything in it (subscribed connection only).
struct DeleteQueue {
  QueueId recipient_id{};
  friend bool operator==(const DeleteQueue&, const DeleteQueue&) = default;
};
// PublishBundle replaces the queue's prekey bundle (subscribed connection only).
struct PublishBundle {
  QueueId recipient_id{};
  PrekeyBundle bundle;
  friend bool operator==(const PublishBundle&, const PublishBundle&) = default;
};
// FetchBundle takes the bundle by sender id; each one-time prekey is handed out once.
struct FetchBundle {
  QueueId sender_id{};
  friend bool operator==(const FetchBundle&, const FetchBundle&) = default;
};

// EscrowOpen opens an exchange between two queues (named by their sender ids): queue_a is the
// opener's, queue_b the counterparty's. deadline_ms is absolute relay time (never negative).
struct EscrowOpen {
  std::int64_t deadline_ms = 0;
  QueueId queue_a{};
  QueueId queue_b{};
  friend bool operator==(const EscrowOpen&, const EscrowOpen&) = default;
};
// EscrowDeposit hands the relay one side's envelope; the token says which side.
struct EscrowDeposit {
  ExchangeId exchange_id{};
  EscrowToken token{};
  Bytes envelope;
  friend bool operator==(const EscrowDeposit&, const EscrowDeposit&) = default;
};
// EscrowCancel withdraws the caller's own deposit before release (answered with Ok).
struct EscrowCancel {
  ExchangeId exchange_id{};
  EscrowToken token{};
  friend bool operator==(const EscrowCancel&, const EscrowCancel&) = default;
};
// EscrowStatus asks for the exchange's state as seen by the token's side.
struct EscrowStatus {
  ExchangeId exchange_id{};
  EscrowToken token{};
  friend bool operator==(const EscrowStatus&, const EscrowStatus&) = default;
};

// ---- responses and pushes (relay -> client) ----
// Ok answers a request that returns nothing.
struct Ok {
  friend bool operator==(const Ok&, const Ok&) = default;
};
// ErrorReply answers a failed request (request id 0 when the frame itself was unreadable).
struct ErrorReply {
  RelayErrorCode code = RelayErrorCode::kInternal;
  friend bool operator==(const ErrorReply&, const ErrorReply&) = default;
};
// ChallengeReply answers Hello with this connection's challenge and the relay's public signing
// key (clients pin it, like the certificate).
struct ChallengeReply {
  Challenge challenge{};
  RelayKey relay_key{};
  friend bool operator==(const ChallengeReply&, const ChallengeReply&) = default;
};
// QueueCreated answers CreateQueue with two unrelated random ids.
struct QueueCreated {
  QueueId sender_id{};
  QueueId recipient_id{};
  friend bool operator==(const QueueCreated&, const QueueCreated&) = default;
};
// BundleReply answers FetchBundle; one_time_prekey is absent when none is left.
struct BundleReply {
  Bytes identity_key;
  Bytes signed_prekey;
  std::optional<Bytes> one_time_prekey;
  friend bool operator==(const BundleReply&, const BundleReply&) = default;
};
// ReceiptProof is the relay's signature of a receipt: the receipt's place in the batch the relay
// signed (size, index, Merkle path from the leaf up) and the one signature over the batch's root
// (protocol/receipt.hpp). The codec admits only a path of the length RFC 9162 gives for the
// index and size.
struct ReceiptProof {
  std::uint32_t batch_size = 1;
  std::uint32_t batch_index = 0;
  std::vector<std::array<std::uint8_t, 32>> path;
  Signature signature{};
  friend bool operator==(const ReceiptProof&, const ReceiptProof&) = default;
};
// ReceiptPathShape is the shape of the path of receipt `index` in a batch of `size` (index <
// size), as RFC 9162's inclusion-proof check (2.1.3.2) walks it: how many hashes, and which of
// them (bit k for the k-th, from the leaf up) is the left sibling.
struct ReceiptPathShape {
  std::size_t size = 0;
  std::uint32_t left_siblings = 0;
};
[[nodiscard]] ReceiptPathShape receipt_path_shape(std::uint32_t index, std::uint32_t size);
// receipt_path_size is receipt_path_shape(index, size).size.
[[nodiscard]] std::size_t receipt_path_size(std::uint32_t index, std::uint32_t size);

// Delivery pushes one envelope to a subscribed owner (request id 0), in message-id order. The
// message id is the queue's sequence number; the proof signs the relay's receipt of (the queue's
// sender id, sha256(envelope), message_id, relay_time_ms), the same receipt the depositor got in
// its DepositReceipt (see protocol/receipt.hpp), though perhaps from another batch.
struct Delivery {
  QueueId recipient_id{};
  MessageId message_id = 0;
  std::int64_t relay_time_ms = 0;
  ReceiptProof proof;
  Bytes envelope;
  friend bool operator==(const Delivery&, const Delivery&) = default;
};
// DepositReceipt answers Deposit once the envelope is stored durably: the queue's sequence number
// given to it (consecutive from 1 per queue, never reused), the relay's receive time, the SHA-256
// of the envelope and the relay's signature of the receipt (protocol/receipt.hpp).
struct DepositReceipt {
  MessageId message_id = 0;
  std::int64_t relay_time_ms = 0;
  std::array<std::uint8_t, 32> envelope_hash{};
  ReceiptProof proof;
  friend bool operator==(const DepositReceipt&, const DepositReceipt&) = default;
};

// EscrowOpened answers EscrowOpen: token_a is for the opener, token_b for the counterparty.
struct EscrowOpened {
  ExchangeId exchange_id{};
  EscrowToken token_a{};
  EscrowToken token_b{};
  friend bool operator==(const EscrowOpened&, const EscrowOpened&) = default;
};
// EscrowDeposited answers EscrowDeposit with the SHA-256 of the envelope as the relay stored it.
struct EscrowDeposited {
  EscrowHash envelope_hash{};
  friend bool operator==(const EscrowDeposited&, const EscrowDeposited&) = default;
};
// EscrowPhase is an exchange's state on the wire (stable numbers).
enum class EscrowPhase : std::uint8_t { kOpen = 1, kReleased = 2, kExpired = 3 };
// EscrowState answers EscrowStatus. own_deposited is always false when expired and true when
// released; the certificate is present exactly when released. Before release it never tells
// whether the other side deposited.
struct EscrowState {
  EscrowPhase phase = EscrowPhase::kOpen;
  bool own_deposited = false;
  std::optional<EscrowCertificateBytes> certificate;
  friend bool operator==(const EscrowState&, const EscrowState&) = default;
};

// RelayMessage is any frame body; the variant index is not the wire type (see relay_frames.cpp).
using RelayMessage =
    std::variant<Hello, CreateQueue, Subscribe, Deposit, Ack, DeleteQueue, PublishBundle,
                 FetchBundle, Ok, ErrorReply, ChallengeReply, QueueCreated, BundleReply, Delivery,
                 EscrowOpen, EscrowDeposit, EscrowCancel, EscrowStatus, EscrowOpened,
                 EscrowDeposited, EscrowState, DepositReceipt, AckMany>;

// RelayFrame is one decoded frame.
struct RelayFrame {
  RequestId request_id = 0;
  RelayMessage message;
  friend bool operator==(const RelayFrame&, const RelayFrame&) = default;
};

// decode_relay_frame parses one frame. Fails with kUnsupportedVersion on an unknown version,
// kLimitExceeded on a frame or field over its cap, kMalformed on anything else (unknown type,
// truncation, trailing bytes, an envelope size that is not a bucket, a bad flag byte).
[[nodiscard]] Result<RelayFrame> decode_relay_frame(ByteView frame);

// encode_relay_frame serializes a frame. Fails with kLimitExceeded / kMalformed when a field
// breaks the same caps decode enforces, so every encoded frame decodes back to `frame`.
[[nodiscard]] Result<Bytes> encode_relay_frame(const RelayFrame& frame);

// is_envelope_bucket tells whether `size` is one of kEnvelopeBuckets.
[[nodiscard]] bool is_envelope_bucket(std::size_t size) noexcept;

// subscribe_proof_message builds the bytes an owner signs to subscribe:
// "backchannel-relay-subscribe-v1" || challenge || recipient_id. Never fails.
[[nodiscard]] Bytes subscribe_proof_message(const Challenge& challenge,
                                            const QueueId& recipient_id);

// is_request tells whether a message travels client -> relay.
[[nodiscard]] bool is_request(const RelayMessage& message) noexcept;

}  // namespace bc::wire
