// Randomness: the OS CSPRNG and a seeded deterministic generator for tests and vectors.
#pragma once

#include <cstdint>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/secret.hpp"

namespace bc::crypto {

// random_bytes fills `out` from the OS CSPRNG (libsodium randombytes_buf). Never fails.
void random_bytes(MutableByteView out) noexcept;

// SystemRng is the Rng of production code.
class SystemRng final : public Rng {
 public:
  void fill(std::span<std::uint8_t> out) override { random_bytes(out); }
};

// DeterministicRng is a ChaCha20 keystream from a seed: the same seed and the same sequence of
// fill() calls give the same bytes. For tests and committed vectors only.
class DeterministicRng final : public Rng {
 public:
  explicit DeterministicRng(std::uint64_t seed);
  explicit DeterministicRng(ByteView seed32);
  void fill(std::span<std::uint8_t> out) override;

 private:
  SecretBytes key_;
  std::uint64_t counter_ = 0;
};

}  // namespace bc::crypto
