// XEdDSA as libsignal-protocol-c 2.3.3 computes it (curve_calculate_signature ->
// curve25519_sign -> crypto_sign_modified; curve_verify_signature -> curve25519_verify).
//
// Signing, with a = the clamped Curve25519 private scalar and A = encode(a * B) (sign bit kept):
//   r = SHA-512(0xFE || 0xFF^31 || a || M || Z) mod L      (Z: 64 random bytes)
//   R = encode(r * B)
//   h = SHA-512(R || A || M) mod L
//   S = h * a + r mod L
//   signature = R || S, with the sign bit of A copied into the top bit of S (byte 63).
// Verifying maps the Montgomery u to the Edwards y = (u - 1) / (u + 1), takes the sign bit from
// byte 63 of the signature, clears it in S and runs an ordinary Ed25519 verification.
//
// The Ed25519 verification is libsodium's, which is stricter than the ref10 crypto_sign_open that
// libsignal calls: it also rejects a non-canonical S (S >= L), a non-canonical or small-order A
// and a small-order R. Honest signers (libsignal's and ours) never produce those, so every real
// signature verifies; a malleated copy of one does not.
#include "crypto/xeddsa.hpp"

#include <openssl/bn.h>

#include <array>
#include <memory>

#include "crypto/sodium_init.hpp"

