// Crypto wrappers against the direct libsodium / OpenSSL calls they wrap, in the same run.
// Pairs are named <Operation>/Wrapper and <Operation>/Direct; docs/performance.md reports the
// medians and ratios. Extra HMAC variants compare the ways OpenSSL 3 and libsodium can compute a
// keyed HMAC-SHA256 repeatedly.
#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#include <array>
#include <cstring>

#include "crypto/cipher.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/random.hpp"
#include "crypto/x25519.hpp"
#include "crypto/xeddsa.hpp"

namespace bc::crypto {
namespace {

constexpr std::size_t kKiB = 1024;

Bytes filled(std::size_t n, std::uint8_t seed) {
  Bytes out(n);
  DeterministicRng rng(seed);
  rng.fill(out);
  return out;
}

void ensure_sodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) std::abort();
}

// --- X25519 -----------------------------------------------------------------------------------

void BM_X25519Dh_Wrapper(benchmark::State& state) {
  DeterministicRng rng(1);
  const auto a = x25519_generate(rng);
  const auto b = x25519_generate(rng);
  for (auto _ : state) {
    auto shared = x25519(a.private_key, b.public_key);
    benchmark::DoNotOptimize(shared);
  }
}
void BM_X25519Dh_Direct(benchmark::State& state) {
  ensure_sodium();
  DeterministicRng rng(1);
  const auto a = x25519_generate(rng);
  const auto b = x25519_generate(rng);
  std::array<std::uint8_t, 32> shared{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(crypto_scalarmult(
        shared.data(), a.private_key.secret().expose().data(), b.public_key.bytes.data()));
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_X25519Dh_Wrapper);
BENCHMARK(BM_X25519Dh_Direct);

void BM_X25519Keygen_Wrapper(benchmark::State& state) {
  SystemRng rng;
  for (auto _ : state) {
    auto pair = x25519_generate(rng);
    benchmark::DoNotOptimize(pair);
  }
}
void BM_X25519Keygen_Direct(benchmark::State& state) {
  ensure_sodium();
  std::array<std::uint8_t, 32> sk{};
  std::array<std::uint8_t, 32> pk{};
  for (auto _ : state) {
    randombytes_buf(sk.data(), sk.size());
    sk[0] &= 248;
    sk[31] = static_cast<std::uint8_t>((sk[31] & 127) | 64);
    benchmark::DoNotOptimize(crypto_scalarmult_base(pk.data(), sk.data()));
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_X25519Keygen_Wrapper);
BENCHMARK(BM_X25519Keygen_Direct);

// --- Ed25519 and XEdDSA -----------------------------------------------------------------------

const Bytes& message64() {
  static const Bytes m = filled(64, 2);
  return m;
}

void BM_Ed25519Sign_Wrapper(benchmark::State& state) {
  const auto pair = ed25519_from_seed(filled(32, 3)).value();
  for (auto _ : state) {
    auto sig = ed25519_sign(pair.private_key, message64());
    benchmark::DoNotOptimize(sig);
  }
}
void BM_Ed25519Sign_Direct(benchmark::State& state) {
  ensure_sodium();
  std::array<std::uint8_t, 32> pk{};
  std::array<std::uint8_t, 64> sk{};
  const Bytes seed = filled(32, 3);
  crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
  std::array<std::uint8_t, 64> sig{};
  for (auto _ : state) {
    crypto_sign_detached(sig.data(), nullptr, message64().data(), message64().size(), sk.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Ed25519Sign_Wrapper);
BENCHMARK(BM_Ed25519Sign_Direct);

void BM_Ed25519Verify_Wrapper(benchmark::State& state) {
  const auto pair = ed25519_from_seed(filled(32, 3)).value();
  const auto sig = ed25519_sign(pair.private_key, message64());
  for (auto _ : state) {
    auto ok = ed25519_verify(pair.public_key, message64(), sig);
    benchmark::DoNotOptimize(ok);
  }
}
void BM_Ed25519Verify_Direct(benchmark::State& state) {
  const auto pair = ed25519_from_seed(filled(32, 3)).value();
  const auto sig = ed25519_sign(pair.private_key, message64());
  for (auto _ : state) {
    benchmark::DoNotOptimize(crypto_sign_verify_detached(
        sig.data(), message64().data(), message64().size(), pair.public_key.bytes.data()));
  }
}
BENCHMARK(BM_Ed25519Verify_Wrapper);
BENCHMARK(BM_Ed25519Verify_Direct);

// XEdDSA has no direct libsodium equivalent: Ed25519 above is its reference.
void BM_XeddsaSign_Wrapper(benchmark::State& state) {
  DeterministicRng rng(4);
  const auto pair = x25519_generate(rng);
  SystemRng nonce_rng;
  for (auto _ : state) {
    auto sig = xeddsa_sign(pair.private_key, message64(), nonce_rng);
    benchmark::DoNotOptimize(sig);
  }
}
void BM_XeddsaVerify_Wrapper(benchmark::State& state) {
  DeterministicRng rng(4);
  const auto pair = x25519_generate(rng);
  const auto sig = xeddsa_sign(pair.private_key, message64(), rng);
  for (auto _ : state) {
    auto ok = xeddsa_verify(pair.public_key, message64(), sig);
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_XeddsaSign_Wrapper);
BENCHMARK(BM_XeddsaVerify_Wrapper);

// --- SHA-2 ------------------------------------------------------------------------------------

const Bytes& data_kib() {
  static const Bytes d = filled(kKiB, 5);
  return d;
}
const Bytes& data_32() {
  static const Bytes d = filled(32, 6);
  return d;
}

void BM_Sha256_1KiB_Wrapper(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(sha256(data_kib()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
}
void BM_Sha256_1KiB_Direct(benchmark::State& state) {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        EVP_Digest(data_kib().data(), data_kib().size(), out.data(), &len, md, nullptr));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
  EVP_MD_free(md);
}
BENCHMARK(BM_Sha256_1KiB_Wrapper);
BENCHMARK(BM_Sha256_1KiB_Direct);

void BM_Sha512_1KiB_Wrapper(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(sha512(data_kib()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
}
void BM_Sha512_1KiB_Direct(benchmark::State& state) {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  std::array<std::uint8_t, 64> out{};
  unsigned int len = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        EVP_Digest(data_kib().data(), data_kib().size(), out.data(), &len, md, nullptr));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
  EVP_MD_free(md);
}
BENCHMARK(BM_Sha512_1KiB_Wrapper);
BENCHMARK(BM_Sha512_1KiB_Direct);

// --- HMAC-SHA256 ------------------------------------------------------------------------------
// Arg(0) is a 32-byte message, Arg(1) 1 KiB.

const Bytes& hmac_input(const benchmark::State& state) {
  return state.range(0) == 0 ? data_32() : data_kib();
}
const Bytes& hmac_key() {
  static const Bytes k = filled(32, 7);
  return k;
}

// Keyed once, many MACs: what a KDF chain does.
void BM_HmacKeyed_Wrapper(benchmark::State& state) {
  const HmacSha256 hmac(hmac_key());
  const Bytes& in = hmac_input(state);
  for (auto _ : state) benchmark::DoNotOptimize(hmac.mac(in));
}
// One-shot: key and MAC each time.
void BM_HmacOneShot_Wrapper(benchmark::State& state) {
  const Bytes& in = hmac_input(state);
  for (auto _ : state) benchmark::DoNotOptimize(hmac_sha256(hmac_key(), in));
}

// Direct variant 1: EVP_MAC keyed once, EVP_MAC_CTX_dup per MAC.
void BM_HmacKeyed_EvpMacDup(benchmark::State& state) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* keyed = EVP_MAC_CTX_new(mac);
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  EVP_MAC_init(keyed, hmac_key().data(), hmac_key().size(), params.data());
  const Bytes& in = hmac_input(state);
  std::array<std::uint8_t, 32> out{};
  for (auto _ : state) {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed);
    std::size_t len = 0;
    EVP_MAC_update(ctx, in.data(), in.size());
    EVP_MAC_final(ctx, out.data(), &len, out.size());
    EVP_MAC_CTX_free(ctx);
    benchmark::ClobberMemory();
  }
  EVP_MAC_CTX_free(keyed);
  EVP_MAC_free(mac);
}

// Direct variant 2: one EVP_MAC_CTX, re-initialised with a NULL key (reuses the key) per MAC.
void BM_HmacKeyed_EvpMacReinit(benchmark::State& state) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  EVP_MAC_init(ctx, hmac_key().data(), hmac_key().size(), params.data());
  const Bytes& in = hmac_input(state);
  std::array<std::uint8_t, 32> out{};
  for (auto _ : state) {
    std::size_t len = 0;
    EVP_MAC_init(ctx, nullptr, 0, nullptr);
    EVP_MAC_update(ctx, in.data(), in.size());
    EVP_MAC_final(ctx, out.data(), &len, out.size());
    benchmark::ClobberMemory();
  }
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
}

// Direct variant 3: EVP_MAC fetched once, a new context keyed per MAC.
void BM_HmacOneShot_EvpMacNew(benchmark::State& state) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  const Bytes& in = hmac_input(state);
  std::array<std::uint8_t, 32> out{};
  for (auto _ : state) {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
    std::size_t len = 0;
    EVP_MAC_init(ctx, hmac_key().data(), hmac_key().size(), params.data());
    EVP_MAC_update(ctx, in.data(), in.size());
    EVP_MAC_final(ctx, out.data(), &len, out.size());
    EVP_MAC_CTX_free(ctx);
    benchmark::ClobberMemory();
  }
  EVP_MAC_free(mac);
}

// Direct variant 3b: a digest-only (unkeyed) template context duplicated and keyed per MAC.
void BM_HmacOneShot_EvpMacTemplateDup(benchmark::State& state) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* templ = EVP_MAC_CTX_new(mac);
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  EVP_MAC_CTX_set_params(templ, params.data());
  const Bytes& in = hmac_input(state);
  std::array<std::uint8_t, 32> out{};
  for (auto _ : state) {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(templ);
    std::size_t len = 0;
    EVP_MAC_init(ctx, hmac_key().data(), hmac_key().size(), nullptr);
    EVP_MAC_update(ctx, in.data(), in.size());
    EVP_MAC_final(ctx, out.data(), &len, out.size());
    EVP_MAC_CTX_free(ctx);
    benchmark::ClobberMemory();
  }
  EVP_MAC_CTX_free(templ);
  EVP_MAC_free(mac);
}

// Direct variant 4: EVP_Q_mac (fetches the algorithm on every call).
void BM_HmacOneShot_EvpQMac(benchmark::State& state) {
  const Bytes& in = hmac_input(state);
  std::array<std::uint8_t, 32> out{};
  for (auto _ : state) {
    std::size_t len = 0;
    EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, hmac_key().data(), hmac_key().size(),
              in.data(), in.size(), out.data(), out.size(), &len);
    benchmark::ClobberMemory();
  }
}

// Direct variant 5: two EVP_MD_CTX holding the ipad / opad states, copied per MAC.
void BM_HmacKeyed_EvpMdCopy(benchmark::State& state) {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  std::array<std::uint8_t, 64> ipad{};
  std::array<std::uint8_t, 64> opad{};
  std::memcpy(ipad.data(), hmac_key().data(), hmac_key().size());
  std::memcpy(opad.data(), hmac_key().data(), hmac_key().size());
  for (auto& b : ipad) b ^= 0x36;
  for (auto& b : opad) b ^= 0x5c;
  EVP_MD_CTX* inner = EVP_MD_CTX_new();
  EVP_MD_CTX* outer = EVP_MD_CTX_new();
  EVP_MD_CTX* work = EVP_MD_CTX_new();
  EVP_DigestInit_ex2(inner, md, nullptr);
  EVP_DigestUpdate(inner, ipad.data(), ipad.size());
  EVP_DigestInit_ex2(outer, md, nullptr);
  EVP_DigestUpdate(outer, opad.data(), opad.size());
  const Bytes& in = hmac_input(state);
  std::array<std::uint8_t, 32> out{};
  for (auto _ : state) {
    unsigned int len = 0;
    EVP_MD_CTX_copy_ex(work, inner);
    EVP_DigestUpdate(work, in.data(), in.size());
    EVP_DigestFinal_ex(work, out.data(), &len);
    EVP_MD_CTX_copy_ex(work, outer);
    EVP_DigestUpdate(work, out.data(), out.size());
    EVP_DigestFinal_ex(work, out.data(), &len);
    benchmark::ClobberMemory();
  }
  EVP_MD_CTX_free(work);
  EVP_MD_CTX_free(outer);
  EVP_MD_CTX_free(inner);
  EVP_MD_free(md);
}

// Direct variant 6: libsodium's HMAC state, keyed once and copied per MAC (portable SHA-256).
void BM_HmacKeyed_SodiumStateCopy(benchmark::State& state) {
  ensure_sodium();
  crypto_auth_hmacsha256_state keyed;
  crypto_auth_hmacsha256_init(&keyed, hmac_key().data(), hmac_key().size());
  const Bytes& in = hmac_input(state);
  std::array<std::uint8_t, 32> out{};
  for (auto _ : state) {
    crypto_auth_hmacsha256_state work = keyed;
    crypto_auth_hmacsha256_update(&work, in.data(), in.size());
    crypto_auth_hmacsha256_final(&work, out.data());
    benchmark::ClobberMemory();
  }
}

BENCHMARK(BM_HmacKeyed_Wrapper)->Arg(0)->Arg(1);
BENCHMARK(BM_HmacKeyed_EvpMacDup)->Arg(0)->Arg(1);
BENCHMARK(BM_HmacKeyed_EvpMacReinit)->Arg(0)->Arg(1);
BENCHMARK(BM_HmacKeyed_EvpMdCopy)->Arg(0)->Arg(1);
BENCHMARK(BM_HmacKeyed_SodiumStateCopy)->Arg(0)->Arg(1);
BENCHMARK(BM_HmacOneShot_Wrapper)->Arg(0)->Arg(1);
BENCHMARK(BM_HmacOneShot_EvpMacNew)->Arg(0)->Arg(1);
BENCHMARK(BM_HmacOneShot_EvpMacTemplateDup)->Arg(0)->Arg(1);
BENCHMARK(BM_HmacOneShot_EvpQMac)->Arg(0)->Arg(1);

// --- HKDF -------------------------------------------------------------------------------------

void BM_Hkdf32To80_Wrapper(benchmark::State& state) {
  const Bytes ikm = filled(32, 8);
  const Bytes salt(32, 0);
  const Bytes info = to_bytes(as_bytes("WhisperRatchet"));
  for (auto _ : state) {
    auto okm = hkdf_sha256(ikm, salt, info, 80);
    benchmark::DoNotOptimize(okm);
  }
}
void BM_Hkdf32To80_Direct(benchmark::State& state) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  const Bytes ikm = filled(32, 8);
  const Bytes salt(32, 0);
  const Bytes info = to_bytes(as_bytes("WhisperRatchet"));
  std::array<std::uint8_t, 80> out{};
  for (auto _ : state) {
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    std::array<OSSL_PARAM, 5> params = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()),
                                          ikm.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                          const_cast<std::uint8_t*>(salt.data()), salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                          const_cast<std::uint8_t*>(info.data()), info.size()),
        OSSL_PARAM_construct_end()};
    EVP_KDF_derive(ctx, out.data(), out.size(), params.data());
    EVP_KDF_CTX_free(ctx);
    benchmark::ClobberMemory();
  }
  EVP_KDF_free(kdf);
}
BENCHMARK(BM_Hkdf32To80_Wrapper);
BENCHMARK(BM_Hkdf32To80_Direct);

