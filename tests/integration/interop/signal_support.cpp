#include "integration/interop/signal_support.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <climits>
#include <cstring>
#include <utility>
#include <vector>

extern "C" {
#include <curve.h>
#include <fingerprint.h>
#include <key_helper.h>
#include <protocol.h>
#include <ratchet.h>
#include <session_builder.h>
#include <session_cipher.h>
#include <session_pre_key.h>
#include <session_record.h>
#include <signal_protocol.h>
}

namespace bc::interop {
namespace {

// ---- RAII over libsignal-protocol-c's reference-counted objects and buffers ----

struct Unref {
  void operator()(void* p) const noexcept {
    if (p != nullptr) signal_type_unref(static_cast<signal_type_base*>(p));
  }
};
template <typename T>
using Ref = std::unique_ptr<T, Unref>;

struct BufferFree {
  void operator()(signal_buffer* b) const noexcept { signal_buffer_bzero_free(b); }
};
using Buffer = std::unique_ptr<signal_buffer, BufferFree>;

void check(int rc, const char* what) {
  if (rc < 0) throw SignalError(rc, std::string(what) + ": " + signal_error_name(rc));
}

Bytes buffer_bytes(const signal_buffer* b) {
  const std::uint8_t* data = signal_buffer_const_data(b);
  return Bytes(data, data + signal_buffer_len(b));
}

Bytes serialize_public(const ec_public_key* key) {
  signal_buffer* raw = nullptr;
  check(ec_public_key_serialize(&raw, key), "serialize public key");
  Buffer b(raw);
  return buffer_bytes(b.get());
}

// ---- crypto provider over OpenSSL 3 ----

int random_func(uint8_t* data, size_t len, void* /*user_data*/) {
  if (len > INT_MAX) return SG_ERR_INVAL;
  return RAND_bytes(data, static_cast<int>(len)) == 1 ? SG_SUCCESS : SG_ERR_UNKNOWN;
}

int hmac_init(void** context, const uint8_t* key, size_t key_len, void* /*user_data*/) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return SG_ERR_UNKNOWN;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);
  if (ctx == nullptr) return SG_ERR_NOMEM;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_END};
  if (EVP_MAC_init(ctx, key, key_len, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return SG_ERR_UNKNOWN;
  }
  *context = ctx;
  return SG_SUCCESS;
}

int hmac_update(void* context, const uint8_t* data, size_t len, void* /*user_data*/) {
  return EVP_MAC_update(static_cast<EVP_MAC_CTX*>(context), data, len) == 1 ? SG_SUCCESS
                                                                            : SG_ERR_UNKNOWN;
}

int hmac_final(void* context, signal_buffer** output, void* /*user_data*/) {
  std::uint8_t md[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_MAC_final(static_cast<EVP_MAC_CTX*>(context), md, &len, sizeof md) != 1) {
    return SG_ERR_UNKNOWN;
  }
  *output = signal_buffer_create(md, len);
  return *output != nullptr ? SG_SUCCESS : SG_ERR_NOMEM;
}

void hmac_cleanup(void* context, void* /*user_data*/) {
  EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(context));
}

int sha512_init(void** context, void* /*user_data*/) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return SG_ERR_NOMEM;
  if (EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    return SG_ERR_UNKNOWN;
  }
  *context = ctx;
  return SG_SUCCESS;
}

int sha512_update(void* context, const uint8_t* data, size_t len, void* /*user_data*/) {
  return EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context), data, len) == 1 ? SG_SUCCESS
                                                                             : SG_ERR_UNKNOWN;
}

// sha512_final finishes and re-initializes the context for reuse, as the provider contract says.
int sha512_final(void* context, signal_buffer** output, void* /*user_data*/) {
  auto* ctx = static_cast<EVP_MD_CTX*>(context);
  std::uint8_t md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1) return SG_ERR_UNKNOWN;
  if (EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) != 1) return SG_ERR_UNKNOWN;
  *output = signal_buffer_create(md, len);
  return *output != nullptr ? SG_SUCCESS : SG_ERR_NOMEM;
}

