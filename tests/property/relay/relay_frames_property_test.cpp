// Property tests of the relay frame codec: every valid frame round-trips bit-exactly; random and
// mutated bytes never crash the decoder, and whatever it accepts re-encodes to the same bytes.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "wire/relay_frames.hpp"

namespace bc::wire {
namespace {

template <std::size_t N>
std::array<std::uint8_t, N> gen_array() {
  std::array<std::uint8_t, N> out{};
  for (auto& b : out) b = *rc::gen::arbitrary<std::uint8_t>();
  return out;
}

Bytes gen_bytes(std::size_t min, std::size_t max) {
  const auto size = *rc::gen::inRange<std::size_t>(min, max + 1);
  Bytes out(size);
  // Fill with a cheap pattern from a random seed: the content does not matter to the codec.
  const auto seed = *rc::gen::arbitrary<std::uint8_t>();
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(seed + i * 31);
  return out;
}

Bytes gen_envelope() {
  const auto bucket = *rc::gen::elementOf(
      std::vector<std::size_t>(kEnvelopeBuckets.begin(), kEnvelopeBuckets.end()));
  return gen_bytes(bucket, bucket);
}

// gen_proof draws a batch (sizes up to the cap, small ones more often), an index in it and a path
// of the length the batch's tree gives that index.
ReceiptProof gen_proof() {
  ReceiptProof p;
  p.batch_size = *rc::gen::oneOf(rc::gen::inRange<std::uint32_t>(1, 70),
                                 rc::gen::inRange<std::uint32_t>(1, kMaxReceiptBatch + 1));
  p.batch_index = *rc::gen::inRange<std::uint32_t>(0, p.batch_size);
  p.path.resize(receipt_path_size(p.batch_index, p.batch_size));
  for (auto& hash : p.path) hash = gen_array<32>();
  p.signature = gen_array<kSignatureSize>();
  return p;
}

PrekeyBundle gen_bundle() {
  PrekeyBundle b;
  b.identity_key = gen_bytes(1, kMaxIdentityKeySize);
  b.signed_prekey = gen_bytes(1, kMaxSignedPrekeySize);
  const auto count = *rc::gen::inRange<std::size_t>(0, 12);
  for (std::size_t i = 0; i < count; ++i) b.one_time_prekeys.push_back(gen_bytes(1, 64));
  return b;
}

RelayFrame gen_frame() {
  const int kind = *rc::gen::inRange(0, 15);
  RequestId id = *rc::gen::inRange<RequestId>(1, std::numeric_limits<RequestId>::max());
  switch (kind) {
    case 0:
      return {id, Hello{}};
    case 1:
      return {id, CreateQueue{gen_array<kOwnerKeySize>()}};
    case 2:
      return {id, Subscribe{gen_array<kQueueIdSize>(), gen_array<kSignatureSize>()}};
    case 3:
      return {id, Deposit{gen_array<kQueueIdSize>(), gen_envelope()}};
    case 4:
      return {id, Ack{gen_array<kQueueIdSize>(), *rc::gen::arbitrary<std::uint64_t>()}};
    case 5:
      return {id, DeleteQueue{gen_array<kQueueIdSize>()}};
    case 6:
      return {id, PublishBundle{gen_array<kQueueIdSize>(), gen_bundle()}};
    case 7:
      return {id, FetchBundle{gen_array<kQueueIdSize>()}};
    case 8:
      return {id, Ok{}};
    case 9: {
      const auto code = *rc::gen::inRange<std::uint16_t>(1, 15);
      return {*rc::gen::arbitrary<RequestId>(), ErrorReply{static_cast<RelayErrorCode>(code)}};
    }
    case 10:
      return {id, ChallengeReply{gen_array<kChallengeSize>(), gen_array<kRelayKeySize>()}};
    case 11:
      return {id, QueueCreated{gen_array<kQueueIdSize>(), gen_array<kQueueIdSize>()}};
    case 12: {
      BundleReply r{gen_bytes(1, kMaxIdentityKeySize), gen_bytes(1, kMaxSignedPrekeySize),
                    std::nullopt};
      if (*rc::gen::arbitrary<bool>()) r.one_time_prekey = gen_bytes(1, kMaxOneTimePrekeySize);
      return {id, std::move(r)};
    }
    case 13: {
      const auto t = *rc::gen::inRange<std::int64_t>(0, std::numeric_limits<std::int64_t>::max());
      return {id, DepositReceipt{*rc::gen::arbitrary<std::uint64_t>(), t, gen_array<32>(),
                                 gen_proof()}};
    }
    default: {
      const auto t = *rc::gen::inRange<std::int64_t>(0, std::numeric_limits<std::int64_t>::max());
      return {0, Delivery{gen_array<kQueueIdSize>(), *rc::gen::arbitrary<std::uint64_t>(), t,
                          gen_proof(), gen_envelope()}};
    }
  }
}

RC_GTEST_PROP(RelayFramesProperty, DecodeOfEncodeIsIdentity, ()) {
  const RelayFrame frame = gen_frame();
  Result<Bytes> wire = encode_relay_frame(frame);
  RC_ASSERT(wire.has_value());
  Result<RelayFrame> back = decode_relay_frame(*wire);
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == frame);
  Result<Bytes> again = encode_relay_frame(*back);
  RC_ASSERT(again.has_value());
  RC_ASSERT(*again == *wire);
}

RC_GTEST_PROP(RelayFramesProperty, RandomBytesNeverCrashAndAcceptedBytesReencode, ()) {
  const auto raw =
      *rc::gen::container<std::vector<std::uint8_t>>(rc::gen::arbitrary<std::uint8_t>());
  Bytes input = raw;
  // Half the time give it a plausible header so the body parsers get exercised.
  if (*rc::gen::arbitrary<bool>() && input.size() >= 2) {
    input[0] = kRelayProtocolVersion;
    input[1] = *rc::gen::elementOf(std::vector<std::uint8_t>{
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0xC1});
  }
  Result<RelayFrame> decoded = decode_relay_frame(input);
  if (decoded) {
    Result<Bytes> wire = encode_relay_frame(*decoded);
    RC_ASSERT(wire.has_value());
    RC_ASSERT(*wire == input);
  }
}

RC_GTEST_PROP(RelayFramesProperty, MutatedValidFramesNeverCrashAndStayCanonical, ()) {
  const RelayFrame frame = gen_frame();
  Result<Bytes> wire = encode_relay_frame(frame);
  RC_ASSERT(wire.has_value());
  Bytes mutated = *wire;
  const auto flips = *rc::gen::inRange(1, 4);
  for (int i = 0; i < flips; ++i) {
    const auto pos = *rc::gen::inRange<std::size_t>(0, mutated.size());
    mutated[pos] ^= static_cast<std::uint8_t>(*rc::gen::inRange(1, 256));
  }
  if (*rc::gen::arbitrary<bool>()) {
    mutated.resize(*rc::gen::inRange<std::size_t>(0, mutated.size() + 8));
  }
  Result<RelayFrame> decoded = decode_relay_frame(mutated);
  if (decoded) {
    Result<Bytes> again = encode_relay_frame(*decoded);
    RC_ASSERT(again.has_value());
    RC_ASSERT(*again == mutated);
  }
}

}  // namespace
}  // namespace bc::wire
