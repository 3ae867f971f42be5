// Ed25519 (RFC 8032) signatures.
#pragma once

#include "core/clock.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"

namespace bc::crypto {

// ed25519_from_seed derives a key pair from a 32-byte seed; kMalformed on a wrong size.
[[nodiscard]] Result<Ed25519KeyPair> ed25519_from_seed(ByteView seed);
// ed25519_generate makes a key pair from `rng`.
[[nodiscard]] Ed25519KeyPair ed25519_generate(Rng& rng);
// ed25519_sign signs `message` (deterministic, RFC 8032).
[[nodiscard]] Ed25519Signature ed25519_sign(const Ed25519PrivateKey& key, ByteView message);
// ed25519_verify checks a signature; kAuthFailed on any mismatch, a non-canonical S or a
// malformed key or signature.
[[nodiscard]] Result<void> ed25519_verify(const Ed25519PublicKey& key, ByteView message,
                                          ByteView signature);

}  // namespace bc::crypto