void sha512_cleanup(void* context, void* /*user_data*/) {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context));
}

const EVP_CIPHER* aes_cipher(int cipher, size_t key_len) {
  if (key_len != 32) return nullptr;
  if (cipher == SG_CIPHER_AES_CBC_PKCS5) return EVP_aes_256_cbc();
  if (cipher == SG_CIPHER_AES_CTR_NOPADDING) return EVP_aes_256_ctr();
  return nullptr;
}

int aes(bool encrypt, signal_buffer** output, int cipher, const uint8_t* key, size_t key_len,
        const uint8_t* iv, size_t iv_len, const uint8_t* input, size_t input_len) {
  const EVP_CIPHER* evp = aes_cipher(cipher, key_len);
  if (evp == nullptr || iv_len != 16 || input_len > INT_MAX - 32) return SG_ERR_INVAL;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return SG_ERR_NOMEM;
  std::vector<std::uint8_t> out(input_len + 32);
  int len = 0;
  int final_len = 0;
  bool good = EVP_CipherInit_ex(ctx, evp, nullptr, key, iv, encrypt ? 1 : 0) == 1;
  good = good && EVP_CipherUpdate(ctx, out.data(), &len, input, static_cast<int>(input_len)) == 1;
  good = good && EVP_CipherFinal_ex(ctx, out.data() + len, &final_len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!good) return SG_ERR_UNKNOWN;
  *output = signal_buffer_create(out.data(), static_cast<size_t>(len + final_len));
  OPENSSL_cleanse(out.data(), out.size());
  return *output != nullptr ? SG_SUCCESS : SG_ERR_NOMEM;
}

int encrypt_func(signal_buffer** output, int cipher, const uint8_t* key, size_t key_len,
                 const uint8_t* iv, size_t iv_len, const uint8_t* plaintext, size_t plaintext_len,
                 void* /*user_data*/) {
  return aes(true, output, cipher, key, key_len, iv, iv_len, plaintext, plaintext_len);
}

int decrypt_func(signal_buffer** output, int cipher, const uint8_t* key, size_t key_len,
                 const uint8_t* iv, size_t iv_len, const uint8_t* ciphertext, size_t ciphertext_len,
                 void* /*user_data*/) {
  return aes(false, output, cipher, key, key_len, iv, iv_len, ciphertext, ciphertext_len);
}

signal_crypto_provider openssl_provider() {
  signal_crypto_provider p{};
  p.random_func = random_func;
  p.hmac_sha256_init_func = hmac_init;
  p.hmac_sha256_update_func = hmac_update;
  p.hmac_sha256_final_func = hmac_final;
  p.hmac_sha256_cleanup_func = hmac_cleanup;
  p.sha512_digest_init_func = sha512_init;
  p.sha512_digest_update_func = sha512_update;
  p.sha512_digest_final_func = sha512_final;
  p.sha512_digest_cleanup_func = sha512_cleanup;
  p.encrypt_func = encrypt_func;
  p.decrypt_func = decrypt_func;
  return p;
}

struct ContextFree {
  void operator()(signal_context* c) const noexcept { signal_context_destroy(c); }
};
using Context = std::unique_ptr<signal_context, ContextFree>;

Context make_context() {
  signal_context* raw = nullptr;
  check(signal_context_create(&raw, nullptr), "signal_context_create");
  Context ctx(raw);
  const signal_crypto_provider provider = openssl_provider();
  check(signal_context_set_crypto_provider(ctx.get(), &provider), "set crypto provider");
  return ctx;
}

Ref<ec_public_key> decode_point(ByteView key, signal_context* ctx) {
  ec_public_key* raw = nullptr;
  check(curve_decode_point(&raw, key.data(), key.size(), ctx), "decode public key");
  return Ref<ec_public_key>(raw);
}

}  // namespace

