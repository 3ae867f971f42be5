// Tests of relay receipts: the signed bytes, signing, verification and every field it binds.
#include "protocol/receipt.hpp"

#include <gtest/gtest.h>

#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"

namespace bc::protocol {
namespace {

// sign_receipt signs one receipt as a batch of its own.
Result<Receipt> sign_receipt(Receipt receipt, const crypto::Ed25519PrivateKey& relay_key) {
  BC_TRY(sign_receipts(std::span<Receipt>(&receipt, 1), relay_key));
  return receipt;
}

class ReceiptTest : public ::testing::Test {
 protected:
  Receipt signed_receipt() {
    Receipt r;
    r.sender_id.fill(0x5A);
    r.envelope_hash = crypto::sha256(Bytes(256, 0x33));
    r.seq = 41;
    r.relay_time_ms = 1'700'000'000'123;
    auto s = sign_receipt(r, relay_.private_key);
    EXPECT_TRUE(s) << s.error().message();
    return s.value_or(Receipt{});
  }

  crypto::DeterministicRng rng_{17};
  crypto::Ed25519KeyPair relay_ = crypto::ed25519_generate(rng_);
};

TEST_F(ReceiptTest, MessageIsDomainSenderHashSeqTimeBigEndian) {
  Receipt r;
  r.sender_id.fill(0x01);
  r.envelope_hash.fill(0x02);
  r.seq = 0x0102030405060708;
  r.relay_time_ms = 0x1112131415161718;
  const Bytes m = receipt_message(r);
  ASSERT_EQ(m.size(), kReceiptMessageSize);
  ASSERT_EQ(m.size(), 28u + 16 + 32 + 8 + 8);
  EXPECT_EQ(std::string(m.begin(), m.begin() + 28), "backchannel-relay-receipt-v1");
  EXPECT_EQ(m[28], 0x01);
  EXPECT_EQ(m[43], 0x01);
  EXPECT_EQ(m[44], 0x02);
  EXPECT_EQ(m[75], 0x02);
  EXPECT_EQ(m[76], 0x01);
  EXPECT_EQ(m[83], 0x08);
  EXPECT_EQ(m[84], 0x11);
  EXPECT_EQ(m[91], 0x18);
}

TEST_F(ReceiptTest, SignedReceiptVerifiesWithTheRelaysKeyOnly) {
  const Receipt r = signed_receipt();
  EXPECT_TRUE(verify_receipt(relay_.public_key, r));
  const crypto::Ed25519KeyPair other = crypto::ed25519_generate(rng_);
  auto wrong = verify_receipt(other.public_key, r);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::kAuthFailed);
}

TEST_F(ReceiptTest, EveryChangedFieldFailsVerification) {
  const Receipt good = signed_receipt();
  std::vector<Receipt> changed(5, good);
  changed[0].sender_id[15] ^= 1;
  changed[1].envelope_hash[0] ^= 1;
  changed[2].seq += 1;
  changed[3].relay_time_ms += 1;
  changed[4].signature[63] ^= 1;
  for (std::size_t i = 0; i < changed.size(); ++i) {
    auto r = verify_receipt(relay_.public_key, changed[i]);
    ASSERT_FALSE(r) << i;
    EXPECT_EQ(r.error().code, Errc::kAuthFailed) << i;
  }
}

TEST_F(ReceiptTest, ImpossibleFieldsAreNeitherSignedNorAccepted) {
  Receipt zero_seq = signed_receipt();
  zero_seq.seq = 0;
  EXPECT_EQ(sign_receipt(zero_seq, relay_.private_key).error().code, Errc::kMalformed);
  EXPECT_EQ(verify_receipt(relay_.public_key, zero_seq).error().code, Errc::kMalformed);
  Receipt negative = signed_receipt();
  negative.relay_time_ms = -1;
  EXPECT_EQ(sign_receipt(negative, relay_.private_key).error().code, Errc::kMalformed);
  EXPECT_EQ(verify_receipt(relay_.public_key, negative).error().code, Errc::kMalformed);
}

TEST_F(ReceiptTest, SigningIsDeterministic) {
  EXPECT_EQ(signed_receipt().signature, signed_receipt().signature);
}

// batch makes n distinct receipts (unsigned).
std::vector<Receipt> batch(std::size_t n) {
  std::vector<Receipt> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i].sender_id.fill(static_cast<std::uint8_t>(i % 7));
    out[i].envelope_hash = crypto::sha256(Bytes(8, static_cast<std::uint8_t>(i)));
    out[i].seq = 100 + i;
    out[i].relay_time_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i / 3);
  }
  return out;
}

crypto::Sha256Digest node(const crypto::Sha256Digest& l, const crypto::Sha256Digest& r) {
  Bytes in{0x01};
  append(in, l);
  append(in, r);
  return crypto::sha256(in);
}

