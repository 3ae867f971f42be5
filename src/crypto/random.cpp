#include "crypto/random.hpp"

#include <array>
#include <cstring>

#include "crypto/sodium_init.hpp"

namespace bc::crypto {

void random_bytes(MutableByteView out) noexcept {
  detail::ensure_sodium();
  if (out.empty()) return;
  randombytes_buf(out.data(), out.size());
}

DeterministicRng::DeterministicRng(std::uint64_t seed)
    : key_(crypto_stream_chacha20_ietf_KEYBYTES) {
  detail::ensure_sodium();
  std::array<std::uint8_t, 8> s{};
  for (int i = 0; i < 8; ++i) s[i] = static_cast<std::uint8_t>(seed >> (8 * i));
  crypto_generichash(key_.expose_mut().data(), key_.size(), s.data(), s.size(), nullptr, 0);
}

DeterministicRng::DeterministicRng(ByteView seed32) : key_(crypto_stream_chacha20_ietf_KEYBYTES) {
  detail::ensure_sodium();
  crypto_generichash(key_.expose_mut().data(), key_.size(), seed32.data(), seed32.size(), nullptr,
                     0);
}

void DeterministicRng::fill(std::span<std::uint8_t> out) {
  std::array<std::uint8_t, crypto_stream_chacha20_ietf_NONCEBYTES> nonce{};
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<std::uint8_t>(counter_ >> (8 * i));
  ++counter_;
  if (out.empty()) return;  // libsodium's output pointer must not be null
  crypto_stream_chacha20_ietf(out.data(), out.size(), nonce.data(), key_.expose().data());
}

}  // namespace bc::crypto
