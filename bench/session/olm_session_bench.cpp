// Anchor: libolm 3.2 (Matrix's Double Ratchet, its own crypto). The session is pickled (encrypted
// serialization) after every message, as a store would.
#include <olm/olm.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "crypto/random.hpp"
#include "session_bench.hpp"

namespace bc::bench {
namespace {

using Buffer = std::vector<std::uint8_t>;

Buffer random_buffer(std::size_t size) {
  Buffer out(size);
  if (size != 0) crypto::random_bytes(out);
  return out;
}

const Buffer& pickle_key() {
  static const Buffer key = random_buffer(32);
  return key;
}

class Account {
 public:
  Account() : memory_(olm_account_size()), account_(olm_account(memory_.data())) {
    Buffer random = random_buffer(olm_create_account_random_length(account_));
    check(olm_create_account(account_, random.data(), random.size()));
    Buffer keys(olm_account_identity_keys_length(account_));
    check(olm_account_identity_keys(account_, keys.data(), keys.size()));
    const auto json = nlohmann::json::parse(keys.begin(), keys.end());
    curve25519_ = json.at("curve25519").get<std::string>();
    ed25519_ = json.at("ed25519").get<std::string>();
  }
  Account(const Account&) = delete;
  Account& operator=(const Account&) = delete;

  OlmAccount* get() { return account_; }
  const std::string& curve25519() const { return curve25519_; }
  const std::string& ed25519() const { return ed25519_; }

  // one_time_key makes a fresh one-time key, marks it published and returns it with the
  // account's Ed25519 signature over it (how Matrix clients publish them).
  std::pair<std::string, std::string> signed_one_time_key() {
    Buffer random = random_buffer(olm_account_generate_one_time_keys_random_length(account_, 1));
    check(olm_account_generate_one_time_keys(account_, 1, random.data(), random.size()));
    Buffer keys(olm_account_one_time_keys_length(account_));
    check(olm_account_one_time_keys(account_, keys.data(), keys.size()));
    const auto json = nlohmann::json::parse(keys.begin(), keys.end());
    const std::string key = json.at("curve25519").begin()->get<std::string>();
    check(olm_account_mark_keys_as_published(account_));
    Buffer signature(olm_account_signature_length(account_));
    check(olm_account_sign(account_, key.data(), key.size(), signature.data(), signature.size()));
    return {key, std::string(signature.begin(), signature.end())};
  }

  void check(std::size_t rc) const {
    if (rc == olm_error()) throw std::runtime_error(olm_account_last_error(account_));
  }

 private:
  Buffer memory_;
  OlmAccount* account_;
  std::string curve25519_;
  std::string ed25519_;
};

class Session {
 public:
  Session() : memory_(olm_session_size()), session_(olm_session(memory_.data())) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void outbound(Account& account, const std::string& identity, const std::string& one_time_key) {
    Buffer random = random_buffer(olm_create_outbound_session_random_length(session_));
    check(olm_create_outbound_session(session_, account.get(), identity.data(), identity.size(),
                                      one_time_key.data(), one_time_key.size(), random.data(),
                                      random.size()));
  }
  void inbound(Account& account, std::string message) {
    check(olm_create_inbound_session(session_, account.get(), message.data(), message.size()));
    check(olm_remove_one_time_keys(account.get(), session_));
  }
  std::pair<std::size_t, std::string> encrypt(const Buffer& plaintext) {
    const std::size_t type = olm_encrypt_message_type(session_);
    Buffer random = random_buffer(olm_encrypt_random_length(session_));
    std::string message(olm_encrypt_message_length(session_, plaintext.size()), '\0');
    check(olm_encrypt(session_, plaintext.data(), plaintext.size(), random.data(), random.size(),
                      message.data(), message.size()));
    store();
    return {type, std::move(message)};
  }
  Buffer decrypt(std::size_t type, const std::string& message) {
    std::string copy = message;  // olm_decrypt* destroy their input
    const std::size_t max =
        olm_decrypt_max_plaintext_length(session_, type, copy.data(), copy.size());
    check(max);
    copy = message;
    Buffer plaintext(max);
    const std::size_t size =
        olm_decrypt(session_, type, copy.data(), copy.size(), plaintext.data(), plaintext.size());
    check(size);
    plaintext.resize(size);
    store();
    return plaintext;
  }
  // store pickles the session, as a store writes it after every message.
  void store() {
    pickled_.resize(olm_pickle_session_length(session_));
    check(olm_pickle_session(session_, pickle_key().data(), pickle_key().size(), pickled_.data(),
                             pickled_.size()));
  }
  std::size_t pickled_size() const { return pickled_.size(); }