// --- AES-256-CBC ------------------------------------------------------------------------------

const Bytes& aes_key() {
  static const Bytes k = filled(32, 9);
  return k;
}
const Bytes& aes_iv() {
  static const Bytes iv = filled(16, 10);
  return iv;
}

void BM_AesCbcEncrypt1KiB_Wrapper(benchmark::State& state) {
  for (auto _ : state) {
    auto ct = aes256_cbc_encrypt(aes_key(), aes_iv(), data_kib());
    benchmark::DoNotOptimize(ct);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
}
void BM_AesCbcEncrypt1KiB_Direct(benchmark::State& state) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  Bytes out(kKiB + 16);
  for (auto _ : state) {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int len1 = 0;
    int len2 = 0;
    EVP_EncryptInit_ex2(ctx, cipher, aes_key().data(), aes_iv().data(), nullptr);
    EVP_EncryptUpdate(ctx, out.data(), &len1, data_kib().data(),
                      static_cast<int>(data_kib().size()));
    EVP_EncryptFinal_ex(ctx, out.data() + len1, &len2);
    EVP_CIPHER_CTX_free(ctx);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
  EVP_CIPHER_free(cipher);
}
void BM_AesCbcDecrypt1KiB_Wrapper(benchmark::State& state) {
  const Bytes ct = aes256_cbc_encrypt(aes_key(), aes_iv(), data_kib()).value();
  for (auto _ : state) {
    auto pt = aes256_cbc_decrypt(aes_key(), aes_iv(), ct);
    benchmark::DoNotOptimize(pt);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
}
void BM_AesCbcDecrypt1KiB_Direct(benchmark::State& state) {
  const Bytes ct = aes256_cbc_encrypt(aes_key(), aes_iv(), data_kib()).value();
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  Bytes out(ct.size());
  for (auto _ : state) {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int len1 = 0;
    int len2 = 0;
    EVP_DecryptInit_ex2(ctx, cipher, aes_key().data(), aes_iv().data(), nullptr);
    EVP_DecryptUpdate(ctx, out.data(), &len1, ct.data(), static_cast<int>(ct.size()));
    benchmark::DoNotOptimize(EVP_DecryptFinal_ex(ctx, out.data() + len1, &len2));
    EVP_CIPHER_CTX_free(ctx);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
  EVP_CIPHER_free(cipher);
}
BENCHMARK(BM_AesCbcEncrypt1KiB_Wrapper);
BENCHMARK(BM_AesCbcEncrypt1KiB_Direct);
BENCHMARK(BM_AesCbcDecrypt1KiB_Wrapper);
BENCHMARK(BM_AesCbcDecrypt1KiB_Direct);

// --- AEADs ------------------------------------------------------------------------------------

void BM_XChaChaSeal1KiB_Wrapper(benchmark::State& state) {
  const Bytes nonce = filled(24, 11);
  for (auto _ : state) {
    auto sealed = xchacha20poly1305_seal(aes_key(), nonce, {}, data_kib());
    benchmark::DoNotOptimize(sealed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
}
void BM_XChaChaSeal1KiB_Direct(benchmark::State& state) {
  ensure_sodium();
  const Bytes nonce = filled(24, 11);
  Bytes out(kKiB + 16);
  for (auto _ : state) {
    unsigned long long len = 0;  // NOLINT(google-runtime-int)
    crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &len, data_kib().data(),
                                               data_kib().size(), nullptr, 0, nullptr, nonce.data(),
                                               aes_key().data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
}
void BM_XChaChaOpen1KiB_Wrapper(benchmark::State& state) {
  const Bytes nonce = filled(24, 11);
  const Bytes sealed = xchacha20poly1305_seal(aes_key(), nonce, {}, data_kib()).value();
  for (auto _ : state) {
    auto opened = xchacha20poly1305_open(aes_key(), nonce, {}, sealed);
    benchmark::DoNotOptimize(opened);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
}
void BM_XChaChaOpen1KiB_Direct(benchmark::State& state) {
  ensure_sodium();
  const Bytes nonce = filled(24, 11);
  const Bytes sealed = xchacha20poly1305_seal(aes_key(), nonce, {}, data_kib()).value();
  Bytes out(kKiB);
  for (auto _ : state) {
    unsigned long long len = 0;  // NOLINT(google-runtime-int)
    benchmark::DoNotOptimize(crypto_aead_xchacha20poly1305_ietf_decrypt(
        out.data(), &len, nullptr, sealed.data(), sealed.size(), nullptr, 0, nonce.data(),
        aes_key().data()));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
}
BENCHMARK(BM_XChaChaSeal1KiB_Wrapper);
BENCHMARK(BM_XChaChaSeal1KiB_Direct);
BENCHMARK(BM_XChaChaOpen1KiB_Wrapper);
BENCHMARK(BM_XChaChaOpen1KiB_Direct);

void BM_AesGcmSeal1KiB_Wrapper(benchmark::State& state) {
  const Bytes nonce = filled(12, 12);
  for (auto _ : state) {
    auto sealed = aes256gcm_seal(aes_key(), nonce, {}, data_kib());
    benchmark::DoNotOptimize(sealed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
}
void BM_AesGcmSeal1KiB_Direct(benchmark::State& state) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  const Bytes nonce = filled(12, 12);
  Bytes out(kKiB + 16);
  for (auto _ : state) {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    int fin = 0;
    EVP_EncryptInit_ex2(ctx, cipher, aes_key().data(), nonce.data(), nullptr);
    EVP_EncryptUpdate(ctx, out.data(), &len, data_kib().data(),
                      static_cast<int>(data_kib().size()));
    EVP_EncryptFinal_ex(ctx, out.data() + len, &fin);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out.data() + kKiB);
    EVP_CIPHER_CTX_free(ctx);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
  EVP_CIPHER_free(cipher);
}
void BM_AesGcmOpen1KiB_Wrapper(benchmark::State& state) {
  const Bytes nonce = filled(12, 12);
  const Bytes sealed = aes256gcm_seal(aes_key(), nonce, {}, data_kib()).value();
  for (auto _ : state) {
    auto opened = aes256gcm_open(aes_key(), nonce, {}, sealed);
    benchmark::DoNotOptimize(opened);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
}
void BM_AesGcmOpen1KiB_Direct(benchmark::State& state) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  const Bytes nonce = filled(12, 12);
  Bytes sealed = aes256gcm_seal(aes_key(), nonce, {}, data_kib()).value();
  Bytes out(kKiB);
  for (auto _ : state) {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    int fin = 0;
    EVP_DecryptInit_ex2(ctx, cipher, aes_key().data(), nonce.data(), nullptr);
    EVP_DecryptUpdate(ctx, out.data(), &len, sealed.data(), static_cast<int>(kKiB));
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, sealed.data() + kKiB);
    benchmark::DoNotOptimize(EVP_DecryptFinal_ex(ctx, out.data() + len, &fin));
    EVP_CIPHER_CTX_free(ctx);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kKiB));
  EVP_CIPHER_free(cipher);
}
BENCHMARK(BM_AesGcmSeal1KiB_Wrapper);
BENCHMARK(BM_AesGcmSeal1KiB_Direct);
BENCHMARK(BM_AesGcmOpen1KiB_Wrapper);
BENCHMARK(BM_AesGcmOpen1KiB_Direct);

}  // namespace
}  // namespace bc::crypto

BENCHMARK_MAIN();
