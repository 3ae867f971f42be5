// XEdDSA against libsignal-protocol-c 2.3.3 itself (linked into this test only: it is GPL-3.0).
#include "crypto/xeddsa.hpp"

#include <gtest/gtest.h>
#include <signal/curve.h>
#include <signal/signal_protocol.h>

#include <array>
#include <cstring>
#include <span>
#include <vector>

#include "crypto/random.hpp"
#include "crypto/x25519.hpp"

namespace bc::crypto {
namespace {

// The bytes libsignal's random callback hands out next (curve_calculate_signature asks for 64).
struct RandomSource {
  std::vector<std::uint8_t> next;
};

int random_from_source(uint8_t* data, size_t len, void* user_data) {
  auto* source = static_cast<RandomSource*>(user_data);
  if (source->next.size() != len) return SG_ERR_UNKNOWN;
  std::memcpy(data, source->next.data(), len);
  return 0;
}
// signal_context_set_crypto_provider insists on the four HMAC callbacks; signatures never call
// them, so each fails if it is ever reached.
int hmac_init_unused(void**, const uint8_t*, size_t, void*) { return SG_ERR_UNKNOWN; }
int hmac_update_unused(void*, const uint8_t*, size_t, void*) { return SG_ERR_UNKNOWN; }
int hmac_final_unused(void*, signal_buffer**, void*) { return SG_ERR_UNKNOWN; }
void hmac_cleanup_unused(void*, void*) {}

// FixedRng hands out a fixed byte string (the same 64 bytes libsignal gets).
class FixedRng final : public Rng {
 public:
  explicit FixedRng(std::vector<std::uint8_t> bytes) : bytes_(std::move(bytes)) {}
  void fill(std::span<std::uint8_t> out) override {
    ASSERT_EQ(out.size(), bytes_.size());
    std::copy(bytes_.begin(), bytes_.end(), out.begin());
  }

 private:
  std::vector<std::uint8_t> bytes_;
};

class XeddsaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(signal_context_create(&context_, &source_), 0);
    signal_crypto_provider provider{};
    provider.random_func = random_from_source;
    provider.hmac_sha256_init_func = hmac_init_unused;
    provider.hmac_sha256_update_func = hmac_update_unused;
    provider.hmac_sha256_final_func = hmac_final_unused;
    provider.hmac_sha256_cleanup_func = hmac_cleanup_unused;
    provider.user_data = &source_;
    ASSERT_EQ(signal_context_set_crypto_provider(context_, &provider), 0);
  }
  void TearDown() override { signal_context_destroy(context_); }

  // libsignal_sign signs with libsignal, feeding it `random` as its 64 random bytes.
  Bytes libsignal_sign(ByteView private_key, ByteView message, ByteView random) {
    ec_private_key* key = nullptr;
    EXPECT_EQ(curve_decode_private_point(&key, private_key.data(), private_key.size(), context_),
              0);
    source_.next.assign(random.begin(), random.end());
    signal_buffer* sig = nullptr;
    EXPECT_EQ(curve_calculate_signature(context_, &sig, key, message.data(), message.size()), 0);
    Bytes out;
    if (sig != nullptr) {
      out.assign(signal_buffer_data(sig), signal_buffer_data(sig) + signal_buffer_len(sig));
      signal_buffer_free(sig);
    }
    SIGNAL_UNREF(key);
    return out;
  }

  // libsignal_verify returns 1 when libsignal accepts, 0 when it rejects, negative on error.
  int libsignal_verify(const X25519PublicKey& public_key, ByteView message, ByteView signature) {
    std::array<std::uint8_t, 33> encoded{};
    encoded[0] = 0x05;  // DJB_TYPE
    std::copy(public_key.bytes.begin(), public_key.bytes.end(), encoded.begin() + 1);
    ec_public_key* key = nullptr;
    EXPECT_EQ(curve_decode_point(&key, encoded.data(), encoded.size(), context_), 0);
    const int result = curve_verify_signature(key, message.data(), message.size(), signature.data(),
                                              signature.size());
    SIGNAL_UNREF(key);
    return result;
  }

  // libsignal_public is libsignal's own public key for `private_key`.
  X25519PublicKey libsignal_public(ByteView private_key) {
    ec_private_key* key = nullptr;
    EXPECT_EQ(curve_decode_private_point(&key, private_key.data(), private_key.size(), context_),
              0);
    ec_public_key* pub = nullptr;
    EXPECT_EQ(curve_generate_public_key(&pub, key), 0);
    signal_buffer* buffer = nullptr;
    EXPECT_EQ(ec_public_key_serialize(&buffer, pub), 0);
    X25519PublicKey out;
    if (buffer != nullptr && signal_buffer_len(buffer) == 33) {
      std::memcpy(out.bytes.data(), signal_buffer_data(buffer) + 1, 32);
    }
    signal_buffer_free(buffer);
    SIGNAL_UNREF(pub);
    SIGNAL_UNREF(key);
    return out;
  }

  signal_context* context_ = nullptr;
  RandomSource source_;
};

