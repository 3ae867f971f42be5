// Signatures by Curve25519 (X25519) identity keys, in the form libsignal produces and accepts.
#pragma once

#include "core/clock.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"

namespace bc::crypto {

// xeddsa_sign signs `message` with a Curve25519 private key as libsignal-protocol-c's
// curve_calculate_signature does: a 64-byte Ed25519-form signature R || S made with the Edwards
// form of the key, the sign bit of the Edwards public key carried in the top bit of S (byte 63).
// Uses 64 bytes from `rng` for the nonce. Never fails.
[[nodiscard]] Ed25519Signature xeddsa_sign(const X25519PrivateKey& key, ByteView message, Rng& rng);

// xeddsa_verify checks a signature made by xeddsa_sign or by libsignal; kAuthFailed on any
// mismatch or malformed input.
[[nodiscard]] Result<void> xeddsa_verify(const X25519PublicKey& key, ByteView message,
                                         ByteView signature);

}  // namespace bc::crypto
