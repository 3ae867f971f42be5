// Relay receipts: the relay's signed statement that it accepted an envelope into a queue at a
// given per-queue sequence number and time (docs/relay-protocol.md, "Receipts"). The relay signs
// the receipts of a whole batch at once: one Ed25519 signature over the root of a Merkle tree
// (RFC 9162 hashing) whose leaves are the receipts, and each receipt carries its inclusion path.
// The depositor gets it in deposit_receipt, the recipient with the delivery, and both check it
// against the relay's pinned signing key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

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

// kRelayReceiptBatchDomain starts the signed bytes of a batch: domain || size u32 BE || root.
inline constexpr std::string_view kRelayReceiptBatchDomain = "backchannel-relay-receipt-batch-v2";
// kMaxReceiptPath: a batch holds at most 2^32 - 1 receipts, so a path has at most 32 hashes.
inline constexpr std::size_t kMaxReceiptPath = 32;

// ReceiptBatch places a receipt in the batch the relay signed: the number of receipts in it, the
// receipt's index (0-based, in the order the relay stored them) and the sibling hashes from the
// receipt's leaf up to the root (RFC 9162, 2.1.3: an inclusion proof).
struct ReceiptBatch {
  std::uint32_t size = 1;
  std::uint32_t index = 0;
  std::vector<crypto::Sha256Digest> path;
  friend bool operator==(const ReceiptBatch&, const ReceiptBatch&) = default;
};

// Receipt names one accepted envelope: the queue by its sender id (known to both the depositor
// and the queue's owner), the SHA-256 of the envelope as stored, the queue's sequence number
// (consecutive from 1, never reused) and the relay's receive time in ms since the Unix epoch.
// With `batch`, `signature` is over the batch's root; without it (receipts kept from relays
// that signed each receipt on its own), over receipt_message.
struct Receipt {
  std::array<std::uint8_t, kReceiptQueueIdBytes> sender_id{};
  crypto::Sha256Digest envelope_hash{};
  std::uint64_t seq = 0;
  std::int64_t relay_time_ms = 0;
  std::optional<ReceiptBatch> batch;
  crypto::Ed25519Signature signature{};
  friend bool operator==(const Receipt&, const Receipt&) = default;
};

// receipt_message is the statement a receipt makes: "backchannel-relay-receipt-v1" ||
// sender_id(16) || envelope_hash(32) || seq u64 BE || relay_time i64 BE. Never fails.
[[nodiscard]] Bytes receipt_message(const Receipt& receipt);

// receipt_leaf_hash is the receipt's leaf in its batch: SHA-256(0x00 || receipt_message).
[[nodiscard]] crypto::Sha256Digest receipt_leaf_hash(const Receipt& receipt);

// receipt_batch_message builds the signed bytes of a batch: kRelayReceiptBatchDomain ||
// size u32 BE || root(32).
[[nodiscard]] Bytes receipt_batch_message(std::uint32_t size, const crypto::Sha256Digest& root);

// sign_receipts signs `receipts` as one batch: fills in each one's batch (size, index, path) and
// the one signature over the root. kMalformed for an empty span, more than 2^32 - 1 receipts, or
// any receipt with sequence number 0 or a negative time (then nothing is signed).
[[nodiscard]] Result<void> sign_receipts(std::span<Receipt> receipts,
                                         const crypto::Ed25519PrivateKey& relay_key);

// verify_receipt checks the relay's signature over the receipt's fields: through its batch's
// root when it has a batch, over receipt_message when not. kAuthFailed when it does not verify
// (a path of the wrong length for its index and size included), kMalformed for sequence number
// 0, a negative time, or an index outside its batch.
[[nodiscard]] Result<void> verify_receipt(const crypto::Ed25519PublicKey& relay_key,
                                          const Receipt& receipt);

}  // namespace bc::protocol
