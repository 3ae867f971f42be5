// Codecs for the WhisperTextProtocol v3 messages: SignalMessage and PreKeySignalMessage.
//
// Byte layout, as libsignal-protocol-c 2.3.3 serializes it (protobuf-c packs fields in
// field-number order and writes every field whose has_ flag is set, zero values included):
//   SignalMessage       = version || protobuf{1: ratchetKey, 2: counter, 3: previousCounter,
//                         4: ciphertext} || mac[8]
//   PreKeySignalMessage = version || protobuf{1: preKeyId (optional), 2: baseKey, 3: identityKey,
//                         4: message, 5: registrationId, 6: signedPreKeyId}
// The version byte is (3 << 4) | 3 = 0x33; 0x34 (message version 3 from a peer whose current
// version is 4) is accepted too. Keys are 33 bytes (type byte 0x05 then 32 bytes); this layer
// checks lengths only, src/protocol checks the type byte. Decoders are strict: every field
// required, no unknown or repeated fields, canonical order and varints, bounded sizes; so
// encode(decode(b)) == b for every accepted b. Decoded messages view into the input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::wire {

inline constexpr std::uint8_t kVersionByte = 0x33;
inline constexpr std::uint8_t kVersionByteV4Peer = 0x34;
inline constexpr std::size_t kMacSize = 8;
inline constexpr std::size_t kSerializedKeySize = 33;
// kMaxCiphertextSize bounds the encrypted body of one SignalMessage (1 MiB).
inline constexpr std::size_t kMaxCiphertextSize = std::size_t{1} << 20;
// kMaxSignalMessageSize bounds a whole serialized SignalMessage.
inline constexpr std::size_t kMaxSignalMessageSize = kMaxCiphertextSize + 64;
// kMaxPreKeySignalMessageSize bounds a whole serialized PreKeySignalMessage.
inline constexpr std::size_t kMaxPreKeySignalMessageSize = kMaxSignalMessageSize + 128;

using SerializedKey = std::array<std::uint8_t, kSerializedKeySize>;
using Mac = std::array<std::uint8_t, kMacSize>;

// SignalMessageFields are the fields of a SignalMessage; `ciphertext` is a view.
struct SignalMessageFields {
  std::uint8_t version = kVersionByte;
  SerializedKey ratchet_key{};
  std::uint32_t counter = 0;
  std::uint32_t previous_counter = 0;
  ByteView ciphertext;
};

// DecodedSignalMessage is a parsed SignalMessage: its fields, the bytes the MAC covers
// (version || protobuf) and the MAC, all views into the decoded input.
struct DecodedSignalMessage {
  SignalMessageFields fields;
  ByteView authenticated;
  Mac mac{};
};

// encode_signal_message_body appends version || protobuf (without the MAC) to `out`; the caller
// appends the 8-byte MAC. Never fails (sizes are the caller's invariant).
void encode_signal_message_body(const SignalMessageFields& fields, Bytes& out);

// decode_signal_message parses a serialized SignalMessage. kUnsupportedVersion for a version
// byte other than 0x33/0x34, kLimitExceeded when larger than kMaxSignalMessageSize, kMalformed
// for anything else that is not exactly the canonical form.
[[nodiscard]] Result<DecodedSignalMessage> decode_signal_message(ByteView bytes);

// PreKeySignalMessageFields are the fields of a PreKeySignalMessage; `message` is the serialized
// inner SignalMessage (a view).
struct PreKeySignalMessageFields {
  std::uint8_t version = kVersionByte;
  std::optional<std::uint32_t> prekey_id;
  SerializedKey base_key{};
  SerializedKey identity_key{};
  ByteView message;
  std::uint32_t registration_id = 0;
  std::uint32_t signed_prekey_id = 0;
};

// encode_prekey_signal_message appends the serialized PreKeySignalMessage to `out`. Never fails.
void encode_prekey_signal_message(const PreKeySignalMessageFields& fields, Bytes& out);

// decode_prekey_signal_message parses a serialized PreKeySignalMessage (the inner message is
// returned as bytes, not parsed). Errors as decode_signal_message.
[[nodiscard]] Result<PreKeySignalMessageFields> decode_prekey_signal_message(ByteView bytes);

}  // namespace bc::wire
