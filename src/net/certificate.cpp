#include "net/certificate.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <system_error>

namespace bc::net {
namespace fs = std::filesystem;
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

// write_file_atomically writes `data` to a temporary file in the same directory with `mode`,
// fsyncs it and renames it onto `path`.
Result<void> write_file_atomically(const fs::path& path, std::string_view data, mode_t mode) {
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return fail(Errc::kUnavailable, "cannot create " + tmp.string());
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(Errc::kUnavailable, "cannot write " + tmp.string());
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return fail(Errc::kUnavailable, "cannot sync " + tmp.string());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return fail(Errc::kUnavailable, "cannot rename onto " + path.string());
  }
  return ok();
}

Result<void> sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(Errc::kUnavailable, "cannot open " + dir.string());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return fail(Errc::kUnavailable, "cannot sync " + dir.string());
  return ok();
}

Result<void> generate(const CertificatePaths& paths, const std::string& host) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return fail(Errc::kInternal, "key generation failed");
  X509Ptr cert(X509_new());
  if (!cert) return fail(Errc::kInternal, "certificate allocation failed");
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) {
    return fail(Errc::kInternal, "random serial failed");
  }
  serial_bytes[0] &= 0x7f;  // a positive INTEGER
  BIGNUM* serial_bn = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
  const bool serial_ok =
      serial_bn != nullptr && BN_to_ASN1_INTEGER(serial_bn, X509_get_serialNumber(cert.get()));
  BN_free(serial_bn);
  if (!serial_ok) return fail(Errc::kInternal, "certificate serial failed");

  constexpr long kTenYears = 10L * 366 * 24 * 3600;
  X509_NAME* name = X509_get_subject_name(cert.get());
  const bool fields_ok =
      X509_set_version(cert.get(), 2) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), kTenYears) != nullptr &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("backchannel-relay"), -1,
                                 -1, 0) == 1 &&
      X509_set_issuer_name(cert.get(), name) == 1 && X509_set_pubkey(cert.get(), key.get()) == 1;
  if (!fields_ok) return fail(Errc::kInternal, "certificate fields failed");

  // subjectAltName: the listen host (an IP literal) and localhost.
  const std::string san = "IP:" + host + ",DNS:localhost";
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
  if (ext == nullptr) {
    // A host OpenSSL does not take as an IP: fall back to localhost only.
    ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost");
  }
  if (ext == nullptr || X509_add_ext(cert.get(), ext, -1) != 1) {
    X509_EXTENSION_free(ext);
    return fail(Errc::kInternal, "certificate extension failed");
  }
  X509_EXTENSION_free(ext);
  // Ed25519 signs without a separate digest.
  if (X509_sign(cert.get(), key.get(), nullptr) <= 0) {
    return fail(Errc::kInternal, "certificate signing failed");
  }

  BioPtr key_bio(BIO_new(BIO_s_mem()));
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  if (!key_bio || !cert_bio ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1 ||
      PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) {
    return fail(Errc::kInternal, "PEM encoding failed");
  }
  std::string key_pem = bio_contents(key_bio.get());
  const std::string cert_pem = bio_contents(cert_bio.get());
  // The key first: a certificate never exists without its key.
  Result<void> written = write_file_atomically(paths.key, key_pem, 0600);
  secure_zero(key_pem.data(), key_pem.size());
  BC_TRY(written);
  BC_TRY(write_file_atomically(paths.cert, cert_pem, 0644));
  return sync_directory(paths.cert.parent_path());
}

}  // namespace

Result<CertificatePaths> ensure_self_signed(const fs::path& dir, const std::string& host) {
  CertificatePaths paths{dir / "tls-cert.pem", dir / "tls-key.pem"};
  std::error_code ec;
  const bool have_cert = fs::exists(paths.cert, ec);
  const bool have_key = fs::exists(paths.key, ec);
  if (have_cert && have_key) return paths;
  if (have_cert != have_key) {
    return fail(Errc::kConflict, "only one of tls-cert.pem and tls-key.pem exists in " +
                                     dir.string() + "; remove it or restore the other");
  }
  if (!fs::is_directory(dir, ec)) return fail(Errc::kUnavailable, "no directory " + dir.string());
  BC_TRY(generate(paths, host));
  return paths;
}

Result<Bytes> certificate_fingerprint(const fs::path& cert_pem) {
  std::FILE* file = std::fopen(cert_pem.c_str(), "rb");
  if (file == nullptr) return fail(Errc::kUnavailable, "cannot read " + cert_pem.string());
  X509Ptr cert(PEM_read_X509(file, nullptr, nullptr, nullptr));
  std::fclose(file);
  if (!cert) return fail(Errc::kMalformed, "no PEM certificate in " + cert_pem.string());
  Bytes digest(32);
  unsigned int size = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest.data(), &size) != 1 || size != 32) {
    return fail(Errc::kInternal, "certificate digest failed");
  }
  return digest;
}

}  // namespace bc::net
