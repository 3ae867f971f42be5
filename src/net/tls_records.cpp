#include "net/tls_records.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "core/check.hpp"

namespace bc::net {
namespace {

constexpr std::uint8_t kChangeCipherSpec = 20;
constexpr std::uint8_t kAlert = 21;
constexpr std::uint8_t kHandshake = 22;
constexpr std::uint8_t kApplicationData = 23;
constexpr std::uint8_t kKeyUpdate = 24;  // handshake message type
constexpr std::uint8_t kAlertWarning = 1;
constexpr std::uint8_t kAlertFatal = 2;

// Suite is what the record layer needs of a TLS 1.3 cipher suite.
struct Suite {
  std::uint16_t code;
  const char* cipher;  // OpenSSL algorithm name
  const char* digest;
  std::size_t key_size;
  std::size_t hash_size;
};

constexpr Suite kSuites[] = {
    {0x1301, "AES-128-GCM", "SHA256", 16, 32},
    {0x1302, "AES-256-GCM", "SHA384", 32, 48},
    {0x1303, "ChaCha20-Poly1305", "SHA256", 32, 32},
};

const Suite* find_suite(std::uint16_t code) {
  for (const Suite& s : kSuites) {
    if (s.code == code) return &s;
  }
  return nullptr;
}

// cipher_of fetches each suite's AEAD once for the life of the process (an implicit fetch on
// every record would take a lock and a lookup).
const EVP_CIPHER* cipher_of(std::uint16_t code) {
  static EVP_CIPHER* const ciphers[] = {
      EVP_CIPHER_fetch(nullptr, kSuites[0].cipher, nullptr),
      EVP_CIPHER_fetch(nullptr, kSuites[1].cipher, nullptr),
      EVP_CIPHER_fetch(nullptr, kSuites[2].cipher, nullptr),
  };
  for (std::size_t i = 0; i < std::size(kSuites); ++i) {
    if (kSuites[i].code == code) return ciphers[i];
  }
  return nullptr;
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

// cipher_ctx is one AEAD context per thread, keyed afresh for every record: a connection keeps
// no OpenSSL state between records, and the key schedule costs far less than the record.
EVP_CIPHER_CTX* cipher_ctx() {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}

// expand_label is HKDF-Expand-Label(secret, label, "", out.size()) of RFC 8446 section 7.1.
bool expand_label(const char* digest, ByteView secret, std::string_view label,
                  std::span<std::uint8_t> out) {
  static EVP_KDF* const hkdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (hkdf == nullptr) return false;
  constexpr std::string_view kPrefix = "tls13 ";
  std::uint8_t info[2 + 1 + 255 + 1];
  std::size_t n = 0;
  info[n++] = static_cast<std::uint8_t>(out.size() >> 8);
  info[n++] = static_cast<std::uint8_t>(out.size());
  info[n++] = static_cast<std::uint8_t>(kPrefix.size() + label.size());
  std::memcpy(info + n, kPrefix.data(), kPrefix.size());
  n += kPrefix.size();
  std::memcpy(info + n, label.data(), label.size());
  n += label.size();
  info[n++] = 0;  // empty context
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(hkdf);
  if (ctx == nullptr) return false;
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                        const_cast<std::uint8_t*>(secret.data()), secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
      OSSL_PARAM_construct_end(),
  };
  const bool ok = EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

// nonce_of is the per-record nonce: the IV XOR the 64-bit sequence number, left-padded
// (section 5.3).
std::array<std::uint8_t, 12> nonce_of(const std::array<std::uint8_t, 12>& iv, std::uint64_t seq) {
  std::array<std::uint8_t, 12> nonce = iv;
  for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<std::uint8_t>(seq >> (8 * i));
  return nonce;
}

}  // namespace

Result<TlsRecords> TlsRecords::create(std::uint16_t cipher_suite, ByteView client_secret,
                                      ByteView server_secret) {
  const Suite* suite = find_suite(cipher_suite);
  if (suite == nullptr || cipher_of(cipher_suite) == nullptr) {
    return fail(Errc::kUnsupportedVersion, "TLS cipher suite without a record layer");
  }
  if (client_secret.size() != suite->hash_size || server_secret.size() != suite->hash_size) {
    return fail(Errc::kMalformed, "TLS traffic secret of the wrong length");
  }
  TlsRecords r;
  r.suite_ = cipher_suite;
  r.hash_size_ = suite->hash_size;
  r.key_size_ = suite->key_size;
  BC_TRY(r.rekey(r.read_, client_secret));
  BC_TRY(r.rekey(r.write_, server_secret));
  return r;
}

TlsRecords::TlsRecords(TlsRecords&& other) noexcept { *this = std::move(other); }

TlsRecords& TlsRecords::operator=(TlsRecords&& other) noexcept {
  if (this != &other) {
    suite_ = other.suite_;
    hash_size_ = other.hash_size_;
    key_size_ = other.key_size_;
    read_ = other.read_;
    write_ = other.write_;
    update_requested_ = other.update_requested_;
    write_key_limit_ = other.write_key_limit_;
    alert_ = other.alert_;
    other.wipe();
  }
  return *this;
}

TlsRecords::~TlsRecords() { wipe(); }

void TlsRecords::wipe() noexcept {
  secure_zero(&read_, sizeof read_);
  secure_zero(&write_, sizeof write_);
}

Result<void> TlsRecords::rekey(Direction& d, ByteView secret) const {
  const Suite* suite = find_suite(suite_);
  BC_CHECK(suite != nullptr && secret.size() == hash_size_);
  if (secret.data() != d.secret.data()) std::memmove(d.secret.data(), secret.data(), hash_size_);
  const ByteView s(d.secret.data(), hash_size_);
  if (!expand_label(suite->digest, s, "key", std::span(d.key.data(), key_size_)) ||
      !expand_label(suite->digest, s, "iv", d.iv)) {
    return fail(Errc::kInternal, "cannot derive TLS record keys");
  }
  d.seq = 0;
  return ok();
}

// update replaces a direction's secret by the next one (section 7.2) and rekeys it.
Result<void> TlsRecords::update(Direction& d) const {
  const Suite* suite = find_suite(suite_);
  std::array<std::uint8_t, 48> next{};
  const bool derived = expand_label(suite->digest, ByteView(d.secret.data(), hash_size_),
                                    "traffic upd", std::span(next.data(), hash_size_));
  Result<void> r = derived ? rekey(d, ByteView(next.data(), hash_size_))
                           : Result<void>(fail(Errc::kInternal, "cannot update TLS traffic key"));
  secure_zero(next.data(), next.size());
  return r;
}

void TlsRecords::seal_record(std::uint8_t type, ByteView head, ByteView data, Bytes& out) {
  BC_CHECK(head.size() <= kMaxPlaintext && data.size() <= kMaxPlaintext - head.size());
  const std::size_t plain = head.size() + data.size();
  const std::size_t inner = plain + 1;
  const std::size_t length = inner + kTagSize;
  const std::size_t at = out.size();
  out.resize(at + kHeaderSize + length);
  std::uint8_t* header = out.data() + at;
  header[0] = kApplicationData;  // every protected record shows this outer type
  header[1] = 0x03;
  header[2] = 0x03;
  header[3] = static_cast<std::uint8_t>(length >> 8);
  header[4] = static_cast<std::uint8_t>(length);
  std::uint8_t* body = header + kHeaderSize;
  if (!head.empty()) std::memcpy(body, head.data(), head.size());
  if (!data.empty()) std::memcpy(body + head.size(), data.data(), data.size());
  body[plain] = type;

  const auto nonce = nonce_of(write_.iv, write_.seq);
  EVP_CIPHER_CTX* ctx = cipher_ctx();
  int n = 0;
  int tail = 0;
  const bool sealed =
      ctx != nullptr &&
      EVP_EncryptInit_ex2(ctx, cipher_of(suite_), write_.key.data(), nonce.data(), nullptr) == 1 &&
      EVP_EncryptUpdate(ctx, nullptr, &n, header, kHeaderSize) == 1 &&
      EVP_EncryptUpdate(ctx, body, &n, body, static_cast<int>(inner)) == 1 &&
      EVP_EncryptFinal_ex(ctx, body + n, &tail) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, body + inner) == 1;
  // Sealing fails only if OpenSSL cannot run a cipher it already fetched: sending anything
  // unprotected instead is not an option.
  BC_CHECK(sealed);
  ++write_.seq;
}

void TlsRecords::seal_data(ByteView head, ByteView data, Bytes& out) {
  if (update_requested_ || write_.seq >= write_key_limit_) {
    // KeyUpdate(update_not_requested) under the old key, then the new key for what follows.
    const std::uint8_t key_update[] = {kKeyUpdate, 0, 0, 1, 0};
    seal_record(kHandshake, {}, key_update, out);
    BC_CHECK(update(write_).has_value());
    update_requested_ = false;
  }
  seal_record(kApplicationData, head, data, out);
}

void TlsRecords::seal_alert(std::uint8_t description, Bytes& out) {
  const std::uint8_t alert[] = {description == kCloseNotify ? kAlertWarning : kAlertFatal,
                                description};
  seal_record(kAlert, {}, alert, out);
}

Result<TlsRecords::Opened> TlsRecords::failure(std::uint8_t alert, Errc code, const char* detail) {
  alert_ = alert;
  return fail(code, detail);
}

Result<TlsRecords::Opened> TlsRecords::open(std::span<std::uint8_t> in) {
  Opened opened;
  if (in.size() < kHeaderSize) return opened;
  const std::uint8_t type = in[0];
  const std::size_t length = (std::size_t{in[3]} << 8) | in[4];
  // After the handshake every record is protected; a change_cipher_spec is not allowed here.
  if (type != kApplicationData) {
    return failure(type == kChangeCipherSpec ? kUnexpectedMessage : kDecodeError, Errc::kMalformed,
                   "unexpected TLS record type");
  }
  if (in[1] != 0x03 || in[2] != 0x03) {
    return failure(kDecodeError, Errc::kMalformed, "bad TLS record version");
  }
  if (length > kMaxRecord - kHeaderSize) {
    return failure(kRecordOverflow, Errc::kLimitExceeded, "TLS record too long");
  }
  if (length < kTagSize + 1) {
    return failure(kDecodeError, Errc::kMalformed, "TLS record too short");
  }
  if (in.size() < kHeaderSize + length) return opened;

  std::uint8_t* header = in.data();
  std::uint8_t* body = header + kHeaderSize;
  const std::size_t inner = length - kTagSize;
  const auto nonce = nonce_of(read_.iv, read_.seq);
  EVP_CIPHER_CTX* ctx = cipher_ctx();
  int n = 0;
  int tail = 0;
  const bool opened_ok =
      ctx != nullptr &&
      EVP_DecryptInit_ex2(ctx, cipher_of(suite_), read_.key.data(), nonce.data(), nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize, body + inner) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &n, header, kHeaderSize) == 1 &&
      EVP_DecryptUpdate(ctx, body, &n, body, static_cast<int>(inner)) == 1 &&
      EVP_DecryptFinal_ex(ctx, body + n, &tail) == 1;
  if (!opened_ok) return failure(kBadRecordMac, Errc::kAuthFailed, "TLS record does not verify");
  ++read_.seq;

