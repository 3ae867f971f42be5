#include "protocol/payload.hpp"

#include <algorithm>

#include "wire/protobuf.hpp"

namespace bc::protocol {
namespace {

constexpr std::array<std::size_t, 5> kBuckets = {256, 1024, 4096, 16384, 65536};

Bytes be64(std::int64_t v) {
  Bytes out(8);
  const auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(u >> (56 - 8 * i));
  return out;
}

std::int64_t from_be64(ByteView b) {
  std::uint64_t u = 0;
  for (const auto byte : b) u = (u << 8) | byte;
  return static_cast<std::int64_t>(u);
}

}  // namespace

std::string_view payload_kind_name(std::uint32_t kind) noexcept {
  switch (static_cast<PayloadKind>(kind)) {
    case PayloadKind::kText:
      return "text";
    case PayloadKind::kFile:
      return "file";
    case PayloadKind::kInvitationAccept:
      return "invitation_accept";
    case PayloadKind::kIntroductionOffer:
      return "introduction_offer";
    case PayloadKind::kIntroductionAnswer:
      return "introduction_answer";
    case PayloadKind::kIntroduction:
      return "introduction";
    case PayloadKind::kAssurance:
      return "assurance";
    case PayloadKind::kReceipt:
      return "receipt";
    case PayloadKind::kHeartbeat:
      return "heartbeat";
  }
  return "unknown";
}

Result<Bytes> Payload::encode_content() const {
  if (body.size() > kMaxPayloadBody) return fail(Errc::kLimitExceeded, "message body too large");
  Bytes out;
  out.reserve(body.size() + 160);
  wire::ProtoWriter w(out);
  w.uint32_field(1, kPayloadVersion);
  w.uint32_field(2, kind);
  w.bytes_field(3, message_id);
  w.bytes_field(4, be64(sent_at_ms));
  w.bytes_field(5, body);
  return out;
}

Result<Bytes> Payload::encode() const {
  BC_ASSIGN_OR_RETURN(Bytes out, encode_content());
  if (!transcript) return out;
  const TranscriptFields& t = *transcript;
  wire::ProtoWriter w(out);
  w.bytes_field(6, be64(static_cast<std::int64_t>(t.seq)));
  w.bytes_field(7, t.prev_hash);
  w.bytes_field(8, be64(static_cast<std::int64_t>(t.acked_seq)));
  w.bytes_field(9, t.acked_hash);
  w.bytes_field(10, be64(static_cast<std::int64_t>(t.prev_relay_seq)));
  w.bytes_field(11, be64(t.prev_relay_time_ms));
  return out;
}

Result<Payload> Payload::decode(ByteView bytes) {
  wire::ProtoReader r(bytes);
  Payload p;
  unsigned seen = 0;
  while (!r.done()) {
    BC_ASSIGN_OR_RETURN(const wire::ProtoField f, r.next());
    const bool varint = f.type == wire::WireType::kVarint;
    switch (f.number) {
      case 1:
        if (!varint) return fail(Errc::kMalformed, "payload version has the wrong type");
        if (f.varint != kPayloadVersion) {
          return fail(Errc::kUnsupportedVersion, "payload version " + std::to_string(f.varint));
        }
        break;
      case 2:
        if (!varint) return fail(Errc::kMalformed, "payload kind has the wrong type");
        p.kind = f.varint;
        break;
      case 3:
        if (varint || f.bytes.size() != kMessageIdSize) {
          return fail(Errc::kMalformed, "payload message id is malformed");
        }
        std::copy(f.bytes.begin(), f.bytes.end(), p.message_id.begin());
        break;
      case 4:
        if (varint || f.bytes.size() != 8)
          return fail(Errc::kMalformed, "payload time is malformed");
        p.sent_at_ms = from_be64(f.bytes);
        break;
      case 5:
        if (varint) return fail(Errc::kMalformed, "payload body has the wrong type");
        if (f.bytes.size() > kMaxPayloadBody) return fail(Errc::kLimitExceeded, "body too large");
        p.body = to_bytes(f.bytes);
        break;
      case 6:
      case 8:
      case 10:
      case 11: {
        if (varint || f.bytes.size() != 8) {
          return fail(Errc::kMalformed, "payload transcript field is malformed");
        }
        if (!p.transcript) p.transcript.emplace();
        const auto v = from_be64(f.bytes);
        if (f.number == 6) p.transcript->seq = static_cast<std::uint64_t>(v);
        if (f.number == 8) p.transcript->acked_seq = static_cast<std::uint64_t>(v);
        if (f.number == 10) p.transcript->prev_relay_seq = static_cast<std::uint64_t>(v);
        if (f.number == 11) p.transcript->prev_relay_time_ms = v;
        break;
      }
      case 7:
      case 9: {
        if (varint || f.bytes.size() != 32) {
          return fail(Errc::kMalformed, "payload transcript hash is malformed");
        }
        if (!p.transcript) p.transcript.emplace();
        auto& h = f.number == 7 ? p.transcript->prev_hash : p.transcript->acked_hash;
        std::copy(f.bytes.begin(), f.bytes.end(), h.begin());
        break;
      }
      default:
        continue;  // a field added by a later version: skipped
    }
    if ((seen & (1U << f.number)) != 0) return fail(Errc::kMalformed, "payload repeats a field");
    seen |= 1U << f.number;
  }
  constexpr unsigned kContent = 0b111110;
  constexpr unsigned kTranscript = 0b111111000000;
  if ((seen & kContent) != kContent) return fail(Errc::kMalformed, "payload is missing a field");
  if ((seen & kTranscript) != 0 && (seen & kTranscript) != kTranscript) {
    return fail(Errc::kMalformed, "payload has only part of its transcript fields");
  }
  return p;
}

Result<Bytes> pad_envelope(std::uint8_t message_type, ByteView ciphertext) {
  if (message_type != 2 && message_type != 3) {
    return fail(Errc::kMalformed, "unknown session message type");
  }
  const std::size_t needed = kEnvelopeHeaderSize + ciphertext.size();
  const auto bucket = std::find_if(kBuckets.begin(), kBuckets.end(),
                                   [needed](std::size_t b) { return b >= needed; });
  if (bucket == kBuckets.end()) return fail(Errc::kLimitExceeded, "message too large to send");
  Bytes out(*bucket, 0);
  out[0] = kEnvelopeVersion;
  out[1] = message_type;
  const auto n = static_cast<std::uint32_t>(ciphertext.size());
  for (int i = 0; i < 4; ++i) out[2 + i] = static_cast<std::uint8_t>(n >> (24 - 8 * i));
  std::copy(ciphertext.begin(), ciphertext.end(), out.begin() + kEnvelopeHeaderSize);
  return out;
}

Result<Envelope> unpad_envelope(ByteView padded) {
  if (std::find(kBuckets.begin(), kBuckets.end(), padded.size()) == kBuckets.end()) {
    return fail(Errc::kMalformed, "envelope size is not a padding bucket");
  }
  if (padded[0] != kEnvelopeVersion) {
    return fail(Errc::kUnsupportedVersion, "envelope version " + std::to_string(padded[0]));
  }
  Envelope e;
  e.message_type = padded[1];
  if (e.message_type != 2 && e.message_type != 3) {
    return fail(Errc::kMalformed, "unknown session message type");
  }
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | padded[2 + i];
  if (n > padded.size() - kEnvelopeHeaderSize)
    return fail(Errc::kMalformed, "envelope length past its end");
  const auto tail = padded.subspan(kEnvelopeHeaderSize + n);
  if (std::any_of(tail.begin(), tail.end(), [](std::uint8_t b) { return b != 0; })) {
    return fail(Errc::kMalformed, "envelope padding is not zero");
  }
  e.ciphertext = to_bytes(padded.subspan(kEnvelopeHeaderSize, n));
  return e;
}

}  // namespace bc::protocol