std::string signal_error_name(int code) {
  switch (code) {
    case SG_ERR_NOMEM:
      return "SG_ERR_NOMEM";
    case SG_ERR_INVAL:
      return "SG_ERR_INVAL";
    case SG_ERR_UNKNOWN:
      return "SG_ERR_UNKNOWN";
    case SG_ERR_DUPLICATE_MESSAGE:
      return "SG_ERR_DUPLICATE_MESSAGE";
    case SG_ERR_INVALID_KEY:
      return "SG_ERR_INVALID_KEY";
    case SG_ERR_INVALID_KEY_ID:
      return "SG_ERR_INVALID_KEY_ID";
    case SG_ERR_INVALID_MAC:
      return "SG_ERR_INVALID_MAC";
    case SG_ERR_INVALID_MESSAGE:
      return "SG_ERR_INVALID_MESSAGE";
    case SG_ERR_INVALID_VERSION:
      return "SG_ERR_INVALID_VERSION";
    case SG_ERR_LEGACY_MESSAGE:
      return "SG_ERR_LEGACY_MESSAGE";
    case SG_ERR_NO_SESSION:
      return "SG_ERR_NO_SESSION";
    case SG_ERR_STALE_KEY_EXCHANGE:
      return "SG_ERR_STALE_KEY_EXCHANGE";
    case SG_ERR_UNTRUSTED_IDENTITY:
      return "SG_ERR_UNTRUSTED_IDENTITY";
    case SG_ERR_VRF_SIG_VERIF_FAILED:
      return "SG_ERR_VRF_SIG_VERIF_FAILED";
    case SG_ERR_INVALID_PROTO_BUF:
      return "SG_ERR_INVALID_PROTO_BUF";
    case SG_ERR_FP_VERSION_MISMATCH:
      return "SG_ERR_FP_VERSION_MISMATCH";
    case SG_ERR_FP_IDENT_MISMATCH:
      return "SG_ERR_FP_IDENT_MISMATCH";
    default:
      return "SG_ERR(" + std::to_string(code) + ")";
  }
}

SignalFingerprint signal_fingerprint(ByteView local_identity_key, ByteView remote_identity_key) {
  Context ctx = make_context();
  auto local = decode_point(local_identity_key, ctx.get());
  auto remote = decode_point(remote_identity_key, ctx.get());
  fingerprint_generator* generator = nullptr;
  check(fingerprint_generator_create(&generator, 5200, 1, ctx.get()), "fingerprint generator");
  fingerprint* fp_raw = nullptr;
  const std::string local_id = to_hex(local_identity_key);
  const std::string remote_id = to_hex(remote_identity_key);
  const int rc = fingerprint_generator_create_for(generator, local_id.c_str(), local.get(),
                                                  remote_id.c_str(), remote.get(), &fp_raw);
  fingerprint_generator_free(generator);
  check(rc, "fingerprint");
  Ref<fingerprint> fp(fp_raw);
  SignalFingerprint out;
  out.displayable = displayable_fingerprint_text(fingerprint_get_displayable(fp.get()));
  signal_buffer* raw = nullptr;
  check(scannable_fingerprint_serialize(&raw, fingerprint_get_scannable(fp.get())),
        "serialize scannable");
  Buffer scannable(raw);
  out.scannable = buffer_bytes(scannable.get());
  return out;
}

int signal_compare_scannable(ByteView local_scannable, ByteView scanned) {
  Context ctx = make_context();
  scannable_fingerprint* a_raw = nullptr;
  int rc = scannable_fingerprint_deserialize(&a_raw, local_scannable.data(), local_scannable.size(),
                                             ctx.get());
  if (rc < 0) return rc;
  Ref<scannable_fingerprint> a(a_raw);
  scannable_fingerprint* b_raw = nullptr;
  rc = scannable_fingerprint_deserialize(&b_raw, scanned.data(), scanned.size(), ctx.get());
  if (rc < 0) return rc;
  Ref<scannable_fingerprint> b(b_raw);
  return scannable_fingerprint_compare(a.get(), b.get());
}

