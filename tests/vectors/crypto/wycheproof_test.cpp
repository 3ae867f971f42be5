// Wycheproof vectors (../shared/vectors): every valid case matches, every invalid case is rejected,
// and each acceptable case is handled as docs/crypto.md says. Skipped, visibly, when the shared
// directory is absent.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "crypto/cipher.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/x25519.hpp"
#include "support/test_paths.hpp"

namespace bc::crypto {
namespace {

using nlohmann::json;

Bytes hex(const json& value) {
  auto parsed = from_hex(value.get<std::string>());
  EXPECT_TRUE(parsed.has_value()) << "not hex: " << value;
  return parsed.has_value() ? *parsed : Bytes{};
}

// Tally counts cases by result, so each test can check nothing was silently skipped.
struct Tally {
  std::map<std::string, int> by_result;
  int total = 0;
  void count(const json& test) {
    ++by_result[test.at("result").get<std::string>()];
    ++total;
  }
};

class Wycheproof : public ::testing::Test {
 protected:
  // load parses wycheproof_<name>_test.json, or skips the test when the directory is absent.
  json load(const std::string& name) {
    const auto dir = test::shared_vectors_dir();
    if (!dir) return json();
    const auto path = *dir / ("wycheproof_" + name + "_test.json");
    const std::string text = test::read_file(path);
    EXPECT_FALSE(text.empty()) << "cannot read " << path;
    return json::parse(text, nullptr, /*allow_exceptions=*/false);
  }
  void SetUp() override {
    if (!test::shared_vectors_dir()) {
      GTEST_SKIP() << "Wycheproof vectors not found: ../shared/vectors beside the repository "
                      "(or BC_SHARED_VECTORS) is absent";
    }
  }
  static std::string trace(const json& test) {
    return "tcId " + std::to_string(test.at("tcId").get<int>()) + " (" +
           test.value("comment", std::string()) + ")";
  }
  static void check_total(const json& doc, const Tally& tally) {
    EXPECT_EQ(tally.total, doc.at("numberOfTests").get<int>());
  }
};

// X25519. Acceptable cases are of two kinds: a low-order public key whose shared secret is all
// zeros, which we reject (RFC 7748 section 6.1 check, kAuthFailed); and points on the twist or
// non-canonical encodings, which we accept and for which the output must be the expected one.
TEST_F(Wycheproof, X25519) {
  const json doc = load("x25519");
  ASSERT_TRUE(doc.is_object());
  Tally tally;
  int rejected_zero = 0;
  for (const auto& group : doc.at("testGroups")) {
    ASSERT_EQ(group.at("curve"), "curve25519");
    for (const auto& test : group.at("tests")) {
      SCOPED_TRACE(trace(test));
      tally.count(test);
      const std::string result = test.at("result");
      ASSERT_NE(result, "invalid") << "no invalid X25519 case is expected in this file";
      const Bytes shared_expected = hex(test.at("shared"));
      const auto key = X25519PrivateKey::from_bytes(hex(test.at("private"))).value();
      const auto peer = X25519PublicKey::from_bytes(hex(test.at("public"))).value();
      const auto shared = x25519(key, peer);
      const bool zero = shared_expected == Bytes(32, 0);
      if (zero) {
        ASSERT_EQ(result, "acceptable");
        ASSERT_FALSE(shared.has_value());
        EXPECT_EQ(shared.error().code, Errc::kAuthFailed);
        ++rejected_zero;
      } else {
        ASSERT_TRUE(shared.has_value());
        EXPECT_EQ(to_hex(shared->expose()), to_hex(shared_expected));
      }
    }
  }
  check_total(doc, tally);
  EXPECT_EQ(tally.by_result["valid"], 264);
  EXPECT_GT(rejected_zero, 0);
}

TEST_F(Wycheproof, Ed25519) {
  const json doc = load("ed25519");
  ASSERT_TRUE(doc.is_object());
  Tally tally;
  for (const auto& group : doc.at("testGroups")) {
    const auto key = Ed25519PublicKey::from_bytes(hex(group.at("publicKey").at("pk"))).value();
    for (const auto& test : group.at("tests")) {
      SCOPED_TRACE(trace(test));
      tally.count(test);
      const std::string result = test.at("result");
      const auto verified = ed25519_verify(key, hex(test.at("msg")), hex(test.at("sig")));
      if (result == "valid") {
        EXPECT_TRUE(verified.has_value());
      } else {
        ASSERT_EQ(result, "invalid");
        ASSERT_FALSE(verified.has_value());
        EXPECT_EQ(verified.error().code, Errc::kAuthFailed);
      }
    }
  }
  check_total(doc, tally);
  EXPECT_EQ(tally.by_result["invalid"], 63);
}

// HKDF-SHA256. The invalid cases ask for more than 255 * 32 bytes: kLimitExceeded.
TEST_F(Wycheproof, HkdfSha256) {
  const json doc = load("hkdf_sha256");
  ASSERT_TRUE(doc.is_object());
  Tally tally;
  for (const auto& group : doc.at("testGroups")) {
    for (const auto& test : group.at("tests")) {
      SCOPED_TRACE(trace(test));
      tally.count(test);
      const std::string result = test.at("result");
      const auto size = test.at("size").get<std::size_t>();
      const auto okm =
          hkdf_sha256(hex(test.at("ikm")), hex(test.at("salt")), hex(test.at("info")), size);
      if (result == "valid") {
        ASSERT_TRUE(okm.has_value());
        EXPECT_EQ(to_hex(okm->expose()), test.at("okm").get<std::string>());
      } else {
        ASSERT_EQ(result, "invalid");
        ASSERT_FALSE(okm.has_value());
        EXPECT_EQ(okm.error().code, Errc::kLimitExceeded);
      }
    }
  }
  check_total(doc, tally);
}

// HMAC-SHA256. Our MAC is always the full 32 bytes; groups with tagSize 128 compare the first 16
// bytes (the truncation RFC 2104 section 5 defines), in constant time as callers must. Keys of
// every length are legal HMAC keys.
TEST_F(Wycheproof, HmacSha256) {
  const json doc = load("hmac_sha256");
  ASSERT_TRUE(doc.is_object());
  Tally tally;
  for (const auto& group : doc.at("testGroups")) {
    const auto tag_bytes = group.at("tagSize").get<std::size_t>() / 8;
    ASSERT_LE(tag_bytes, 32U);
    for (const auto& test : group.at("tests")) {
      SCOPED_TRACE(trace(test));
      tally.count(test);
      const std::string result = test.at("result");
      const Bytes key = hex(test.at("key"));
      const Bytes msg = hex(test.at("msg"));
      const Bytes tag = hex(test.at("tag"));
      const auto full = hmac_sha256(key, msg);
      const auto keyed = HmacSha256(key).mac(msg);
      EXPECT_EQ(full, keyed);
      const bool matches =
          tag.size() == tag_bytes && ct_equal(ByteView(full).first(tag_bytes), tag);
      if (result == "valid") {
        EXPECT_TRUE(matches);
      } else {
        ASSERT_EQ(result, "invalid");
        EXPECT_FALSE(matches);
      }
    }
  }
  check_total(doc, tally);
}

// AES-CBC with PKCS#5/7 padding. Our wrapper is AES-256 only (the Signal v3 cipher): the 128- and
// 192-bit groups must be refused with kMalformed. Invalid 256-bit cases carry bad padding.
TEST_F(Wycheproof, AesCbcPkcs5) {
  const json doc = load("aes_cbc_pkcs5");
  ASSERT_TRUE(doc.is_object());
  Tally tally;
  int checked_256 = 0;
  for (const auto& group : doc.at("testGroups")) {
    const int key_bits = group.at("keySize");
    for (const auto& test : group.at("tests")) {
      SCOPED_TRACE(trace(test));
      tally.count(test);
      const std::string result = test.at("result");
      const Bytes key = hex(test.at("key"));
      const Bytes iv = hex(test.at("iv"));
      const Bytes msg = hex(test.at("msg"));
      const Bytes ct = hex(test.at("ct"));
      const auto decrypted = aes256_cbc_decrypt(key, iv, ct);
      if (key_bits != 256) {
        ASSERT_FALSE(decrypted.has_value());
        EXPECT_EQ(decrypted.error().code, Errc::kMalformed);
        const auto encrypted = aes256_cbc_encrypt(key, iv, msg);
        ASSERT_FALSE(encrypted.has_value());
        EXPECT_EQ(encrypted.error().code, Errc::kMalformed);
        continue;
      }
      ++checked_256;
      if (result == "valid") {
        ASSERT_TRUE(decrypted.has_value());
        EXPECT_EQ(to_hex(*decrypted), to_hex(msg));
        EXPECT_EQ(to_hex(aes256_cbc_encrypt(key, iv, msg).value()), to_hex(ct));
      } else {
        ASSERT_EQ(result, "invalid");
        ASSERT_FALSE(decrypted.has_value());
        EXPECT_EQ(decrypted.error().code, Errc::kAuthFailed);
      }
    }
  }
  check_total(doc, tally);
  EXPECT_EQ(checked_256, 72);
}

using SealFn = Result<Bytes> (*)(ByteView, ByteView, ByteView, ByteView);

// check_aead: valid cases seal to ct || tag and open back; invalid cases with the right nonce
// size fail to open with kAuthFailed; invalid nonce sizes are refused with kMalformed.
void check_aead(const json& doc, SealFn seal, SealFn open, std::size_t nonce_size) {
  Tally tally;
  for (const auto& group : doc.at("testGroups")) {
    ASSERT_EQ(group.at("keySize"), 256);
    ASSERT_EQ(group.at("tagSize"), 128);
    for (const auto& test : group.at("tests")) {
      SCOPED_TRACE("tcId " + std::to_string(test.at("tcId").get<int>()) + " (" +
                   test.value("comment", std::string()) + ")");
      tally.count(test);
      const std::string result = test.at("result");
      const Bytes key = hex(test.at("key"));
      const Bytes iv = hex(test.at("iv"));
      const Bytes aad = hex(test.at("aad"));
      const Bytes msg = hex(test.at("msg"));
      Bytes sealed = hex(test.at("ct"));
      append(sealed, hex(test.at("tag")));
      const auto opened = open(key, iv, aad, sealed);
      if (iv.size() != nonce_size) {
        ASSERT_EQ(result, "invalid");
        ASSERT_FALSE(opened.has_value());
        EXPECT_EQ(opened.error().code, Errc::kMalformed);
        continue;
      }
      if (result == "valid") {
        ASSERT_TRUE(opened.has_value());
        EXPECT_EQ(to_hex(*opened), to_hex(msg));
        EXPECT_EQ(to_hex(seal(key, iv, aad, msg).value()), to_hex(sealed));
      } else {
        ASSERT_EQ(result, "invalid");
        ASSERT_FALSE(opened.has_value());
        EXPECT_EQ(opened.error().code, Errc::kAuthFailed);
      }
    }
  }
  EXPECT_EQ(tally.total, doc.at("numberOfTests").get<int>());
  EXPECT_EQ(tally.by_result["acceptable"], 0);
}

TEST_F(Wycheproof, ChaCha20Poly1305) {
  const json doc = load("chacha20_poly1305");
  ASSERT_TRUE(doc.is_object());
  check_aead(doc, chacha20poly1305_seal, chacha20poly1305_open, kChaChaNonceSize);
}

TEST_F(Wycheproof, XChaCha20Poly1305) {
  const json doc = load("xchacha20_poly1305");
  ASSERT_TRUE(doc.is_object());
  check_aead(doc, xchacha20poly1305_seal, xchacha20poly1305_open, kXChaChaNonceSize);
}

}  // namespace
}  // namespace bc::crypto