TEST_F(ReceiptTest, SingleReceiptIsABatchOfOneSignedOverItsLeaf) {
  const Receipt r = signed_receipt();
  ASSERT_TRUE(r.batch.has_value());
  EXPECT_EQ(r.batch->size, 1u);
  EXPECT_EQ(r.batch->index, 0u);
  EXPECT_TRUE(r.batch->path.empty());
  Bytes leaf_in{0x00};
  append(leaf_in, receipt_message(r));
  EXPECT_EQ(receipt_leaf_hash(r), crypto::sha256(leaf_in));
  const Bytes signed_bytes = receipt_batch_message(1, receipt_leaf_hash(r));
  ASSERT_EQ(signed_bytes.size(), 34u + 4 + 32);
  EXPECT_EQ(std::string(signed_bytes.begin(), signed_bytes.begin() + 34),
            "backchannel-relay-receipt-batch-v2");
  EXPECT_EQ(signed_bytes[37], 0x01);
  EXPECT_TRUE(crypto::ed25519_verify(relay_.public_key, signed_bytes, r.signature));
}

TEST_F(ReceiptTest, ThreeReceiptsFollowTheRfc9162Tree) {
  std::vector<Receipt> rs = batch(3);
  ASSERT_TRUE(sign_receipts(rs, relay_.private_key));
  const auto l0 = receipt_leaf_hash(rs[0]);
  const auto l1 = receipt_leaf_hash(rs[1]);
  const auto l2 = receipt_leaf_hash(rs[2]);
  // MTH(D[3]) = node(node(l0, l1), l2): the split is at the largest power of two below 3.
  const auto root = node(node(l0, l1), l2);
  EXPECT_TRUE(
      crypto::ed25519_verify(relay_.public_key, receipt_batch_message(3, root), rs[0].signature));
  EXPECT_EQ(rs[0].batch->path, (std::vector<crypto::Sha256Digest>{l1, l2}));
  EXPECT_EQ(rs[1].batch->path, (std::vector<crypto::Sha256Digest>{l0, l2}));
  EXPECT_EQ(rs[2].batch->path, (std::vector<crypto::Sha256Digest>{node(l0, l1)}));
}

TEST_F(ReceiptTest, EveryReceiptOfEveryBatchSizeVerifiesUnderOneSignature) {
  for (std::size_t n : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 64, 100}) {
    std::vector<Receipt> rs = batch(n);
    ASSERT_TRUE(sign_receipts(rs, relay_.private_key)) << n;
    std::size_t depth = 0;  // ceil(log2(n))
    while ((std::size_t{1} << depth) < n) ++depth;
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(rs[i].batch.has_value());
      EXPECT_EQ(rs[i].batch->size, n);
      EXPECT_EQ(rs[i].batch->index, i);
      EXPECT_LE(rs[i].batch->path.size(), depth) << n << " " << i;
      EXPECT_EQ(rs[i].signature, rs[0].signature);
      EXPECT_TRUE(verify_receipt(relay_.public_key, rs[i])) << n << " " << i;
    }
  }
}

TEST_F(ReceiptTest, AlteredPathIndexOrSizeFailsVerification) {
  std::vector<Receipt> rs = batch(6);
  ASSERT_TRUE(sign_receipts(rs, relay_.private_key));
  const Receipt good = rs[4];
  ASSERT_EQ(good.batch->path.size(), 2u);
  std::vector<Receipt> changed(7, good);
  changed[0].batch->path[0][5] ^= 1;
  changed[1].batch->path[1][31] ^= 1;
  changed[2].batch->path.pop_back();
  changed[3].batch->path.push_back(good.batch->path[0]);
  changed[4].batch->index = 5;
  changed[5].batch->size = 5;
  changed[6].batch->size = 7;
  for (std::size_t i = 0; i < changed.size(); ++i) {
    auto r = verify_receipt(relay_.public_key, changed[i]);
    ASSERT_FALSE(r) << i;
    EXPECT_EQ(r.error().code, Errc::kAuthFailed) << i;
  }
  Receipt outside = good;
  outside.batch->index = 6;
  EXPECT_EQ(verify_receipt(relay_.public_key, outside).error().code, Errc::kMalformed);
  // Another receipt's place in the same batch does not carry this one.
  Receipt moved = rs[3];
  moved.batch = rs[4].batch;
  EXPECT_FALSE(verify_receipt(relay_.public_key, moved));
}

TEST_F(ReceiptTest, ABatchWithAnImpossibleReceiptIsNotSigned) {
  std::vector<Receipt> none;
  EXPECT_EQ(sign_receipts(none, relay_.private_key).error().code, Errc::kMalformed);
  std::vector<Receipt> rs = batch(4);
  rs[2].seq = 0;
  EXPECT_EQ(sign_receipts(rs, relay_.private_key).error().code, Errc::kMalformed);
  for (const Receipt& r : rs) EXPECT_FALSE(r.batch.has_value());
}

// Receipts kept from relays that signed each one on its own still verify, and a signature of
// either kind does not pass for the other.
TEST_F(ReceiptTest, AReceiptSignedOnItsOwnVerifiesWithoutABatch) {
  Receipt single = signed_receipt();
  single.batch.reset();
  single.signature = crypto::ed25519_sign(relay_.private_key, receipt_message(single));
  EXPECT_TRUE(verify_receipt(relay_.public_key, single));
  Receipt as_batch = single;
  as_batch.batch = ReceiptBatch{};
  EXPECT_EQ(verify_receipt(relay_.public_key, as_batch).error().code, Errc::kAuthFailed);
  Receipt batched = signed_receipt();
  batched.batch.reset();
  EXPECT_EQ(verify_receipt(relay_.public_key, batched).error().code, Errc::kAuthFailed);
}

}  // namespace
}  // namespace bc::protocol