// ---- SignalPeer ----

struct SignalPeer::Impl {
  Context ctx;
  signal_protocol_store_context* store = nullptr;
  Ref<ratchet_identity_key_pair> identity;
  Bytes identity_public;
  Bytes identity_private;
  std::uint32_t registration_id = 0;
  std::uint32_t signed_prekey_id = 1;
  std::uint32_t next_prekey_id = 1;
  SignalBundle signed_part;  // identity and signed prekey fields, filled once

  std::map<std::pair<std::string, std::int32_t>, Bytes> sessions;
  std::map<std::uint32_t, Bytes> prekeys;
  std::map<std::uint32_t, Bytes> signed_prekeys;
  std::map<std::string, Bytes> trusted;

  ~Impl() {
    if (store != nullptr) signal_protocol_store_context_destroy(store);
  }

  static Impl* self(void* user_data) { return static_cast<Impl*>(user_data); }
  static std::pair<std::string, std::int32_t> key(const signal_protocol_address* a) {
    return {std::string(a->name, a->name_len), a->device_id};
  }

  // session store
  static int load_session(signal_buffer** record, signal_buffer** user_record,
                          const signal_protocol_address* address, void* user_data) {
    *user_record = nullptr;
    auto& sessions = self(user_data)->sessions;
    auto it = sessions.find(key(address));
    if (it == sessions.end()) return 0;
    *record = signal_buffer_create(it->second.data(), it->second.size());
    return *record != nullptr ? 1 : SG_ERR_NOMEM;
  }
  static int sub_device_sessions(signal_int_list** out, const char* name, size_t name_len,
                                 void* user_data) {
    signal_int_list* list = signal_int_list_alloc();
    if (list == nullptr) return SG_ERR_NOMEM;
    const std::string wanted(name, name_len);
    int count = 0;
    for (const auto& [k, v] : self(user_data)->sessions) {
      if (k.first == wanted && k.second != 1) {
        signal_int_list_push_back(list, k.second);
        ++count;
      }
    }
    *out = list;
    return count;
  }
  static int store_session(const signal_protocol_address* address, uint8_t* record,
                           size_t record_len, uint8_t* /*user_record*/, size_t /*user_len*/,
                           void* user_data) {
    self(user_data)->sessions[key(address)] = Bytes(record, record + record_len);
    return 0;
  }
  static int contains_session(const signal_protocol_address* address, void* user_data) {
    return self(user_data)->sessions.count(key(address)) != 0 ? 1 : 0;
  }
  static int delete_session(const signal_protocol_address* address, void* user_data) {
    return self(user_data)->sessions.erase(key(address)) != 0 ? 1 : 0;
  }
  static int delete_all_sessions(const char* name, size_t name_len, void* user_data) {
    auto& sessions = self(user_data)->sessions;
    const std::string wanted(name, name_len);
    int count = 0;
    for (auto it = sessions.begin(); it != sessions.end();) {
      if (it->first.first == wanted) {
        it = sessions.erase(it);
        ++count;
      } else {
        ++it;
      }
    }
    return count;
  }

