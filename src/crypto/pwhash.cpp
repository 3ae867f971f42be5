#include "crypto/pwhash.hpp"

#include "crypto/sodium_init.hpp"

namespace bc::crypto {

PwhashCost PwhashCost::moderate() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}
PwhashCost PwhashCost::interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}
PwhashCost PwhashCost::minimum() {
  return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

bool PwhashCost::valid() const {
  constexpr std::uint64_t kMaxMemory = 1ULL << 30;
  constexpr std::uint64_t kMaxOps = 16;
  return ops >= crypto_pwhash_OPSLIMIT_MIN && ops <= kMaxOps &&
         mem_bytes >= crypto_pwhash_MEMLIMIT_MIN && mem_bytes <= kMaxMemory;
}

Result<SecretBytes> argon2id(ByteView passphrase, ByteView salt, PwhashCost cost,
                             std::size_t length) {
  if (salt.size() != crypto_pwhash_SALTBYTES)
    return fail(Errc::kMalformed, "salt must be 16 bytes");
  if (!cost.valid()) return fail(Errc::kMalformed, "Argon2id cost out of range");
  if (length < crypto_pwhash_BYTES_MIN || length > 1024) {
    return fail(Errc::kMalformed, "Argon2id output length out of range");
  }
  detail::ensure_sodium();
  SecretBytes out(length);
  // An empty passphrase may come with a null pointer, which libsodium declares non-null.
  static const char kEmpty = 0;
  const char* const passphrase_data =
      passphrase.empty() ? &kEmpty : reinterpret_cast<const char*>(passphrase.data());
  if (crypto_pwhash(out.expose_mut().data(), out.size(), passphrase_data, passphrase.size(),
                    salt.data(), cost.ops, static_cast<std::size_t>(cost.mem_bytes),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return fail(Errc::kUnavailable, "Argon2id could not allocate its memory");
  }
  return out;
}

}  // namespace bc::crypto
