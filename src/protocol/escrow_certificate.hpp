// Escrow release certificate: the relay's signed statement that it released both deposits of an
// exchange at once (docs/relay-protocol.md, "Release certificate"). The relay signs it; each
// party checks it against the relay's pinned signing key and the deposit it received.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"

namespace bc::protocol {

// kEscrowReleaseDomain starts the signed bytes, so no other relay signature can be taken for one.
inline constexpr std::string_view kEscrowReleaseDomain = "backchannel-escrow-release-v1";
// kReleaseCertificateVersion is the first byte of an encoded certificate.
inline constexpr std::uint8_t kReleaseCertificateVersion = 1;
inline constexpr std::size_t kExchangeIdBytes = 16;
// kReleaseCertificateSize: version(1) exchange_id(16) deadline(8) hash_a(32) hash_b(32)
// release_time(8) signature(64).
inline constexpr std::size_t kReleaseCertificateSize = 1 + kExchangeIdBytes + 8 + 32 + 32 + 8 + 64;
// kReleaseMessageSize is the length of the signed bytes (domain and the five fields).
inline constexpr std::size_t kReleaseMessageSize =
    kEscrowReleaseDomain.size() + kExchangeIdBytes + 8 + 32 + 32 + 8;

using ExchangeIdBytes = std::array<std::uint8_t, kExchangeIdBytes>;

// ReleaseCertificate: hash_a is the SHA-256 of the opener's deposit (released into the
// counterparty's queue), hash_b that of the counterparty's deposit (released into the opener's
// queue). Times are relay milliseconds since the Unix epoch; a release happens before the
// deadline.
struct ReleaseCertificate {
  ExchangeIdBytes exchange_id{};
  std::int64_t deadline_ms = 0;
  crypto::Sha256Digest hash_a{};
  crypto::Sha256Digest hash_b{};
  std::int64_t release_time_ms = 0;
  crypto::Ed25519Signature signature{};
  friend bool operator==(const ReleaseCertificate&, const ReleaseCertificate&) = default;
};

// release_certificate_message builds the signed bytes:
// "backchannel-escrow-release-v1" || exchange_id(16) || deadline i64 BE || hash_a(32) ||
// hash_b(32) || release_time i64 BE. Never fails.
[[nodiscard]] Bytes release_certificate_message(const ReleaseCertificate& cert);

// sign_release_certificate fills in cert.signature with the relay's key. kMalformed when a time
// is negative or the release is not before the deadline (such a certificate never verifies).
[[nodiscard]] Result<ReleaseCertificate> sign_release_certificate(
    ReleaseCertificate cert, const crypto::Ed25519PrivateKey& relay_key);

// encode_release_certificate serializes a certificate to its kReleaseCertificateSize bytes.
// kMalformed for a negative time (decode would refuse it).
[[nodiscard]] Result<Bytes> encode_release_certificate(const ReleaseCertificate& cert);

// decode_release_certificate parses exactly kReleaseCertificateSize bytes. kMalformed for a wrong
// length, an unknown version byte, a negative time or a release not before the deadline;
// encode(decode(x)) == x for every accepted x. It does not check the signature.
[[nodiscard]] Result<ReleaseCertificate> decode_release_certificate(ByteView bytes);

// verify_release_certificate checks the relay's signature over the certificate's fields and that
// the release came before the deadline. kAuthFailed when the signature does not verify,
// kMalformed for impossible times.
[[nodiscard]] Result<void> verify_release_certificate(const crypto::Ed25519PublicKey& relay_key,
                                                      const ReleaseCertificate& cert);

}  // namespace bc::protocol