  // pre-key stores (one-time and signed share the same shape)
  static int load_from(std::map<std::uint32_t, Bytes>& keys, signal_buffer** record,
                       std::uint32_t id) {
    auto it = keys.find(id);
    if (it == keys.end()) return SG_ERR_INVALID_KEY_ID;
    *record = signal_buffer_create(it->second.data(), it->second.size());
    return *record != nullptr ? SG_SUCCESS : SG_ERR_NOMEM;
  }
  static int load_prekey(signal_buffer** record, uint32_t id, void* user_data) {
    return load_from(self(user_data)->prekeys, record, id);
  }
  static int store_prekey(uint32_t id, uint8_t* record, size_t len, void* user_data) {
    self(user_data)->prekeys[id] = Bytes(record, record + len);
    return 0;
  }
  static int contains_prekey(uint32_t id, void* user_data) {
    return self(user_data)->prekeys.count(id) != 0 ? 1 : 0;
  }
  static int remove_prekey(uint32_t id, void* user_data) {
    self(user_data)->prekeys.erase(id);
    return 0;
  }
  static int load_signed_prekey(signal_buffer** record, uint32_t id, void* user_data) {
    return load_from(self(user_data)->signed_prekeys, record, id);
  }
  static int store_signed_prekey(uint32_t id, uint8_t* record, size_t len, void* user_data) {
    self(user_data)->signed_prekeys[id] = Bytes(record, record + len);
    return 0;
  }
  static int contains_signed_prekey(uint32_t id, void* user_data) {
    return self(user_data)->signed_prekeys.count(id) != 0 ? 1 : 0;
  }
  static int remove_signed_prekey(uint32_t id, void* user_data) {
    self(user_data)->signed_prekeys.erase(id);
    return 0;
  }

  // identity store: trust on first use, keyed by name
  static int get_identity(signal_buffer** public_data, signal_buffer** private_data,
                          void* user_data) {
    Impl* impl = self(user_data);
    *public_data = signal_buffer_create(impl->identity_public.data(), impl->identity_public.size());
    *private_data =
        signal_buffer_create(impl->identity_private.data(), impl->identity_private.size());
    return (*public_data != nullptr && *private_data != nullptr) ? 0 : SG_ERR_NOMEM;
  }
  static int get_registration_id(void* user_data, uint32_t* registration_id) {
    *registration_id = self(user_data)->registration_id;
    return 0;
  }
  static int save_identity(const signal_protocol_address* address, uint8_t* key_data,
                           size_t key_len, void* user_data) {
    auto& trusted = self(user_data)->trusted;
    const std::string name(address->name, address->name_len);
    if (key_data == nullptr) {
      trusted.erase(name);
    } else {
      trusted[name] = Bytes(key_data, key_data + key_len);
    }
    return 0;
  }
  static int is_trusted(const signal_protocol_address* address, uint8_t* key_data, size_t key_len,
                        void* user_data) {
    auto& trusted = self(user_data)->trusted;
    auto it = trusted.find(std::string(address->name, address->name_len));
    if (it == trusted.end()) return 1;
    return it->second == Bytes(key_data, key_data + key_len) ? 1 : 0;
  }

  void install_stores() {
    check(signal_protocol_store_context_create(&store, ctx.get()), "store context");
    signal_protocol_session_store session_store{};
    session_store.load_session_func = load_session;
    session_store.get_sub_device_sessions_func = sub_device_sessions;
    session_store.store_session_func = store_session;
    session_store.contains_session_func = contains_session;
    session_store.delete_session_func = delete_session;
    session_store.delete_all_sessions_func = delete_all_sessions;
    session_store.user_data = this;
    check(signal_protocol_store_context_set_session_store(store, &session_store), "session store");

    signal_protocol_pre_key_store prekey_store{};
    prekey_store.load_pre_key = load_prekey;
    prekey_store.store_pre_key = store_prekey;
    prekey_store.contains_pre_key = contains_prekey;
    prekey_store.remove_pre_key = remove_prekey;
    prekey_store.user_data = this;
    check(signal_protocol_store_context_set_pre_key_store(store, &prekey_store), "prekey store");

    signal_protocol_signed_pre_key_store signed_store{};
    signed_store.load_signed_pre_key = load_signed_prekey;
    signed_store.store_signed_pre_key = store_signed_prekey;
    signed_store.contains_signed_pre_key = contains_signed_prekey;
    signed_store.remove_signed_pre_key = remove_signed_prekey;
    signed_store.user_data = this;
    check(signal_protocol_store_context_set_signed_pre_key_store(store, &signed_store),
          "signed prekey store");

    signal_protocol_identity_key_store identity_store{};
    identity_store.get_identity_key_pair = get_identity;
    identity_store.get_local_registration_id = get_registration_id;
    identity_store.save_identity = save_identity;
    identity_store.is_trusted_identity = is_trusted;
    identity_store.user_data = this;
    check(signal_protocol_store_context_set_identity_key_store(store, &identity_store),
          "identity store");
  }

