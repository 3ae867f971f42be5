#include "protocol/ratchet.hpp"

#include <array>
#include <cstring>

#include "crypto/hash.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/x25519.hpp"

namespace bc::protocol {
namespace {

constexpr std::string_view kMessageKeysInfo = "WhisperMessageKeys";
constexpr std::string_view kRatchetInfo = "WhisperRatchet";
constexpr std::string_view kTextInfo = "WhisperText";

SecretBytes digest_to_secret(crypto::Sha256Digest& digest) {
  SecretBytes out(digest);
  secure_zero(digest.data(), digest.size());
  return out;
}

RootStep split_root_output(const SecretBytes& okm) {
  RootStep out;
  out.root_key = SecretBytes(okm.expose().first(32));
  out.chain_key.key = SecretBytes(okm.expose().subspan(32, 32));
  out.chain_key.index = 0;
  return out;
}

}  // namespace

ChainStep chain_step(const ChainKey& chain_key) {
  static constexpr std::array<std::uint8_t, 1> kMessageKeySeed = {0x01};
  static constexpr std::array<std::uint8_t, 1> kChainKeySeed = {0x02};
  const crypto::HmacSha256 hmac(chain_key.key.expose());
  auto seed = hmac.mac(kMessageKeySeed);
  auto next = hmac.mac(kChainKeySeed);
  ChainStep out;
  out.message_key_seed = digest_to_secret(seed);
  out.next.key = digest_to_secret(next);
  out.next.index = chain_key.index + 1;
  return out;
}

MessageKeys MessageKeys::derive(ByteView seed) {
  auto okm = crypto::hkdf_sha256(seed, {}, as_bytes(kMessageKeysInfo), 80);
  BC_CHECK(okm.has_value());
  return MessageKeys(std::move(okm).value());
}

Result<RootStep> root_step(ByteView root_key, const PublicKey& their_ratchet_key,
                           const crypto::X25519PrivateKey& our_ratchet_key) {
  auto shared = crypto::x25519(our_ratchet_key, their_ratchet_key.raw());
  if (!shared) return fail(Errc::kAuthFailed, "ratchet key agreement failed");
  auto okm = crypto::hkdf_sha256(shared->expose(), root_key, as_bytes(kRatchetInfo), 64);
  BC_CHECK(okm.has_value());
  return split_root_output(*okm);
}

RootStep derive_initial_keys(ByteView secret) {
  auto okm = crypto::hkdf_sha256(secret, {}, as_bytes(kTextInfo), 64);
  BC_CHECK(okm.has_value());
  return split_root_output(*okm);
}

}  // namespace bc::protocol
