// Known-answer tests of every crypto wrapper against the RFC and NIST vectors shipped by Debian's
// python3-cryptography-vectors (installed by scripts/install-deps; a missing package fails).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "crypto/cipher.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/x25519.hpp"
#include "crypto/xeddsa.hpp"
#include "support/test_paths.hpp"

namespace bc::crypto {
namespace {

namespace fs = std::filesystem;

// Case counts in the package's files, so a parser that silently reads nothing fails.
constexpr int kGcmEncryptCases = 375;
constexpr int kGcmDecryptCases = 375;
constexpr int kBoringSslChaChaCases = 66;

// Record is one "NAME = value" block of a NIST/RFC response file, with the [SECTION] it is in and
// the "[NAME = value]" parameters in force.
struct Record {
  std::string section;
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> fields;
  [[nodiscard]] bool has(const std::string& key) const { return fields.contains(key); }
  [[nodiscard]] const std::string& at(const std::string& key) const { return fields.at(key); }
  // hex decodes a field; a value in double quotes is taken as its raw characters.
  [[nodiscard]] Bytes hex(const std::string& key) const {
    const std::string& value = fields.at(key);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      return to_bytes(as_bytes(value).subspan(1, value.size() - 2));
    }
    auto parsed = from_hex(value);
    EXPECT_TRUE(parsed.has_value()) << key << " is not hex";
    return parsed.has_value() ? *parsed : Bytes{};
  }
};

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return {};
  const auto end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

// parse_records reads a response file: a record ends where one of its keys comes again (some
// files split one case across blank lines), at a [SECTION] line or at the end; '#' starts a
// comment.
std::vector<Record> parse_records(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::vector<Record> out;
  Record current;
  std::string section;
  std::map<std::string, std::string> params;
  std::string line;
  auto flush = [&] {
    if (!current.fields.empty()) {
      current.section = section;
      current.params = params;
      out.push_back(std::move(current));
    }
    current = Record{};
  };
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.front() == '[' && line.back() == ']') {
      flush();
      const std::string inner = line.substr(1, line.size() - 2);
      const auto eq = inner.find('=');
      if (eq == std::string::npos) {
        section = inner;
      } else {
        params[trim(inner.substr(0, eq))] = trim(inner.substr(eq + 1));
      }
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) {  // a bare flag such as FAIL
      current.fields[line] = "";
      continue;
    }
    std::string key = trim(line.substr(0, eq));
    if (current.fields.contains(key)) flush();
    current.fields[std::move(key)] = trim(line.substr(eq + 1));
  }
  flush();
  return out;
}

fs::path vectors_root() {
  const auto dir = test::cryptography_vectors_dir();
  // Not a skip: scripts/install-deps installs python3-cryptography-vectors on every machine.
  EXPECT_TRUE(dir.has_value())
      << "python3-cryptography-vectors is missing: run scripts/install-deps";
  return dir.value_or(fs::path("/nonexistent"));
}

TEST(KatX25519, Rfc7748Section52) {
  const auto records = parse_records(vectors_root() / "asymmetric/X25519/rfc7748.txt");
  ASSERT_EQ(records.size(), 3U);
  for (const auto& r : records) {
    SCOPED_TRACE("COUNT " + r.at("COUNT"));
    const auto key = X25519PrivateKey::from_bytes(r.hex("INPUT_SCALAR")).value();
    const auto peer = X25519PublicKey::from_bytes(r.hex("INPUT_U")).value();
    const auto shared = x25519(key, peer);
    ASSERT_TRUE(shared.has_value());
    EXPECT_EQ(to_hex(shared->expose()), r.at("OUTPUT_U"));
  }
}

