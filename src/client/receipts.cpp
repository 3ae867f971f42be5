#include "client/receipts.hpp"

#include "client/record.hpp"
#include "crypto/hash.hpp"
#include "protocol/receipt.hpp"
#include "protocol/receipt_proof.hpp"

namespace bc::client {
namespace {

// Version 2 added the receipt's batch (size, index, path); version 1 records are read as receipts
// signed on their own.
constexpr std::uint8_t kReceiptRecordVersion = 2;
constexpr char kKeySeparator = '\x1e';

Bytes encode_receipt(const ReceiptInfo& r) {
  RecordWriter w;
  w.u8(kReceiptRecordVersion).str(r.relay_url).u64(r.seq).i64(r.relay_time_ms);
  w.str(r.envelope_hash_hex).str(r.signature_hex).str(r.direction);
  w.u32(r.batch_size).u32(r.batch_index).str(r.batch_path_hex);
  return w.take();
}

Result<ReceiptInfo> decode_receipt(ByteView bytes) {
  RecordReader r(bytes);
  const std::uint8_t version = r.u8();
  if (version != 1 && version != kReceiptRecordVersion) {
    return fail(Errc::kUnsupportedVersion, "receipt record version");
  }
  ReceiptInfo out;
  out.relay_url = r.str(1024);
  out.seq = r.u64();
  out.relay_time_ms = r.i64();
  out.envelope_hash_hex = r.str(64);
  out.signature_hex = r.str(128);
  out.direction = r.str(16);
  if (version == kReceiptRecordVersion) {
    out.batch_size = r.u32();
    out.batch_index = r.u32();
    out.batch_path_hex = r.str(2 * 32 * protocol::kMaxReceiptPath);
  }
  BC_TRY(r.finish("receipt record"));
  return out;
}

CheckedReceipt check(const std::string& relay_url, const crypto::Ed25519PublicKey& relay_key,
                     const protocol::Receipt& receipt, const char* direction) {
  CheckedReceipt out;
  out.info.relay_url = relay_url;
  out.info.seq = receipt.seq;
  out.info.relay_time_ms = receipt.relay_time_ms;
  out.info.envelope_hash_hex = to_hex(receipt.envelope_hash);
  out.info.signature_hex = to_hex(receipt.signature);
  out.info.direction = direction;
  if (receipt.batch) {
    out.info.batch_size = receipt.batch->size;
    out.info.batch_index = receipt.batch->index;
    for (const auto& hash : receipt.batch->path) out.info.batch_path_hex += to_hex(hash);
  }
  Result<void> verified = protocol::verify_receipt(relay_key, receipt);
  out.valid = verified.has_value();
  if (!out.valid) out.problem = verified.error().detail;
  return out;
}

}  // namespace

CheckedReceipt check_deposit_receipt(const std::string& relay_url,
                                     const crypto::Ed25519PublicKey& relay_key,
                                     const wire::QueueId& sender_id, ByteView envelope,
                                     const wire::DepositReceipt& receipt) {
  const protocol::Receipt r = protocol::receipt_with_proof(
      sender_id, receipt.envelope_hash, receipt.message_id, receipt.relay_time_ms, receipt.proof);
  // The relay states the hash; it must be that of what we sent, or it vouches for another envelope.
  if (r.envelope_hash != crypto::sha256(envelope)) {
    CheckedReceipt out = check(relay_url, relay_key, r, "deposit");
    out.valid = false;
    out.problem = "the receipt names an envelope we did not deposit";
    return out;
  }
  return check(relay_url, relay_key, r, "deposit");
}

CheckedReceipt check_delivery_receipt(const std::string& relay_url,
                                      const crypto::Ed25519PublicKey& relay_key,
                                      const wire::QueueId& sender_id,
                                      const wire::Delivery& delivery) {
  const protocol::Receipt r =
      protocol::receipt_with_proof(sender_id, crypto::sha256(delivery.envelope),
                                   delivery.message_id, delivery.relay_time_ms, delivery.proof);
  return check(relay_url, relay_key, r, "delivery");
}

Result<void> store_receipt(store::ClientStore& db, const std::string& message_key,
                           const ReceiptInfo& receipt) {
  return db.put(kReceiptsTable, message_key + kKeySeparator + receipt.relay_url,
                encode_receipt(receipt));
}

Result<void> note_receipt_target(store::ClientStore& db, const std::string& envelope_hash_hex,
                                 const std::string& message_key) {
  return db.put(kReceiptTargets, envelope_hash_hex, as_bytes(message_key));
}

Result<std::optional<std::string>> receipt_target(store::ClientStore& db,
                                                  const std::string& envelope_hash_hex) {
  BC_ASSIGN_OR_RETURN(auto raw, db.get(kReceiptTargets, envelope_hash_hex));
  if (!raw) return std::optional<std::string>();
  return std::optional<std::string>(to_string(*raw));
}

Result<bool> has_receipt(store::ClientStore& db, const std::string& message_key,
                         const std::string& relay_url) {
  BC_ASSIGN_OR_RETURN(auto raw, db.get(kReceiptsTable, message_key + kKeySeparator + relay_url));
  return raw.has_value();
}

Result<std::map<std::string, std::vector<ReceiptInfo>>> load_receipts(store::ClientStore& db) {
  BC_ASSIGN_OR_RETURN(auto rows, db.list(kReceiptsTable));
  std::map<std::string, std::vector<ReceiptInfo>> out;
  for (auto& [key, raw] : rows) {
    const auto cut = key.find(kKeySeparator);
    if (cut == std::string::npos) return fail(Errc::kMalformed, "receipt record key");
    BC_ASSIGN_OR_RETURN(ReceiptInfo r, decode_receipt(raw));
    out[key.substr(0, cut)].push_back(std::move(r));
  }
  return out;
}

}  // namespace bc::client
