// Test helper: one protocol participant (identity, prekeys, one session record per peer).
#pragma once

#include <map>
#include <memory>

#include "core/bytes.hpp"
#include "protocol/keys.hpp"
#include "protocol/session_cipher.hpp"
#include "protocol/session_state.hpp"

namespace bc::protocol::test {

// Party holds what one side needs: its identity, registration id, signed prekey, a stock of
// one-time prekeys, and its session record with the other side.
class Party final : public PreKeyLookup {
 public:
  explicit Party(Rng& rng, std::uint32_t signed_prekey_id = 1)
      : rng_(rng),
        identity_(IdentityKeyPair::generate(rng)),
        registration_id_(generate_registration_id(rng)),
        signed_prekey_(generate_signed_prekey(identity_, signed_prekey_id, 0, rng)) {}

  // bundle publishes a bundle with a fresh one-time prekey (or none).
  PreKeyBundle bundle(bool with_one_time = true) {
    PreKeyBundle b;
    b.registration_id = registration_id_;
    b.device_id = 1;
    if (with_one_time) {
      const std::uint32_t id = next_prekey_id_++;
      auto record = generate_prekey(id, rng_);
      b.prekey_id = id;
      b.prekey = record.pair.public_key;
      one_time_.emplace(id, std::move(record.pair));
    }
    b.signed_prekey_id = signed_prekey_.id;
    b.signed_prekey = signed_prekey_.pair.public_key;
    b.signed_prekey_signature = signed_prekey_.signature;
    b.identity_key = identity_.public_key();
    return b;
  }

  Result<void> start(const PreKeyBundle& b) {
    return process_prekey_bundle(record_, identity_, registration_id_, b, rng_);
  }
  Result<CiphertextMessage> send(ByteView plaintext) { return encrypt(record_, plaintext); }
  Result<Bytes> receive(const CiphertextMessage& m) {
    if (m.type == MessageType::kSignal) return decrypt_message(record_, m.serialized, rng_);
    auto r =
        decrypt_prekey_message(record_, identity_, registration_id_, *this, m.serialized, rng_);
    if (!r) return fail(std::move(r).error());
    if (r->used_prekey_id) one_time_.erase(*r->used_prekey_id);
    return std::move(r->plaintext);
  }

  const KeyPair* one_time_prekey(std::uint32_t id) const override {
    auto it = one_time_.find(id);
    return it == one_time_.end() ? nullptr : &it->second;
  }
  const KeyPair* signed_prekey(std::uint32_t id) const override {
    return id == signed_prekey_.id ? &signed_prekey_.pair : nullptr;
  }

  SessionRecord& record() { return record_; }
  const IdentityKeyPair& identity() const { return identity_; }
  std::uint32_t registration_id() const { return registration_id_; }
  Rng& rng() { return rng_; }
  std::size_t one_time_prekeys() const { return one_time_.size(); }
  Bytes record_bytes() const { return to_bytes(record_.serialize().expose()); }

 private:
  Rng& rng_;
  IdentityKeyPair identity_;
  std::uint32_t registration_id_;
  SignedPreKeyRecord signed_prekey_;
  std::map<std::uint32_t, KeyPair> one_time_;
  std::uint32_t next_prekey_id_ = 100;
  SessionRecord record_;
};

}  // namespace bc::protocol::test
