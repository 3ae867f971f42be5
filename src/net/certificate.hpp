// The relay's TLS certificate: generated self-signed on first start, pinned by SHA-256.
#pragma once

#include <filesystem>
#include <string>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::net {

// CertificatePaths names a PEM certificate (chain) and its PEM private key.
struct CertificatePaths {
  std::filesystem::path cert;
  std::filesystem::path key;
};

// ensure_self_signed returns DIR/tls-cert.pem and DIR/tls-key.pem, generating them first (an
// Ed25519 key, a self-signed X.509 certificate for `host`, valid ten years, key file mode 0600)
// when neither exists. Both are written to temporary files and renamed into place, so a crash
// never leaves a half-written pair. Fails with kConflict when only one of the two exists,
// kUnavailable when the directory cannot be written, kInternal when OpenSSL fails; on failure
// nothing existing is changed.
[[nodiscard]] Result<CertificatePaths> ensure_self_signed(const std::filesystem::path& dir,
                                                          const std::string& host);

// certificate_fingerprint returns the SHA-256 of the DER encoding of the first certificate in a
// PEM file. Fails with kUnavailable when the file cannot be read, kMalformed when it holds no
// certificate.
[[nodiscard]] Result<Bytes> certificate_fingerprint(const std::filesystem::path& cert_pem);

}  // namespace bc::net
