#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/random.hpp"
#include "protocol/session_cipher.hpp"
#include "unit/protocol/test_party.hpp"
#include "wire/whisper.hpp"

namespace bc::protocol {
namespace {

using test::Party;

Bytes text(const std::string& s) { return to_bytes(as_bytes(s)); }

class SessionTest : public ::testing::Test {
 protected:
  crypto::DeterministicRng alice_rng_{1};
  crypto::DeterministicRng bob_rng_{2};
  Party alice_{alice_rng_};
  Party bob_{bob_rng_};

  void start(bool with_one_time = true) { ASSERT_TRUE(alice_.start(bob_.bundle(with_one_time))); }
  CiphertextMessage send(Party& from, const std::string& s) {
    auto m = from.send(text(s));
    EXPECT_TRUE(m) << m.error().message();
    return m.value_or(CiphertextMessage{});
  }
  void expect_receive(Party& to, const CiphertextMessage& m, const std::string& s) {
    auto p = to.receive(m);
    ASSERT_TRUE(p) << p.error().message();
    EXPECT_EQ(*p, text(s));
  }
  // expect_failure_leaves_record checks a failing receive leaves the record byte-identical.
  void expect_failure(Party& to, const CiphertextMessage& m, Errc code) {
    const Bytes before = to.record_bytes();
    auto p = to.receive(m);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, code) << p.error().message();
    EXPECT_EQ(to.record_bytes(), before);
  }
};

TEST_F(SessionTest, FullConversation) {
  start();
  const auto a1 = send(alice_, "hello bob");
  const auto a2 = send(alice_, "are you there");
  EXPECT_EQ(a1.type, MessageType::kPreKey);
  EXPECT_EQ(a2.type, MessageType::kPreKey);
  expect_receive(bob_, a1, "hello bob");
  EXPECT_EQ(bob_.one_time_prekeys(), 0u);  // consumed
  expect_receive(bob_, a2, "are you there");
  const auto b1 = send(bob_, "hi alice");
  EXPECT_EQ(b1.type, MessageType::kSignal);
  expect_receive(alice_, b1, "hi alice");
  const auto a3 = send(alice_, "now plain signal messages");
  EXPECT_EQ(a3.type, MessageType::kSignal);
  expect_receive(bob_, a3, "now plain signal messages");
  for (int round = 0; round < 20; ++round) {
    const auto x = send(bob_, "ping " + std::to_string(round));
    expect_receive(alice_, x, "ping " + std::to_string(round));
    const auto y = send(alice_, "pong " + std::to_string(round));
    expect_receive(bob_, y, "pong " + std::to_string(round));
  }
  EXPECT_EQ(alice_.record().current_state()->receiver_chains.size(), kMaxReceiverChains);
  EXPECT_TRUE(alice_.record().previous_states().empty());
}

TEST_F(SessionTest, WithoutOneTimePreKey) {
  start(/*with_one_time=*/false);
  const auto a1 = send(alice_, "no one-time prekey");
  auto fields = wire::decode_prekey_signal_message(a1.serialized);
  ASSERT_TRUE(fields);
  EXPECT_FALSE(fields->prekey_id.has_value());
  expect_receive(bob_, a1, "no one-time prekey");
  expect_receive(alice_, send(bob_, "reply"), "reply");
}

TEST_F(SessionTest, EmptyAndLargePlaintexts) {
  start();
  expect_receive(bob_, send(alice_, ""), "");
  const std::string big(100000, 'x');
  expect_receive(bob_, send(alice_, big), big);
}

TEST_F(SessionTest, OutOfOrderWithinAndAcrossChains) {
  start();
  expect_receive(bob_, send(alice_, "first"), "first");
  std::vector<CiphertextMessage> bob_chain1;
  for (int i = 0; i < 5; ++i) bob_chain1.push_back(send(bob_, "b1-" + std::to_string(i)));
  // Alice gets message 4 first, then 1, then 3.
  expect_receive(alice_, bob_chain1[4], "b1-4");
  expect_receive(alice_, bob_chain1[1], "b1-1");
  expect_receive(alice_, bob_chain1[3], "b1-3");
  // Alice replies: Bob ratchets, sends a new chain; Alice receives it before the rest of chain 1.
  expect_receive(bob_, send(alice_, "reply"), "reply");
  const auto chain2 = send(bob_, "b2-0");
  expect_receive(alice_, chain2, "b2-0");
  expect_receive(alice_, bob_chain1[0], "b1-0");
  expect_receive(alice_, bob_chain1[2], "b1-2");
  EXPECT_EQ(alice_.record().current_state()->skipped_key_count(), 0u);
}

TEST_F(SessionTest, DuplicatesAreRejectedAndLeaveTheRecordUnchanged) {
  start();
  const auto a1 = send(alice_, "once");
  expect_receive(bob_, a1, "once");
  // A replayed PreKeySignalMessage: same base key, old counter.
  expect_failure(bob_, a1, Errc::kDuplicate);
  const auto b1 = send(bob_, "b1");
  const auto b2 = send(bob_, "b2");
  expect_receive(alice_, b2, "b2");
  expect_receive(alice_, b1, "b1");
  expect_failure(alice_, b1, Errc::kDuplicate);
  expect_failure(alice_, b2, Errc::kDuplicate);
}

TEST_F(SessionTest, TamperingIsAuthFailedAndTransactional) {
  start();
  expect_receive(bob_, send(alice_, "setup"), "setup");
  const auto b1 = send(bob_, "tamper with me");
  // Flip each bit of the MAC-covered body and MAC: every one fails, the record never changes.
  for (std::size_t i = 1; i < b1.serialized.size(); ++i) {
    CiphertextMessage bad = b1;
    bad.serialized[i] ^= 0x01;
    const Bytes before = alice_.record_bytes();
    auto p = alice_.receive(bad);
    ASSERT_FALSE(p) << i;
    EXPECT_EQ(alice_.record_bytes(), before) << i;
  }
  // The ciphertext byte flip specifically is an authentication failure.
  CiphertextMessage bad = b1;
  bad.serialized[bad.serialized.size() - 9] ^= 0x80;
  expect_failure(alice_, bad, Errc::kAuthFailed);
  // The original still decrypts afterwards.
  expect_receive(alice_, b1, "tamper with me");
}

TEST_F(SessionTest, TamperedPreKeyMessageLeavesNoSession) {
  start();
  auto a1 = send(alice_, "hello");
  CiphertextMessage bad = a1;
  bad.serialized[bad.serialized.size() - 12] ^= 0x04;  // inside the inner ciphertext or MAC
  expect_failure(bob_, bad, Errc::kAuthFailed);
  EXPECT_FALSE(bob_.record().has_current_state());
  EXPECT_EQ(bob_.one_time_prekeys(), 1u);
  expect_receive(bob_, a1, "hello");
}

TEST_F(SessionTest, RepeatedPreKeyMessageMustNameTheSessionsIdentity) {
  start();
  const auto a1 = send(alice_, "one");
  auto a2 = send(alice_, "two");
  expect_receive(bob_, a1, "one");
  // a2 belongs to the session Bob already has; swap in another identity key (bytes 41..72
  // of the raw key inside field 3) and it must be refused, not silently accepted.
  auto fields = wire::decode_prekey_signal_message(a2.serialized);
  ASSERT_TRUE(fields);
  crypto::DeterministicRng rng(77);
  fields->identity_key = IdentityKeyPair::generate(rng).public_key().serialize();
  CiphertextMessage forged{MessageType::kPreKey, {}};
  wire::encode_prekey_signal_message(*fields, forged.serialized);
  expect_failure(bob_, forged, Errc::kAuthFailed);
  expect_receive(bob_, a2, "two");
}

TEST_F(SessionTest, BaseKeyWithFlippedTopBitIsNotANewSession) {
  start(/*with_one_time=*/false);
  const auto a1 = send(alice_, "once only");
  expect_receive(bob_, a1, "once only");
  // X25519 ignores the top bit of a public key: a replay with the base key's top bit flipped
  // must not pass for a new session (which would decrypt the same message again).
  auto fields = wire::decode_prekey_signal_message(a1.serialized);
  ASSERT_TRUE(fields);
  fields->base_key[32] ^= 0x80;
  CiphertextMessage replay{MessageType::kPreKey, {}};
  wire::encode_prekey_signal_message(*fields, replay.serialized);
  expect_failure(bob_, replay, Errc::kMalformed);
}

TEST_F(SessionTest, ForwardJumpBound) {
  start();
  expect_receive(bob_, send(alice_, "setup"), "setup");
  std::vector<CiphertextMessage> sent;
  for (std::uint32_t i = 0; i <= kMaxForwardJump + 1; ++i) sent.push_back(send(bob_, "m"));
  // Message kMaxForwardJump + 1 is too far ahead of index 0.
  expect_failure(alice_, sent.back(), Errc::kLimitExceeded);
  // Exactly kMaxForwardJump ahead is fine; it stores kMaxForwardJump skipped keys.
  expect_receive(alice_, sent[kMaxForwardJump], "m");
  EXPECT_EQ(alice_.record().current_state()->skipped_key_count(), kMaxForwardJump);
  expect_receive(alice_, sent.back(), "m");
  expect_receive(alice_, sent[17], "m");
  expect_failure(alice_, sent[17], Errc::kDuplicate);
}

TEST_F(SessionTest, SkippedKeyTotalCapEvictsOldest) {
  start();
  expect_receive(bob_, send(alice_, "setup"), "setup");
  std::vector<CiphertextMessage> first;
  for (int i = 0; i < 1500; ++i) first.push_back(send(bob_, "c1"));
  expect_receive(alice_, first.back(), "c1");  // 1499 skipped on chain 1
  expect_receive(bob_, send(alice_, "turn"), "turn");
  std::vector<CiphertextMessage> second;
  for (int i = 0; i < 1000; ++i) second.push_back(send(bob_, "c2"));
  expect_receive(alice_, second.back(), "c2");  // 999 more: total would be 2498
  EXPECT_EQ(alice_.record().current_state()->skipped_key_count(), kMaxSkippedKeysPerState);
  // The oldest skipped keys of chain 1 were evicted; a late message for one is a duplicate.
  expect_failure(alice_, first[0], Errc::kDuplicate);
  expect_receive(alice_, first[1400], "c1");
  expect_receive(alice_, second[0], "c2");
}

TEST_F(SessionTest, BadBundleSignatureIsRejected) {
  PreKeyBundle b = bob_.bundle();
  b.signed_prekey_signature[5] ^= 1;
  auto r = alice_.start(b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kAuthFailed);
  EXPECT_FALSE(alice_.record().has_current_state());
}

TEST_F(SessionTest, NoSessionAndUnknownPreKey) {
  auto r = alice_.send(text("x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
  start();
  auto a1 = send(alice_, "hello");
  // Bob has lost the one-time prekey.
  crypto::DeterministicRng other_rng(99);
  Party stranger(other_rng);
  auto p = decrypt_prekey_message(stranger.record(), stranger.identity(), 1, stranger,
                                  a1.serialized, other_rng);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kNotFound);
  // A SignalMessage to someone without a session.
  expect_receive(bob_, a1, "hello");
  auto b1 = send(bob_, "reply");
  auto q = decrypt_message(stranger.record(), b1.serialized, other_rng);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Errc::kNotFound);
}

TEST_F(SessionTest, UntrustedIdentityIsRefused) {
  start();
  auto a1 = send(alice_, "hello");
  crypto::DeterministicRng rng(5);
  const auto other = IdentityKeyPair::generate(rng).public_key();
  const Bytes before = bob_.record_bytes();
  auto p = decrypt_prekey_message(bob_.record(), bob_.identity(), bob_.registration_id(), bob_,
                                  a1.serialized, bob_.rng(), other);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kUntrustedIdentity);
  EXPECT_EQ(bob_.record_bytes(), before);
  auto peek = peek_prekey_message_identity(a1.serialized);
  ASSERT_TRUE(peek);
  EXPECT_EQ(*peek, alice_.identity().public_key());
  auto good = decrypt_prekey_message(bob_.record(), bob_.identity(), bob_.registration_id(), bob_,
                                     a1.serialized, bob_.rng(), alice_.identity().public_key());
  ASSERT_TRUE(good);
  EXPECT_EQ(good->sender_identity, alice_.identity().public_key());
  EXPECT_EQ(good->used_prekey_id, std::optional<std::uint32_t>(100));
}

