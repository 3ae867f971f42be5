// Properties of the crypto wrappers over generated inputs (rapidcheck): round trips, a flipped bit
// is always an authentication failure, and the HMAC/HKDF identities callers rely on.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <vector>

#include "crypto/cipher.hpp"
#include "crypto/hash.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/random.hpp"
#include "crypto/x25519.hpp"
#include "crypto/xeddsa.hpp"

namespace bc::crypto {
namespace {

Bytes gen_bytes(std::size_t min_size, std::size_t max_size) {
  const auto size = *rc::gen::inRange(min_size, max_size + 1);
  return *rc::gen::container<Bytes>(size, rc::gen::arbitrary<std::uint8_t>());
}

Bytes flip_bit(Bytes data) {
  const auto bit = *rc::gen::inRange<std::size_t>(0, data.size() * 8);
  data[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
  return data;
}

struct Aead {
  Result<Bytes> (*seal)(ByteView, ByteView, ByteView, ByteView);
  Result<Bytes> (*open)(ByteView, ByteView, ByteView, ByteView);
  std::size_t nonce_size;
};

void check_aead(const Aead& aead) {
  const Bytes key = gen_bytes(32, 32);
  const Bytes nonce = gen_bytes(aead.nonce_size, aead.nonce_size);
  const Bytes aad = gen_bytes(0, 40);
  const Bytes plain = gen_bytes(0, 300);
  const auto sealed = aead.seal(key, nonce, aad, plain);
  RC_ASSERT(sealed.has_value());
  RC_ASSERT(aead.open(key, nonce, aad, *sealed).value() == plain);
  const auto tampered = aead.open(key, nonce, aad, flip_bit(*sealed));
  RC_ASSERT(!tampered.has_value());
  RC_ASSERT(tampered.error().code == Errc::kAuthFailed);
}

RC_GTEST_PROP(CryptoProperty, XChaChaRoundTripAndTamper, ()) {
  check_aead({xchacha20poly1305_seal, xchacha20poly1305_open, kXChaChaNonceSize});
}
RC_GTEST_PROP(CryptoProperty, ChaChaRoundTripAndTamper, ()) {
  check_aead({chacha20poly1305_seal, chacha20poly1305_open, kChaChaNonceSize});
}
RC_GTEST_PROP(CryptoProperty, AesGcmRoundTripAndTamper, ()) {
  check_aead({aes256gcm_seal, aes256gcm_open, kGcmNonceSize});
}

RC_GTEST_PROP(CryptoProperty, AesCbcRoundTrip, ()) {
  const Bytes key = gen_bytes(32, 32);
  const Bytes iv = gen_bytes(16, 16);
  const Bytes plain = gen_bytes(0, 300);
  const auto ct = aes256_cbc_encrypt(key, iv, plain).value();
  RC_ASSERT(ct.size() == (plain.size() / 16 + 1) * 16);
  RC_ASSERT(aes256_cbc_decrypt(key, iv, ct).value() == plain);
}

RC_GTEST_PROP(CryptoProperty, XeddsaSignVerifyAndTamper, ()) {
  DeterministicRng rng(*rc::gen::arbitrary<std::uint64_t>());
  const auto pair = x25519_generate(rng);
  const Bytes message = gen_bytes(0, 200);
  const auto sig = xeddsa_sign(pair.private_key, message, rng);
  RC_ASSERT(xeddsa_verify(pair.public_key, message, sig).has_value());
  const Bytes bad_sig = flip_bit(Bytes(sig.begin(), sig.end()));
  RC_ASSERT(!xeddsa_verify(pair.public_key, message, bad_sig).has_value());
  if (!message.empty()) {
    RC_ASSERT(!xeddsa_verify(pair.public_key, flip_bit(message), sig).has_value());
  }
}

RC_GTEST_PROP(CryptoProperty, HmacKeyedEqualsOneShotAndMac2Concatenates, ()) {
  const Bytes key = gen_bytes(0, 100);
  const Bytes a = gen_bytes(0, 100);
  const Bytes b = gen_bytes(0, 100);
  Bytes ab = a;
  append(ab, b);
  const HmacSha256 hmac(key);
  RC_ASSERT(hmac.mac(ab) == hmac_sha256(key, ab));
  RC_ASSERT(hmac.mac2(a, b) == hmac_sha256(key, ab));
  RC_ASSERT(hmac.mac(ab) == hmac_sha256(key, ab));  // reuse starts from the keyed state
}

RC_GTEST_PROP(CryptoProperty, HkdfShorterOutputIsAPrefix, ()) {
  const Bytes ikm = gen_bytes(0, 64);
  const Bytes salt = gen_bytes(0, 64);
  const Bytes info = gen_bytes(0, 64);
  const auto length = *rc::gen::inRange<std::size_t>(0, 200);
  const auto shorter = *rc::gen::inRange<std::size_t>(0, length + 1);
  const auto long_okm = hkdf_sha256(ikm, salt, info, length).value();
  const auto short_okm = hkdf_sha256(ikm, salt, info, shorter).value();
  RC_ASSERT(long_okm.size() == length);
  RC_ASSERT(ct_equal(short_okm.expose(), long_okm.expose().first(shorter)));
}

}  // namespace
}  // namespace bc::crypto
