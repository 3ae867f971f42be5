// Signal v3 key types: 33-byte Curve25519 public keys, key pairs, identities, prekeys, bundles.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"

namespace bc::protocol {

// kDjbType is the type byte libsignal puts before a Curve25519 public key.
inline constexpr std::uint8_t kDjbType = 0x05;
inline constexpr std::size_t kSerializedPublicKeySize = 33;
inline constexpr std::size_t kSignatureSize = 64;

using SerializedPublicKey = std::array<std::uint8_t, kSerializedPublicKeySize>;
using Signature = std::array<std::uint8_t, kSignatureSize>;

// PublicKey is someone's Curve25519 public key (a peer's, or the public half of one of ours).
class PublicKey {
 public:
  PublicKey() = default;
  explicit PublicKey(const crypto::X25519PublicKey& raw) : raw_(raw) {}
  // decode parses the 33-byte form; kMalformed unless it is 33 bytes starting with 0x05 and
  // the key is canonical (u < 2^255 - 19, so the ignored top bit is clear).
  [[nodiscard]] static Result<PublicKey> decode(ByteView serialized);
  // serialize gives the 33-byte form 0x05 || key.
  [[nodiscard]] SerializedPublicKey serialize() const noexcept;
  [[nodiscard]] const crypto::X25519PublicKey& raw() const noexcept { return raw_; }
  friend bool operator==(const PublicKey&, const PublicKey&) = default;

 private:
  crypto::X25519PublicKey raw_{};
};

// KeyPair is one of our Curve25519 key pairs (the private half lives in locked memory).
struct KeyPair {
  crypto::X25519PrivateKey private_key;
  PublicKey public_key;

  // generate makes a fresh pair from `rng` (32 bytes drawn). Never fails.
  [[nodiscard]] static KeyPair generate(Rng& rng);
  // from_private rebuilds a pair from a 32-byte private key; kMalformed on a wrong length.
  [[nodiscard]] static Result<KeyPair> from_private(ByteView private_key);
  [[nodiscard]] KeyPair copy() const { return {private_key.copy(), public_key}; }
};

// IdentityKey is a long-term identity public key (a peer's, or the public half of ours).
struct IdentityKey {
  PublicKey key;
  // decode parses the 33-byte form; kMalformed as PublicKey::decode.
  [[nodiscard]] static Result<IdentityKey> decode(ByteView serialized);
  [[nodiscard]] SerializedPublicKey serialize() const noexcept { return key.serialize(); }
  friend bool operator==(const IdentityKey&, const IdentityKey&) = default;
};

// IdentityKeyPair is our long-term identity.
struct IdentityKeyPair {
  KeyPair pair;
  // generate makes a fresh identity from `rng`. Never fails.
  [[nodiscard]] static IdentityKeyPair generate(Rng& rng) { return {KeyPair::generate(rng)}; }
  [[nodiscard]] IdentityKey public_key() const { return {pair.public_key}; }
  [[nodiscard]] IdentityKeyPair copy() const { return {pair.copy()}; }
};

// generate_registration_id draws a registration id in 1..16380 as libsignal's key helper does.
[[nodiscard]] std::uint32_t generate_registration_id(Rng& rng);

// PreKeyRecord is one of our one-time prekeys.
struct PreKeyRecord {
  std::uint32_t id = 0;
  KeyPair pair;
};

// SignedPreKeyRecord is one of our signed prekeys and its signature by our identity key.
struct SignedPreKeyRecord {
  std::uint32_t id = 0;
  KeyPair pair;
  Signature signature{};
  std::int64_t timestamp_ms = 0;
};

// generate_prekey makes a one-time prekey with the given id. Never fails.
[[nodiscard]] PreKeyRecord generate_prekey(std::uint32_t id, Rng& rng);
// generate_signed_prekey makes a signed prekey: XEdDSA over its 33-byte public key by
// `identity`, as libsignal does. Draws 32 + 64 bytes from `rng`. Never fails.
[[nodiscard]] SignedPreKeyRecord generate_signed_prekey(const IdentityKeyPair& identity,
                                                        std::uint32_t id, std::int64_t timestamp_ms,
                                                        Rng& rng);
// verify_signed_prekey checks a signed prekey's signature by `identity`; kAuthFailed if it fails.
[[nodiscard]] Result<void> verify_signed_prekey(const IdentityKey& identity,
                                                const PublicKey& signed_prekey, ByteView signature);

// PreKeyBundle is what a peer publishes so that others can start sessions with it.
struct PreKeyBundle {
  std::uint32_t registration_id = 0;
  std::uint32_t device_id = 1;
  std::optional<std::uint32_t> prekey_id;  // the one-time prekey, when one was left
  std::optional<PublicKey> prekey;
  std::uint32_t signed_prekey_id = 0;
  PublicKey signed_prekey;
  Signature signed_prekey_signature{};
  IdentityKey identity_key;
};

}  // namespace bc::protocol
