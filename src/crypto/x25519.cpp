#include "crypto/x25519.hpp"

#include "crypto/sodium_init.hpp"

namespace bc::crypto {

X25519PublicKey x25519_public(const X25519PrivateKey& private_key) {
  detail::ensure_sodium();
  X25519PublicKey out;
  crypto_scalarmult_base(out.bytes.data(), private_key.secret().expose().data());
  return out;
}

X25519KeyPair x25519_generate(Rng& rng) {
  SecretBytes secret(32);
  rng.fill(secret.expose_mut());
  auto s = secret.expose_mut();
  s[0] &= 248;
  s[31] &= 127;
  s[31] |= 64;
  auto private_key = X25519PrivateKey::from_secret(std::move(secret));
  auto public_key = x25519_public(private_key);
  return X25519KeyPair{std::move(private_key), public_key};
}

Result<SecretBytes> x25519(const X25519PrivateKey& private_key,
                           const X25519PublicKey& peer_public) {
  detail::ensure_sodium();
  SecretBytes shared(32);
  // crypto_scalarmult returns -1 when the output is all zeros (a low-order point).
  if (crypto_scalarmult(shared.expose_mut().data(), private_key.secret().expose().data(),
                        peer_public.bytes.data()) != 0) {
    return fail(Errc::kAuthFailed, "x25519 produced an all-zero shared secret");
  }
  return shared;
}

}  // namespace bc::crypto
