// Relay receipts: the relay's signed statement that it accepted an envelope into a queue at a
// given per-queue sequence number and time (docs/relay-protocol.md, "Receipts"). The relay signs
// one per deposit; the depositor gets it in deposit_receipt, the recipient with the delivery, and
// both check it against the relay's pinned signing key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"

namespace bc::protocol {

// kRelayReceiptDomain starts the signed bytes, so no other relay signature can pass for one.
inline constexpr std::string_view kRelayReceiptDomain = "backchannel-relay-receipt-v1";
inline constexpr std::size_t kReceiptQueueIdBytes = 16;
// kReceiptMessageSize: domain(28) sender_id(16) envelope hash(32) seq(8) time(8).
inline constexpr std::size_t kReceiptMessageSize =
    kRelayReceiptDomain.size() + kReceiptQueueIdBytes + 32 + 8 + 8;

// Receipt names one accepted envelope: the queue by its sender id (known to both the depositor
// and the queue's owner), the SHA-256 of the envelope as stored, the queue's sequence number
// (consecutive from 1, never reused) and the relay's receive time in ms since the Unix epoch.
struct Receipt {
  std::array<std::uint8_t, kReceiptQueueIdBytes> sender_id{};
  crypto::Sha256Digest envelope_hash{};
  std::uint64_t seq = 0;
  std::int64_t relay_time_ms = 0;
  crypto::Ed25519Signature signature{};
  friend bool operator==(const Receipt&, const Receipt&) = default;
};

// receipt_message builds the signed bytes: "backchannel-relay-receipt-v1" || sender_id(16) ||
// envelope_hash(32) || seq u64 BE || relay_time i64 BE. Never fails.
[[nodiscard]] Bytes receipt_message(const Receipt& receipt);

// sign_receipt fills in receipt.signature with the relay's key. kMalformed for sequence number 0
// or a negative time (such a receipt never verifies).
[[nodiscard]] Result<Receipt> sign_receipt(Receipt receipt,
                                           const crypto::Ed25519PrivateKey& relay_key);

// verify_receipt checks the relay's signature over the receipt's fields. kAuthFailed when it
// does not verify, kMalformed for sequence number 0 or a negative time.
[[nodiscard]] Result<void> verify_receipt(const crypto::Ed25519PublicKey& relay_key,
                                          const Receipt& receipt);

}  // namespace bc::protocol
