// Tests of the escrow release certificate: the signed bytes, strict encoding, verification.
#include "protocol/escrow_certificate.hpp"

#include <gtest/gtest.h>

#include "crypto/ed25519.hpp"
#include "crypto/random.hpp"

namespace bc::protocol {
namespace {

template <typename T>
Errc err(const Result<T>& r) {
  return r.has_value() ? Errc{} : r.error().code;
}

ReleaseCertificate sample() {
  ReleaseCertificate c;
  c.exchange_id.fill(0x11);
  c.deadline_ms = 0x0102030405060708;
  c.hash_a.fill(0xAA);
  c.hash_b.fill(0xBB);
  c.release_time_ms = 0x0102030405060000;
  return c;
}

class EscrowCertificateTest : public ::testing::Test {
 protected:
  crypto::DeterministicRng rng_{7};
  crypto::Ed25519KeyPair relay_ = crypto::ed25519_generate(rng_);
  crypto::Ed25519KeyPair other_ = crypto::ed25519_generate(rng_);
};

TEST_F(EscrowCertificateTest, SignedBytesAreDomainThenFieldsBigEndian) {
  const Bytes m = release_certificate_message(sample());
  ASSERT_EQ(m.size(), kReleaseMessageSize);
  const std::size_t d = kEscrowReleaseDomain.size();
  EXPECT_EQ(to_string(ByteView(m).first(d)), "backchannel-escrow-release-v1");
  EXPECT_EQ(m[d], 0x11);
  EXPECT_EQ(m[d + 16], 0x01);  // deadline, most significant byte first
  EXPECT_EQ(m[d + 23], 0x08);
  EXPECT_EQ(m[d + 24], 0xAA);
  EXPECT_EQ(m[d + 56], 0xBB);
  EXPECT_EQ(m[d + 88], 0x01);
  EXPECT_EQ(m.back(), 0x00);
}

TEST_F(EscrowCertificateTest, SignVerifyAndEveryFieldIsCovered) {
  Result<ReleaseCertificate> signed_cert = sign_release_certificate(sample(), relay_.private_key);
  ASSERT_TRUE(signed_cert.has_value()) << signed_cert.error().message();
  const ReleaseCertificate cert = *signed_cert;
  EXPECT_TRUE(verify_release_certificate(relay_.public_key, cert).has_value());
  EXPECT_EQ(err(verify_release_certificate(other_.public_key, cert)), Errc::kAuthFailed);

  std::vector<ReleaseCertificate> changed(6, cert);
  changed[0].exchange_id[15] ^= 1;
  changed[1].deadline_ms += 1;
  changed[2].hash_a[0] ^= 1;
  changed[3].hash_b[31] ^= 1;
  changed[4].release_time_ms -= 1;
  changed[5].signature[0] ^= 1;
  for (std::size_t i = 0; i < changed.size(); ++i) {
    EXPECT_EQ(err(verify_release_certificate(relay_.public_key, changed[i])), Errc::kAuthFailed)
        << "field " << i;
  }
}

TEST_F(EscrowCertificateTest, EncodingIsStrictAndCanonical) {
  const ReleaseCertificate cert = *sign_release_certificate(sample(), relay_.private_key);
  Result<Bytes> bytes = encode_release_certificate(cert);
  ASSERT_TRUE(bytes.has_value());
  ASSERT_EQ(bytes->size(), kReleaseCertificateSize);
  EXPECT_EQ((*bytes)[0], kReleaseCertificateVersion);
  Result<ReleaseCertificate> back = decode_release_certificate(*bytes);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, cert);
  EXPECT_EQ(*encode_release_certificate(*back), *bytes);
  EXPECT_TRUE(verify_release_certificate(relay_.public_key, *back).has_value());

  Bytes longer = *bytes;
  longer.push_back(0);
  EXPECT_EQ(err(decode_release_certificate(longer)), Errc::kMalformed);
  EXPECT_EQ(err(decode_release_certificate(ByteView(*bytes).first(kReleaseCertificateSize - 1))),
            Errc::kMalformed);
  Bytes version = *bytes;
  version[0] = 2;
  EXPECT_EQ(err(decode_release_certificate(version)), Errc::kMalformed);
  Bytes negative = *bytes;
  negative[1 + 16] = 0x80;  // top bit of the deadline
  EXPECT_EQ(err(decode_release_certificate(negative)), Errc::kMalformed);
}

TEST_F(EscrowCertificateTest, AReleaseAtOrAfterTheDeadlineIsRefused) {
  ReleaseCertificate late = sample();
  late.release_time_ms = late.deadline_ms;
  EXPECT_EQ(err(sign_release_certificate(late, relay_.private_key)), Errc::kMalformed);
  EXPECT_EQ(err(encode_release_certificate(late)), Errc::kMalformed);
  EXPECT_EQ(err(verify_release_certificate(relay_.public_key, late)), Errc::kMalformed);
  // A hand-built encoding of a late release is refused on decode.
  ReleaseCertificate ok_cert = *sign_release_certificate(sample(), relay_.private_key);
  Bytes bytes = *encode_release_certificate(ok_cert);
  bytes[1 + 16 + 8 + 64] = 0x7F;  // release time far after the deadline
  EXPECT_EQ(err(decode_release_certificate(bytes)), Errc::kMalformed);
}

}  // namespace
}  // namespace bc::protocol
