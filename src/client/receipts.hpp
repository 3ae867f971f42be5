// Relay receipts on the client: each deposit and delivery receipt is checked against the relay's
// pinned signing key and kept beside the message it is for (one per message per relay), so that
// `history` shows what each relay acknowledged and under which sequence number.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backchannel/client.hpp"
#include "core/bytes.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"
#include "store/client_store.hpp"
#include "wire/relay_frames.hpp"

namespace bc::client {

// kReceiptsTable holds one record per (message, relay), keyed "<message key>\x1e<relay url>".
inline constexpr std::string_view kReceiptsTable = "receipts";

// CheckedReceipt is a receipt as the client saw it, and whether the relay's signature holds.
struct CheckedReceipt {
  ReceiptInfo info;
  bool valid = false;
  std::string problem;  // why it is not valid (for the alert), empty when valid
};

// check_deposit_receipt checks the relay's answer to our deposit of `envelope` into the queue
// named by `sender_id`: the hash must be that of the envelope and the proof (the signature over
// its batch's root, through its path) must verify under `relay_key`.
[[nodiscard]] CheckedReceipt check_deposit_receipt(const std::string& relay_url,
                                                   const crypto::Ed25519PublicKey& relay_key,
                                                   const wire::QueueId& sender_id,
                                                   ByteView envelope,
                                                   const wire::DepositReceipt& receipt);

// check_delivery_receipt checks the receipt proof a delivery from our own queue (named by its
// `sender_id`) carries, over the envelope as delivered.
[[nodiscard]] CheckedReceipt check_delivery_receipt(const std::string& relay_url,
                                                    const crypto::Ed25519PublicKey& relay_key,
                                                    const wire::QueueId& sender_id,
                                                    const wire::Delivery& delivery);

// store_receipt keeps a receipt for the message stored under `message_key` (in the caller's
// transaction); a later receipt from the same relay for the same message replaces it.
[[nodiscard]] Result<void> store_receipt(store::ClientStore& db, const std::string& message_key,
                                         const ReceiptInfo& receipt);

// receipt_target finds the message a delivered envelope (by its SHA-256, hex) was kept as, so that
// a second relay's copy of it adds that relay's receipt to the same message. kReceiptTargets maps
// the hash to the message key; note_receipt_target records it when the message is kept.
inline constexpr std::string_view kReceiptTargets = "receipt_targets";
[[nodiscard]] Result<void> note_receipt_target(store::ClientStore& db,
                                               const std::string& envelope_hash_hex,
                                               const std::string& message_key);
[[nodiscard]] Result<std::optional<std::string>> receipt_target(
    store::ClientStore& db, const std::string& envelope_hash_hex);
// has_receipt tells whether the message holds a receipt from `relay_url` already.
[[nodiscard]] Result<bool> has_receipt(store::ClientStore& db, const std::string& message_key,
                                       const std::string& relay_url);

// load_receipts gives every stored receipt, by message key, in relay URL order.
[[nodiscard]] Result<std::map<std::string, std::vector<ReceiptInfo>>> load_receipts(
    store::ClientStore& db);

}  // namespace bc::client
