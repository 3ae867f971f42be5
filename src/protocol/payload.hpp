// Payload: the versioned, typed structure carried inside every session message, and the padded
// envelope that carries a session ciphertext through the relay.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "protocol/transcript.hpp"

namespace bc::protocol {

inline constexpr std::uint32_t kPayloadVersion = 1;
inline constexpr std::size_t kMessageIdSize = 16;
// kMaxPayloadBody bounds a payload's body (the largest envelope bucket less framing).
inline constexpr std::size_t kMaxPayloadBody = 60 * 1024;

using MessageId = std::array<std::uint8_t, kMessageIdSize>;

// PayloadKind names what a payload's body holds. Numbers are stable; a receiver keeps and
// reports a payload of a kind it does not know instead of dropping it.
enum class PayloadKind : std::uint32_t {
  kText = 1,                // body: UTF-8 text
  kFile = 2,                // body: file name and contents (see docs/protocol.md)
  kInvitationAccept = 3,    // body: InvitationAccept (acceptor's queue and name)
  kIntroductionOffer = 4,   // mediator -> party: may I introduce you to someone?
  kIntroductionAnswer = 5,  // party -> mediator: yes (with an invitation) or no
  kIntroduction = 6,        // mediator -> party: the other side's invitation, signed
  kAssurance = 7,           // reserved for assurances
  kReceipt = 8,             // reserved for delivery receipts
  kHeartbeat = 9,           // empty body: proves the channel is alive
};

// payload_kind_name gives a stable lowercase name ("text", ...; "unknown" otherwise).
[[nodiscard]] std::string_view payload_kind_name(std::uint32_t kind) noexcept;

// Payload is one message's content: version, kind, a random message id (for deduplication),
// the sender's clock at sending, and a kind-specific body, then (optionally) the sender's
// transcript fields. Encoded as protobuf fields 1-5 in order, then fields 6-11 (the transcript,
// all six or none: payloads of older clients carry none); fields above 11 are skipped on
// decode, so later versions can add fields.
struct Payload {
  std::uint32_t kind = 0;
  MessageId message_id{};
  std::int64_t sent_at_ms = 0;
  Bytes body;
  std::optional<TranscriptFields> transcript;

  // encode gives the canonical bytes; kLimitExceeded when the body is over kMaxPayloadBody.
  [[nodiscard]] Result<Bytes> encode() const;
  // encode_content gives the canonical bytes of fields 1-5 alone: what the transcript hash
  // covers (through transcript_content_digest).
  [[nodiscard]] Result<Bytes> encode_content() const;
  // decode parses strictly: kMalformed on bad framing or a missing field, kUnsupportedVersion for
  // another major version, kLimitExceeded for an oversized body.
  [[nodiscard]] static Result<Payload> decode(ByteView bytes);
  friend bool operator==(const Payload&, const Payload&) = default;
};

// The envelope is what the relay stores: a version byte (1), the session message type (2 =
// SignalMessage, 3 = PreKeySignalMessage), the ciphertext length (4 bytes, big-endian), the
// ciphertext, then zero bytes up to the smallest padding bucket (256 B, 1, 4, 16 or 64 KiB).
inline constexpr std::uint8_t kEnvelopeVersion = 1;
inline constexpr std::size_t kEnvelopeHeaderSize = 6;

struct Envelope {
  std::uint8_t message_type = 0;
  Bytes ciphertext;
};

// pad_envelope frames and pads; kLimitExceeded when it cannot fit the largest bucket,
// kMalformed for a message type other than 2 or 3.
[[nodiscard]] Result<Bytes> pad_envelope(std::uint8_t message_type, ByteView ciphertext);
// unpad_envelope parses a padded envelope; kMalformed on a size that is not a bucket, a bad
// header, a length past the end, or non-zero padding; kUnsupportedVersion for another version.
[[nodiscard]] Result<Envelope> unpad_envelope(ByteView padded);

}  // namespace bc::protocol
