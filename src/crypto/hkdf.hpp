// HKDF-SHA256 (RFC 5869), built on HMAC-SHA256.
#pragma once

#include "core/result.hpp"
#include "core/secret.hpp"
#include "crypto/keys.hpp"

namespace bc::crypto {

// hkdf_extract computes PRK = HMAC(salt, IKM); an empty salt means 32 zero bytes.
[[nodiscard]] SecretBytes hkdf_extract(ByteView salt, ByteView ikm);
// hkdf_expand computes OKM of `length` bytes from PRK and info; kLimitExceeded when length is
// over 255 * 32, kMalformed when PRK is shorter than 32 bytes.
[[nodiscard]] Result<SecretBytes> hkdf_expand(ByteView prk, ByteView info, std::size_t length);
// hkdf_sha256 is extract then expand.
[[nodiscard]] Result<SecretBytes> hkdf_sha256(ByteView ikm, ByteView salt, ByteView info,
                                              std::size_t length);

}  // namespace bc::crypto
