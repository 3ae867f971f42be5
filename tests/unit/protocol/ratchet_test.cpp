#include "protocol/ratchet.hpp"

#include <gtest/gtest.h>

#include "crypto/hash.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/random.hpp"
#include "crypto/x25519.hpp"

namespace bc::protocol {
namespace {

Bytes pattern(std::size_t n, std::uint8_t start) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(start + i * 3);
  return out;
}

// The ratchet's KDFs agree with the crypto layer's RFC 5869 HKDF and HMAC, computed
// independently here from the libsignal v3 definitions.
TEST(RatchetTest, ChainStepIsHmacOfOneAndTwo) {
  ChainKey ck{SecretBytes(pattern(32, 1)), 41};
  const auto step = chain_step(ck);
  const std::array<std::uint8_t, 1> one = {1}, two = {2};
  EXPECT_EQ(to_bytes(step.message_key_seed.expose()),
            to_bytes(crypto::hmac_sha256(ck.key.expose(), one)));
  EXPECT_EQ(to_bytes(step.next.key.expose()), to_bytes(crypto::hmac_sha256(ck.key.expose(), two)));
  EXPECT_EQ(step.next.index, 42u);
}

TEST(RatchetTest, MessageKeysAreWhisperMessageKeysHkdf) {
  const Bytes seed = pattern(32, 9);
  const auto keys = MessageKeys::derive(seed);
  auto okm = crypto::hkdf_sha256(seed, {}, as_bytes("WhisperMessageKeys"), 80);
  ASSERT_TRUE(okm);
  const ByteView expected = okm->expose();
  EXPECT_EQ(to_bytes(keys.cipher_key()), to_bytes(expected.first(32)));
  EXPECT_EQ(to_bytes(keys.mac_key()), to_bytes(expected.subspan(32, 32)));
  EXPECT_EQ(to_bytes(keys.iv()), to_bytes(expected.subspan(64, 16)));
}

TEST(RatchetTest, RootStepIsWhisperRatchetHkdfSaltedWithRootKey) {
  crypto::DeterministicRng rng(8);
  const auto ours = KeyPair::generate(rng);
  const auto theirs = KeyPair::generate(rng);
  const Bytes root = pattern(32, 77);
  auto step = root_step(root, theirs.public_key, ours.private_key);
  ASSERT_TRUE(step);
  auto dh = crypto::x25519(ours.private_key, theirs.public_key.raw());
  ASSERT_TRUE(dh);
  auto okm = crypto::hkdf_sha256(dh->expose(), root, as_bytes("WhisperRatchet"), 64);
  ASSERT_TRUE(okm);
  EXPECT_EQ(to_bytes(step->root_key.expose()), to_bytes(okm->expose().first(32)));
  EXPECT_EQ(to_bytes(step->chain_key.key.expose()), to_bytes(okm->expose().subspan(32, 32)));
  EXPECT_EQ(step->chain_key.index, 0u);
}

TEST(RatchetTest, RootStepRefusesALowOrderKey) {
  crypto::DeterministicRng rng(8);
  const auto ours = KeyPair::generate(rng);
  const PublicKey zero;  // the all-zero point: DH output is all zeros
  auto step = root_step(pattern(32, 1), zero, ours.private_key);
  ASSERT_FALSE(step);
  EXPECT_EQ(step.error().code, Errc::kAuthFailed);
}

TEST(RatchetTest, InitialKeysAreWhisperTextHkdf) {
  Bytes secret(32, 0xFF);
  append(secret, pattern(128, 5));
  const auto keys = derive_initial_keys(secret);
  auto okm = crypto::hkdf_sha256(secret, {}, as_bytes("WhisperText"), 64);
  ASSERT_TRUE(okm);
  EXPECT_EQ(to_bytes(keys.root_key.expose()), to_bytes(okm->expose().first(32)));
  EXPECT_EQ(to_bytes(keys.chain_key.key.expose()), to_bytes(okm->expose().subspan(32, 32)));
}

}  // namespace
}  // namespace bc::protocol
