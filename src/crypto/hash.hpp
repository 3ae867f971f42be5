// SHA-256, SHA-512 and HMAC-SHA256 (OpenSSL), one-shot and incremental.
#pragma once

#include <memory>

#include "core/bytes.hpp"
#include "crypto/keys.hpp"

namespace bc::crypto {

// sha256 / sha512 hash `data`.
[[nodiscard]] Sha256Digest sha256(ByteView data);
[[nodiscard]] Sha512Digest sha512(ByteView data);

// Sha512 hashes incrementally.
class Sha512 {
 public:
  Sha512();
  ~Sha512();
  Sha512(const Sha512&) = delete;
  Sha512& operator=(const Sha512&) = delete;
  Sha512& update(ByteView data);
  // finish returns the digest; the object must not be used afterwards (aborts).
  [[nodiscard]] Sha512Digest finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Sha256 hashes incrementally.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(ByteView data);
  [[nodiscard]] Sha256Digest finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// hmac_sha256 computes HMAC-SHA256(key, data) (RFC 2104); any key length.
[[nodiscard]] Sha256Digest hmac_sha256(ByteView key, ByteView data);

// HmacSha256 is a keyed HMAC that can be reused: each mac() starts from the keyed state, so a
// KDF chain keys once and computes several MACs.
class HmacSha256 {
 public:
  explicit HmacSha256(ByteView key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;
  // mac computes HMAC(key, data).
  [[nodiscard]] Sha256Digest mac(ByteView data) const;
  // mac2 computes HMAC(key, a || b) without concatenating.
  [[nodiscard]] Sha256Digest mac2(ByteView a, ByteView b) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace bc::crypto