namespace bc::crypto {
namespace {

constexpr std::size_t kSignatureSize = 64;
constexpr std::uint8_t kSignBit = 0x80;

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct BnCtxFree {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;
using BnCtx = std::unique_ptr<BN_CTX, BnCtxFree>;

// field_prime is p = 2^255 - 19.
const BIGNUM* field_prime() {
  static const BIGNUM* const kPrime = [] {
    BIGNUM* p = BN_new();
    BC_CHECK(p != nullptr && BN_set_bit(p, 255) == 1 && BN_sub_word(p, 19) == 1);
    return p;
  }();
  return kPrime;
}

// montgomery_u_to_edwards_y computes y = (u - 1) / (u + 1) mod p as curve25519_verify does: the
// top bit of u is ignored, u is reduced mod p, and u = -1 maps to y = 0. Public values only, so
// variable time is fine.
std::array<std::uint8_t, 32> montgomery_u_to_edwards_y(const X25519PublicKey& key) {
  std::array<std::uint8_t, 32> u_bytes = key.bytes;
  u_bytes[31] &= 0x7F;
  const BIGNUM* p = field_prime();
  BnCtx ctx(BN_CTX_new());
  Bn u(BN_lebin2bn(u_bytes.data(), static_cast<int>(u_bytes.size()), nullptr));
  Bn numerator(BN_new());
  Bn denominator(BN_new());
  Bn y(BN_new());
  BC_CHECK(ctx && u && numerator && denominator && y);
  BC_CHECK(BN_nnmod(u.get(), u.get(), p, ctx.get()) == 1);
  BC_CHECK(BN_mod_sub(numerator.get(), u.get(), BN_value_one(), p, ctx.get()) == 1);
  BC_CHECK(BN_mod_add(denominator.get(), u.get(), BN_value_one(), p, ctx.get()) == 1);
  if (BN_is_zero(denominator.get())) {
    BN_zero(y.get());  // 1 / 0 is taken as 0, as ref10's fe_invert (a power) gives.
  } else {
    BC_CHECK(BN_mod_inverse(denominator.get(), denominator.get(), p, ctx.get()) != nullptr);
    BC_CHECK(BN_mod_mul(y.get(), numerator.get(), denominator.get(), p, ctx.get()) == 1);
  }
  std::array<std::uint8_t, 32> out{};
  BC_CHECK(BN_bn2lebinpad(y.get(), out.data(), static_cast<int>(out.size())) == 32);
  return out;
}

// Sha512State is a libsodium SHA-512 state that is wiped on every exit.
struct Sha512State {
  crypto_hash_sha512_state state{};
  Sha512State() { crypto_hash_sha512_init(&state); }
  ~Sha512State() { sodium_memzero(&state, sizeof(state)); }
  Sha512State(const Sha512State&) = delete;
  Sha512State& operator=(const Sha512State&) = delete;
  void update(ByteView data) { crypto_hash_sha512_update(&state, data.data(), data.size()); }
  void final(MutableByteView out) {
    BC_CHECK(out.size() == crypto_hash_sha512_BYTES);
    crypto_hash_sha512_final(&state, out.data());
  }
};

}  // namespace

Ed25519Signature xeddsa_sign(const X25519PrivateKey& key, ByteView message, Rng& rng) {
  detail::ensure_sodium();
  // Working secrets: a (clamped private scalar, also its reduced form), Z, the nonce r.
  // Layout: [0,32) a clamped, [32,96) a padded for reduction, [96,160) Z, [160,224) r wide.
  SecretBytes work(224);
  auto w = work.expose_mut();
  const MutableByteView a = w.subspan(0, 32);
  const MutableByteView a_wide = w.subspan(32, 64);
  const MutableByteView z = w.subspan(96, 64);
  const MutableByteView r_wide = w.subspan(160, 64);

  const ByteView raw = key.secret().expose();
  std::copy(raw.begin(), raw.end(), a.begin());
  // X25519 clamps the scalar when it computes the public key, so the Edwards key must use the
  // same scalar. libsignal's keys are generated clamped, so this changes nothing for them.
  a[0] &= 248;
  a[31] &= 127;
  a[31] |= 64;

  std::array<std::uint8_t, 32> edwards_public{};
  // a is never 0 mod L after clamping, so the result is never the identity; the return value
  // only reports that case, and the output is written either way.
  if (crypto_scalarmult_ed25519_base_noclamp(edwards_public.data(), a.data()) != 0) {
    BC_CHECK(false);
  }
  const std::uint8_t sign_bit = edwards_public[31] & kSignBit;

  rng.fill(z);

  // r = SHA-512(0xFE || 0xFF^31 || a || M || Z) mod L
  std::array<std::uint8_t, 32> prefix{};
  prefix.fill(0xFF);
  prefix[0] = 0xFE;
  {
    Sha512State h;
    h.update(prefix);
    h.update(a);
    h.update(message);
    h.update(z);
    h.final(r_wide);
  }
  std::array<std::uint8_t, 32> r{};
  crypto_core_ed25519_scalar_reduce(r.data(), r_wide.data());

  Ed25519Signature sig{};
  // r == 0 mod L happens with probability 2^-252; then R is the identity, still written.
  if (crypto_scalarmult_ed25519_base_noclamp(sig.data(), r.data()) != 0) {
    // Nothing to do: the identity encoding is in sig[0..32).
  }

  // h = SHA-512(R || A || M) mod L
  std::array<std::uint8_t, 64> h_wide{};
  {
    Sha512State h;
    h.update(ByteView(sig.data(), 32));
    h.update(edwards_public);
    h.update(message);
    h.final(h_wide);
  }
  std::array<std::uint8_t, 32> h_scalar{};
  crypto_core_ed25519_scalar_reduce(h_scalar.data(), h_wide.data());

  // S = h * a + r mod L
  std::copy(a.begin(), a.end(), a_wide.begin());
  std::array<std::uint8_t, 32> a_reduced{};
  crypto_core_ed25519_scalar_reduce(a_reduced.data(), a_wide.data());
  std::array<std::uint8_t, 32> ha{};
  crypto_core_ed25519_scalar_mul(ha.data(), h_scalar.data(), a_reduced.data());
  crypto_core_ed25519_scalar_add(sig.data() + 32, ha.data(), r.data());

  // S < L < 2^253, so its top bit is free for the sign bit of A.
  sig[63] = static_cast<std::uint8_t>((sig[63] & 0x7F) | sign_bit);

  sodium_memzero(r.data(), r.size());
  sodium_memzero(a_reduced.data(), a_reduced.size());
  sodium_memzero(ha.data(), ha.size());
  return sig;
}

Result<void> xeddsa_verify(const X25519PublicKey& key, ByteView message, ByteView signature) {
  detail::ensure_sodium();
  if (signature.size() != kSignatureSize) {
    return fail(Errc::kAuthFailed, "XEdDSA signature must be 64 bytes");
  }
  std::array<std::uint8_t, 32> edwards_public = montgomery_u_to_edwards_y(key);
  edwards_public[31] =
      static_cast<std::uint8_t>((edwards_public[31] & 0x7F) | (signature[63] & kSignBit));
  Ed25519Signature plain{};
  std::copy(signature.begin(), signature.end(), plain.begin());
  plain[63] &= 0x7F;
  if (crypto_sign_ed25519_verify_detached(plain.data(), message.data(), message.size(),
                                          edwards_public.data()) != 0) {
    return fail(Errc::kAuthFailed, "XEdDSA signature does not verify");
  }
  return ok();
}

}  // namespace bc::crypto
