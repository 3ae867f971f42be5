// Escrow release certificate: see escrow_certificate.hpp and docs/relay-protocol.md.
#include "protocol/escrow_certificate.hpp"

#include <algorithm>
#include <limits>

#include "crypto/ed25519.hpp"

namespace bc::protocol {
namespace {

void put_i64(Bytes& out, std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(u >> shift));
}

std::uint64_t get_u64(ByteView in) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | in[i];
  return v;
}

template <std::size_t N>
std::array<std::uint8_t, N> get_fixed(ByteView in) {
  std::array<std::uint8_t, N> out{};
  std::copy_n(in.begin(), N, out.begin());
  return out;
}

// check_times refuses what no honest relay signs: negative times, or a release at or after the
// deadline (deposits are accepted only while the relay's clock is before it).
Result<void> check_times(const ReleaseCertificate& cert) {
  if (cert.deadline_ms < 0 || cert.release_time_ms < 0) {
    return fail(Errc::kMalformed, "release certificate: negative time");
  }
  if (cert.release_time_ms >= cert.deadline_ms) {
    return fail(Errc::kMalformed, "release certificate: released at or after the deadline");
  }
  return ok();
}

// append_fields appends the signed fields in their one order, shared by the signed bytes and the
// encoding.
void append_fields(Bytes& out, const ReleaseCertificate& cert) {
  append(out, cert.exchange_id);
  put_i64(out, cert.deadline_ms);
  append(out, cert.hash_a);
  append(out, cert.hash_b);
  put_i64(out, cert.release_time_ms);
}

}  // namespace

Bytes release_certificate_message(const ReleaseCertificate& cert) {
  Bytes out;
  out.reserve(kReleaseMessageSize);
  append(out, as_bytes(kEscrowReleaseDomain));
  append_fields(out, cert);
  return out;
}

Result<ReleaseCertificate> sign_release_certificate(ReleaseCertificate cert,
                                                    const crypto::Ed25519PrivateKey& relay_key) {
  BC_TRY(check_times(cert));
  cert.signature = crypto::ed25519_sign(relay_key, release_certificate_message(cert));
  return cert;
}

Result<Bytes> encode_release_certificate(const ReleaseCertificate& cert) {
  BC_TRY(check_times(cert));
  Bytes out;
  out.reserve(kReleaseCertificateSize);
  out.push_back(kReleaseCertificateVersion);
  append_fields(out, cert);
  append(out, cert.signature);
  return out;
}

Result<ReleaseCertificate> decode_release_certificate(ByteView bytes) {
  if (bytes.size() != kReleaseCertificateSize) {
    return fail(Errc::kMalformed, "release certificate has the wrong length");
  }
  if (bytes[0] != kReleaseCertificateVersion) {
    return fail(Errc::kMalformed, "release certificate has an unknown version");
  }
  ByteView in = bytes.subspan(1);
  ReleaseCertificate cert;
  cert.exchange_id = get_fixed<kExchangeIdBytes>(in);
  in = in.subspan(kExchangeIdBytes);
  const std::uint64_t deadline = get_u64(in);
  in = in.subspan(8);
  cert.hash_a = get_fixed<32>(in);
  in = in.subspan(32);
  cert.hash_b = get_fixed<32>(in);
  in = in.subspan(32);
  const std::uint64_t released = get_u64(in);
  in = in.subspan(8);
  cert.signature = get_fixed<64>(in);
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (deadline > kMax || released > kMax) {
    return fail(Errc::kMalformed, "release certificate: negative time");
  }
  cert.deadline_ms = static_cast<std::int64_t>(deadline);
  cert.release_time_ms = static_cast<std::int64_t>(released);
  BC_TRY(check_times(cert));
  return cert;
}

Result<void> verify_release_certificate(const crypto::Ed25519PublicKey& relay_key,
                                        const ReleaseCertificate& cert) {
  BC_TRY(check_times(cert));
  if (!crypto::ed25519_verify(relay_key, release_certificate_message(cert), cert.signature)) {
    return fail(Errc::kAuthFailed, "release certificate: the relay's signature does not verify");
  }
  return ok();
}

}  // namespace bc::protocol