Bytes random_message(Rng& rng, std::size_t size) {
  Bytes message(size);
  rng.fill(message);
  return message;
}

TEST_F(XeddsaTest, SignaturesAreByteIdenticalToLibsignalGivenTheSameRandomness) {
  DeterministicRng rng(1);
  int sign_bit_set = 0;
  constexpr int kCases = 256;
  for (int i = 0; i < kCases; ++i) {
    const auto pair = x25519_generate(rng);
    ASSERT_EQ(libsignal_public(pair.private_key.secret().expose()), pair.public_key);
    const Bytes message = random_message(rng, static_cast<std::size_t>(i % 97));
    std::vector<std::uint8_t> z(64);
    rng.fill(z);
    FixedRng fixed(z);
    const auto ours = xeddsa_sign(pair.private_key, message, fixed);
    const Bytes theirs = libsignal_sign(pair.private_key.secret().expose(), message, z);
    ASSERT_EQ(to_hex(ours), to_hex(theirs)) << "case " << i;
    sign_bit_set += (ours[63] & 0x80) != 0 ? 1 : 0;
  }
  // About half of all keys have an Edwards public key with the sign bit set.
  EXPECT_GT(sign_bit_set, 0);
  EXPECT_LT(sign_bit_set, kCases);
}

TEST_F(XeddsaTest, LibsignalAcceptsOurSignaturesWithBothSignBits) {
  SystemRng rng;
  bool seen[2] = {false, false};
  for (int i = 0; i < 64; ++i) {
    const auto pair = x25519_generate(rng);
    const Bytes message = random_message(rng, 1 + static_cast<std::size_t>(i));
    const auto sig = xeddsa_sign(pair.private_key, message, rng);
    EXPECT_EQ(libsignal_verify(pair.public_key, message, sig), 1) << "case " << i;
    EXPECT_TRUE(xeddsa_verify(pair.public_key, message, sig).has_value()) << "case " << i;
    seen[(sig[63] >> 7) & 1] = true;
  }
  EXPECT_TRUE(seen[0]);
  EXPECT_TRUE(seen[1]);
}

TEST_F(XeddsaTest, WeAcceptLibsignalSignaturesWithBothSignBits) {
  SystemRng rng;
  bool seen[2] = {false, false};
  for (int i = 0; i < 64; ++i) {
    const auto pair = x25519_generate(rng);
    const Bytes message = random_message(rng, 33);
    std::vector<std::uint8_t> z(64);
    rng.fill(z);
    const Bytes sig = libsignal_sign(pair.private_key.secret().expose(), message, z);
    ASSERT_EQ(sig.size(), 64U);
    const auto verified = xeddsa_verify(pair.public_key, message, sig);
    EXPECT_TRUE(verified.has_value()) << "case " << i << ": " << verified.error().message();
    seen[(sig[63] >> 7) & 1] = true;
  }
  EXPECT_TRUE(seen[0]);
  EXPECT_TRUE(seen[1]);
}

TEST_F(XeddsaTest, EmptyMessageSignsAndVerifies) {
  DeterministicRng rng(7);
  const auto pair = x25519_generate(rng);
  const auto sig = xeddsa_sign(pair.private_key, {}, rng);
  EXPECT_TRUE(xeddsa_verify(pair.public_key, {}, sig).has_value());
  EXPECT_EQ(libsignal_verify(pair.public_key, {}, sig), 1);
}

TEST_F(XeddsaTest, EveryFlippedSignatureBitIsRejected) {
  DeterministicRng rng(2);
  const auto pair = x25519_generate(rng);
  const Bytes message = random_message(rng, 40);
  const auto sig = xeddsa_sign(pair.private_key, message, rng);
  ASSERT_TRUE(xeddsa_verify(pair.public_key, message, sig).has_value());
  for (std::size_t bit = 0; bit < sig.size() * 8; ++bit) {
    auto bad = sig;
    bad[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    const auto result = xeddsa_verify(pair.public_key, message, bad);
    ASSERT_FALSE(result.has_value()) << "bit " << bit;
    EXPECT_EQ(result.error().code, Errc::kAuthFailed);
  }
}

TEST_F(XeddsaTest, FlippedMessageBitIsRejected) {
  DeterministicRng rng(3);
  const auto pair = x25519_generate(rng);
  Bytes message = random_message(rng, 16);
  const auto sig = xeddsa_sign(pair.private_key, message, rng);
  for (std::size_t bit = 0; bit < message.size() * 8; ++bit) {
    Bytes bad = message;
    bad[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    const auto result = xeddsa_verify(pair.public_key, bad, sig);
    ASSERT_FALSE(result.has_value()) << "bit " << bit;
    EXPECT_EQ(result.error().code, Errc::kAuthFailed);
  }
  Bytes longer = message;
  longer.push_back(0);
  EXPECT_FALSE(xeddsa_verify(pair.public_key, longer, sig).has_value());
}

TEST_F(XeddsaTest, WrongKeyIsRejected) {
  DeterministicRng rng(4);
  const auto pair = x25519_generate(rng);
  const auto other = x25519_generate(rng);
  const Bytes message = random_message(rng, 32);
  const auto sig = xeddsa_sign(pair.private_key, message, rng);
  const auto result = xeddsa_verify(other.public_key, message, sig);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::kAuthFailed);
  // The same u with its (ignored) top bit set names the same key, as in libsignal.
  auto high = pair.public_key;
  high.bytes[31] ^= 0x80;
  EXPECT_TRUE(xeddsa_verify(high, message, sig).has_value());
  EXPECT_EQ(libsignal_verify(high, message, sig), 1);
}

TEST_F(XeddsaTest, MalformedSignatureLengthsAreAuthFailures) {
  DeterministicRng rng(5);
  const auto pair = x25519_generate(rng);
  const Bytes message = random_message(rng, 8);
  const auto sig = xeddsa_sign(pair.private_key, message, rng);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{32}, std::size_t{63},
                           std::size_t{65}, std::size_t{128}}) {
    Bytes bad(sig.begin(), sig.end());
    bad.resize(size, 0);
    const auto result = xeddsa_verify(pair.public_key, message, bad);
    ASSERT_FALSE(result.has_value()) << "size " << size;
    EXPECT_EQ(result.error().code, Errc::kAuthFailed);
  }
}

