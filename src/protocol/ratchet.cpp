#include "protocol/ratchet.hpp"

#include <array>
#include <cstring>

#include "crypto/hash.hpp"
#include "crypto/x25519.hpp"

namespace bc::protocol {
namespace {

constexpr std::string_view kMessageKeysInfo = "WhisperMessageKeys";
constexpr std::string_view kRatchetInfo = "WhisperRatchet";
constexpr std::string_view kTextInfo = "WhisperText";
constexpr std::size_t kHashSize = 32;

SecretBytes digest_to_secret(crypto::Sha256Digest& digest) {
  SecretBytes out(digest);
  secure_zero(digest.data(), digest.size());
  return out;
}

// zero_salt_hmac is HMAC keyed with HKDF's default salt (32 zero bytes), keyed once per thread.
const crypto::HmacSha256& zero_salt_hmac() {
  static constexpr std::array<std::uint8_t, kHashSize> kZeroSalt{};
  thread_local const crypto::HmacSha256 hmac(kZeroSalt);
  return hmac;
}

// hkdf computes HKDF-SHA256 (RFC 5869) into `out` (a multiple of 32 bytes, at most 3 blocks)
// with `extract` keyed by the salt, writing straight into locked memory.
void hkdf(const crypto::HmacSha256& extract, ByteView ikm, std::string_view info,
          MutableByteView out) {
  BC_CHECK(out.size() % kHashSize == 0 && out.size() <= 3 * kHashSize && info.size() <= 32);
  auto prk = extract.mac(ikm);
  const crypto::HmacSha256 expand(prk);
  secure_zero(prk.data(), prk.size());
  // T(i) = HMAC(PRK, T(i-1) || info || i), T(0) empty.
  std::array<std::uint8_t, kHashSize + 32 + 1> input{};
  std::size_t produced = 0;
  for (std::uint8_t counter = 1; produced < out.size(); ++counter) {
    std::size_t n = 0;
    if (counter > 1) {
      std::memcpy(input.data(), out.data() + produced - kHashSize, kHashSize);
      n = kHashSize;
    }
    std::memcpy(input.data() + n, info.data(), info.size());
    n += info.size();
    input[n++] = counter;
    auto block = expand.mac(ByteView(input.data(), n));
    std::memcpy(out.data() + produced, block.data(), kHashSize);
    secure_zero(block.data(), block.size());
    produced += kHashSize;
  }
  secure_zero(input.data(), input.size());
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
  // 80 bytes are needed; HKDF's first 80 bytes do not depend on the requested length.
  SecretBytes material(3 * kHashSize);
  hkdf(zero_salt_hmac(), seed, kMessageKeysInfo, material.expose_mut());
  return MessageKeys(std::move(material));
}

Result<RootStep> root_step(ByteView root_key, const PublicKey& their_ratchet_key,
                           const crypto::X25519PrivateKey& our_ratchet_key) {
  auto shared = crypto::x25519(our_ratchet_key, their_ratchet_key.raw());
  if (!shared) return fail(Errc::kAuthFailed, "ratchet key agreement failed");
  SecretBytes okm(2 * kHashSize);
  hkdf(crypto::HmacSha256(root_key), shared->expose(), kRatchetInfo, okm.expose_mut());
  return split_root_output(okm);
}

RootStep derive_initial_keys(ByteView secret) {
  SecretBytes okm(2 * kHashSize);
  hkdf(zero_salt_hmac(), secret, kTextInfo, okm.expose_mut());
  return split_root_output(okm);
}

}  // namespace bc::protocol
