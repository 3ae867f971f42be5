#include "crypto/ed25519.hpp"

#include "crypto/sodium_init.hpp"

namespace bc::crypto {

Result<Ed25519KeyPair> ed25519_from_seed(ByteView seed) {
  if (seed.size() != crypto_sign_SEEDBYTES)
    return fail(Errc::kMalformed, "ed25519 seed must be 32 bytes");
  detail::ensure_sodium();
  SecretBytes sk(crypto_sign_SECRETKEYBYTES);
  Ed25519PublicKey pk;
  crypto_sign_seed_keypair(pk.bytes.data(), sk.expose_mut().data(), seed.data());
  return Ed25519KeyPair{Ed25519PrivateKey::from_secret(std::move(sk)), pk};
}

Ed25519KeyPair ed25519_generate(Rng& rng) {
  SecretBytes seed(crypto_sign_SEEDBYTES);
  rng.fill(seed.expose_mut());
  return std::move(ed25519_from_seed(seed.expose())).value();
}

Ed25519Signature ed25519_sign(const Ed25519PrivateKey& key, ByteView message) {
  detail::ensure_sodium();
  Ed25519Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(),
                       key.secret().expose().data());
  return sig;
}

Result<void> ed25519_verify(const Ed25519PublicKey& key, ByteView message, ByteView signature) {
  detail::ensure_sodium();
  if (signature.size() != crypto_sign_BYTES) return fail(Errc::kAuthFailed, "bad signature length");
  if (crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                  key.bytes.data()) != 0) {
    return fail(Errc::kAuthFailed, "signature does not verify");
  }
  return ok();
}

}  // namespace bc::crypto
