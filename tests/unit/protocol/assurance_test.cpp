#include "protocol/assurance.hpp"

#include <gtest/gtest.h>

#include "crypto/random.hpp"

namespace bc::protocol {
namespace {

struct Parties {
  crypto::DeterministicRng rng{7};
  IdentityKeyPair alpha = IdentityKeyPair::generate(rng);
  IdentityKeyPair bravo = IdentityKeyPair::generate(rng);
};

Assurance sample(const Parties& p, AssuranceMode mode) {
  Assurance a;
  for (std::size_t i = 0; i < a.id.size(); ++i) a.id[i] = static_cast<std::uint8_t>(0xa0 + i);
  a.mode = mode;
  a.issuer = p.alpha.public_key();
  a.counterparty = p.bravo.public_key();
  a.valid_from_ms = 1'700'000'000'000;
  a.valid_until_ms = 1'700'086'400'000;
  a.statement = "We will not strike first.";
  a.conditions = {"unless attacked first", "while the ceasefire line holds"};
  a.scope = "the northern border";
  AssuranceId other{};
  other.fill(0x11);
  a.reciprocates = other;
  return a;
}

Assurance signed_sample(Parties& p) {
  Assurance a = sample(p, AssuranceMode::kBinding);
  EXPECT_TRUE(sign_assurance(a, p.alpha, p.rng));
  return a;
}

TEST(AssuranceTest, DeniableRoundTripIsCanonical) {
  Parties p;
  const Assurance a = sample(p, AssuranceMode::kDeniable);
  auto bytes = a.encode();
  ASSERT_TRUE(bytes) << bytes.error().message();
  auto back = Assurance::decode(*bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, a);
  EXPECT_EQ(*back->encode(), *bytes);
}

TEST(AssuranceTest, MinimalRoundTripIsCanonical) {
  Parties p;
  Assurance a = sample(p, AssuranceMode::kDeniable);
  a.conditions.clear();
  a.scope.reset();
  a.reciprocates.reset();
  auto bytes = a.encode();
  ASSERT_TRUE(bytes);
  auto back = Assurance::decode(*bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, a);
  EXPECT_EQ(*back->encode(), *bytes);
}

TEST(AssuranceTest, FixedLayout) {
  // Guards the documented layout of docs/assurances.md: header, keys, times, flags, texts.
  Parties p;
  Assurance a = sample(p, AssuranceMode::kDeniable);
  a.conditions = {"c"};
  a.scope.reset();
  a.reciprocates.reset();
  a.statement = "s";
  auto bytes = a.encode();
  ASSERT_TRUE(bytes);
  const std::string h = to_hex(*bytes);
  EXPECT_EQ(h.substr(0, 4), "0101");  // version 1, deniable
  EXPECT_EQ(h.substr(4, 32), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  EXPECT_EQ(h.substr(36, 66), to_hex(p.alpha.public_key().serialize()));
  EXPECT_EQ(h.substr(102, 66), to_hex(p.bravo.public_key().serialize()));
  EXPECT_EQ(h.substr(168),
            "0000018bcfe56800"
            "0000018bd50bc400"
            "00"
            "000173"
            "01"
            "000163");
}

TEST(AssuranceTest, BindingRoundTripVerifies) {
  Parties p;
  const Assurance a = signed_sample(p);
  ASSERT_TRUE(a.signature);
  auto bytes = a.encode();
  ASSERT_TRUE(bytes);
  auto back = Assurance::decode(*bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, a);
  EXPECT_EQ(*back->encode(), *bytes);
  EXPECT_TRUE(verify_assurance(*back));
}

TEST(AssuranceTest, EveryChangedFieldBreaksTheSignature) {
  Parties p;
  const Assurance a = signed_sample(p);
  ASSERT_TRUE(verify_assurance(a));
  std::vector<std::function<void(Assurance&)>> changes = {
      [](Assurance& x) { x.id[0] ^= 1; },
      [&](Assurance& x) {
        x.issuer = p.bravo.public_key();
        x.counterparty = p.alpha.public_key();
      },
      [&](Assurance& x) { x.counterparty = IdentityKeyPair::generate(p.rng).public_key(); },
      [](Assurance& x) { x.valid_from_ms += 1; },
      [](Assurance& x) { x.valid_until_ms += 1; },
      [](Assurance& x) { (*x.reciprocates)[15] ^= 1; },
      [](Assurance& x) { x.reciprocates.reset(); },
      [](Assurance& x) { x.statement = "We will strike first."; },
      [](Assurance& x) { x.conditions[0] = "unless attacked"; },
      [](Assurance& x) { x.conditions.pop_back(); },
      [](Assurance& x) { x.conditions.push_back("and on Sundays"); },
      [](Assurance& x) { std::swap(x.conditions[0], x.conditions[1]); },
      [](Assurance& x) { x.scope = "the southern border"; },
      [](Assurance& x) { x.scope.reset(); },
  };
  for (std::size_t i = 0; i < changes.size(); ++i) {
    Assurance changed = a;
    changes[i](changed);
    const auto v = verify_assurance(changed);
    ASSERT_FALSE(v) << "change " << i << " kept the signature valid";
    EXPECT_EQ(v.error().code, Errc::kAuthFailed);
  }
}

TEST(AssuranceTest, EveryFlippedBitIsRejected) {
  // Any one-bit change of an encoded binding assurance fails to decode or to verify.
  Parties p;
  auto bytes = signed_sample(p).encode();
  ASSERT_TRUE(bytes);
  for (std::size_t i = 0; i < bytes->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes changed = *bytes;
      changed[i] ^= static_cast<std::uint8_t>(1U << bit);
      auto back = Assurance::decode(changed);
      if (back) {
        ASSERT_FALSE(verify_assurance(*back)) << "byte " << i << " bit " << bit;
      }
    }
  }
}

TEST(AssuranceTest, DeniableDoesNotVerify) {
  Parties p;
  const Assurance a = sample(p, AssuranceMode::kDeniable);
  const auto v = verify_assurance(a);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kAuthFailed);
  // Relabelling a deniable document as binding, with any signature, does not make it so.
  Assurance forged = a;
  forged.mode = AssuranceMode::kBinding;
  forged.signature = Signature{};
  EXPECT_FALSE(verify_assurance(forged));
  // Nor can the recipient sign it in the issuer's name: sign_assurance wants the issuer's key.
  forged.signature.reset();
  EXPECT_FALSE(sign_assurance(forged, p.bravo, p.rng));
}

TEST(AssuranceTest, SignatureByAnotherKeyFails) {
  Parties p;
  Assurance a = signed_sample(p);
  Assurance b = a;
  b.issuer = p.bravo.public_key();
  b.counterparty = p.alpha.public_key();
  EXPECT_FALSE(verify_assurance(b));
}

TEST(AssuranceTest, EncodeRefusesBadFields) {
  Parties p;
  auto bad = [&](const std::function<void(Assurance&)>& change) {
    Assurance a = sample(p, AssuranceMode::kDeniable);
    change(a);
    auto e = a.encode();
    EXPECT_FALSE(e);
    if (!e) {
      EXPECT_EQ(e.error().code, Errc::kMalformed);
    }
  };
  bad([](Assurance& a) { a.statement.clear(); });
  bad([](Assurance& a) { a.statement = std::string(kMaxStatementSize + 1, 'x'); });
  bad([](Assurance& a) { a.statement = "bell\x07"; });
  bad([](Assurance& a) { a.statement = "\x1b[2Jcleared"; });
  bad([](Assurance& a) { a.statement = "bad \xc3\x28 utf8"; });
  bad([](Assurance& a) { a.statement = "overlong \xc0\xaf"; });
  bad([](Assurance& a) { a.statement = "surrogate \xed\xa0\x80"; });
  bad([](Assurance& a) { a.statement = "cut \xe2\x82"; });
  bad([](Assurance& a) { a.conditions = std::vector<std::string>(kMaxConditions + 1, "c"); });
  bad([](Assurance& a) { a.conditions.push_back(""); });
  bad([](Assurance& a) { a.scope = ""; });
  bad([](Assurance& a) { a.valid_until_ms = a.valid_from_ms; });
  bad([&](Assurance& a) { a.counterparty = a.issuer; });
  bad([](Assurance& a) { a.signature = Signature{}; });         // a deniable one with a signature
  bad([](Assurance& a) { a.mode = AssuranceMode::kBinding; });  // binding without one
  Assurance ok_text = sample(p, AssuranceMode::kDeniable);
  ok_text.statement = "Nous ne frapperons pas les premiers.\n\t\xe2\x80\x94 \xf0\x9f\x95\x8a";
  EXPECT_TRUE(ok_text.encode());
}

TEST(AssuranceTest, DecodeRejectsMalformedInput) {
  Parties p;
  auto bytes = signed_sample(p).encode();
  ASSERT_TRUE(bytes);
  for (std::size_t n = 0; n < bytes->size(); ++n) {
    auto cut = Assurance::decode(ByteView(*bytes).first(n));
    ASSERT_FALSE(cut) << "a prefix of " << n << " bytes decoded";
  }
  Bytes longer = *bytes;
  longer.push_back(0);
  EXPECT_FALSE(Assurance::decode(longer));

  Bytes version = *bytes;
  version[0] = 2;
  auto v = Assurance::decode(version);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kUnsupportedVersion);

