// Relay receipts: see receipt.hpp and docs/relay-protocol.md.
#include "protocol/receipt.hpp"

#include "crypto/ed25519.hpp"

namespace bc::protocol {
namespace {

void put_u64(Bytes& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
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

Result<Receipt> sign_receipt(Receipt receipt, const crypto::Ed25519PrivateKey& relay_key) {
  BC_TRY(check_fields(receipt));
  receipt.signature = crypto::ed25519_sign(relay_key, receipt_message(receipt));
  return receipt;
}

Result<void> verify_receipt(const crypto::Ed25519PublicKey& relay_key, const Receipt& receipt) {
  BC_TRY(check_fields(receipt));
  if (auto r = crypto::ed25519_verify(relay_key, receipt_message(receipt), receipt.signature); !r) {
    return fail(Errc::kAuthFailed, "relay receipt: signature does not verify");
  }
  return ok();
}

}  // namespace bc::protocol
