// Typed key material: public keys are values, private keys live in SecretBytes; the types differ
// so that a public key can never be passed where a private key is expected.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/bytes.hpp"
#include "core/secret.hpp"

namespace bc::crypto {

// PublicKeyBytes is an N-byte public value with a tag that keeps kinds apart.
template <std::size_t N, typename Tag>
struct PublicKeyBytes {
  static constexpr std::size_t kSize = N;
  std::array<std::uint8_t, N> bytes{};

  // from_bytes fails with kMalformed unless `view` is exactly N bytes.
  [[nodiscard]] static Result<PublicKeyBytes> from_bytes(ByteView view) {
    if (view.size() != N) return fail(Errc::kMalformed, "public key has the wrong length");
    PublicKeyBytes out;
    std::copy(view.begin(), view.end(), out.bytes.begin());
    return out;
  }
  [[nodiscard]] ByteView view() const noexcept { return bytes; }
  friend bool operator==(const PublicKeyBytes&, const PublicKeyBytes&) = default;
  friend auto operator<=>(const PublicKeyBytes&, const PublicKeyBytes&) = default;
};

// PrivateKeyBytes is an N-byte private value held in locked memory.
template <std::size_t N, typename Tag>
class PrivateKeyBytes {
 public:
  static constexpr std::size_t kSize = N;

  // from_bytes fails with kMalformed unless `view` is exactly N bytes.
  [[nodiscard]] static Result<PrivateKeyBytes> from_bytes(ByteView view) {
    if (view.size() != N) return fail(Errc::kMalformed, "private key has the wrong length");
    return PrivateKeyBytes(SecretBytes(view));
  }
  // from_secret takes ownership of an N-byte secret (aborts on a wrong size: an invariant).
  [[nodiscard]] static PrivateKeyBytes from_secret(SecretBytes secret) {
    BC_CHECK(secret.size() == N);
    return PrivateKeyBytes(std::move(secret));
  }
  [[nodiscard]] const SecretBytes& secret() const noexcept { return key_; }
  [[nodiscard]] PrivateKeyBytes copy() const { return PrivateKeyBytes(key_.copy()); }

 private:
  explicit PrivateKeyBytes(SecretBytes key) : key_(std::move(key)) {}
  SecretBytes key_;
};

struct X25519Tag {};
struct Ed25519Tag {};

using X25519PublicKey = PublicKeyBytes<32, X25519Tag>;
using X25519PrivateKey = PrivateKeyBytes<32, X25519Tag>;
using Ed25519PublicKey = PublicKeyBytes<32, Ed25519Tag>;
// Ed25519PrivateKey holds libsodium's 64-byte form: the 32-byte seed then the public key.
using Ed25519PrivateKey = PrivateKeyBytes<64, Ed25519Tag>;

using Ed25519Signature = std::array<std::uint8_t, 64>;
using Sha256Digest = std::array<std::uint8_t, 32>;
using Sha512Digest = std::array<std::uint8_t, 64>;

struct X25519KeyPair {
  X25519PrivateKey private_key;
  X25519PublicKey public_key;
};

struct Ed25519KeyPair {
  Ed25519PrivateKey private_key;
  Ed25519PublicKey public_key;
};

}  // namespace bc::crypto