  Bytes mode = *bytes;
  mode[1] = 3;
  EXPECT_FALSE(Assurance::decode(mode));

  const std::size_t flags_at = 2 + 16 + 33 + 33 + 8 + 8;
  Bytes flags = *bytes;
  flags[flags_at] |= 0x04;
  EXPECT_FALSE(Assurance::decode(flags));

  Bytes key = *bytes;
  key[2 + 16] = 0x06;  // not a Curve25519 key type
  EXPECT_FALSE(Assurance::decode(key));

  // A binding document whose mode says deniable leaves the signature as trailing bytes.
  Bytes relabel = *bytes;
  relabel[1] = static_cast<std::uint8_t>(AssuranceMode::kDeniable);
  EXPECT_FALSE(Assurance::decode(relabel));

  EXPECT_FALSE(Assurance::decode({}));
}

TEST(WithdrawalTest, BindingWithdrawalIsSignedAndChecked) {
  Parties p;
  Withdrawal w;
  w.assurance_id.fill(0x42);
  w.mode = AssuranceMode::kBinding;
  w.issuer = p.alpha.public_key();
  w.withdrawn_at_ms = 1'700'000'500'000;
  ASSERT_TRUE(sign_withdrawal(w, p.alpha, p.rng));
  auto bytes = w.encode();
  ASSERT_TRUE(bytes);
  auto back = Withdrawal::decode(*bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, w);
  EXPECT_EQ(*back->encode(), *bytes);
  EXPECT_TRUE(verify_withdrawal(*back));

  Withdrawal moved = w;
  moved.withdrawn_at_ms -= 1;
  EXPECT_FALSE(verify_withdrawal(moved));
  Withdrawal other = w;
  other.assurance_id[0] ^= 1;
  EXPECT_FALSE(verify_withdrawal(other));
  EXPECT_FALSE(sign_withdrawal(w, p.bravo, p.rng));  // not the issuer
  for (std::size_t n = 0; n < bytes->size(); ++n) {
    EXPECT_FALSE(Withdrawal::decode(ByteView(*bytes).first(n)));
  }
}