TEST_F(XeddsaTest, LowOrderAndDegeneratePublicKeysAreRejected) {
  DeterministicRng rng(6);
  const auto pair = x25519_generate(rng);
  const Bytes message = random_message(rng, 8);
  const auto sig = xeddsa_sign(pair.private_key, message, rng);
  // u = 0, u = 1, u = p - 1 (maps to y = 0) and u = p (= 0).
  const char* const kKeys[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  };
  for (const char* hex : kKeys) {
    auto key = X25519PublicKey::from_bytes(from_hex(hex).value()).value();
    const auto result = xeddsa_verify(key, message, sig);
    ASSERT_FALSE(result.has_value()) << hex;
    EXPECT_EQ(result.error().code, Errc::kAuthFailed);
  }
}

// S + L verifies under ref10's crypto_sign_open (libsignal) but not under libsodium's check that
// S is canonical: we refuse malleated signatures that libsignal would still accept.
TEST_F(XeddsaTest, MalleatedSIsRejectedThoughLibsignalAcceptsIt) {
  static constexpr std::array<std::uint8_t, 32> kOrder = {
      0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
      0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
  DeterministicRng rng(8);
  int tried = 0;
  for (int i = 0; i < 64 && tried < 8; ++i) {
    const auto pair = x25519_generate(rng);
    const Bytes message = random_message(rng, 20);
    const auto sig = xeddsa_sign(pair.private_key, message, rng);
    auto malleated = sig;
    unsigned carry = 0;
    for (std::size_t j = 0; j < 32; ++j) {
      const unsigned sum = (j == 31 ? (sig[32 + j] & 0x7FU) : sig[32 + j]) + kOrder[j] + carry;
      malleated[32 + j] = static_cast<std::uint8_t>(sum & 0xFF);
      carry = sum >> 8;
    }
    // Only when S + L still leaves the top three bits of S clear does ref10 look at it.
    if ((malleated[63] & 0xE0) != 0) continue;
    malleated[63] |= static_cast<std::uint8_t>(sig[63] & 0x80);
    ++tried;
    EXPECT_EQ(libsignal_verify(pair.public_key, message, malleated), 1);
    const auto result = xeddsa_verify(pair.public_key, message, malleated);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, Errc::kAuthFailed);
  }
  EXPECT_GT(tried, 0);
}

TEST_F(XeddsaTest, UnclampedPrivateKeyBytesSignForTheirX25519PublicKey) {
  DeterministicRng rng(9);
  Bytes raw(32);
  rng.fill(raw);
  raw[0] |= 7;      // clamping clears these
  raw[31] |= 0x80;  // and this
  raw[31] &= 0xBF;  // and sets this
  const auto key = X25519PrivateKey::from_bytes(raw).value();
  const auto public_key = x25519_public(key);
  const Bytes message = random_message(rng, 10);
  const auto sig = xeddsa_sign(key, message, rng);
  EXPECT_TRUE(xeddsa_verify(public_key, message, sig).has_value());
  EXPECT_EQ(libsignal_verify(public_key, message, sig), 1);
}

TEST_F(XeddsaTest, SigningUsesTheRngAndIsOtherwiseDeterministic) {
  DeterministicRng keys(10);
  const auto pair = x25519_generate(keys);
  const Bytes message = random_message(keys, 12);
  DeterministicRng a(11);
  DeterministicRng b(11);
  DeterministicRng c(12);
  const auto sig_a = xeddsa_sign(pair.private_key, message, a);
  EXPECT_EQ(sig_a, xeddsa_sign(pair.private_key, message, b));
  EXPECT_NE(sig_a, xeddsa_sign(pair.private_key, message, c));
}

}  // namespace
}  // namespace bc::crypto
