#include "protocol/keys.hpp"

#include <algorithm>

#include "crypto/x25519.hpp"
#include "crypto/xeddsa.hpp"

namespace bc::protocol {

namespace {

// canonical_u: whether 32 little-endian bytes encode u < 2^255 - 19. X25519 ignores the top
// bit and reduces mod p, so other encodings name the same key; refusing them keeps one
// encoding per key (a base key with its top bit flipped would otherwise look like a new one).
bool canonical_u(ByteView u) {
  if ((u[31] & 0x80) != 0) return false;
  if (u[31] != 0x7f) return true;
  for (std::size_t i = 30; i >= 1; --i) {
    if (u[i] != 0xff) return true;
  }
  return u[0] < 0xed;
}

}  // namespace

Result<PublicKey> PublicKey::decode(ByteView serialized) {
  if (serialized.size() != kSerializedPublicKeySize || serialized[0] != kDjbType) {
    return fail(Errc::kMalformed, "public key is not 0x05 || 32 bytes");
  }
  if (!canonical_u(serialized.subspan(1))) {
    return fail(Errc::kMalformed, "public key is not canonically encoded");
  }
  BC_ASSIGN_OR_RETURN(auto raw, crypto::X25519PublicKey::from_bytes(serialized.subspan(1)));
  return PublicKey(raw);
}

SerializedPublicKey PublicKey::serialize() const noexcept {
  SerializedPublicKey out{};
  out[0] = kDjbType;
  std::copy(raw_.bytes.begin(), raw_.bytes.end(), out.begin() + 1);
  return out;
}

KeyPair KeyPair::generate(Rng& rng) {
  auto pair = crypto::x25519_generate(rng);
  return {std::move(pair.private_key), PublicKey(pair.public_key)};
}

Result<KeyPair> KeyPair::from_private(ByteView private_key) {
  BC_ASSIGN_OR_RETURN(auto key, crypto::X25519PrivateKey::from_bytes(private_key));
  const PublicKey pub(crypto::x25519_public(key));
  return KeyPair{std::move(key), pub};
}

Result<IdentityKey> IdentityKey::decode(ByteView serialized) {
  BC_ASSIGN_OR_RETURN(auto key, PublicKey::decode(serialized));
  return IdentityKey{key};
}

std::uint32_t generate_registration_id(Rng& rng) {
  std::array<std::uint8_t, 4> bytes{};
  rng.fill(bytes);
  const std::uint32_t value = (static_cast<std::uint32_t>(bytes[0]) << 24) |
                              (static_cast<std::uint32_t>(bytes[1]) << 16) |
                              (static_cast<std::uint32_t>(bytes[2]) << 8) | bytes[3];
  return (value % 16380) + 1;
}

PreKeyRecord generate_prekey(std::uint32_t id, Rng& rng) { return {id, KeyPair::generate(rng)}; }

SignedPreKeyRecord generate_signed_prekey(const IdentityKeyPair& identity, std::uint32_t id,
                                          std::int64_t timestamp_ms, Rng& rng) {
  SignedPreKeyRecord out{id, KeyPair::generate(rng), {}, timestamp_ms};
  const auto serialized = out.pair.public_key.serialize();
  out.signature = crypto::xeddsa_sign(identity.pair.private_key, serialized, rng);
  return out;
}

Result<void> verify_signed_prekey(const IdentityKey& identity, const PublicKey& signed_prekey,
                                  ByteView signature) {
  if (signature.size() != kSignatureSize) {
    return fail(Errc::kAuthFailed, "signed prekey signature invalid");
  }
  const auto serialized = signed_prekey.serialize();
  if (!crypto::xeddsa_verify(identity.key.raw(), serialized, signature)) {
    return fail(Errc::kAuthFailed, "signed prekey signature invalid");
  }
  return ok();
}

}  // namespace bc::protocol