TEST(WithdrawalTest, DeniableWithdrawalIsUnsigned) {
  Parties p;
  Withdrawal w;
  w.assurance_id.fill(1);
  w.issuer = p.alpha.public_key();
  w.withdrawn_at_ms = 5;
  auto bytes = w.encode();
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->size(), 1U + 1 + 16 + 33 + 8);
  auto back = Withdrawal::decode(*bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, w);
  EXPECT_FALSE(verify_withdrawal(w));
  EXPECT_FALSE(sign_withdrawal(w, p.alpha, p.rng));
}

TEST(AcknowledgementTest, RoundTripAndStrictness) {
  Acknowledgement a;
  a.assurance_id.fill(9);
  a.acknowledged_at_ms = 123456;
  const Bytes bytes = a.encode();
  EXPECT_EQ(bytes.size(), 25U);
  auto back = Acknowledgement::decode(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, a);
  Bytes longer = bytes;
  longer.push_back(1);
  EXPECT_FALSE(Acknowledgement::decode(longer));
  EXPECT_FALSE(Acknowledgement::decode(ByteView(bytes).first(24)));
}

TEST(EscrowInvitationTest, RoundTripRevealsNoContent) {
  EscrowInvitation e;
  e.exchange_id.fill(3);
  e.token.fill(4);
  e.deadline_ms = 1'700'000'600'000;
  e.relay_url = "wss://127.0.0.1:4443";
  e.relay_certificate_sha256.fill(5);
  auto bytes = e.encode();
  ASSERT_TRUE(bytes);
  // Exactly the documented fields: version, id, token, deadline, fingerprint, URL.
  EXPECT_EQ(bytes->size(), 1U + 16 + 16 + 8 + 32 + 2 + e.relay_url.size());
  auto back = EscrowInvitation::decode(*bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, e);
  e.relay_url = "https://example.org";
  EXPECT_FALSE(e.encode());
  Bytes cut = *bytes;
  cut.pop_back();
  EXPECT_FALSE(EscrowInvitation::decode(cut));
}

