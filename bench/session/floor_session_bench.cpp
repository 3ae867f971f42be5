// The primitive floor: the cryptographic work a v3 Signal session cannot avoid per message, done
// with Backchannel's own crypto wrappers (bc::crypto: OpenSSL HMAC/AES, libsodium X25519) and
// nothing else: no parsing, no serialization, no state.
//   steady     sender and receiver each: chain step (2 HMAC), message keys HKDF (4 HMAC),
//              message MAC (1 HMAC over the ~1 KiB message): 7 HMAC-SHA256 per side, plus
//              AES-256-CBC encrypt and decrypt of 1 KiB
//   pingpong   steady plus one DH ratchet step: 1 X25519 keygen, 2 X25519 DH, 2 root-key HKDFs
//   ratchet_dh only the X25519 part of a ratchet step: 1 keygen and 2 DH
//   setup      X3DH and the first message: XEdDSA verify of the signed prekey, 3 keygens
//              (base key, both first ratchet keys), 11 DH (4 + 1 initiator, 4 + 2 responder),
//              the X3DH and root KDFs, and the steady work of the first message
#include <stdexcept>

#include "crypto/cipher.hpp"
#include "crypto/hash.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/random.hpp"
#include "crypto/x25519.hpp"
#include "crypto/xeddsa.hpp"
#include "session_bench.hpp"

