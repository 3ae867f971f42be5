// Tests of the relay frame codec: layout, round trips, every rejection path.
#include "wire/relay_frames.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_paths.hpp"

namespace bc::wire {
namespace {

// err is the error kind of a result, or Errc{} (no kind) when it holds a value.
template <typename T>
Errc err(const Result<T>& r) {
  return r.has_value() ? Errc{} : r.error().code;
}

QueueId id_of(std::uint8_t fill) {
  QueueId id;
  id.fill(fill);
  return id;
}

Bytes encode_ok(const RelayFrame& f) {
  Result<Bytes> r = encode_relay_frame(f);
  EXPECT_TRUE(r.has_value()) << r.error().message();
  return r.value_or(Bytes{});
}

std::vector<RelayFrame> sample_frames() {
  PrekeyBundle bundle{Bytes(33, 5), Bytes(100, 6), {Bytes(33, 7), Bytes(33, 8)}};
  return {
      {1, Hello{}},
      {2, CreateQueue{OwnerKey{1, 2, 3}}},
      {3, Subscribe{id_of(9), Signature{4, 5}}},
      {4, Deposit{id_of(1), Bytes(256, 0xAB)}},
      {5, Ack{id_of(2), 77}},
      {6, DeleteQueue{id_of(3)}},
      {7, PublishBundle{id_of(4), bundle}},
      {8, FetchBundle{id_of(5)}},
      {9, Ok{}},
      {0, ErrorReply{RelayErrorCode::kMalformed}},
      {10, ErrorReply{RelayErrorCode::kQueueFull}},
      {11, ChallengeReply{Challenge{9, 9, 9}, RelayKey{4, 4}}},
      {12, QueueCreated{id_of(6), id_of(7)}},
      {13, BundleReply{Bytes(33, 1), Bytes(64, 2), Bytes(33, 3)}},
      {14, BundleReply{Bytes(33, 1), Bytes(64, 2), std::nullopt}},
      {0, Delivery{id_of(8), 42, 1'700'000'000'123, ReceiptProof{3, 2, {{0x71}}, Signature{7, 7}},
                   Bytes(1024, 0x11)}},
      {31, DepositReceipt{42,
                          1'700'000'000'123,
                          {0x21, 0x22},
                          ReceiptProof{5, 1, {{1}, {2}, {3}}, Signature{8, 8}}}},
      {32, DepositReceipt{43, 1'700'000'000'124, {0x23}, ReceiptProof{1, 0, {}, Signature{9}}}},
      {20, EscrowOpen{1'700'000'600'000, id_of(0x31), id_of(0x32)}},
      {21, EscrowDeposit{id_of(0x33), id_of(0x34), Bytes(4096, 0x35)}},
      {22, EscrowCancel{id_of(0x36), id_of(0x37)}},
      {23, EscrowStatus{id_of(0x38), id_of(0x39)}},
      {24, EscrowOpened{id_of(0x3A), id_of(0x3B), id_of(0x3C)}},
      {25, EscrowDeposited{EscrowHash{0x3D, 0x3E}}},
      {26, EscrowState{EscrowPhase::kOpen, false, std::nullopt}},
      {27, EscrowState{EscrowPhase::kOpen, true, std::nullopt}},
      {28, EscrowState{EscrowPhase::kReleased, true, EscrowCertificateBytes{1, 2, 3}}},
      {29, EscrowState{EscrowPhase::kExpired, false, std::nullopt}},
      {30, ErrorReply{RelayErrorCode::kEscrowSameQueue}},
      {32, AckMany{id_of(0x40), {1, 2, 9, 0x0A0B0C0D0E0F1011}}},
  };
}

TEST(RelayFrames, EveryFrameRoundTripsAndReencodesIdentically) {
  for (const RelayFrame& f : sample_frames()) {
    const Bytes wire = encode_ok(f);
    Result<RelayFrame> back = decode_relay_frame(wire);
    ASSERT_TRUE(back.has_value()) << back.error().message();
    EXPECT_EQ(*back, f);
    EXPECT_EQ(encode_ok(*back), wire);
  }
}

TEST(RelayFrames, HeaderLayoutIsVersionTypeRequestId) {
  const Bytes wire = encode_ok({0x01020304, Ack{id_of(0xEE), 0x0A0B0C0D0E0F1011}});
  ASSERT_EQ(wire.size(), kRelayHeaderSize + kQueueIdSize + 8);
  EXPECT_EQ(wire[0], kRelayProtocolVersion);
  EXPECT_EQ(wire[1], 0x05);
  EXPECT_EQ(wire[2], 0x01);
  EXPECT_EQ(wire[5], 0x04);
  EXPECT_EQ(wire[6], 0xEE);
  EXPECT_EQ(wire[22], 0x0A);
  EXPECT_EQ(wire[29], 0x11);
}

TEST(RelayFrames, KnownAnswerDeposit) {
  const Bytes wire = encode_ok({7, Deposit{id_of(0x22), Bytes(256, 0x33)}});
  Bytes expected = {kRelayProtocolVersion, 0x04, 0, 0, 0, 7};
  append(expected, id_of(0x22));
  append(expected, Bytes{0, 0, 1, 0});
  append(expected, Bytes(256, 0x33));
  EXPECT_EQ(wire, expected);
}

TEST(RelayFrames, KnownAnswerDepositReceiptAndSignedDelivery) {
  DepositReceipt receipt{0x0102, 0x0A0B, {}, {}};
  receipt.envelope_hash.fill(0x44);
  receipt.proof.signature.fill(0x55);
  Bytes expected = {kRelayProtocolVersion,
                    0x86,
                    0,
                    0,
                    0,
                    3,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0x01,
                    0x02,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0x0A,
                    0x0B};
  append(expected, Bytes(32, 0x44));
  append(expected, Bytes{0, 0, 0, 1, 0, 0, 0, 0, 0});  // a batch of one: index 0, no path
  append(expected, Bytes(64, 0x55));
  EXPECT_EQ(encode_ok({3, receipt}), expected);

  ReceiptProof proof{2, 1, {{}}, {}};
  proof.path[0].fill(0x99);
  proof.signature.fill(0x66);
  const Bytes push = encode_ok({0, Delivery{id_of(0x77), 9, 10, proof, Bytes(256, 0x88)}});
  ASSERT_EQ(push.size(), kRelayHeaderSize + 16 + 8 + 8 + 4 + 4 + 1 + 32 + 64 + 4 + 256);
  EXPECT_EQ(push[1], 0xC1);
  // The proof follows id, message id, time: size 2, index 1, one hash, then the signature.
  EXPECT_EQ(push[kRelayHeaderSize + 35], 0x02);
  EXPECT_EQ(push[kRelayHeaderSize + 39], 0x01);
  EXPECT_EQ(push[kRelayHeaderSize + 40], 0x01);
  EXPECT_EQ(push[kRelayHeaderSize + 41], 0x99);
  EXPECT_EQ(push[kRelayHeaderSize + 73], 0x66);
  EXPECT_EQ(push[kRelayHeaderSize + 136], 0x66);
  EXPECT_EQ(push[kRelayHeaderSize + 137 + 2], 0x01);  // then the envelope length (256)
}

TEST(RelayFrames, ReceiptPathSizeFollowsRfc9162) {
  // A batch of 1 has no path; of a power of two, every path is log2(size) long; otherwise the
  // last leaves may skip levels (in a batch of 5, leaf 4 pairs with the root of leaves 0-3).
  EXPECT_EQ(receipt_path_size(0, 1), 0u);
  for (std::uint32_t i = 0; i < 8; ++i) EXPECT_EQ(receipt_path_size(i, 8), 3u) << i;
  EXPECT_EQ(receipt_path_size(0, 5), 3u);
  EXPECT_EQ(receipt_path_size(3, 5), 3u);
  EXPECT_EQ(receipt_path_size(4, 5), 1u);
  EXPECT_EQ(receipt_path_size(2, 3), 1u);
  EXPECT_EQ(receipt_path_size(5, 7), 3u);
  EXPECT_EQ(receipt_path_size(6, 7), 2u);
  EXPECT_EQ(receipt_path_size(kMaxReceiptBatch - 1, kMaxReceiptBatch), kMaxReceiptPathSize);
}

TEST(RelayFrames, AReceiptProofMustFitItsBatch) {
  const auto receipt = [](ReceiptProof p) {
    return RelayFrame{1, DepositReceipt{1, 1, {}, std::move(p)}};
  };
  // Encoding refuses what decoding would: a path of the wrong length, an index outside, size 0
  // or beyond the cap.
  for (const ReceiptProof& bad :
       {ReceiptProof{2, 0, {}, {}}, ReceiptProof{2, 0, {{}, {}}, {}}, ReceiptProof{2, 2, {{}}, {}},
        ReceiptProof{0, 0, {}, {}}, ReceiptProof{kMaxReceiptBatch + 1, 0, {}, {}}}) {
    EXPECT_EQ(err(encode_relay_frame(receipt(bad))), Errc::kMalformed);
  }
  const Bytes good = encode_ok(receipt(ReceiptProof{2, 0, {{}}, {}}));
  const std::size_t at = kRelayHeaderSize + 8 + 8 + 32;  // batch_size
  Bytes index_outside = good;
  index_outside[at + 7] = 2;
  EXPECT_EQ(err(decode_relay_frame(index_outside)), Errc::kMalformed);
  Bytes no_path = good;
  no_path[at + 8] = 0;
  no_path.erase(no_path.begin() + static_cast<std::ptrdiff_t>(at + 9),
                no_path.begin() + static_cast<std::ptrdiff_t>(at + 9 + 32));
  EXPECT_EQ(err(decode_relay_frame(no_path)), Errc::kMalformed);
  Bytes size_zero = good;
  size_zero[at + 3] = 0;
  EXPECT_EQ(err(decode_relay_frame(size_zero)), Errc::kMalformed);
  Bytes too_big = good;
  too_big[at + 1] = 0x02;  // 2^17 + 2
  EXPECT_EQ(err(decode_relay_frame(too_big)), Errc::kMalformed);
  ASSERT_TRUE(decode_relay_frame(good).has_value());
}

TEST(RelayFrames, CommittedFuzzCorpusIsCurrent) {
  // The fuzzer's seed frames are valid frames of this version (a stale seed only tests rejection).
  const std::filesystem::path dir = test::source_dir() / "fuzz" / "corpus" / "relay_frame_fuzz";
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string text = test::read_file(entry.path());
    const Bytes raw(text.begin(), text.end());
    Result<RelayFrame> frame = decode_relay_frame(raw);
    ASSERT_TRUE(frame.has_value()) << entry.path() << ": " << frame.error().message();
    EXPECT_EQ(encode_ok(*frame), raw) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 16u);
}

TEST(RelayFrames, RejectsUnknownVersion) {
  // Version 1 (before receipts), 2 (receipts signed one by one) and any later version are refused.
  for (std::uint8_t version :
       {std::uint8_t{1}, std::uint8_t{2}, std::uint8_t{kRelayProtocolVersion + 1}}) {
    Bytes wire = encode_ok({1, Hello{}});
    wire[0] = version;
    Result<RelayFrame> r = decode_relay_frame(wire);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(err(r), Errc::kUnsupportedVersion);
  }
}

TEST(RelayFrames, RejectsUnknownType) {
  for (std::uint8_t t : {0x00, 0x09, 0x0F, 0x14, 0x80, 0x87, 0x8F, 0x93, 0xC0, 0xC2, 0xFF}) {
    Bytes wire = {kRelayProtocolVersion, t, 0, 0, 0, 1};
    Result<RelayFrame> r = decode_relay_frame(wire);
    ASSERT_FALSE(r.has_value()) << int(t);
    EXPECT_EQ(err(r), Errc::kMalformed);
  }
}

TEST(RelayFrames, RejectsTrailingBytes) {
  for (const RelayFrame& f : sample_frames()) {
    Bytes wire = encode_ok(f);
    wire.push_back(0);
    Result<RelayFrame> r = decode_relay_frame(wire);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(err(r), Errc::kMalformed);
  }
}

TEST(RelayFrames, RejectsEveryTruncation) {
  for (const RelayFrame& f : sample_frames()) {
    const Bytes wire = encode_ok(f);
    for (std::size_t n = 0; n < wire.size(); ++n) {
      Result<RelayFrame> r = decode_relay_frame(ByteView(wire).first(n));
      EXPECT_FALSE(r.has_value()) << "prefix " << n << " of a " << wire.size() << "-byte frame";
    }
  }
}

TEST(RelayFrames, EnvelopeMustBeAPaddingBucket) {
  for (std::size_t size : kEnvelopeBuckets) {
    EXPECT_TRUE(encode_relay_frame({1, Deposit{id_of(1), Bytes(size, 1)}}).has_value()) << size;
  }
  for (std::size_t size : {0, 1, 255, 257, 1000, 4097, 65535}) {
    Result<Bytes> r = encode_relay_frame({1, Deposit{id_of(1), Bytes(size, 1)}});
    ASSERT_FALSE(r.has_value()) << size;
    EXPECT_EQ(err(r), Errc::kMalformed);
  }
  // A hand-built deposit claiming 300 bytes.
  Bytes wire = {kRelayProtocolVersion, 0x04, 0, 0, 0, 1};
  append(wire, id_of(1));
  append(wire, Bytes{0, 0, 0x01, 0x2C});
  append(wire, Bytes(300, 0));
  Result<RelayFrame> r = decode_relay_frame(wire);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(err(r), Errc::kMalformed);
}

TEST(RelayFrames, RejectsOversizedEnvelopeAndFrame) {
  Result<Bytes> r = encode_relay_frame({1, Deposit{id_of(1), Bytes(kMaxEnvelopeSize * 2, 1)}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(err(r), Errc::kLimitExceeded);
  // Length field claiming 128 KiB (the frame itself is short: must not allocate or read past).
  Bytes wire = {kRelayProtocolVersion, 0x04, 0, 0, 0, 1};
  append(wire, id_of(1));
  append(wire, Bytes{0, 0x02, 0, 0});
  Result<RelayFrame> d = decode_relay_frame(wire);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(err(d), Errc::kLimitExceeded);
  Bytes huge(kMaxRelayFrameSize + 1, 0);
  huge[0] = 1;
  Result<RelayFrame> h = decode_relay_frame(huge);
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(err(h), Errc::kLimitExceeded);
}

TEST(RelayFrames, BundleCapsAreEnforcedBothWays) {
  PrekeyBundle too_many{Bytes(33, 1), Bytes(64, 1),
                        std::vector<Bytes>(kMaxOneTimePrekeys + 1, Bytes(33, 1))};
  EXPECT_EQ(err(encode_relay_frame({1, PublishBundle{id_of(1), too_many}})), Errc::kLimitExceeded);
  PrekeyBundle big_key{Bytes(kMaxIdentityKeySize + 1, 1), Bytes(64, 1), {}};
  EXPECT_EQ(err(encode_relay_frame({1, PublishBundle{id_of(1), big_key}})), Errc::kLimitExceeded);
  PrekeyBundle empty_key{Bytes{}, Bytes(64, 1), {}};
  EXPECT_EQ(err(encode_relay_frame({1, PublishBundle{id_of(1), empty_key}})), Errc::kMalformed);
  PrekeyBundle max{Bytes(kMaxIdentityKeySize, 1), Bytes(kMaxSignedPrekeySize, 2),
                   std::vector<Bytes>(kMaxOneTimePrekeys, Bytes(kMaxOneTimePrekeySize, 3))};
  const Bytes wire = encode_ok({1, PublishBundle{id_of(1), max}});
  EXPECT_LE(wire.size(), kMaxRelayFrameSize);
  ASSERT_TRUE(decode_relay_frame(wire).has_value());

  // A count field over the cap is refused before reading any key.
  Bytes hand = {kRelayProtocolVersion, 0x07, 0, 0, 0, 1};
  append(hand, id_of(1));
  append(hand, Bytes{0, 1, 9, 0, 1, 9});
  append(hand, Bytes{0, 201});
  EXPECT_EQ(err(decode_relay_frame(hand)), Errc::kLimitExceeded);
}

TEST(RelayFrames, RequestIdRules) {
  EXPECT_FALSE(encode_relay_frame({0, Hello{}}).has_value());
  EXPECT_FALSE(encode_relay_frame({5, Delivery{id_of(1), 1, 1, {}, Bytes(256, 0)}}).has_value());
  Bytes wire = encode_ok({1, Ok{}});
  wire[5] = 0;
  EXPECT_EQ(err(decode_relay_frame(wire)), Errc::kMalformed);
}

TEST(RelayFrames, RejectsBadFlagErrorCodeAndNegativeTime) {
  Bytes bundle = encode_ok({1, BundleReply{Bytes(1, 1), Bytes(1, 2), std::nullopt}});
  bundle.back() = 2;
  EXPECT_EQ(err(decode_relay_frame(bundle)), Errc::kMalformed);

  Bytes error_frame = encode_ok({1, ErrorReply{RelayErrorCode::kInternal}});
  error_frame[7] = 99;
  EXPECT_EQ(err(decode_relay_frame(error_frame)), Errc::kMalformed);
  EXPECT_FALSE(encode_relay_frame({1, ErrorReply{static_cast<RelayErrorCode>(0)}}).has_value());

  EXPECT_FALSE(encode_relay_frame({0, Delivery{id_of(1), 1, -1, {}, Bytes(256, 0)}}).has_value());
  Bytes push = encode_ok({0, Delivery{id_of(1), 1, 5, {}, Bytes(256, 0)}});
  push[kRelayHeaderSize + kQueueIdSize + 8] = 0x80;  // top bit of the time
  EXPECT_EQ(err(decode_relay_frame(push)), Errc::kMalformed);
}

TEST(RelayFrames, ErrorNamesAreDocumentedStrings) {
  EXPECT_EQ(relay_error_name(RelayErrorCode::kQueueFull), "queue_full");
  EXPECT_EQ(relay_error_name(RelayErrorCode::kStorageUnavailable), "storage_unavailable");
  EXPECT_EQ(relay_error_name(RelayErrorCode::kInternal), "internal");
  EXPECT_EQ(relay_error_name(RelayErrorCode::kEscrowClosed), "escrow_closed");
  EXPECT_EQ(relay_error_name(RelayErrorCode::kEscrowDuplicate), "escrow_duplicate");
  EXPECT_EQ(relay_error_name(RelayErrorCode::kEscrowBadDeadline), "escrow_bad_deadline");
  EXPECT_EQ(relay_error_name(RelayErrorCode::kEscrowSameQueue), "escrow_same_queue");
}

TEST(RelayFrames, KnownAnswerEscrowOpenAndState) {
  const Bytes open = encode_ok({9, EscrowOpen{0x0102030405060708, id_of(0x41), id_of(0x42)}});
  Bytes expected = {kRelayProtocolVersion, 0x10, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8};
  append(expected, id_of(0x41));
  append(expected, id_of(0x42));
  EXPECT_EQ(open, expected);

  EscrowCertificateBytes cert{};
  cert.fill(0x5A);
  const Bytes state = encode_ok({3, EscrowState{EscrowPhase::kReleased, true, cert}});
  ASSERT_EQ(state.size(), kRelayHeaderSize + 2 + kEscrowCertificateSize);
  EXPECT_EQ(state[1], 0x92);
  EXPECT_EQ(state[6], 2);  // released
  EXPECT_EQ(state[7], 1);  // own deposit
  EXPECT_EQ(state.back(), 0x5A);
  EXPECT_EQ(encode_ok({3, EscrowState{EscrowPhase::kExpired, false, std::nullopt}}).size(),
            kRelayHeaderSize + 2);
}

TEST(RelayFrames, EscrowStateHasOneEncodingPerMeaning) {
  EscrowCertificateBytes cert{};
  // A certificate comes exactly with a release; expired never reports a deposit; released
  // always does.
  EXPECT_EQ(err(encode_relay_frame({1, EscrowState{EscrowPhase::kOpen, true, cert}})),
            Errc::kMalformed);
  EXPECT_EQ(err(encode_relay_frame({1, EscrowState{EscrowPhase::kReleased, true, std::nullopt}})),
            Errc::kMalformed);
  EXPECT_EQ(err(encode_relay_frame({1, EscrowState{EscrowPhase::kExpired, true, std::nullopt}})),
            Errc::kMalformed);
  EXPECT_EQ(err(encode_relay_frame({1, EscrowState{EscrowPhase::kReleased, false, cert}})),
            Errc::kMalformed);
  EXPECT_EQ(
      err(encode_relay_frame({1, EscrowState{static_cast<EscrowPhase>(4), false, std::nullopt}})),
      Errc::kMalformed);

  const Bytes open = encode_ok({1, EscrowState{EscrowPhase::kOpen, false, std::nullopt}});
  for (std::uint8_t phase : {0, 4, 0xFF}) {
    Bytes bad = open;
    bad[6] = phase;
    EXPECT_EQ(err(decode_relay_frame(bad)), Errc::kMalformed) << int(phase);
  }
  Bytes flag = open;
  flag[7] = 2;
  EXPECT_EQ(err(decode_relay_frame(flag)), Errc::kMalformed);
  Bytes expired_with_deposit = open;
  expired_with_deposit[6] = 3;
  expired_with_deposit[7] = 1;
  EXPECT_EQ(err(decode_relay_frame(expired_with_deposit)), Errc::kMalformed);
  Bytes open_with_cert = open;
  append(open_with_cert, cert);
  EXPECT_EQ(err(decode_relay_frame(open_with_cert)), Errc::kMalformed);
}

TEST(RelayFrames, EscrowDepositEnvelopeAndDeadlineRules) {
  EXPECT_EQ(err(encode_relay_frame({1, EscrowDeposit{id_of(1), id_of(2), Bytes(300, 0)}})),
            Errc::kMalformed);
  EXPECT_EQ(err(encode_relay_frame({1, EscrowOpen{-1, id_of(1), id_of(2)}})), Errc::kMalformed);
  Bytes open = encode_ok({1, EscrowOpen{5, id_of(1), id_of(2)}});
  open[kRelayHeaderSize] = 0x80;  // top bit of the deadline
  EXPECT_EQ(err(decode_relay_frame(open)), Errc::kMalformed);
  // A hand-built escrow deposit claiming 300 bytes.
  Bytes wire = {kRelayProtocolVersion, 0x11, 0, 0, 0, 1};
  append(wire, id_of(1));
  append(wire, id_of(2));
  append(wire, Bytes{0, 0, 0x01, 0x2C});
  append(wire, Bytes(300, 0));
  EXPECT_EQ(err(decode_relay_frame(wire)), Errc::kMalformed);
}

TEST(RelayFrames, SubscribeProofIsDomainSeparated) {
  const Bytes m = subscribe_proof_message(Challenge{1}, id_of(2));
  const std::string_view domain = "backchannel-relay-subscribe-v1";
  ASSERT_EQ(m.size(), domain.size() + kChallengeSize + kQueueIdSize);
  EXPECT_EQ(to_string(ByteView(m).first(domain.size())), domain);
  EXPECT_EQ(m[domain.size()], 1);
  EXPECT_EQ(m.back(), 2);
}

TEST(RelayFrames, AckManyLayoutAndRules) {
  const Bytes wire = encode_ok({7, AckMany{id_of(0xEE), {3, 0x0102030405060708}}});
  // version, type 0x09, request id, recipient id, count (u16), then each id (u64).
  Bytes expected = {kRelayProtocolVersion, 0x09, 0, 0, 0, 7};
  const QueueId id = id_of(0xEE);
  expected.insert(expected.end(), id.begin(), id.end());
  const Bytes tail = {0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8};
  expected.insert(expected.end(), tail.begin(), tail.end());
  EXPECT_EQ(wire, expected);

  // Neither side accepts an empty list, more than 256 ids, or ids that do not increase.
  std::vector<MessageId> too_many(kMaxAckMany + 1);
  for (std::size_t i = 0; i < too_many.size(); ++i) too_many[i] = i + 1;
  for (const std::vector<MessageId>& ids :
       {std::vector<MessageId>{}, too_many, std::vector<MessageId>{5, 5},
        std::vector<MessageId>{6, 2}}) {
    EXPECT_FALSE(encode_relay_frame({1, AckMany{id_of(1), ids}})) << ids.size();
  }
  std::vector<MessageId> most(kMaxAckMany);
  for (std::size_t i = 0; i < most.size(); ++i) most[i] = i + 1;
  EXPECT_TRUE(encode_relay_frame({1, AckMany{id_of(1), most}}));
  Bytes zero = encode_ok({7, AckMany{id_of(0xEE), {3}}});
  zero[6 + kQueueIdSize + 1] = 0;  // count 0
  zero.resize(6 + kQueueIdSize + 2);
  EXPECT_FALSE(decode_relay_frame(zero));
  Bytes repeated = encode_ok({7, AckMany{id_of(0xEE), {3, 4}}});
  repeated[repeated.size() - 1] = 3;  // 3, 3
  EXPECT_FALSE(decode_relay_frame(repeated));
  Bytes large_count = encode_ok({7, AckMany{id_of(0xEE), {3}}});
  large_count[6 + kQueueIdSize] = 0x01;
  large_count[6 + kQueueIdSize + 1] = 0x01;  // 257
  EXPECT_FALSE(decode_relay_frame(large_count));
}

TEST(RelayFrames, RequestClassification) {
  EXPECT_TRUE(is_request(AckMany{}));
  EXPECT_TRUE(is_request(Hello{}));
  EXPECT_TRUE(is_request(FetchBundle{}));
  EXPECT_FALSE(is_request(Ok{}));
  EXPECT_FALSE(is_request(Delivery{}));
  EXPECT_TRUE(is_request(EscrowOpen{}));
  EXPECT_TRUE(is_request(EscrowStatus{}));
  EXPECT_FALSE(is_request(EscrowOpened{}));
  EXPECT_FALSE(is_request(EscrowState{}));
}

}  // namespace
}  // namespace bc::wire
