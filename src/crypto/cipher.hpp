// Symmetric ciphers: AES-256-CBC with PKCS#7 (Signal v3 messages), and the AEADs
// XChaCha20-Poly1305, ChaCha20-Poly1305 (IETF) and AES-256-GCM.
#pragma once

#include "core/result.hpp"
#include "crypto/keys.hpp"

namespace bc::crypto {

inline constexpr std::size_t kAesKeySize = 32;
inline constexpr std::size_t kAesCbcIvSize = 16;
inline constexpr std::size_t kXChaChaNonceSize = 24;
inline constexpr std::size_t kChaChaNonceSize = 12;
inline constexpr std::size_t kGcmNonceSize = 12;
inline constexpr std::size_t kAeadKeySize = 32;
inline constexpr std::size_t kAeadTagSize = 16;

// aes256_cbc_encrypt encrypts with PKCS#7 padding; kMalformed on a wrong key or IV size.
[[nodiscard]] Result<Bytes> aes256_cbc_encrypt(ByteView key, ByteView iv, ByteView plaintext);
// aes256_cbc_decrypt decrypts and strips PKCS#7 padding; kAuthFailed on bad padding or a length
// that is not a multiple of 16; kMalformed on a wrong key or IV size.
[[nodiscard]] Result<Bytes> aes256_cbc_decrypt(ByteView key, ByteView iv, ByteView ciphertext);

// The AEADs return ciphertext || 16-byte tag, and open it; any failure is kAuthFailed
// (kMalformed for a wrong key or nonce size).
[[nodiscard]] Result<Bytes> xchacha20poly1305_seal(ByteView key, ByteView nonce, ByteView aad,
                                                   ByteView plaintext);
[[nodiscard]] Result<Bytes> xchacha20poly1305_open(ByteView key, ByteView nonce, ByteView aad,
                                                   ByteView sealed);
[[nodiscard]] Result<Bytes> chacha20poly1305_seal(ByteView key, ByteView nonce, ByteView aad,
                                                  ByteView plaintext);
[[nodiscard]] Result<Bytes> chacha20poly1305_open(ByteView key, ByteView nonce, ByteView aad,
                                                  ByteView sealed);
[[nodiscard]] Result<Bytes> aes256gcm_seal(ByteView key, ByteView nonce, ByteView aad,
                                           ByteView plaintext);
[[nodiscard]] Result<Bytes> aes256gcm_open(ByteView key, ByteView nonce, ByteView aad,
                                           ByteView sealed);

}  // namespace bc::crypto
