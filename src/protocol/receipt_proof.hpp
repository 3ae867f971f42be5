// A relay receipt as the relay frames carry it: the receipt's fields travel in the frame
// (deposit_receipt, delivery) or are known to the reader (the sender id), and its batch and
// signature travel as a wire::ReceiptProof. These convert between the two.
#pragma once

#include <cstdint>

#include "protocol/receipt.hpp"
#include "wire/relay_frames.hpp"

namespace bc::protocol {

// receipt_with_proof is the receipt a proof signs for the given fields.
[[nodiscard]] Receipt receipt_with_proof(const wire::QueueId& sender_id,
                                         const crypto::Sha256Digest& envelope_hash,
                                         std::uint64_t seq, std::int64_t relay_time_ms,
                                         const wire::ReceiptProof& proof);

// proof_of is the proof of a receipt signed in a batch (sign_receipts); `receipt.batch` is set.
[[nodiscard]] wire::ReceiptProof proof_of(const Receipt& receipt);

}  // namespace bc::protocol
