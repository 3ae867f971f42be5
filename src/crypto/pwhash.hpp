// Argon2id passphrase hashing (libsodium crypto_pwhash) for keys derived from passphrases.
#pragma once

#include <cstdint>

#include "core/result.hpp"
#include "core/secret.hpp"

namespace bc::crypto {

inline constexpr std::size_t kPwhashSaltSize = 16;

// PwhashCost is Argon2id's cost: passes over memory and memory in bytes.
struct PwhashCost {
  std::uint64_t ops = 0;
  std::uint64_t mem_bytes = 0;

  // moderate is libsodium's MODERATE cost (3 passes, 256 MiB): the default for stores.
  [[nodiscard]] static PwhashCost moderate();
  // interactive is libsodium's INTERACTIVE cost (2 passes, 64 MiB).
  [[nodiscard]] static PwhashCost interactive();
  // minimum is the smallest cost libsodium allows: for tests only.
  [[nodiscard]] static PwhashCost minimum();
  // valid says whether the cost lies within libsodium's limits and under 1 GiB of memory
  // (so a tampered store file cannot make a client allocate without bound).
  [[nodiscard]] bool valid() const;
};

// argon2id derives `length` bytes from a passphrase and a 16-byte salt. Fails with kMalformed on a
// wrong salt size or an invalid cost, kUnavailable when the memory cannot be allocated.
[[nodiscard]] Result<SecretBytes> argon2id(ByteView passphrase, ByteView salt, PwhashCost cost,
                                           std::size_t length);

}  // namespace bc::crypto
