// Tests of relay receipts: the signed bytes, signing, verification and every field it binds.
#include "protocol/receipt.hpp"

#include <gtest/gtest.h>

#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"

namespace bc::protocol {
namespace {

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

}  // namespace
}  // namespace bc::protocol
