#include "crypto/hkdf.hpp"

#include <array>
#include <cstring>

#include "crypto/hash.hpp"

namespace bc::crypto {

SecretBytes hkdf_extract(ByteView salt, ByteView ikm) {
  static constexpr std::array<std::uint8_t, 32> kZeroSalt{};
  const ByteView effective_salt = salt.empty() ? ByteView(kZeroSalt) : salt;
  auto prk = hmac_sha256(effective_salt, ikm);
  SecretBytes out(prk);
  secure_zero(prk.data(), prk.size());
  return out;
}

Result<SecretBytes> hkdf_expand(ByteView prk, ByteView info, std::size_t length) {
  if (prk.size() < 32) return fail(Errc::kMalformed, "HKDF PRK shorter than the hash");
  if (length > 255 * 32) return fail(Errc::kLimitExceeded, "HKDF output longer than 255 blocks");
  SecretBytes okm(length);
  const HmacSha256 hmac(prk);
  SecretBytes block(32);
  std::size_t produced = 0;
  Bytes input;
  input.reserve(32 + info.size() + 1);
  for (std::uint8_t counter = 1; produced < length; ++counter) {
    // T(i) = HMAC(PRK, T(i-1) || info || i)
    input.clear();
    if (counter > 1) append(input, block.expose());
    append(input, info);
    input.push_back(counter);
    auto t = hmac.mac(input);
    std::memcpy(block.expose_mut().data(), t.data(), t.size());
    secure_zero(t.data(), t.size());
    const std::size_t take = std::min<std::size_t>(32, length - produced);
    std::memcpy(okm.expose_mut().data() + produced, block.expose().data(), take);
    produced += take;
  }
  secure_zero(input.data(), input.size());
  return okm;
}

Result<SecretBytes> hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, std::size_t length) {
  const SecretBytes prk = hkdf_extract(salt, ikm);
  return hkdf_expand(prk.expose(), info, length);
}

}  // namespace bc::crypto
