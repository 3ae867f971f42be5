// The Double Ratchet's KDF chains as libsignal v3 computes them (root chain, sending and
// receiving chains, message keys) and the X3DH master-secret derivation.
#pragma once

#include <cstdint>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "core/secret.hpp"
#include "protocol/keys.hpp"

namespace bc::protocol {

inline constexpr std::size_t kChainKeySize = 32;
inline constexpr std::size_t kRootKeySize = 32;
inline constexpr std::size_t kMessageKeySeedSize = 32;
inline constexpr std::size_t kCipherKeySize = 32;
inline constexpr std::size_t kMacKeySize = 32;
inline constexpr std::size_t kIvSize = 16;

// ChainKey is a chain key CK and its index N (the counter of the next message on the chain).
struct ChainKey {
  SecretBytes key;  // 32 bytes
  std::uint32_t index = 0;
  [[nodiscard]] ChainKey copy() const { return {key.copy(), index}; }
};

// ChainStep is the output of one symmetric-ratchet step: the seed of message N's keys,
// HMAC(CK, 0x01), and the next chain key HMAC(CK, 0x02) with index N + 1.
struct ChainStep {
  SecretBytes message_key_seed;
  ChainKey next;
};

// chain_step advances a chain by one message (keys the HMAC once). Never fails; the index
// wraps only at 2^32 - 1, which callers refuse before stepping.
[[nodiscard]] ChainStep chain_step(const ChainKey& chain_key);

// MessageKeys are the keys of one message: the first 80 bytes of HKDF(seed, salt = 32 zero bytes,
// info = "WhisperMessageKeys", 80) split into cipher key (32), MAC key (32) and IV (16).
class MessageKeys {
 public:
  // derive computes the message keys from a 32-byte seed. Never fails.
  [[nodiscard]] static MessageKeys derive(ByteView seed);
  [[nodiscard]] ByteView cipher_key() const noexcept { return material_.expose().first(32); }
  [[nodiscard]] ByteView mac_key() const noexcept { return material_.expose().subspan(32, 32); }
  [[nodiscard]] ByteView iv() const noexcept { return material_.expose().subspan(64, 16); }

 private:
  explicit MessageKeys(SecretBytes material) : material_(std::move(material)) {}
  SecretBytes material_;
};

// RootStep is the output of a DH-ratchet step: the new root key RK and a new chain key (N = 0).
struct RootStep {
  SecretBytes root_key;
  ChainKey chain_key;
};

// root_step computes HKDF(DH(our, their), salt = RK, info = "WhisperRatchet", 64) -> RK', CK.
// kAuthFailed when the DH output is all zeros (a low-order peer key).
[[nodiscard]] Result<RootStep> root_step(ByteView root_key, const PublicKey& their_ratchet_key,
                                         const crypto::X25519PrivateKey& our_ratchet_key);

// derive_initial_keys computes HKDF(0xFF * 32 || DH1 || DH2 || DH3 [|| DH4], salt = 32 zero
// bytes, info = "WhisperText", 64) -> RK, CK, the X3DH output of libsignal v3. `secret` is the
// concatenation including the 32 0xFF bytes. Never fails.
[[nodiscard]] RootStep derive_initial_keys(ByteView secret);

}  // namespace bc::protocol