  // The content type is the last non-zero byte; zeros after it are padding (section 5.4).
  std::size_t end = inner;
  while (end > 0 && body[end - 1] == 0) --end;
  if (end == 0) return failure(kUnexpectedMessage, Errc::kMalformed, "TLS record without type");
  const std::uint8_t inner_type = body[end - 1];
  const std::size_t content = end - 1;
  if (content > kMaxPlaintext) {
    return failure(kRecordOverflow, Errc::kLimitExceeded, "TLS plaintext too long");
  }
  opened.record_size = kHeaderSize + length;
  switch (inner_type) {
    case kApplicationData:
      opened.kind = Kind::kData;
      opened.offset = kHeaderSize;
      opened.length = content;
      return opened;
    case kAlert:
      if (content != 2) return failure(kDecodeError, Errc::kMalformed, "bad TLS alert");
      if (body[1] == kCloseNotify) {
        opened.kind = Kind::kCloseNotify;
        return opened;
      }
      alert_ = 0;  // never answer an alert with one
      return fail(Errc::kUnavailable, "TLS alert from the peer");
    case kHandshake:
      // Only a whole KeyUpdate, alone in its record: it must end the record (section 5.1).
      if (content != 5 || body[0] != kKeyUpdate || body[1] != 0 || body[2] != 0 || body[3] != 1) {
        return failure(kUnexpectedMessage, Errc::kMalformed, "unexpected TLS handshake message");
      }
      if (body[4] > 1) return failure(kDecodeError, Errc::kMalformed, "bad TLS KeyUpdate");
      if (body[4] == 1) update_requested_ = true;
      if (Result<void> r = update(read_); !r) {
        return failure(kDecodeError, r.error().code, "cannot update TLS traffic key");
      }
      opened.kind = Kind::kControl;
      return opened;
    default:
      return failure(kUnexpectedMessage, Errc::kMalformed, "unexpected TLS content type");
  }
}

}  // namespace bc::net