TEST_F(SessionTest, NewSessionArchivesOldAndLateMessagesStillDecrypt) {
  start();
  expect_receive(bob_, send(alice_, "s1"), "s1");
  expect_receive(alice_, send(bob_, "s1 reply"), "s1 reply");
  const auto late = send(alice_, "late on session 1");
  // Alice starts over with a fresh bundle; Bob gets the new session first.
  start();
  expect_receive(bob_, send(alice_, "s2"), "s2");
  EXPECT_EQ(bob_.record().previous_states().size(), 1u);
  expect_receive(bob_, late, "late on session 1");
  // Decrypting with the archived state promoted it to current.
  EXPECT_EQ(bob_.record().previous_states().size(), 1u);
  // Bob now answers on session 1 (the promoted one), which Alice has archived.
  expect_receive(alice_, send(bob_, "on session 1"), "on session 1");
}

TEST_F(SessionTest, ArchivedStatesAreBounded) {
  for (std::size_t i = 0; i < kMaxArchivedStates + 3; ++i) start();
  EXPECT_EQ(alice_.record().previous_states().size(), kMaxArchivedStates);
}

TEST_F(SessionTest, RecordRoundTripsAndContinues) {
  start();
  expect_receive(bob_, send(alice_, "a"), "a");
  const auto skipped = send(bob_, "skipped");
  expect_receive(alice_, send(bob_, "b"), "b");
  for (Party* p : {&alice_, &bob_}) {
    const Bytes bytes = p->record_bytes();
    auto restored = SessionRecord::deserialize(bytes);
    ASSERT_TRUE(restored) << restored.error().message();
    EXPECT_EQ(to_bytes(restored->serialize().expose()), bytes);
    p->record() = std::move(restored).value();
  }
  expect_receive(alice_, skipped, "skipped");
  expect_receive(bob_, send(alice_, "after reload"), "after reload");
  expect_receive(alice_, send(bob_, "and back"), "and back");
}