  signal_protocol_address address(const std::string& peer) const {
    return signal_protocol_address{peer.c_str(), peer.size(), 1};
  }
};

SignalPeer::SignalPeer() : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.ctx = make_context();
  ratchet_identity_key_pair* identity = nullptr;
  check(signal_protocol_key_helper_generate_identity_key_pair(&identity, s.ctx.get()),
        "generate identity");
  s.identity.reset(identity);
  s.identity_public = serialize_public(ratchet_identity_key_pair_get_public(identity));
  {
    signal_buffer* raw = nullptr;
    check(ec_private_key_serialize(&raw, ratchet_identity_key_pair_get_private(identity)),
          "serialize private key");
    Buffer b(raw);
    s.identity_private = buffer_bytes(b.get());
  }
  check(signal_protocol_key_helper_generate_registration_id(&s.registration_id, 0, s.ctx.get()),
        "registration id");
  s.install_stores();

  session_signed_pre_key* signed_raw = nullptr;
  check(signal_protocol_key_helper_generate_signed_pre_key(&signed_raw, identity,
                                                           s.signed_prekey_id, 0, s.ctx.get()),
        "generate signed prekey");
  Ref<session_signed_pre_key> signed_prekey(signed_raw);
  check(signal_protocol_signed_pre_key_store_key(s.store, signed_prekey.get()),
        "store signed prekey");
  s.signed_part.registration_id = s.registration_id;
  s.signed_part.device_id = 1;
  s.signed_part.identity_key = s.identity_public;
  s.signed_part.signed_prekey_id = s.signed_prekey_id;
  s.signed_part.signed_prekey =
      serialize_public(ec_key_pair_get_public(session_signed_pre_key_get_key_pair(signed_raw)));
  const std::uint8_t* sig = session_signed_pre_key_get_signature(signed_raw);
  s.signed_part.signed_prekey_signature =
      Bytes(sig, sig + session_signed_pre_key_get_signature_len(signed_raw));
}

SignalPeer::~SignalPeer() = default;

const Bytes& SignalPeer::identity_key() const noexcept { return impl_->identity_public; }
std::uint32_t SignalPeer::registration_id() const noexcept { return impl_->registration_id; }

SignalBundle SignalPeer::bundle() {
  Impl& s = *impl_;
  signal_protocol_key_helper_pre_key_list_node* head = nullptr;
  check(signal_protocol_key_helper_generate_pre_keys(&head, s.next_prekey_id, 1, s.ctx.get()),
        "generate prekey");
  session_pre_key* prekey = signal_protocol_key_helper_key_list_element(head);
  const int rc = signal_protocol_pre_key_store_key(s.store, prekey);
  SignalBundle out = s.signed_part;
  out.prekey_id = session_pre_key_get_id(prekey);
  out.prekey = serialize_public(ec_key_pair_get_public(session_pre_key_get_key_pair(prekey)));
  signal_protocol_key_helper_key_list_free(head);
  check(rc, "store prekey");
  ++s.next_prekey_id;
  return out;
}

