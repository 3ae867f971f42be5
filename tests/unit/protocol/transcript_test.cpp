// The transcript chain: each classification of an arriving message, the payload fields that carry
// it, and the state's encoding.
#include "protocol/transcript.hpp"

#include <gtest/gtest.h>

#include <map>

#include "protocol/payload.hpp"
#include "unit/protocol/transcript_party.hpp"

namespace bc::protocol {
namespace {

using test::Party;
using test::Sent;

std::vector<FindingKind> kinds(const std::vector<Finding>& findings) {
  std::vector<FindingKind> out;
  for (const auto& f : findings) out.push_back(f.kind);
  return out;
}

TEST(Transcript, InOrderConversationRaisesNothing) {
  Party alpha;
  Party bravo;
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(bravo.receive(alpha.send(), alpha).empty());
    EXPECT_TRUE(alpha.receive(bravo.send(), bravo).empty());
    EXPECT_TRUE(alpha.receive(bravo.send(), bravo).empty());
  }
  EXPECT_EQ(alpha.state.in_seq, 10U);
  EXPECT_EQ(bravo.state.in_seq, 5U);
  EXPECT_TRUE(alpha.state.missing.empty());
}

TEST(Transcript, GapIsMissingAndNamesTheRelayReceipt) {
  Party alpha;
  Party bravo;
  const Sent m1 = alpha.send();
  const Sent m2 = alpha.send();
  const Sent m3 = alpha.send();
  alpha.receipt(3, 41, 1'700'000'000'000);  // the relay acknowledged message 3 as deposit 41
  const Sent m4 = alpha.send();
  EXPECT_TRUE(bravo.receive(m1, alpha).empty());
  const auto found = bravo.receive(m4, alpha);
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].kind, FindingKind::kMissing);
  EXPECT_EQ(found[0].first_seq, 2U);
  EXPECT_EQ(found[0].last_seq, 3U);
  EXPECT_EQ(found[0].relay_seq, 41U);
  EXPECT_EQ(found[0].relay_time_ms, 1'700'000'000'000);
  ASSERT_EQ(bravo.state.missing.size(), 1U);
  (void)m2;
  (void)m3;
}

TEST(Transcript, LateArrivalFillingAGapIsReordered) {
  Party alpha;
  Party bravo;
  const Sent m1 = alpha.send();
  const Sent m2 = alpha.send();
  const Sent m3 = alpha.send();
  const Sent m4 = alpha.send();
  EXPECT_TRUE(bravo.receive(m1, alpha).empty());
  EXPECT_EQ(kinds(bravo.receive(m4, alpha)), std::vector<FindingKind>{FindingKind::kMissing});
  EXPECT_EQ(kinds(bravo.receive(m3, alpha)), std::vector<FindingKind>{FindingKind::kReordered});
  EXPECT_EQ(kinds(bravo.receive(m2, alpha)), std::vector<FindingKind>{FindingKind::kReordered});
  EXPECT_TRUE(bravo.state.missing.empty());
  EXPECT_EQ(bravo.state.in_seq, 4U);
}

TEST(Transcript, RepeatedSequenceNumberIsReplayed) {
  Party alpha;
  Party bravo;
  const Sent m1 = alpha.send();
  const Sent m2 = alpha.send();
  EXPECT_TRUE(bravo.receive(m1, alpha).empty());
  EXPECT_TRUE(bravo.receive(m2, alpha).empty());
  const auto again = bravo.receive(m1, alpha);
  ASSERT_EQ(kinds(again), std::vector<FindingKind>{FindingKind::kReplayed});
  EXPECT_EQ(again[0].first_seq, 1U);
}

TEST(Transcript, AlteredMessageBreaksTheChain) {
  Party alpha;
  Party bravo;
  const Sent m1 = alpha.send();
  Sent m2 = alpha.send();
  const Sent m3 = alpha.send();
  m2.hash[0] ^= 1;  // what arrived as message 2 is not what alpha sent as 2
  EXPECT_TRUE(bravo.receive(m1, alpha).empty());
  EXPECT_TRUE(bravo.receive(m2, alpha).empty());  // nothing to compare it with yet
  const auto found = bravo.receive(m3, alpha);
  ASSERT_EQ(kinds(found), std::vector<FindingKind>{FindingKind::kAltered});
  EXPECT_EQ(found[0].first_seq, 3U);
}

TEST(Transcript, AlteredMessageFillingAGapIsCaughtFromBothSides) {
  Party alpha;
  Party bravo;
  const Sent m1 = alpha.send();
  Sent m2 = alpha.send();
  const Sent m3 = alpha.send();
  m2.hash[5] ^= 1;
  EXPECT_TRUE(bravo.receive(m1, alpha).empty());
  EXPECT_EQ(kinds(bravo.receive(m3, alpha)), std::vector<FindingKind>{FindingKind::kMissing});
  EXPECT_EQ(kinds(bravo.receive(m2, alpha)),
            (std::vector<FindingKind>{FindingKind::kReordered, FindingKind::kAltered}));
  // A forged first message: it must link to nothing (a zero hash).
  Party carol;
  Sent forged = alpha.send();
  forged.fields.seq = 1;
  EXPECT_EQ(kinds(carol.receive(forged, alpha)), std::vector<FindingKind>{FindingKind::kAltered});
}