  void check(std::size_t rc) const {
    if (rc == olm_error()) throw std::runtime_error(olm_session_last_error(session_));
  }

 private:
  Buffer memory_;
  OlmSession* session_;
  std::string pickled_;
};

class Utility {
 public:
  Utility() : memory_(olm_utility_size()), utility_(olm_utility(memory_.data())) {}
  bool verify(const std::string& ed25519, const std::string& message, std::string signature) {
    return olm_ed25519_verify(utility_, ed25519.data(), ed25519.size(), message.data(),
                              message.size(), signature.data(), signature.size()) != olm_error();
  }

 private:
  Buffer memory_;
  OlmUtility* utility_;
};

void setup(benchmark::State& state) {
  Account alice;
  Account bob;
  Utility utility;
  const Buffer& text = plaintext1k();
  for (auto _ : state) {
    state.PauseTiming();
    const auto [one_time_key, signature] = bob.signed_one_time_key();
    Session alice_session;
    Session bob_session;
    state.ResumeTiming();
    if (!utility.verify(bob.ed25519(), one_time_key, signature)) {
      throw std::runtime_error("setup: one-time key signature refused");
    }
    alice_session.outbound(alice, bob.curve25519(), one_time_key);
    const auto [type, message] = alice_session.encrypt(text);
    bob_session.inbound(bob, message);
    const Buffer plaintext = bob_session.decrypt(type, message);
    if (plaintext.size() != text.size()) throw std::runtime_error("setup: wrong plaintext");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

struct Pair {
  Account alice;
  Account bob;
  Session alice_session;
  Session bob_session;
  // Pair runs the handshake and one reply, so both sides send normal messages.
  Pair() {
    const auto [one_time_key, signature] = bob.signed_one_time_key();
    alice_session.outbound(alice, bob.curve25519(), one_time_key);
    const auto [type, message] = alice_session.encrypt(plaintext1k());
    bob_session.inbound(bob, message);
    (void)bob_session.decrypt(type, message);
    const auto [reply_type, reply] = bob_session.encrypt(plaintext1k());
    (void)alice_session.decrypt(reply_type, reply);
  }
};

void steady(benchmark::State& state) {
  Pair pair;
  const Buffer& text = plaintext1k();
  for (auto _ : state) {
    const auto [type, message] = pair.alice_session.encrypt(text);
    benchmark::DoNotOptimize(pair.bob_session.decrypt(type, message));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void pingpong(benchmark::State& state) {
  Pair pair;
  const Buffer& text = plaintext1k();
  bool alice_sends = true;
  for (auto _ : state) {
    Session& from = alice_sends ? pair.alice_session : pair.bob_session;
    Session& to = alice_sends ? pair.bob_session : pair.alice_session;
    const auto [type, message] = from.encrypt(text);
    benchmark::DoNotOptimize(to.decrypt(type, message));
    alice_sends = !alice_sends;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["state_bytes"] = static_cast<double>(pair.alice_session.pickled_size());
}

BENCHMARK(setup)->Name("session/olm/setup")->Apply(configure);
BENCHMARK(steady)->Name("session/olm/steady")->Apply(configure);
BENCHMARK(pingpong)->Name("session/olm/pingpong")->Apply(configure);

}  // namespace
}  // namespace bc::bench