void SignalPeer::process_bundle(const std::string& peer, const SignalBundle& b) {
  Impl& s = *impl_;
  auto prekey = decode_point(b.prekey, s.ctx.get());
  auto signed_prekey = decode_point(b.signed_prekey, s.ctx.get());
  auto identity = decode_point(b.identity_key, s.ctx.get());
  session_pre_key_bundle* bundle_raw = nullptr;
  check(session_pre_key_bundle_create(&bundle_raw, b.registration_id, b.device_id, b.prekey_id,
                                      prekey.get(), b.signed_prekey_id, signed_prekey.get(),
                                      b.signed_prekey_signature.data(),
                                      b.signed_prekey_signature.size(), identity.get()),
        "bundle");
  Ref<session_pre_key_bundle> bundle(bundle_raw);
  const signal_protocol_address address = s.address(peer);
  session_builder* builder = nullptr;
  check(session_builder_create(&builder, s.store, &address, s.ctx.get()), "session builder");
  const int rc = session_builder_process_pre_key_bundle(builder, bundle.get());
  session_builder_free(builder);
  check(rc, "process_bundle");
}

SignalCiphertext SignalPeer::encrypt(const std::string& peer, ByteView plaintext) {
  Impl& s = *impl_;
  const signal_protocol_address address = s.address(peer);
  if (signal_protocol_session_contains_session(s.store, &address) != 1) {
    throw SignalError(SG_ERR_NO_SESSION, "encrypt: no session with " + peer);
  }
  session_cipher* cipher = nullptr;
  check(session_cipher_create(&cipher, s.store, &address, s.ctx.get()), "session cipher");
  ciphertext_message* message_raw = nullptr;
  const int rc = session_cipher_encrypt(cipher, plaintext.data(), plaintext.size(), &message_raw);
  session_cipher_free(cipher);
  check(rc, "encrypt");
  Ref<ciphertext_message> message(message_raw);
  SignalCiphertext out;
  out.type = ciphertext_message_get_type(message.get());
  out.data = buffer_bytes(ciphertext_message_get_serialized(message.get()));
  return out;
}

Bytes SignalPeer::decrypt(const std::string& peer, int type, ByteView ciphertext) {
  Impl& s = *impl_;
  const signal_protocol_address address = s.address(peer);
  session_cipher* cipher = nullptr;
  check(session_cipher_create(&cipher, s.store, &address, s.ctx.get()), "session cipher");
  std::unique_ptr<session_cipher, void (*)(session_cipher*)> cipher_guard(cipher,
                                                                          session_cipher_free);
  signal_buffer* plaintext_raw = nullptr;
  if (type == CIPHERTEXT_PREKEY_TYPE) {
    pre_key_signal_message* message_raw = nullptr;
    check(pre_key_signal_message_deserialize(&message_raw, ciphertext.data(), ciphertext.size(),
                                             s.ctx.get()),
          "decrypt: parse PreKeySignalMessage");
    Ref<pre_key_signal_message> message(message_raw);
    check(session_cipher_decrypt_pre_key_signal_message(cipher, message.get(), nullptr,
                                                        &plaintext_raw),
          "decrypt");
  } else if (type == CIPHERTEXT_SIGNAL_TYPE) {
    signal_message* message_raw = nullptr;
    check(
        signal_message_deserialize(&message_raw, ciphertext.data(), ciphertext.size(), s.ctx.get()),
        "decrypt: parse SignalMessage");
    Ref<signal_message> message(message_raw);
    check(session_cipher_decrypt_signal_message(cipher, message.get(), nullptr, &plaintext_raw),
          "decrypt");
  } else {
    throw SignalError(SG_ERR_INVAL, "decrypt: type must be 3 or 2");
  }
  Buffer plaintext(plaintext_raw);
  return buffer_bytes(plaintext.get());
}

std::string SignalPeer::safety_number(const std::string& peer) {
  auto it = impl_->trusted.find(peer);
  if (it == impl_->trusted.end()) {
    throw SignalError(SG_ERR_INVAL, "fingerprint: no identity known for " + peer);
  }
  return signal_fingerprint(impl_->identity_public, it->second).displayable;
}

std::size_t SignalPeer::session_record_size(const std::string& peer) const {
  auto it = impl_->sessions.find({peer, 1});
  return it == impl_->sessions.end() ? 0 : it->second.size();
}

}  // namespace bc::interop
