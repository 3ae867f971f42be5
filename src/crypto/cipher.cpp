#include "crypto/cipher.hpp"

#include <openssl/evp.h>

#include <memory>

#include "crypto/sodium_init.hpp"

namespace bc::crypto {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const EVP_CIPHER* aes256_cbc() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  BC_CHECK(cipher != nullptr);
  return cipher;
}
const EVP_CIPHER* aes256_gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  BC_CHECK(cipher != nullptr);
  return cipher;
}

int as_int(std::size_t n) { return static_cast<int>(n); }

}  // namespace

Result<Bytes> aes256_cbc_encrypt(ByteView key, ByteView iv, ByteView plaintext) {
  if (key.size() != kAesKeySize || iv.size() != kAesCbcIvSize) {
    return fail(Errc::kMalformed, "AES-256-CBC needs a 32-byte key and a 16-byte IV");
  }
  if (plaintext.size() > (1U << 30)) return fail(Errc::kLimitExceeded, "plaintext too large");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  BC_CHECK(ctx != nullptr);
  Bytes out(plaintext.size() + 16);
  int len1 = 0;
  int len2 = 0;
  BC_CHECK(EVP_EncryptInit_ex2(ctx.get(), aes256_cbc(), key.data(), iv.data(), nullptr) == 1);
  BC_CHECK(EVP_EncryptUpdate(ctx.get(), out.data(), &len1, plaintext.data(),
                             as_int(plaintext.size())) == 1);
  BC_CHECK(EVP_EncryptFinal_ex(ctx.get(), out.data() + len1, &len2) == 1);
  out.resize(static_cast<std::size_t>(len1 + len2));
  return out;
}

Result<Bytes> aes256_cbc_decrypt(ByteView key, ByteView iv, ByteView ciphertext) {
  if (key.size() != kAesKeySize || iv.size() != kAesCbcIvSize) {
    return fail(Errc::kMalformed, "AES-256-CBC needs a 32-byte key and a 16-byte IV");
  }
  if (ciphertext.empty() || ciphertext.size() % 16 != 0 || ciphertext.size() > (1U << 30)) {
    return fail(Errc::kAuthFailed, "AES-256-CBC ciphertext has a bad length");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  BC_CHECK(ctx != nullptr);
  Bytes out(ciphertext.size());
  int len1 = 0;
  int len2 = 0;
  BC_CHECK(EVP_DecryptInit_ex2(ctx.get(), aes256_cbc(), key.data(), iv.data(), nullptr) == 1);
  BC_CHECK(EVP_DecryptUpdate(ctx.get(), out.data(), &len1, ciphertext.data(),
                             as_int(ciphertext.size())) == 1);
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + len1, &len2) != 1) {
    secure_zero(out.data(), out.size());
    return fail(Errc::kAuthFailed, "AES-256-CBC padding is invalid");
  }
  out.resize(static_cast<std::size_t>(len1 + len2));
  return out;
}

Result<Bytes> xchacha20poly1305_seal(ByteView key, ByteView nonce, ByteView aad,
                                     ByteView plaintext) {
  if (key.size() != kAeadKeySize || nonce.size() != kXChaChaNonceSize) {
    return fail(Errc::kMalformed, "XChaCha20-Poly1305 needs a 32-byte key and a 24-byte nonce");
  }
  detail::ensure_sodium();
  Bytes out(plaintext.size() + kAeadTagSize);
  unsigned long long len = 0;  // NOLINT(google-runtime-int): libsodium's type
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &len, plaintext.data(), plaintext.size(),
                                             aad.data(), aad.size(), nullptr, nonce.data(),
                                             key.data());
  out.resize(len);
  return out;
}

Result<Bytes> xchacha20poly1305_open(ByteView key, ByteView nonce, ByteView aad, ByteView sealed) {
  if (key.size() != kAeadKeySize || nonce.size() != kXChaChaNonceSize) {
    return fail(Errc::kMalformed, "XChaCha20-Poly1305 needs a 32-byte key and a 24-byte nonce");
  }
  if (sealed.size() < kAeadTagSize) return fail(Errc::kAuthFailed, "ciphertext too short");
  detail::ensure_sodium();
  Bytes out(sealed.size() - kAeadTagSize);
  unsigned long long len = 0;  // NOLINT(google-runtime-int)
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, sealed.data(),
                                                 sealed.size(), aad.data(), aad.size(),
                                                 nonce.data(), key.data()) != 0) {
    return fail(Errc::kAuthFailed, "XChaCha20-Poly1305 authentication failed");
  }
  out.resize(len);
  return out;
}