TEST(EscrowDepositTest, CarriesTheExchangeAndTheAssurance) {
  Parties p;
  EscrowDeposit d;
  d.exchange_id.fill(8);
  d.assurance = signed_sample(p);
  auto bytes = d.encode();
  ASSERT_TRUE(bytes);
  auto back = EscrowDeposit::decode(*bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->exchange_id, d.exchange_id);
  EXPECT_EQ(back->assurance, d.assurance);
  Bytes longer = *bytes;
  longer.push_back(0);
  EXPECT_FALSE(EscrowDeposit::decode(longer));
}

TEST(AssuranceMessageTest, TypeByteIsChecked) {
  const AssuranceMessage m{AssuranceMessageType::kAcknowledgement, Bytes{1, 2, 3}};
  auto back = AssuranceMessage::decode(m.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->type, m.type);
  EXPECT_EQ(back->body, m.body);
  EXPECT_FALSE(AssuranceMessage::decode(Bytes{0, 1}));
  EXPECT_FALSE(AssuranceMessage::decode(Bytes{6, 1}));
  EXPECT_FALSE(AssuranceMessage::decode(Bytes{1}));
}

// ---- lifecycle ----

using S = AssuranceState;

TEST(LifecycleTest, NormalPathRecordsEachTime) {
  Lifecycle l = Lifecycle::start(S::kProposed, 100);
  auto d = transition(l, S::kDelivered, 110);
  ASSERT_TRUE(d);
  auto a = transition(*d, S::kAcknowledged, 120);
  ASSERT_TRUE(a);
  auto r = transition(*a, S::kReciprocated, 130);
  ASSERT_TRUE(r);
  auto w = transition(*r, S::kWithdrawn, 140);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->state, S::kWithdrawn);
  EXPECT_EQ(w->entered_ms, (std::array<std::int64_t, 6>{100, 110, 120, 130, 140, 0}));
  EXPECT_TRUE(w->final());
  EXPECT_EQ(l.state, S::kProposed);  // the input is unchanged
}

TEST(LifecycleTest, StepsMayBeSkippedForward) {
  const Lifecycle l = Lifecycle::start(S::kProposed, 1);
  EXPECT_TRUE(transition(l, S::kAcknowledged, 2));
  EXPECT_TRUE(transition(l, S::kReciprocated, 2));
  EXPECT_TRUE(transition(l, S::kExpired, 2));
  EXPECT_TRUE(transition(Lifecycle::start(S::kDelivered, 1), S::kWithdrawn, 1));
}

TEST(LifecycleTest, InvalidTransitionsAreRejected) {
  const Lifecycle ack = *transition(Lifecycle::start(S::kDelivered, 1), S::kAcknowledged, 2);
  for (const S to : {S::kProposed, S::kDelivered, S::kAcknowledged}) {
    auto r = transition(ack, to, 3);
    ASSERT_FALSE(r) << assurance_state_name(to);
    EXPECT_EQ(r.error().code, Errc::kConflict);
  }
  for (const S final_state : {S::kWithdrawn, S::kExpired}) {
    const Lifecycle done = *transition(ack, final_state, 3);
    for (std::uint8_t t = 0; t < kAssuranceStateCount; ++t) {
      auto r = transition(done, static_cast<S>(t), 4);
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, Errc::kConflict);
    }
  }
  auto past = transition(ack, S::kReciprocated, 1);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code, Errc::kMalformed);
  EXPECT_FALSE(transition(ack, static_cast<S>(9), 5));
}

TEST(LifecycleTest, ExpiresOnlyWhenDue) {
  const Lifecycle l = Lifecycle::start(S::kDelivered, 10);
  EXPECT_EQ(expire_if_due(l, 100, 99), l);
  const Lifecycle e = expire_if_due(l, 100, 500);
  EXPECT_EQ(e.state, S::kExpired);
  EXPECT_EQ(e.entered_ms[static_cast<std::size_t>(S::kExpired)], 100);
  const Lifecycle w = *transition(l, S::kWithdrawn, 50);
  EXPECT_EQ(expire_if_due(w, 100, 500), w);  // final states stay
}

TEST(LifecycleTest, StateNamesRoundTrip) {
  for (std::uint8_t t = 0; t < kAssuranceStateCount; ++t) {
    const auto s = static_cast<S>(t);
    auto back = assurance_state_from_name(assurance_state_name(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(assurance_state_from_name("pending"));
}

}  // namespace
}  // namespace bc::protocol
