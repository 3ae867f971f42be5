#include "crypto/hash.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include <array>

#include "core/check.hpp"

namespace bc::crypto {
namespace {

const EVP_MD* md_sha256() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  BC_CHECK(md != nullptr);
  return md;
}
const EVP_MD* md_sha512() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  BC_CHECK(md != nullptr);
  return md;
}
EVP_MAC* mac_hmac() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  BC_CHECK(mac != nullptr);
  return mac;
}

template <std::size_t N>
std::array<std::uint8_t, N> digest(const EVP_MD* md, ByteView data) {
  std::array<std::uint8_t, N> out{};
  unsigned int len = 0;
  BC_CHECK(EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) == 1);
  BC_CHECK(len == N);
  return out;
}

struct MdCtx {
  explicit MdCtx(const EVP_MD* md) : ctx(EVP_MD_CTX_new()) {
    BC_CHECK(ctx != nullptr && EVP_DigestInit_ex2(ctx, md, nullptr) == 1);
  }
  ~MdCtx() { EVP_MD_CTX_free(ctx); }
  MdCtx(const MdCtx&) = delete;
  MdCtx& operator=(const MdCtx&) = delete;
  void update(ByteView data) const {
    BC_CHECK(EVP_DigestUpdate(ctx, data.data(), data.size()) == 1);
  }
  template <std::size_t N>
  std::array<std::uint8_t, N> finish() {
    BC_CHECK(!done);
    done = true;
    std::array<std::uint8_t, N> out{};
    unsigned int len = 0;
    BC_CHECK(EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == N);
    return out;
  }
  EVP_MD_CTX* ctx;
  bool done = false;
};

}  // namespace

Sha256Digest sha256(ByteView data) { return digest<32>(md_sha256(), data); }
Sha512Digest sha512(ByteView data) { return digest<64>(md_sha512(), data); }

struct Sha512::State : MdCtx {
  State() : MdCtx(md_sha512()) {}
};
Sha512::Sha512() : state_(std::make_unique<State>()) {}
Sha512::~Sha512() = default;
Sha512& Sha512::update(ByteView data) {
  state_->update(data);
  return *this;
}
Sha512Digest Sha512::finish() { return state_->finish<64>(); }

struct Sha256::State : MdCtx {
  State() : MdCtx(md_sha256()) {}
};
Sha256::Sha256() : state_(std::make_unique<State>()) {}
Sha256::~Sha256() = default;
Sha256& Sha256::update(ByteView data) {
  state_->update(data);
  return *this;
}
Sha256Digest Sha256::finish() { return state_->finish<32>(); }

Sha256Digest hmac_sha256(ByteView key, ByteView data) { return HmacSha256(key).mac(data); }

struct HmacSha256::State {
  EVP_MAC_CTX* keyed = nullptr;
  ~State() { EVP_MAC_CTX_free(keyed); }
};

HmacSha256::HmacSha256(ByteView key) : state_(std::make_unique<State>()) {
  state_->keyed = EVP_MAC_CTX_new(mac_hmac());
  BC_CHECK(state_->keyed != nullptr);
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  // An empty key is legal for HMAC; OpenSSL wants a non-null pointer.
  static const std::uint8_t kEmpty = 0;
  BC_CHECK(EVP_MAC_init(state_->keyed, key.empty() ? &kEmpty : key.data(), key.size(),
                        params.data()) == 1);
}

HmacSha256::~HmacSha256() = default;

Sha256Digest HmacSha256::mac(ByteView data) const { return mac2(data, {}); }

Sha256Digest HmacSha256::mac2(ByteView a, ByteView b) const {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(state_->keyed);
  BC_CHECK(ctx != nullptr);
  Sha256Digest out{};
  std::size_t len = 0;
  const bool good = EVP_MAC_update(ctx, a.data(), a.size()) == 1 &&
                    EVP_MAC_update(ctx, b.data(), b.size()) == 1 &&
                    EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size();
  EVP_MAC_CTX_free(ctx);
  BC_CHECK(good);
  return out;
}

}  // namespace bc::crypto