TEST_F(SessionTest, MalformedRecordsAreRejected) {
  start();
  expect_receive(bob_, send(alice_, "a"), "a");
  const Bytes bytes = bob_.record_bytes();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(SessionRecord::deserialize(ByteView(bytes).first(n))) << n;
  }
  Bytes trailing = bytes;
  trailing.push_back(0);
  EXPECT_FALSE(SessionRecord::deserialize(trailing));
  Bytes version = bytes;
  version[4] = 2;
  auto r = SessionRecord::deserialize(version);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnsupportedVersion);
  Bytes magic = bytes;
  magic[0] = 'X';
  EXPECT_FALSE(SessionRecord::deserialize(magic));
  EXPECT_TRUE(SessionRecord::deserialize(SessionRecord().serialize().expose()));
}

TEST_F(SessionTest, StateSizeAfterPingPong) {
  start();
  expect_receive(bob_, send(alice_, "a"), "a");
  for (int i = 0; i < 10; ++i) {
    expect_receive(alice_, send(bob_, "ping"), "ping");
    expect_receive(bob_, send(alice_, "pong"), "pong");
  }
  EXPECT_LE(alice_.record_bytes().size(), 640u);
  EXPECT_LE(bob_.record_bytes().size(), 640u);
}

TEST(KeysTest, PublicKeyFormat) {
  crypto::DeterministicRng rng(3);
  const auto pair = KeyPair::generate(rng);
  const auto s = pair.public_key.serialize();
  EXPECT_EQ(s[0], kDjbType);
  auto back = PublicKey::decode(s);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, pair.public_key);
  auto bad = s;
  bad[0] = 0x04;
  EXPECT_FALSE(PublicKey::decode(bad));
  EXPECT_FALSE(PublicKey::decode(ByteView(s).first(32)));
  // Non-canonical encodings of a key are refused: the top bit, and u >= 2^255 - 19.
  auto high = s;
  high[32] |= 0x80;
  EXPECT_FALSE(PublicKey::decode(high));
  SerializedPublicKey p{};
  p[0] = kDjbType;
  std::fill(p.begin() + 1, p.end(), 0xff);
  p[32] = 0x7f;
  p[1] = 0xed;  // exactly p
  EXPECT_FALSE(PublicKey::decode(p));
  p[1] = 0xec;  // p - 1
  EXPECT_TRUE(PublicKey::decode(p));
  auto rebuilt = KeyPair::from_private(pair.private_key.secret().expose());
  ASSERT_TRUE(rebuilt);
  EXPECT_EQ(rebuilt->public_key, pair.public_key);
}

TEST(KeysTest, RegistrationIdsAreInRange) {
  crypto::DeterministicRng rng(4);
  for (int i = 0; i < 1000; ++i) {
    const auto id = generate_registration_id(rng);
    EXPECT_GE(id, 1u);
    EXPECT_LE(id, 16380u);
  }
}

TEST(KeysTest, SignedPreKeyVerifies) {
  crypto::DeterministicRng rng(6);
  const auto identity = IdentityKeyPair::generate(rng);
  const auto spk = generate_signed_prekey(identity, 7, 0, rng);
  EXPECT_TRUE(verify_signed_prekey(identity.public_key(), spk.pair.public_key, spk.signature));
  auto sig = spk.signature;
  sig[0] ^= 1;
  auto r = verify_signed_prekey(identity.public_key(), spk.pair.public_key, sig);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kAuthFailed);
}

}  // namespace
}  // namespace bc::protocol