TEST(Transcript, OtherSidesViewOfOurMessagesMustMatch) {
  Party alpha;
  Party bravo;
  EXPECT_TRUE(bravo.receive(alpha.send(), alpha).empty());
  Sent reply = bravo.send();
  EXPECT_EQ(reply.fields.acked_seq, 1U);
  EXPECT_TRUE(alpha.receive(reply, bravo).empty());
  Sent lying = bravo.send();
  lying.fields.acked_hash[0] ^= 1;  // bravo received something else as our message 1
  const auto found = alpha.receive(lying, bravo);
  ASSERT_EQ(kinds(found), std::vector<FindingKind>{FindingKind::kDiverged});
  EXPECT_EQ(found[0].first_seq, 1U);
  // A claim to have received a message we never sent diverges too.
  Party dave;
  Sent phantom = dave.send();
  phantom.fields.acked_seq = 7;
  Party erin;
  EXPECT_EQ(kinds(erin.receive(phantom, dave)), std::vector<FindingKind>{FindingKind::kDiverged});
}

TEST(Transcript, SequenceZeroIsAltered) {
  Party alpha;
  Party bravo;
  Sent m = alpha.send();
  m.fields.seq = 0;
  EXPECT_EQ(kinds(bravo.receive(m, alpha)), std::vector<FindingKind>{FindingKind::kAltered});
}

TEST(Transcript, HashCoversEveryFieldAndTheContent) {
  TranscriptFields f;
  f.seq = 3;
  f.acked_seq = 2;
  f.prev_relay_seq = 9;
  f.prev_relay_time_ms = 12;
  const TranscriptHash content = transcript_content_digest(as_bytes("hello"));
  const TranscriptHash base = transcript_hash(f, content);
  EXPECT_EQ(base, transcript_hash(f, content));  // deterministic
  auto differs = [&](TranscriptFields g, const TranscriptHash& c) {
    return transcript_hash(g, c) != base;
  };
  TranscriptFields g = f;
  g.seq = 4;
  EXPECT_TRUE(differs(g, content));
  g = f;
  g.prev_hash[31] = 1;
  EXPECT_TRUE(differs(g, content));
  g = f;
  g.acked_seq = 1;
  EXPECT_TRUE(differs(g, content));
  g = f;
  g.acked_hash[0] = 1;
  EXPECT_TRUE(differs(g, content));
  g = f;
  g.prev_relay_seq = 8;
  EXPECT_TRUE(differs(g, content));
  g = f;
  g.prev_relay_time_ms = 13;
  EXPECT_TRUE(differs(g, content));
  EXPECT_TRUE(differs(f, transcript_content_digest(as_bytes("hellp"))));
}

TEST(Transcript, StateRoundTripsAndRejectsDamage) {
  Party alpha;
  Party bravo;
  const Sent m1 = alpha.send();
  alpha.send();
  alpha.receipt(2, 5, 77);
  const Sent m3 = alpha.send();
  bravo.receive(m1, alpha);
  bravo.receive(m3, alpha);
  bravo.receive(alpha.send(), alpha);
  const Bytes encoded = bravo.state.encode();
  auto back = TranscriptState::decode(encoded);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, bravo.state);
  EXPECT_FALSE(TranscriptState::decode(ByteView(encoded).first(encoded.size() - 1)));
  Bytes longer = encoded;
  longer.push_back(0);
  EXPECT_FALSE(TranscriptState::decode(longer));
  Bytes other_version = encoded;
  other_version[0] = 2;
  EXPECT_EQ(TranscriptState::decode(other_version).error().code, Errc::kUnsupportedVersion);
}

TEST(Transcript, PayloadCarriesTheFieldsOptionally) {
  Payload p;
  p.kind = 1;
  p.message_id[0] = 7;
  p.sent_at_ms = 1234;
  p.body = to_bytes(as_bytes("text"));
  const Bytes old_style = *p.encode();
  auto decoded_old = Payload::decode(old_style);
  ASSERT_TRUE(decoded_old);
  EXPECT_FALSE(decoded_old->transcript);  // an older client's payload: no transcript
  TranscriptFields f;
  f.seq = 9;
  f.prev_hash[1] = 2;
  f.acked_seq = 4;
  f.acked_hash[2] = 3;
  f.prev_relay_seq = 41;
  f.prev_relay_time_ms = -5;
  p.transcript = f;
  const Bytes encoded = *p.encode();
  auto decoded = Payload::decode(encoded);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(*decoded, p);
  EXPECT_EQ(*decoded->encode_content(), old_style);  // the content bytes exclude the transcript
  // All six fields or none: a payload cut after field 7 is malformed.
  const std::size_t cut = old_style.size() + 10 + 34;
  auto partial = Payload::decode(ByteView(encoded).first(cut));
  ASSERT_FALSE(partial);
  EXPECT_EQ(partial.error().code, Errc::kMalformed);
}

}  // namespace
}  // namespace bc::protocol
