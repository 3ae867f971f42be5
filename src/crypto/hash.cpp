#include "crypto/hash.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include <array>
#include <atomic>
#include <memory>
#include <thread>

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

// HMAC-SHA256 through OpenSSL's EVP_MAC, chosen by measurement (bench/crypto, see
// docs/performance.md):
// - an unkeyed template context with the digest already set is duplicated for each new key: this
//   skips the digest lookup by name that setting the "digest" parameter costs on every init;
// - a keyed HmacSha256 keeps one context and re-initialises it with a NULL key for each MAC,
//   which restores the keyed (ipad / opad) state without allocating a new context, about twice as
//   fast for short inputs as EVP_MAC_CTX_dup of a keyed context. A lock keeps mac() safe to call
//   from several threads on one object.

namespace {

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

// hmac_template is an unkeyed HMAC context with SHA-256 selected; never keyed, so it holds no
// secret, and only ever read (duplicated) after construction.
const EVP_MAC_CTX* hmac_template() {
  static const EVP_MAC_CTX* const kTemplate = [] {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac_hmac());
    BC_CHECK(ctx != nullptr);
    std::array<OSSL_PARAM, 2> params = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end()};
    BC_CHECK(EVP_MAC_CTX_set_params(ctx, params.data()) == 1);
    return ctx;
  }();
  return kTemplate;
}

// keyed_context returns a new HMAC-SHA256 context keyed with `key`.
MacCtx keyed_context(ByteView key) {
  MacCtx ctx(EVP_MAC_CTX_dup(hmac_template()));
  BC_CHECK(ctx != nullptr);
  // An empty key is legal for HMAC; OpenSSL wants a non-null pointer.
  static const std::uint8_t kEmpty = 0;
  BC_CHECK(EVP_MAC_init(ctx.get(), key.empty() ? &kEmpty : key.data(), key.size(), nullptr) == 1);
  return ctx;
}

// finish_mac absorbs `a` then `b` into a context that holds the keyed state and writes the tag.
Sha256Digest finish_mac(EVP_MAC_CTX* ctx, ByteView a, ByteView b) {
  Sha256Digest out{};
  std::size_t len = 0;
  BC_CHECK(EVP_MAC_update(ctx, a.data(), a.size()) == 1);
  if (!b.empty()) BC_CHECK(EVP_MAC_update(ctx, b.data(), b.size()) == 1);
  BC_CHECK(EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size());
  return out;
}

}  // namespace

Sha256Digest hmac_sha256(ByteView key, ByteView data) {
  const MacCtx ctx = keyed_context(key);
  return finish_mac(ctx.get(), data, {});
}

// The lock is a spin flag: the critical section is one MAC (a few hundred ns), contention is
// rare (an object is normally used by one thread), and an uncontended acquire is a single atomic
// exchange, measurably cheaper here than std::mutex.
struct HmacSha256::State {
  std::atomic_flag busy;
  MacCtx ctx;
};

namespace {
class SpinGuard {
 public:
  explicit SpinGuard(std::atomic_flag& flag) : flag_(flag) {
    while (flag_.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
  }
  ~SpinGuard() { flag_.clear(std::memory_order_release); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  std::atomic_flag& flag_;
};
}  // namespace

HmacSha256::HmacSha256(ByteView key) : state_(std::make_unique<State>()) {
  state_->ctx = keyed_context(key);
}

HmacSha256::~HmacSha256() = default;

Sha256Digest HmacSha256::mac(ByteView data) const { return mac2(data, {}); }

Sha256Digest HmacSha256::mac2(ByteView a, ByteView b) const {
  const SpinGuard guard(state_->busy);
  // A NULL key re-initialises HMAC from the keyed state kept in the context.
  BC_CHECK(EVP_MAC_init(state_->ctx.get(), nullptr, 0, nullptr) == 1);
  return finish_mac(state_->ctx.get(), a, b);
}

}  // namespace bc::crypto