TEST(KatX25519, Rfc7748Section61DiffieHellman) {
  // RFC 7748 section 6.1, written out here (the package carries only section 5.2).
  const auto alice =
      X25519PrivateKey::from_bytes(
          from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a").value())
          .value();
  const auto bob =
      X25519PrivateKey::from_bytes(
          from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb").value())
          .value();
  EXPECT_EQ(to_hex(x25519_public(alice).bytes),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(to_hex(x25519_public(bob).bytes),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  EXPECT_EQ(to_hex(x25519(alice, x25519_public(bob)).value().expose()),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

TEST(KatEd25519, SignInputAll1024Cases) {
  // Lines of "secret||public : public : message : signature||message :" (the SUPERCOP format).
  std::ifstream in(vectors_root() / "asymmetric/Ed25519/sign.input");
  ASSERT_TRUE(in.good());
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (trim(line).empty()) continue;
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t colon = line.find(':'); colon != std::string::npos;
         colon = line.find(':', start)) {
      parts.push_back(line.substr(start, colon - start));
      start = colon + 1;
    }
    ASSERT_GE(parts.size(), 4U) << "line " << cases + 1;
    SCOPED_TRACE("case " + std::to_string(cases));
    const Bytes secret = from_hex(parts[0]).value();
    const Bytes public_key = from_hex(parts[1]).value();
    const Bytes message = from_hex(parts[2]).value();
    const Bytes signed_message = from_hex(parts[3]).value();
    ASSERT_EQ(secret.size(), 64U);
    ASSERT_EQ(signed_message.size(), 64U + message.size());
    const ByteView expected_sig = ByteView(signed_message).first(64);

    const auto pair = ed25519_from_seed(ByteView(secret).first(32)).value();
    ASSERT_EQ(to_hex(pair.public_key.bytes), to_hex(public_key));
    const auto sig = ed25519_sign(pair.private_key, message);
    ASSERT_EQ(to_hex(sig), to_hex(expected_sig));
    ASSERT_TRUE(ed25519_verify(pair.public_key, message, expected_sig).has_value());
    auto bad = sig;
    bad[0] ^= 1;
    ASSERT_FALSE(ed25519_verify(pair.public_key, message, bad).has_value());
    ++cases;
  }
  EXPECT_EQ(cases, 1024);
}

TEST(KatHkdf, Rfc5869Sha256) {
  const auto records = parse_records(vectors_root() / "KDF/rfc-5869-HKDF-SHA256.txt");
  int cases = 0;
  for (const auto& r : records) {
    if (!r.has("OKM")) continue;
    SCOPED_TRACE("COUNT " + r.at("COUNT"));
    ASSERT_EQ(r.at("Hash"), "SHA-256");
    const Bytes ikm = r.hex("IKM");
    const Bytes salt = r.hex("salt");
    const Bytes info = r.hex("info");
    const auto length = static_cast<std::size_t>(std::stoul(r.at("L")));
    EXPECT_EQ(to_hex(hkdf_extract(salt, ikm).expose()), r.at("PRK"));
    const auto prk = hkdf_extract(salt, ikm);
    EXPECT_EQ(to_hex(hkdf_expand(prk.expose(), info, length).value().expose()), r.at("OKM"));
    EXPECT_EQ(to_hex(hkdf_sha256(ikm, salt, info, length).value().expose()), r.at("OKM"));
    ++cases;
  }
  EXPECT_EQ(cases, 3);  // RFC 5869 A.1-A.3
}

TEST(KatHmac, Rfc4231Sha256) {
  const auto records = parse_records(vectors_root() / "HMAC/rfc-4231-sha256.txt");
  int cases = 0;
  for (const auto& r : records) {
    if (!r.has("MD")) continue;
    SCOPED_TRACE("case " + std::to_string(cases));
    const Bytes key = r.hex("Key");
    const Bytes msg = r.hex("Msg");
    EXPECT_EQ(to_hex(hmac_sha256(key, msg)), r.at("MD"));
    const HmacSha256 keyed(key);
    EXPECT_EQ(to_hex(keyed.mac(msg)), r.at("MD"));
    const auto half = msg.size() / 2;
    EXPECT_EQ(to_hex(keyed.mac2(ByteView(msg).first(half), ByteView(msg).subspan(half))),
              r.at("MD"));
    ++cases;
  }
  EXPECT_EQ(cases, 6);  // RFC 4231 cases 1-4, 6, 7 (case 5 is truncated and not in the file)
}

void check_sha_file(const fs::path& path, bool is_sha512, int expected_cases) {
  const auto records = parse_records(path);
  int cases = 0;
  for (const auto& r : records) {
    if (!r.has("MD") || !r.has("Len")) continue;
    const auto bits = std::stoul(r.at("Len"));
    ASSERT_EQ(bits % 8, 0U);
    Bytes msg = r.hex("Msg");
    msg.resize(bits / 8);  // "Len = 0" comes with "Msg = 00"
    SCOPED_TRACE(path.filename().string() + " Len " + r.at("Len"));
    if (is_sha512) {
      EXPECT_EQ(to_hex(sha512(msg)), r.at("MD"));
      Sha512 h;
      h.update(ByteView(msg).first(msg.size() / 3)).update(ByteView(msg).subspan(msg.size() / 3));
      EXPECT_EQ(to_hex(h.finish()), r.at("MD"));
    } else {
      EXPECT_EQ(to_hex(sha256(msg)), r.at("MD"));
      Sha256 h;
      h.update(ByteView(msg).first(msg.size() / 3)).update(ByteView(msg).subspan(msg.size() / 3));
      EXPECT_EQ(to_hex(h.finish()), r.at("MD"));
    }
    ++cases;
  }
  EXPECT_EQ(cases, expected_cases) << path;
}

TEST(KatSha2, Sha256ShortAndLong) {
  check_sha_file(vectors_root() / "hashes/SHA2/SHA256ShortMsg.rsp", false, 65);
  check_sha_file(vectors_root() / "hashes/SHA2/SHA256LongMsg.rsp", false, 64);
}

TEST(KatSha2, Sha512ShortAndLong) {
  check_sha_file(vectors_root() / "hashes/SHA2/SHA512ShortMsg.rsp", true, 129);
  check_sha_file(vectors_root() / "hashes/SHA2/SHA512LongMsg.rsp", true, 128);
}

// The NIST CBC files hold unpadded block-aligned data; our wrapper always pads (PKCS#7). So:
// encrypt(P) must start with C (one full padding block follows), and decrypt(C || C_pad) must
// give P, where C_pad is the full padding block 16 x 0x10 chained from the last block of C.
TEST(KatAesCbc, Nist256AllFiles) {
  const char* const kFiles[] = {"CBCGFSbox256.rsp", "CBCKeySbox256.rsp", "CBCMMT256.rsp",
                                "CBCVarKey256.rsp", "CBCVarTxt256.rsp"};
  int cases = 0;
  for (const char* file : kFiles) {
    const auto records = parse_records(vectors_root() / "ciphers/AES/CBC" / file);
    for (const auto& r : records) {
      if (!r.has("KEY")) continue;
      SCOPED_TRACE(std::string(file) + " " + r.section + " COUNT " + r.at("COUNT"));
      const Bytes key = r.hex("KEY");
      const Bytes iv = r.hex("IV");
      const Bytes plain = r.hex("PLAINTEXT");
      const Bytes cipher = r.hex("CIPHERTEXT");
      ASSERT_EQ(plain.size(), cipher.size());
      ASSERT_EQ(cipher.size() % 16, 0U);
      const auto encrypted = aes256_cbc_encrypt(key, iv, plain).value();
      ASSERT_EQ(encrypted.size(), cipher.size() + 16);
      EXPECT_EQ(to_hex(ByteView(encrypted).first(cipher.size())), to_hex(cipher));

      const ByteView last_block = ByteView(cipher).last(16);
      const Bytes padding_block(16, 0x10);
      const auto pad = aes256_cbc_encrypt(key, last_block, padding_block).value();
      Bytes padded = cipher;
      append(padded, ByteView(pad).first(16));
      EXPECT_EQ(to_hex(encrypted), to_hex(padded));
      EXPECT_EQ(to_hex(aes256_cbc_decrypt(key, iv, padded).value()), to_hex(plain));
      ++cases;
    }
  }
  EXPECT_EQ(cases, 10 + 32 + 20 + 512 + 256);
}

// NIST GCM: the 96-bit-IV, 128-bit-tag cases (the only form our wrapper takes) of the 256-bit
// encrypt and decrypt files. Decrypt cases marked FAIL must be refused with kAuthFailed.
TEST(KatAesGcm, Nist256Iv96Tag128) {
  int encrypt_cases = 0;
  int decrypt_cases = 0;
  int fail_cases = 0;
  for (const char* file : {"gcmEncryptExtIV256.rsp", "gcmDecrypt256.rsp"}) {
    const auto records = parse_records(vectors_root() / "ciphers/AES/GCM" / file);
    for (const auto& r : records) {
      if (!r.has("Key") || r.params.at("IVlen") != "96" || r.params.at("Taglen") != "128") {
        continue;
      }
      SCOPED_TRACE(std::string(file) + " Count " + r.at("Count"));
      const Bytes key = r.hex("Key");
      const Bytes iv = r.hex("IV");
      const Bytes aad = r.hex("AAD");
      Bytes sealed = r.hex("CT");
      append(sealed, r.hex("Tag"));
      const auto opened = aes256gcm_open(key, iv, aad, sealed);
      if (r.has("FAIL")) {
        ASSERT_FALSE(opened.has_value());
        EXPECT_EQ(opened.error().code, Errc::kAuthFailed);
        ++fail_cases;
        continue;
      }
      ASSERT_TRUE(opened.has_value());
      EXPECT_EQ(to_hex(*opened), r.at("PT"));
      EXPECT_EQ(to_hex(aes256gcm_seal(key, iv, aad, r.hex("PT")).value()), to_hex(sealed));
      ++(std::string(file).starts_with("gcmEncrypt") ? encrypt_cases : decrypt_cases);
    }
  }
  EXPECT_EQ(encrypt_cases, kGcmEncryptCases);
  EXPECT_EQ(decrypt_cases + fail_cases, kGcmDecryptCases);
  EXPECT_GT(fail_cases, 0);
}

// ChaCha20-Poly1305 (IETF): RFC 7539/8439 and BoringSSL's vectors, 96-bit nonces.
TEST(KatChaCha20Poly1305, Rfc8439AndBoringSsl) {
  int cases = 0;
  const auto records = parse_records(vectors_root() / "ciphers/ChaCha20Poly1305/boringssl.txt");
  for (const auto& r : records) {
    if (!r.has("KEY")) continue;
    SCOPED_TRACE("COUNT " + r.at("COUNT"));
    const Bytes key = r.hex("KEY");
    const Bytes nonce = r.hex("NONCE");
    const Bytes aad = r.hex("AD");
    const Bytes plain = r.hex("IN");
    Bytes sealed = r.hex("CT");
    append(sealed, r.hex("TAG"));
    ASSERT_EQ(nonce.size(), kChaChaNonceSize);
    ASSERT_EQ(r.hex("TAG").size(), kAeadTagSize);
    EXPECT_EQ(to_hex(chacha20poly1305_seal(key, nonce, aad, plain).value()), to_hex(sealed));
    EXPECT_EQ(to_hex(chacha20poly1305_open(key, nonce, aad, sealed).value()), to_hex(plain));
    sealed.back() ^= 1;
    EXPECT_FALSE(chacha20poly1305_open(key, nonce, aad, sealed).has_value());
    ++cases;
  }
  EXPECT_EQ(cases, kBoringSslChaChaCases);
}

// XEdDSA signatures made by libsignal-protocol-c 2.3.3 (curve_calculate_signature, its random
// callback returning Z) for fixed keys and messages: two with the Edwards sign bit set in byte 63
// and two without. tests/unit/crypto/xeddsa_test.cpp checks the same against the live library;
// these committed copies catch a silent change on machines without it.
class FixedRng final : public Rng {
 public:
  explicit FixedRng(Bytes bytes) : bytes_(std::move(bytes)) {}
  void fill(std::span<std::uint8_t> out) override {
    ASSERT_EQ(out.size(), bytes_.size());
    std::copy(bytes_.begin(), bytes_.end(), out.begin());
  }

 private:
  Bytes bytes_;
};

TEST(KatXeddsa, LibsignalSignatures) {
  struct Case {
    const char* private_key;
    const char* public_key;
    const char* message;
    const char* z;
    const char* signature;
  };
  const Case kCases[] = {
      {"00080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd35a",
       "c8feca81be196cdf2cadeabf13c4903d7632dce4955aa68b6e5d9adef54e2616",
       "Backchannel XEdDSA vector 0",
       "a0adba8794e1eefbc8d5222f3c091663707d4a57a4b1be8b98e5f2ffccd92633"
       "000d1a6774414e5ba8b5828f9ce9f6c3d0dd2a3704111e6b7845525facb98693",
       "dfe8406be4fb7bb5e23cd6e64f9bd0ef6720ef36b84782d317aaabe781ba0dfe"
       "10ed35dc73ebd4eb60af34a67e554b33e03d8c83f71431ef81c23877c65a7281"},
      {"20272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf279",
       "c1c318eeeead11778e566a24a8cb04b9b431eb84cfa623c6a682c7ee56c8e206",
       "Backchannel XEdDSA vector 1",
       "a1aebb8895e2effcc9d623303d0a1764717e4b58a5b2bf8c99e6f3c0cdda2734"
       "010e1b6875424f5ca9b683909deaf7c4d1de2b3805121f6c794653a0adba8794",
       "ed736511c47182b8674adae2383a9bef84c7ababac9d0dcdd4f77795a6b6f6e4"
       "c26412728d4005afc8ead3faab03f190f8b37952c9860f872e95919f5f7f7401"},
      {"58656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b22293077",
       "618532d7afd1977f04d3378c6e4ab78ec3509c67acd7019cc2eff507b3bdcd6d",
       "Backchannel XEdDSA vector 3",
       "a3b0bd8a97e4f1fecbd825323f0c196673404d5aa7b4818e9be8f5c2cfdc2936"
       "03101d6a7744515eabb885929fecf9c6d3202d3a0714616e7b4855a2afbc8996",
       "d7c59442181671c61768af657a5469a2fc3a7bbd2eb48c747ac1262d9235ac3b"
       "81ed7266f36c1135de38a90cd31da5e4df71f546eafdf08c05788f2d2e19b787"},
      {"78848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f56",
       "9aabea0e4855b9261b37e924749f14653f53d3b5c333cca7b57d23d0eb184206",
       "Backchannel XEdDSA vector 4",
       "a4b1be8b98e5f2ffccd92633000d1a6774414e5ba8b5828f9ce9f6c3d0dd2a37"
       "04111e6b7845525facb98693e0edfac7d4212e3b0815626f7c4956a3b0bd8a97",
       "7f3fa9da8873884a79a250e9f91d5db6fad31c2e2ee25f7187eaf0eaeb4392b6"
       "e970c60921497276b857117e1638ed2cb650ed694ec06cab13c3d1207b25e309"},
  };
  int sign_bit_set = 0;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.message);
    const auto key = X25519PrivateKey::from_bytes(from_hex(c.private_key).value()).value();
    const auto public_key = x25519_public(key);
    EXPECT_EQ(to_hex(public_key.bytes), c.public_key);
    FixedRng z(from_hex(c.z).value());
    const auto sig = xeddsa_sign(key, as_bytes(c.message), z);
    EXPECT_EQ(to_hex(sig), c.signature);
    const Bytes expected = from_hex(c.signature).value();
    EXPECT_TRUE(xeddsa_verify(public_key, as_bytes(c.message), expected).has_value());
    Bytes flipped = expected;
    flipped[63] ^= 0x80;
    EXPECT_FALSE(xeddsa_verify(public_key, as_bytes(c.message), flipped).has_value());
    sign_bit_set += (expected[63] & 0x80) != 0 ? 1 : 0;
  }
  EXPECT_EQ(sign_bit_set, 2);
}

}  // namespace
}  // namespace bc::crypto
