// Safety numbers: libsignal's displayable (60-digit) and scannable (QR payload) fingerprints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::protocol {

// kFingerprintIterations is the SHA-512 iteration count of libsignal's 60-digit safety numbers.
inline constexpr int kFingerprintIterations = 5200;
// kScannableFingerprintVersion is the CombinedFingerprints version we produce and accept.
inline constexpr std::uint32_t kScannableFingerprintVersion = 1;
// kIdentityKeySize is a serialized identity key: the 0x05 type byte then 32 bytes of X25519.
inline constexpr std::size_t kIdentityKeySize = 33;
// kDisplayableDigits is the length of the displayable safety number.
inline constexpr std::size_t kDisplayableDigits = 60;

// Fingerprint is the safety number of a pair of identities, as one side computes it. Built only
// by compute_fingerprint; immutable.
class Fingerprint {
 public:
  // displayable is the 60 decimal digits both sides see identically (the two 30-digit halves
  // in ascending order, as libsignal-protocol-c orders them).
  [[nodiscard]] const std::string& displayable() const noexcept { return displayable_; }
  // local_digits / remote_digits are this side's and the other side's 30-digit halves.
  [[nodiscard]] const std::string& local_digits() const noexcept { return local_digits_; }
  [[nodiscard]] const std::string& remote_digits() const noexcept { return remote_digits_; }
  // scannable is the QR payload: a serialized CombinedFingerprints (version 1) with this side's
  // 32-byte fingerprint as localFingerprint and the other side's as remoteFingerprint.
  [[nodiscard]] const Bytes& scannable() const noexcept { return scannable_; }

 private:
  friend Result<Fingerprint> compute_fingerprint(ByteView, ByteView);
  Fingerprint() = default;

  std::string displayable_;
  std::string local_digits_;
  std::string remote_digits_;
  Bytes local_hash_;   // first 32 bytes of this side's iterated hash
  Bytes remote_hash_;  // first 32 bytes of the other side's iterated hash
  Bytes scannable_;

  friend Result<bool> compare_scannable(const Fingerprint&, ByteView);
};

// compute_fingerprint computes the safety number of `local_identity_key` and
// `remote_identity_key` (each 33 bytes, 0x05 then the X25519 key), each side's stable identifier
// being the lowercase hex of its 33-byte key. Fails with kMalformed when a key is not 33 bytes
// starting with 0x05. Pure: no state changes.
[[nodiscard]] Result<Fingerprint> compute_fingerprint(ByteView local_identity_key,
                                                      ByteView remote_identity_key);

// compare_scannable checks a scanned QR payload against `local`: true when the scanned code is
// the other side's view of the same pair (its local is our remote and its remote our local),
// false when it is well formed but for other keys. Fails with kMalformed on a payload that does
// not parse or lacks a fingerprint, kUnsupportedVersion on a version other than 1. The
// comparison is constant-time. Pure.
[[nodiscard]] Result<bool> compare_scannable(const Fingerprint& local, ByteView scanned);

}  // namespace bc::protocol