namespace bc::bench {
namespace {

template <typename T>
T must(Result<T> result) {
  if (!result) throw std::runtime_error(result.error().message());
  return std::move(result).value();
}

const std::uint8_t kMessageKeySeed[] = {0x01};
const std::uint8_t kChainKeySeed[] = {0x02};

// message_side is one side's per-message symmetric work; `encrypt` picks AES direction.
// Returns the ciphertext (encrypt) or plaintext (decrypt) so nothing is optimized away.
Bytes message_side(const SecretBytes& chain_key, ByteView input, bool encrypt,
                   const Bytes& header) {
  const crypto::HmacSha256 chain(chain_key.expose());
  const crypto::Sha256Digest seed = chain.mac(kMessageKeySeed);  // HMAC 1
  benchmark::DoNotOptimize(chain.mac(kChainKeySeed));            // HMAC 2: CK_{n+1}
  // HKDF(seed, "WhisperMessageKeys", 80): extract 1 + expand 3 = HMAC 3..6
  const SecretBytes keys = must(crypto::hkdf_sha256(seed, {}, as_bytes("WhisperMessageKeys"), 80));
  const ByteView cipher_key = keys.expose().subspan(0, 32);
  const ByteView mac_key = keys.expose().subspan(32, 32);
  const ByteView iv = keys.expose().subspan(64, 16);
  if (encrypt) {
    Bytes ciphertext = must(crypto::aes256_cbc_encrypt(cipher_key, iv, input));
    const crypto::HmacSha256 mac(mac_key);
    benchmark::DoNotOptimize(mac.mac2(header, ciphertext));  // HMAC 7
    return ciphertext;
  }
  const crypto::HmacSha256 mac(mac_key);
  benchmark::DoNotOptimize(mac.mac2(header, input));  // HMAC 7
  return must(crypto::aes256_cbc_decrypt(cipher_key, iv, input));
}

// Header stands in for what the MAC covers besides the ciphertext: both identity keys (66
// bytes), the version byte and the protobuf fields around it.
const Bytes& mac_header() {
  static const Bytes header(66 + 1 + 40, 0x5a);
  return header;
}

void steady_once(const SecretBytes& chain_key, const Bytes& text) {
  const Bytes ciphertext = message_side(chain_key, text, true, mac_header());
  const Bytes plaintext = message_side(chain_key, ciphertext, false, mac_header());
  if (plaintext.size() != text.size()) throw std::runtime_error("floor: wrong plaintext");
}

void root_kdf(const SecretBytes& root_key, const SecretBytes& dh) {
  benchmark::DoNotOptimize(
      must(crypto::hkdf_sha256(dh.expose(), root_key.expose(), as_bytes("WhisperRatchet"), 64)));
}

void steady(benchmark::State& state) {
  const SecretBytes chain_key(Bytes(32, 7));
  const Bytes text = plaintext1k();
  for (auto _ : state) steady_once(chain_key, text);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void ratchet_dh(benchmark::State& state) {
  crypto::SystemRng rng;
  const crypto::X25519KeyPair receiver = crypto::x25519_generate(rng);
  const crypto::X25519KeyPair peer = crypto::x25519_generate(rng);
  for (auto _ : state) {
    const crypto::X25519KeyPair next = crypto::x25519_generate(rng);
    benchmark::DoNotOptimize(must(crypto::x25519(receiver.private_key, peer.public_key)));
    benchmark::DoNotOptimize(must(crypto::x25519(next.private_key, peer.public_key)));
  }
}

void pingpong(benchmark::State& state) {
  crypto::SystemRng rng;
  const crypto::X25519KeyPair receiver = crypto::x25519_generate(rng);
  const crypto::X25519KeyPair peer = crypto::x25519_generate(rng);
  const SecretBytes root_key(Bytes(32, 9));
  const SecretBytes chain_key(Bytes(32, 7));
  const Bytes text = plaintext1k();
  for (auto _ : state) {
    // Receiving chain from the peer's new ratchet key, then our new sending chain.
    const SecretBytes dh_receive = must(crypto::x25519(receiver.private_key, peer.public_key));
    root_kdf(root_key, dh_receive);
    const crypto::X25519KeyPair next = crypto::x25519_generate(rng);
    const SecretBytes dh_send = must(crypto::x25519(next.private_key, peer.public_key));
    root_kdf(root_key, dh_send);
    steady_once(chain_key, text);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void setup(benchmark::State& state) {
  crypto::SystemRng rng;
  const crypto::X25519KeyPair alice_identity = crypto::x25519_generate(rng);
  const crypto::X25519KeyPair bob_identity = crypto::x25519_generate(rng);
  const crypto::X25519KeyPair bob_signed_prekey = crypto::x25519_generate(rng);
  Bytes signed_prekey33{0x05};
  append(signed_prekey33, bob_signed_prekey.public_key.view());
  const crypto::Ed25519Signature signature =
      crypto::xeddsa_sign(bob_identity.private_key, signed_prekey33, rng);
  const crypto::X25519KeyPair bob_one_time = crypto::x25519_generate(rng);
  const SecretBytes chain_key(Bytes(32, 7));
  const Bytes text = plaintext1k();
  const auto x3dh = [](const SecretBytes& a, const SecretBytes& b, const SecretBytes& c,
                       const SecretBytes& d) {
    Bytes master(32, 0xff);
    for (const SecretBytes* part : {&a, &b, &c, &d}) append(master, part->expose());
    return must(crypto::hkdf_sha256(master, Bytes(32, 0), as_bytes("WhisperText"), 64));
  };
  for (auto _ : state) {
    // Initiator: verify, base key, four DH, KDF; first ratchet key, one DH, root KDF.
    if (!crypto::xeddsa_verify(bob_identity.public_key, signed_prekey33, signature)) {
      throw std::runtime_error("floor: signature refused");
    }
    const crypto::X25519KeyPair base = crypto::x25519_generate(rng);
    const SecretBytes root_a =
        x3dh(must(crypto::x25519(alice_identity.private_key, bob_signed_prekey.public_key)),
             must(crypto::x25519(base.private_key, bob_identity.public_key)),
             must(crypto::x25519(base.private_key, bob_signed_prekey.public_key)),
             must(crypto::x25519(base.private_key, bob_one_time.public_key)));
    const crypto::X25519KeyPair alice_ratchet = crypto::x25519_generate(rng);
    root_kdf(root_a, must(crypto::x25519(alice_ratchet.private_key, bob_signed_prekey.public_key)));
    // Responder: four DH, KDF; receiving chain (one DH), new sending chain (keygen, one DH).
    const SecretBytes root_b =
        x3dh(must(crypto::x25519(bob_signed_prekey.private_key, alice_identity.public_key)),
             must(crypto::x25519(bob_identity.private_key, base.public_key)),
             must(crypto::x25519(bob_signed_prekey.private_key, base.public_key)),
             must(crypto::x25519(bob_one_time.private_key, base.public_key)));
    root_kdf(root_b, must(crypto::x25519(bob_signed_prekey.private_key, alice_ratchet.public_key)));
    const crypto::X25519KeyPair bob_ratchet = crypto::x25519_generate(rng);
    root_kdf(root_b, must(crypto::x25519(bob_ratchet.private_key, alice_ratchet.public_key)));
    // The first message itself.
    steady_once(chain_key, text);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

BENCHMARK(setup)->Name("session/floor/setup")->Apply(configure);
BENCHMARK(steady)->Name("session/floor/steady")->Apply(configure);
BENCHMARK(pingpong)->Name("session/floor/pingpong")->Apply(configure);
BENCHMARK(ratchet_dh)->Name("session/floor/ratchet_dh")->Apply(configure);

}  // namespace
}  // namespace bc::bench
