#include "wire/whisper.hpp"

#include <gtest/gtest.h>

#include "wire/protobuf.hpp"

namespace bc::wire {
namespace {

SerializedKey key_of(std::uint8_t fill) {
  SerializedKey k{};
  k.fill(fill);
  k[0] = 0x05;
  return k;
}

Bytes sample_signal_message(std::uint32_t counter = 3, std::uint32_t previous = 0) {
  static const Bytes ciphertext(32, 0xAB);
  SignalMessageFields f;
  f.ratchet_key = key_of(0x11);
  f.counter = counter;
  f.previous_counter = previous;
  f.ciphertext = ciphertext;
  Bytes out;
  encode_signal_message_body(f, out);
  out.insert(out.end(), {1, 2, 3, 4, 5, 6, 7, 8});
  return out;
}

TEST(WhisperTest, SignalMessageLayoutIsProtobufCs) {
  const Bytes m = sample_signal_message(3, 0);
  Bytes expected = {0x33, 0x0a, 0x21};
  const auto k = key_of(0x11);
  expected.insert(expected.end(), k.begin(), k.end());
  expected.insert(expected.end(), {0x10, 0x03, 0x18, 0x00, 0x22, 0x20});
  expected.insert(expected.end(), 32, 0xAB);
  expected.insert(expected.end(), {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(m, expected);
}

TEST(WhisperTest, SignalMessageRoundTrips) {
  const Bytes m = sample_signal_message(300, 70000);
  auto decoded = decode_signal_message(m);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(decoded->fields.counter, 300u);
  EXPECT_EQ(decoded->fields.previous_counter, 70000u);
  EXPECT_EQ(decoded->fields.ratchet_key, key_of(0x11));
  EXPECT_EQ(decoded->fields.ciphertext.size(), 32u);
  EXPECT_EQ(decoded->authenticated.size(), m.size() - kMacSize);
  EXPECT_EQ(decoded->mac, (Mac{1, 2, 3, 4, 5, 6, 7, 8}));
  Bytes again;
  encode_signal_message_body(decoded->fields, again);
  append(again, decoded->mac);
  EXPECT_EQ(again, m);
}

TEST(WhisperTest, AcceptsVersion34AndRejectsOthers) {
  Bytes m = sample_signal_message();
  m[0] = 0x34;
  EXPECT_TRUE(decode_signal_message(m));
  for (std::uint8_t v : {0x22, 0x23, 0x32, 0x35, 0x43, 0x44, 0x00}) {
    m[0] = v;
    auto r = decode_signal_message(m);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kUnsupportedVersion) << int(v);
  }
}

TEST(WhisperTest, RejectsEveryTruncation) {
  const Bytes m = sample_signal_message();
  for (std::size_t n = 0; n < m.size(); ++n) {
    EXPECT_FALSE(decode_signal_message(ByteView(m).first(n))) << n;
  }
}

Result<DecodedSignalMessage> decode_with_body(const Bytes& body) {
  Bytes m = {0x33};
  append(m, body);
  m.insert(m.end(), 8, 0);
  return decode_signal_message(m);
}

Bytes body_with(const std::vector<std::pair<std::uint32_t, Bytes>>& raw_fields) {
  Bytes out;
  for (const auto& [tag, value] : raw_fields) {
    out.push_back(static_cast<std::uint8_t>(tag));
    append(out, value);
  }
  return out;
}

TEST(WhisperTest, RejectsNonCanonicalBodies) {
  const auto k = key_of(0x22);
  Bytes key_field = {0x21};
  key_field.insert(key_field.end(), k.begin(), k.end());
  const Bytes ct = {0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  // The canonical body is accepted.
  EXPECT_TRUE(
      decode_with_body(body_with({{0x0a, key_field}, {0x10, {5}}, {0x18, {0}}, {0x22, ct}})));
  // Missing previous counter.
  auto r = decode_with_body(body_with({{0x0a, key_field}, {0x10, {5}}, {0x22, ct}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kMalformed);
  // Out of order.
  EXPECT_FALSE(
      decode_with_body(body_with({{0x10, {5}}, {0x0a, key_field}, {0x18, {0}}, {0x22, ct}})));
  // Repeated field.
  EXPECT_FALSE(decode_with_body(
      body_with({{0x0a, key_field}, {0x10, {5}}, {0x10, {6}}, {0x18, {0}}, {0x22, ct}})));
  // Unknown field 5.
  EXPECT_FALSE(decode_with_body(
      body_with({{0x0a, key_field}, {0x10, {5}}, {0x18, {0}}, {0x22, ct}, {0x28, {1}}})));
  // Non-minimal varint.
  EXPECT_FALSE(decode_with_body(
      body_with({{0x0a, key_field}, {0x10, {0x85, 0x00}}, {0x18, {0}}, {0x22, ct}})));
  // Counter above 2^32 - 1.
  EXPECT_FALSE(decode_with_body(body_with(
      {{0x0a, key_field}, {0x10, {0xff, 0xff, 0xff, 0xff, 0x1f}}, {0x18, {0}}, {0x22, ct}})));
  // Wrong wire type for the counter.
  EXPECT_FALSE(
      decode_with_body(body_with({{0x0a, key_field}, {0x12, {1, 5}}, {0x18, {0}}, {0x22, ct}})));
  // A 32-byte key.
  Bytes short_key = {0x20};
  short_key.insert(short_key.end(), k.begin() + 1, k.end());
  EXPECT_FALSE(
      decode_with_body(body_with({{0x0a, short_key}, {0x10, {5}}, {0x18, {0}}, {0x22, ct}})));
  // Empty ciphertext.
  EXPECT_FALSE(
      decode_with_body(body_with({{0x0a, key_field}, {0x10, {5}}, {0x18, {0}}, {0x22, {0}}})));
}

TEST(WhisperTest, RejectsOversizedMessages) {
  Bytes m(kMaxSignalMessageSize + 1, 0);
  m[0] = 0x33;
  auto r = decode_signal_message(m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kLimitExceeded);
}

TEST(WhisperTest, PreKeySignalMessageLayoutAndRoundTrip) {
  const Bytes inner = sample_signal_message();
  PreKeySignalMessageFields f;
  f.prekey_id = 7;
  f.base_key = key_of(0x33);
  f.identity_key = key_of(0x44);
  f.message = inner;
  f.registration_id = 1234;
  f.signed_prekey_id = 1;
  Bytes m;
  encode_prekey_signal_message(f, m);
  // version, preKeyId(1), baseKey(2), identityKey(3), message(4), registrationId(5),
  // signedPreKeyId(6): protobuf-c's field-number order.
  ASSERT_GT(m.size(), 5u);
  EXPECT_EQ(m[0], 0x33);
  EXPECT_EQ(m[1], 0x08);
  EXPECT_EQ(m[2], 0x07);
  EXPECT_EQ(m[3], 0x12);
  EXPECT_EQ(m[4], 0x21);
  EXPECT_EQ(m[m.size() - 5], 0x28);
  EXPECT_EQ(m[m.size() - 4], 0xd2);  // 1234 = 0xd2 0x09
  EXPECT_EQ(m[m.size() - 3], 0x09);
  EXPECT_EQ(m[m.size() - 2], 0x30);
  EXPECT_EQ(m[m.size() - 1], 0x01);

  auto d = decode_prekey_signal_message(m);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->prekey_id, std::optional<std::uint32_t>(7));
  EXPECT_EQ(d->registration_id, 1234u);
  EXPECT_EQ(d->signed_prekey_id, 1u);
  EXPECT_EQ(to_bytes(d->message), inner);
  Bytes again;
  encode_prekey_signal_message(*d, again);
  EXPECT_EQ(again, m);

  f.prekey_id.reset();
  Bytes without;
  encode_prekey_signal_message(f, without);
  EXPECT_EQ(without[1], 0x12);
  auto d2 = decode_prekey_signal_message(without);
  ASSERT_TRUE(d2);
  EXPECT_FALSE(d2->prekey_id.has_value());

  for (std::size_t n = 0; n < m.size(); ++n) {
    EXPECT_FALSE(decode_prekey_signal_message(ByteView(m).first(n))) << n;
  }
  Bytes extra = m;
  extra.insert(extra.end(), {0x38, 0x01});  // unknown field 7
  EXPECT_FALSE(decode_prekey_signal_message(extra));
}

TEST(ProtobufTest, VarintSizes) {
  EXPECT_EQ(ProtoWriter::varint_size(0), 1u);
  EXPECT_EQ(ProtoWriter::varint_size(127), 1u);
  EXPECT_EQ(ProtoWriter::varint_size(128), 2u);
  EXPECT_EQ(ProtoWriter::varint_size(0xFFFFFFFFu), 5u);
}

}  // namespace
}  // namespace bc::wire
