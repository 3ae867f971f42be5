// Committed session-layer vectors (session_vectors.json): KDF outputs and a scripted
// conversation generated from seeded DeterministicRngs. The test regenerates everything and
// compares, so a silent change of wire format, KDF, X3DH or record format fails here.
// To regenerate after an intended change: BC_REGENERATE_VECTORS=1 ./protocol_vectors_test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "crypto/random.hpp"
#include "protocol/ratchet.hpp"
#include "protocol/session_cipher.hpp"
#include "support/test_paths.hpp"
#include "unit/protocol/test_party.hpp"

namespace bc::protocol {
namespace {

using json = nlohmann::json;

std::filesystem::path vectors_path() {
  return bc::test::source_dir() / "tests/vectors/protocol/session_vectors.json";
}

Bytes pattern(std::size_t n, std::uint8_t start) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(start + i);
  return out;
}

json kdf_vectors() {
  json out = json::object();
  ChainKey ck{SecretBytes(pattern(32, 0x00)), 7};
  auto step = chain_step(ck);
  out["chain_step"] = {{"chain_key", to_hex(ck.key.expose())},
                       {"index", ck.index},
                       {"message_key_seed", to_hex(step.message_key_seed.expose())},
                       {"next_chain_key", to_hex(step.next.key.expose())},
                       {"next_index", step.next.index}};
  auto keys = MessageKeys::derive(step.message_key_seed.expose());
  out["message_keys"] = {{"seed", to_hex(step.message_key_seed.expose())},
                         {"cipher_key", to_hex(keys.cipher_key())},
                         {"mac_key", to_hex(keys.mac_key())},
                         {"iv", to_hex(keys.iv())}};
  crypto::DeterministicRng rng(1000);
  const auto ours = KeyPair::generate(rng);
  const auto theirs = KeyPair::generate(rng);
  const Bytes root = pattern(32, 0x40);
  auto rs = root_step(root, theirs.public_key, ours.private_key);
  BC_CHECK(rs.has_value());
  out["root_step"] = {{"root_key", to_hex(root)},
                      {"our_private", to_hex(ours.private_key.secret().expose())},
                      {"their_public", to_hex(theirs.public_key.serialize())},
                      {"new_root_key", to_hex(rs->root_key.expose())},
                      {"chain_key", to_hex(rs->chain_key.key.expose())}};
  Bytes secret(32, 0xFF);
  append(secret, pattern(96, 0x80));
  auto initial = derive_initial_keys(secret);
  out["x3dh_kdf"] = {{"secret", to_hex(secret)},
                     {"root_key", to_hex(initial.root_key.expose())},
                     {"chain_key", to_hex(initial.chain_key.key.expose())}};
  return out;
}

json message_json(const std::string& from, const CiphertextMessage& m, const std::string& text) {
  return {{"from", from},
          {"type", static_cast<int>(m.type)},
          {"plaintext", to_hex(as_bytes(text))},
          {"ciphertext", to_hex(m.serialized)}};
}

json conversation_vectors() {
  crypto::DeterministicRng alice_rng(11);
  crypto::DeterministicRng bob_rng(22);
  test::Party alice(alice_rng);
  test::Party bob(bob_rng);
  json out = json::object();
  const auto bundle = bob.bundle();
  out["alice_identity"] = to_hex(alice.identity().public_key().serialize());
  out["alice_identity_private"] = to_hex(alice.identity().pair.private_key.secret().expose());
  out["alice_registration_id"] = alice.registration_id();
  out["bob_identity"] = to_hex(bob.identity().public_key().serialize());
  out["bob_identity_private"] = to_hex(bob.identity().pair.private_key.secret().expose());
  out["bob_registration_id"] = bob.registration_id();
  out["bob_bundle"] = {{"registration_id", bundle.registration_id},
                       {"prekey_id", *bundle.prekey_id},
                       {"prekey", to_hex(bundle.prekey->serialize())},
                       {"signed_prekey_id", bundle.signed_prekey_id},
                       {"signed_prekey", to_hex(bundle.signed_prekey.serialize())},
                       {"signed_prekey_signature", to_hex(bundle.signed_prekey_signature)}};
  BC_CHECK(alice.start(bundle).has_value());

  json messages = json::array();
  auto exchange = [&](test::Party& from, const std::string& name, test::Party& to,
                      const std::string& text) {
    auto m = from.send(as_bytes(text));
    BC_CHECK(m.has_value());
    auto p = to.receive(*m);
    BC_CHECK(p.has_value() && *p == to_bytes(as_bytes(text)));
    messages.push_back(message_json(name, *m, text));
  };
  exchange(alice, "alice", bob, "Hello Bob, this is the first message.");
  exchange(alice, "alice", bob, "A second PreKeySignalMessage before any reply.");
  exchange(bob, "bob", alice, "Hello Alice.");
  exchange(alice, "alice", bob, "Now a plain SignalMessage.");
  // Out of order: Bob sends two, Alice reads the second first.
  auto b1 = bob.send(as_bytes(std::string("Bob's first of two.")));
  auto b2 = bob.send(as_bytes(std::string("Bob's second of two.")));
  BC_CHECK(b1 && b2);
  BC_CHECK(alice.receive(*b2).has_value());
  BC_CHECK(alice.receive(*b1).has_value());
  messages.push_back(message_json("bob", *b1, "Bob's first of two."));
  messages.push_back(message_json("bob", *b2, "Bob's second of two."));
  exchange(alice, "alice", bob, std::string(1024, 'k'));
  exchange(bob, "bob", alice, "");
  out["messages"] = messages;
  out["alice_record"] = to_hex(alice.record_bytes());
  out["bob_record"] = to_hex(bob.record_bytes());
  return out;
}

json all_vectors() {
  return {{"description",
           "Backchannel session-layer vectors (libsignal-protocol-c v3 format), generated from "
           "seeded DeterministicRngs by tests/vectors/protocol/session_vectors_test.cpp"},
          {"kdf", kdf_vectors()},
          {"conversation", conversation_vectors()}};
}

// first_mismatch names the first differing path between two JSON values.
std::string first_mismatch(const json& expected, const json& actual, const std::string& path) {
  if (expected.is_number() && actual.is_number()) {
    return expected == actual ? std::string() : path;
  }
  if (expected.type() != actual.type()) return path + " (type)";
  if (expected.is_object()) {
    for (auto it = expected.begin(); it != expected.end(); ++it) {
      if (!actual.contains(it.key())) return path + "." + it.key() + " (missing)";
      auto m = first_mismatch(it.value(), actual[it.key()], path + "." + it.key());
      if (!m.empty()) return m;
    }
    if (expected.size() != actual.size()) return path + " (extra keys)";
    return {};
  }
  if (expected.is_array()) {
    if (expected.size() != actual.size()) return path + " (length)";
    for (std::size_t i = 0; i < expected.size(); ++i) {
      auto m = first_mismatch(expected[i], actual[i], path + "[" + std::to_string(i) + "]");
      if (!m.empty()) return m;
    }
    return {};
  }
  return expected == actual ? std::string() : path;
}

TEST(SessionVectorsTest, RegeneratedVectorsMatchCommittedOnes) {
  // Through text and back, so numbers compare as the parser types them.
  const json generated = json::parse(all_vectors().dump());
  if (std::getenv("BC_REGENERATE_VECTORS") != nullptr) {
    std::ofstream(vectors_path()) << generated.dump(2) << '\n';
    GTEST_SKIP() << "wrote " << vectors_path();
  }
  const std::string text = bc::test::read_file(vectors_path());
  ASSERT_FALSE(text.empty()) << "missing " << vectors_path();
  const json committed = json::parse(text);
  EXPECT_EQ(first_mismatch(committed, generated, "$"), "");
}

// The committed messages decrypt with fresh receivers built from the same seeds, independently
// of the generator: encryption draws no randomness, so receivers that replay only the receives,
// in order, reach the same ratchet keys.
TEST(SessionVectorsTest, CommittedMessagesDecrypt) {
  const std::string text = bc::test::read_file(vectors_path());
  ASSERT_FALSE(text.empty());
  const json conv = json::parse(text)["conversation"];
  crypto::DeterministicRng alice_rng(11);
  crypto::DeterministicRng bob_rng(22);
  test::Party alice(alice_rng);
  test::Party bob(bob_rng);
  ASSERT_TRUE(alice.start(bob.bundle()));
  EXPECT_EQ(to_hex(alice.identity().public_key().serialize()), conv["alice_identity"]);
  EXPECT_EQ(to_hex(bob.identity().public_key().serialize()), conv["bob_identity"]);
  std::size_t decrypted = 0;
  for (const auto& m : conv["messages"]) {
    auto bytes = from_hex(m["ciphertext"].get<std::string>());
    ASSERT_TRUE(bytes);
    const CiphertextMessage msg{static_cast<MessageType>(m["type"].get<int>()), *bytes};
    test::Party& to = m["from"] == "alice" ? bob : alice;
    auto plaintext = to.receive(msg);
    ASSERT_TRUE(plaintext) << decrypted << ": " << plaintext.error().message();
    EXPECT_EQ(to_hex(*plaintext), m["plaintext"].get<std::string>());
    ++decrypted;
  }
  EXPECT_EQ(decrypted, conv["messages"].size());
}

}  // namespace
}  // namespace bc::protocol
