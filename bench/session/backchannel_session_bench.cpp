// Backchannel's own sessions (src/protocol/session_cipher.hpp), measured as the anchors are.
// session/backchannel/*: each message goes through the client's load -> step -> save cycle, the
// record deserialized before and serialized after every encrypt and decrypt (as libsignal-
// protocol-c's store callbacks do). session/backchannel_save/*: the record stays in memory and is
// serialized after every message (as the libolm column pickles).
#include <map>
#include <stdexcept>
#include <string>

#include "crypto/random.hpp"
#include "protocol/keys.hpp"
#include "protocol/session_cipher.hpp"
#include "protocol/session_state.hpp"
#include "session_bench.hpp"

namespace bc::bench {
namespace {

using protocol::CiphertextMessage;
using protocol::MessageType;
using protocol::SessionRecord;

template <typename T>
T must(Result<T> result) {
  if (!result) throw std::runtime_error(result.error().message());
  return std::move(result).value();
}
void must(Result<void> result) {
  if (!result) throw std::runtime_error(result.error().message());
}

// Party is one identity with its prekeys and its stored session record (one peer).
class Party final : public protocol::PreKeyLookup {
 public:
  // With `reload`, every step deserializes the stored record first; without, the record is
  // kept in memory and only serialized after every step.
  Party(Rng& rng, bool reload)
      : reload_(reload),
        identity_(protocol::IdentityKeyPair::generate(rng)),
        registration_id_(protocol::generate_registration_id(rng)),
        signed_prekey_(protocol::generate_signed_prekey(identity_, 1, 0, rng)) {}

  const protocol::KeyPair* one_time_prekey(std::uint32_t id) const override {
    auto it = prekeys_.find(id);
    return it == prekeys_.end() ? nullptr : &it->second.pair;
  }
  const protocol::KeyPair* signed_prekey(std::uint32_t id) const override {
    return id == signed_prekey_.id ? &signed_prekey_.pair : nullptr;
  }

  protocol::PreKeyBundle bundle(Rng& rng) {
    const std::uint32_t id = next_prekey_id_++;
    prekeys_.emplace(id, protocol::generate_prekey(id, rng));
    protocol::PreKeyBundle out;
    out.registration_id = registration_id_;
    out.prekey_id = id;
    out.prekey = prekeys_.at(id).pair.public_key;
    out.signed_prekey_id = signed_prekey_.id;
    out.signed_prekey = signed_prekey_.pair.public_key;
    out.signed_prekey_signature = signed_prekey_.signature;
    out.identity_key = identity_.public_key();
    return out;
  }

  // start: X3DH as initiator into a fresh record, then store it.
  void start(const protocol::PreKeyBundle& bundle, Rng& rng) {
    SessionRecord record;
    must(protocol::process_prekey_bundle(record, identity_, registration_id_, bundle, rng));
    save(record);
  }

  CiphertextMessage encrypt(ByteView plaintext) {
    SessionRecord record = load();
    CiphertextMessage out = must(protocol::encrypt(record, plaintext));
    save(record);
    return out;
  }

  Bytes decrypt(const CiphertextMessage& message, Rng& rng) {
    SessionRecord record = load();
    Bytes plaintext;
    if (message.type == MessageType::kPreKey) {
      protocol::PreKeyDecryption d = must(protocol::decrypt_prekey_message(
          record, identity_, registration_id_, *this, message.serialized, rng));
      save(record);
      if (d.used_prekey_id) prekeys_.erase(*d.used_prekey_id);
      return std::move(d.plaintext);
    }
    plaintext = must(protocol::decrypt_message(record, message.serialized, rng));
    save(record);
    return plaintext;
  }

  // forget drops the stored record (a new session next time).
  void forget() {
    stored_ = SecretBytes();
    memory_ = SessionRecord();
  }
  std::size_t stored_size() const { return reload_ ? stored_.size() : saved_.size(); }

 private:
  SessionRecord load() {
    if (!reload_) return std::move(memory_);
    if (stored_.empty()) return SessionRecord();
    return must(SessionRecord::deserialize(stored_.expose()));
  }
  void save(SessionRecord& record) {
    if (reload_) {
      stored_ = record.serialize();
      return;
    }
    saved_.clear();
    record.serialize_to(saved_);
    memory_ = std::move(record);
  }

  bool reload_;
  SessionRecord memory_;
  Bytes saved_;

  protocol::IdentityKeyPair identity_;
  std::uint32_t registration_id_;
  protocol::SignedPreKeyRecord signed_prekey_;
  std::map<std::uint32_t, protocol::PreKeyRecord> prekeys_;
  std::uint32_t next_prekey_id_ = 1;
  SecretBytes stored_;
};

void setup(benchmark::State& state, bool reload) {
  crypto::SystemRng rng;
  Party alice(rng, reload);
  Party bob(rng, reload);
  const auto& text = plaintext1k();
  for (auto _ : state) {
    state.PauseTiming();
    alice.forget();
    bob.forget();
    const protocol::PreKeyBundle bundle = bob.bundle(rng);
    state.ResumeTiming();
    alice.start(bundle, rng);
    const CiphertextMessage message = alice.encrypt(text);
    const Bytes plaintext = bob.decrypt(message, rng);
    if (plaintext.size() != text.size()) throw std::runtime_error("setup: wrong plaintext");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

// connect runs the handshake and one reply, so that both sides send SignalMessages.
void connect(Party& alice, Party& bob, Rng& rng) {
  alice.start(bob.bundle(rng), rng);
  (void)bob.decrypt(alice.encrypt(plaintext1k()), rng);
  (void)alice.decrypt(bob.encrypt(plaintext1k()), rng);
}

void steady(benchmark::State& state, bool reload) {
  crypto::SystemRng rng;
  Party alice(rng, reload);
  Party bob(rng, reload);
  connect(alice, bob, rng);
  const auto& text = plaintext1k();
  for (auto _ : state) benchmark::DoNotOptimize(bob.decrypt(alice.encrypt(text), rng));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void pingpong(benchmark::State& state, bool reload) {
  crypto::SystemRng rng;
  Party alice(rng, reload);
  Party bob(rng, reload);
  connect(alice, bob, rng);
  const auto& text = plaintext1k();
  bool alice_sends = true;
  for (auto _ : state) {
    Party& from = alice_sends ? alice : bob;
    Party& to = alice_sends ? bob : alice;
    benchmark::DoNotOptimize(to.decrypt(from.encrypt(text), rng));
    alice_sends = !alice_sends;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["state_bytes"] = static_cast<double>(alice.stored_size());
}

BENCHMARK_CAPTURE(setup, load_save, true)->Name("session/backchannel/setup")->Apply(configure);
BENCHMARK_CAPTURE(steady, load_save, true)->Name("session/backchannel/steady")->Apply(configure);
BENCHMARK_CAPTURE(pingpong, load_save, true)
    ->Name("session/backchannel/pingpong")
    ->Apply(configure);
BENCHMARK_CAPTURE(setup, save, false)->Name("session/backchannel_save/setup")->Apply(configure);
BENCHMARK_CAPTURE(steady, save, false)->Name("session/backchannel_save/steady")->Apply(configure);
BENCHMARK_CAPTURE(pingpong, save, false)
    ->Name("session/backchannel_save/pingpong")
    ->Apply(configure);

}  // namespace
}  // namespace bc::bench
