// Relay receipts on the wire: see receipt_proof.hpp.
#include "protocol/receipt_proof.hpp"

#include "core/check.hpp"

namespace bc::protocol {

Receipt receipt_with_proof(const wire::QueueId& sender_id,
                           const crypto::Sha256Digest& envelope_hash, std::uint64_t seq,
                           std::int64_t relay_time_ms, const wire::ReceiptProof& proof) {
  Receipt r;
  r.sender_id = sender_id;
  r.envelope_hash = envelope_hash;
  r.seq = seq;
  r.relay_time_ms = relay_time_ms;
  r.batch = ReceiptBatch{proof.batch_size, proof.batch_index,
                         std::vector<crypto::Sha256Digest>(proof.path.begin(), proof.path.end())};
  r.signature = proof.signature;
  return r;
}

wire::ReceiptProof proof_of(const Receipt& receipt) {
  BC_CHECK(receipt.batch.has_value());
  wire::ReceiptProof p;
  p.batch_size = receipt.batch->size;
  p.batch_index = receipt.batch->index;
  p.path.assign(receipt.batch->path.begin(), receipt.batch->path.end());
  p.signature = receipt.signature;
  return p;
}

}  // namespace bc::protocol
