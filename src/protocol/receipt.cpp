// Relay receipts: see receipt.hpp and docs/relay-protocol.md.
#include "protocol/receipt.hpp"

#include <algorithm>
#include <limits>

#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "wire/relay_frames.hpp"

namespace bc::protocol {
namespace {

void put_u64(Bytes& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// node_hash is an interior node of a batch's tree: SHA-256(0x01 || left || right) (RFC 9162).
crypto::Sha256Digest node_hash(const crypto::Sha256Digest& left,
                               const crypto::Sha256Digest& right) {
  std::array<std::uint8_t, 1 + 2 * 32> in;
  in[0] = 0x01;
  std::copy(left.begin(), left.end(), in.begin() + 1);
  std::copy(right.begin(), right.end(), in.begin() + 1 + 32);
  return crypto::sha256(in);
}

// subtree_hash gives the root of leaves [lo, hi) and adds, to the path of each receipt in that
// range, the sibling it needs at this level: the paths grow from the leaves upward.
crypto::Sha256Digest subtree_hash(std::span<const crypto::Sha256Digest> leaves,
                                  std::span<Receipt> receipts, std::size_t lo, std::size_t hi) {
  if (hi - lo == 1) return leaves[lo];
  std::size_t split = 1;  // the largest power of two below hi - lo
  while (split * 2 < hi - lo) split *= 2;
  const crypto::Sha256Digest left = subtree_hash(leaves, receipts, lo, lo + split);
  const crypto::Sha256Digest right = subtree_hash(leaves, receipts, lo + split, hi);
  for (std::size_t i = lo; i < lo + split; ++i) receipts[i].batch->path.push_back(right);
  for (std::size_t i = lo + split; i < hi; ++i) receipts[i].batch->path.push_back(left);
  return node_hash(left, right);
}

// batch_root recomputes the root a receipt's path leads to (RFC 9162, 2.1.3.2), or nothing when
// the path does not fit the receipt's index and the batch's size.
std::optional<crypto::Sha256Digest> batch_root(const crypto::Sha256Digest& leaf,
                                               const ReceiptBatch& batch) {
  const wire::ReceiptPathShape shape = wire::receipt_path_shape(batch.index, batch.size);
  if (batch.path.size() != shape.size) return std::nullopt;
  crypto::Sha256Digest r = leaf;
  for (std::size_t k = 0; k < batch.path.size(); ++k) {
    const bool left = ((shape.left_siblings >> k) & 1) != 0;
    r = left ? node_hash(batch.path[k], r) : node_hash(r, batch.path[k]);
  }
  return r;
}

// check_fields refuses what no honest relay signs: sequence numbers start at 1 and the relay's
// clock is never before the epoch.
Result<void> check_fields(const Receipt& receipt) {
  if (receipt.seq == 0) return fail(Errc::kMalformed, "relay receipt: sequence number 0");
  if (receipt.relay_time_ms < 0) return fail(Errc::kMalformed, "relay receipt: negative time");
  return ok();
}

}  // namespace

Bytes receipt_message(const Receipt& receipt) {
  Bytes out;
  out.reserve(kReceiptMessageSize);
  append(out, as_bytes(kRelayReceiptDomain));
  append(out, receipt.sender_id);
  append(out, receipt.envelope_hash);
  put_u64(out, receipt.seq);
  put_u64(out, static_cast<std::uint64_t>(receipt.relay_time_ms));
  return out;
}

crypto::Sha256Digest receipt_leaf_hash(const Receipt& receipt) {
  Bytes in{0x00};
  append(in, receipt_message(receipt));
  return crypto::sha256(in);
}

Bytes receipt_batch_message(std::uint32_t size, const crypto::Sha256Digest& root) {
  Bytes out;
  out.reserve(kRelayReceiptBatchDomain.size() + 4 + root.size());
  append(out, as_bytes(kRelayReceiptBatchDomain));
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(size >> shift));
  append(out, root);
  return out;
}

Result<void> sign_receipts(std::span<Receipt> receipts,
                           const crypto::Ed25519PrivateKey& relay_key) {
  if (receipts.empty()) return fail(Errc::kMalformed, "relay receipt: an empty batch");
  if (receipts.size() > std::numeric_limits<std::uint32_t>::max()) {
    return fail(Errc::kMalformed, "relay receipt: a batch too large");
  }
  std::vector<crypto::Sha256Digest> leaves;
  leaves.reserve(receipts.size());
  for (const Receipt& r : receipts) {
    BC_TRY(check_fields(r));
    leaves.push_back(receipt_leaf_hash(r));
  }
  const auto size = static_cast<std::uint32_t>(receipts.size());
  for (std::uint32_t i = 0; i < size; ++i) receipts[i].batch = ReceiptBatch{size, i, {}};
  const crypto::Sha256Digest root = subtree_hash(leaves, receipts, 0, receipts.size());
  const crypto::Ed25519Signature signature =
      crypto::ed25519_sign(relay_key, receipt_batch_message(size, root));
  for (Receipt& r : receipts) r.signature = signature;
  return ok();
}

Result<void> verify_receipt(const crypto::Ed25519PublicKey& relay_key, const Receipt& receipt) {
  BC_TRY(check_fields(receipt));
  Bytes signed_bytes;
  if (receipt.batch) {
    if (receipt.batch->index >= receipt.batch->size) {
      return fail(Errc::kMalformed, "relay receipt: index outside its batch");
    }
    std::optional<crypto::Sha256Digest> root =
        batch_root(receipt_leaf_hash(receipt), *receipt.batch);
    if (!root) return fail(Errc::kAuthFailed, "relay receipt: path does not fit its batch");
    signed_bytes = receipt_batch_message(receipt.batch->size, *root);
  } else {
    signed_bytes = receipt_message(receipt);
  }
  if (auto r = crypto::ed25519_verify(relay_key, signed_bytes, receipt.signature); !r) {
    return fail(Errc::kAuthFailed, "relay receipt: signature does not verify");
  }
  return ok();
}

}  // namespace bc::protocol