Result<Bytes> chacha20poly1305_seal(ByteView key, ByteView nonce, ByteView aad,
                                    ByteView plaintext) {
  if (key.size() != kAeadKeySize || nonce.size() != kChaChaNonceSize) {
    return fail(Errc::kMalformed, "ChaCha20-Poly1305 needs a 32-byte key and a 12-byte nonce");
  }
  detail::ensure_sodium();
  Bytes out(plaintext.size() + kAeadTagSize);
  unsigned long long len = 0;  // NOLINT(google-runtime-int)
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &len, plaintext.data(), plaintext.size(),
                                            aad.data(), aad.size(), nullptr, nonce.data(),
                                            key.data());
  out.resize(len);
  return out;
}

Result<Bytes> chacha20poly1305_open(ByteView key, ByteView nonce, ByteView aad, ByteView sealed) {
  if (key.size() != kAeadKeySize || nonce.size() != kChaChaNonceSize) {
    return fail(Errc::kMalformed, "ChaCha20-Poly1305 needs a 32-byte key and a 12-byte nonce");
  }
  if (sealed.size() < kAeadTagSize) return fail(Errc::kAuthFailed, "ciphertext too short");
  detail::ensure_sodium();
  Bytes out(sealed.size() - kAeadTagSize);
  unsigned long long len = 0;  // NOLINT(google-runtime-int)
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, sealed.data(),
                                                sealed.size(), aad.data(), aad.size(), nonce.data(),
                                                key.data()) != 0) {
    return fail(Errc::kAuthFailed, "ChaCha20-Poly1305 authentication failed");
  }
  out.resize(len);
  return out;
}

Result<Bytes> aes256gcm_seal(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext) {
  if (key.size() != kAeadKeySize || nonce.size() != kGcmNonceSize) {
    return fail(Errc::kMalformed, "AES-256-GCM needs a 32-byte key and a 12-byte nonce");
  }
  if (plaintext.size() > (1U << 30)) return fail(Errc::kLimitExceeded, "plaintext too large");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  BC_CHECK(ctx != nullptr);
  Bytes out(plaintext.size() + kAeadTagSize);
  int len = 0;
  BC_CHECK(EVP_EncryptInit_ex2(ctx.get(), aes256_gcm(), key.data(), nonce.data(), nullptr) == 1);
  if (!aad.empty()) {
    BC_CHECK(EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), as_int(aad.size())) == 1);
  }
  BC_CHECK(EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(),
                             as_int(plaintext.size())) == 1);
  int fin = 0;
  BC_CHECK(EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &fin) == 1);
  BC_CHECK(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAeadTagSize,
                               out.data() + plaintext.size()) == 1);
  return out;
}

Result<Bytes> aes256gcm_open(ByteView key, ByteView nonce, ByteView aad, ByteView sealed) {
  if (key.size() != kAeadKeySize || nonce.size() != kGcmNonceSize) {
    return fail(Errc::kMalformed, "AES-256-GCM needs a 32-byte key and a 12-byte nonce");
  }
  if (sealed.size() < kAeadTagSize || sealed.size() > (1U << 30)) {
    return fail(Errc::kAuthFailed, "ciphertext has a bad length");
  }
  const std::size_t body = sealed.size() - kAeadTagSize;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  BC_CHECK(ctx != nullptr);
  Bytes out(body);
  int len = 0;
  BC_CHECK(EVP_DecryptInit_ex2(ctx.get(), aes256_gcm(), key.data(), nonce.data(), nullptr) == 1);
  if (!aad.empty()) {
    BC_CHECK(EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), as_int(aad.size())) == 1);
  }
  BC_CHECK(EVP_DecryptUpdate(ctx.get(), out.data(), &len, sealed.data(), as_int(body)) == 1);
  Bytes tag(sealed.begin() + static_cast<std::ptrdiff_t>(body), sealed.end());
  BC_CHECK(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAeadTagSize, tag.data()) == 1);
  int fin = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &fin) != 1) {
    secure_zero(out.data(), out.size());
    return fail(Errc::kAuthFailed, "AES-256-GCM authentication failed");
  }
  return out;
}

}  // namespace bc::crypto
