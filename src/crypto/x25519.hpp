// X25519 (RFC 7748) key generation and Diffie-Hellman.
#pragma once

#include "core/clock.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"

namespace bc::crypto {

// x25519_generate makes a key pair from `rng` (private key clamped as in RFC 7748).
[[nodiscard]] X25519KeyPair x25519_generate(Rng& rng);
// x25519_public computes the public key of `private_key`.
[[nodiscard]] X25519PublicKey x25519_public(const X25519PrivateKey& private_key);
// x25519 computes the shared secret; fails with kAuthFailed when the result is all zeros
// (a low-order peer key).
[[nodiscard]] Result<SecretBytes> x25519(const X25519PrivateKey& private_key,
                                         const X25519PublicKey& peer_public);

}  // namespace bc::crypto
