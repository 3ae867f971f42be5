// Relay frame codec: see relay_frames.hpp and docs/relay-protocol.md.
#include "wire/relay_frames.hpp"

#include <algorithm>
#include <limits>
#include <type_traits>

namespace bc::wire {
namespace {

// Wire type numbers (documented in docs/relay-protocol.md; never reuse one).
enum class FrameType : std::uint8_t {
  kHello = 0x01,
  kCreateQueue = 0x02,
  kSubscribe = 0x03,
  kDeposit = 0x04,
  kAck = 0x05,
  kDeleteQueue = 0x06,
  kPublishBundle = 0x07,
  kFetchBundle = 0x08,
  kAckMany = 0x09,
  kOk = 0x81,
  kError = 0x82,
  kChallenge = 0x83,
  kQueueCreated = 0x84,
  kBundle = 0x85,
  kDelivery = 0xC1,
  kDepositReceipt = 0x86,
  // Escrow block (requests 0x10.., replies 0x90..).
  kEscrowOpen = 0x10,
  kEscrowDeposit = 0x11,
  kEscrowCancel = 0x12,
  kEscrowStatus = 0x13,
  kEscrowOpened = 0x90,
  kEscrowDeposited = 0x91,
  kEscrowState = 0x92,
};

constexpr std::string_view kSubscribeDomain = "backchannel-relay-subscribe-v1";

// Reader consumes a frame front to back; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}

  [[nodiscard]] bool empty() const noexcept { return pos_ == data_.size(); }

  Result<std::uint8_t> u8() {
    if (data_.size() - pos_ < 1) return fail(Errc::kMalformed, "relay frame truncated");
    return data_[pos_++];
  }
  Result<std::uint16_t> u16() {
    if (data_.size() - pos_ < 2) return fail(Errc::kMalformed, "relay frame truncated");
    std::uint16_t v = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  Result<std::uint32_t> u32() {
    if (data_.size() - pos_ < 4) return fail(Errc::kMalformed, "relay frame truncated");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | data_[pos_++];
    return v;
  }
  Result<std::uint64_t> u64() {
    if (data_.size() - pos_ < 8) return fail(Errc::kMalformed, "relay frame truncated");
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | data_[pos_++];
    return v;
  }
  // time reads an i64 that must not be negative (milliseconds since the Unix epoch).
  Result<std::int64_t> time(const char* name) {
    BC_ASSIGN_OR_RETURN(std::uint64_t v, u64());
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return fail(Errc::kMalformed, std::string("relay frame: negative ") + name);
    }
    return static_cast<std::int64_t>(v);
  }
  template <std::size_t N>
  Result<std::array<std::uint8_t, N>> fixed() {
    if (data_.size() - pos_ < N) return fail(Errc::kMalformed, "relay frame truncated");
    std::array<std::uint8_t, N> out{};
    std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(pos_), N, out.begin());
    pos_ += N;
    return out;
  }
  // bytes reads `size` bytes (the caller has already checked the size against its cap).
  Result<Bytes> bytes(std::size_t size) {
    if (data_.size() - pos_ < size) return fail(Errc::kMalformed, "relay frame truncated");
    Bytes out(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
              data_.begin() + static_cast<std::ptrdiff_t>(pos_ + size));
    pos_ += size;
    return out;
  }
  // short_field reads a u16 length then 1..cap bytes.
  Result<Bytes> short_field(std::size_t cap, const char* name) {
    BC_ASSIGN_OR_RETURN(std::uint16_t size, u16());
    if (size == 0) return fail(Errc::kMalformed, std::string("relay frame: empty ") + name);
    if (size > cap)
      return fail(Errc::kLimitExceeded, std::string("relay frame: ") + name + " too long");
    return bytes(size);
  }
  // envelope reads a u32 length then a padding-bucket-sized envelope.
  Result<Bytes> envelope() {
    BC_ASSIGN_OR_RETURN(std::uint32_t size, u32());
    if (size > kMaxEnvelopeSize)
      return fail(Errc::kLimitExceeded, "relay frame: envelope too large");
    if (!is_envelope_bucket(size)) {
      return fail(Errc::kMalformed, "relay frame: envelope size is not a padding bucket");
    }
    return bytes(size);
  }

 private:
  ByteView data_;
  std::size_t pos_ = 0;
};

// Writer appends big-endian fields.
class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      out_.push_back(static_cast<std::uint8_t>(v >> shift));
  }
  void u64(std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8)
      out_.push_back(static_cast<std::uint8_t>(v >> shift));
  }
  void raw(ByteView v) { append(out_, v); }
  Result<void> short_field(ByteView v, std::size_t cap, const char* name) {
    if (v.empty()) return fail(Errc::kMalformed, std::string("relay frame: empty ") + name);
    if (v.size() > cap)
      return fail(Errc::kLimitExceeded, std::string("relay frame: ") + name + " too long");
    u16(static_cast<std::uint16_t>(v.size()));
    raw(v);
    return ok();
  }
  Result<void> envelope(ByteView v) {
    if (v.size() > kMaxEnvelopeSize)
      return fail(Errc::kLimitExceeded, "relay frame: envelope too large");
    if (!is_envelope_bucket(v.size())) {
      return fail(Errc::kMalformed, "relay frame: envelope size is not a padding bucket");
    }
    u32(static_cast<std::uint32_t>(v.size()));
    raw(v);
    return ok();
  }
  Bytes take() { return std::move(out_); }

 private:
  Bytes out_;
};

bool known_error_code(std::uint16_t code) {
  return code >= static_cast<std::uint16_t>(RelayErrorCode::kMalformed) &&
         code <= static_cast<std::uint16_t>(RelayErrorCode::kEscrowSameQueue);
}

// read_proof reads a ReceiptProof: batch_size u32 (1..kMaxReceiptBatch), batch_index u32
// (< batch_size), path_count u8 (exactly receipt_path_size), the path, the signature.
Result<ReceiptProof> read_proof(Reader& r) {
  ReceiptProof out;
  BC_ASSIGN_OR_RETURN(out.batch_size, r.u32());
  BC_ASSIGN_OR_RETURN(out.batch_index, r.u32());
  if (out.batch_size == 0 || out.batch_size > kMaxReceiptBatch ||
      out.batch_index >= out.batch_size) {
    return fail(Errc::kMalformed, "relay frame: receipt outside its batch");
  }
  BC_ASSIGN_OR_RETURN(std::uint8_t count, r.u8());
  if (count != receipt_path_size(out.batch_index, out.batch_size)) {
    return fail(Errc::kMalformed, "relay frame: receipt path does not fit its batch");
  }
  out.path.reserve(count);
  for (std::uint8_t i = 0; i < count; ++i) {
    BC_ASSIGN_OR_RETURN(auto hash, r.fixed<32>());
    out.path.push_back(hash);
  }
  BC_ASSIGN_OR_RETURN(out.signature, r.fixed<kSignatureSize>());
  return out;
}

Result<void> write_proof(Writer& w, const ReceiptProof& p) {
  if (p.batch_size == 0 || p.batch_size > kMaxReceiptBatch || p.batch_index >= p.batch_size ||
      p.path.size() != receipt_path_size(p.batch_index, p.batch_size)) {
    return fail(Errc::kMalformed, "relay frame: receipt path does not fit its batch");
  }
  w.u32(p.batch_size);
  w.u32(p.batch_index);
  w.u8(static_cast<std::uint8_t>(p.path.size()));
  for (const auto& hash : p.path) w.raw(hash);
  w.raw(p.signature);
  return ok();
}

// Request-id rule: pushes carry 0, errors may carry 0 (unreadable frame), all else non-zero.
Result<void> check_request_id(FrameType type, RequestId id) {
  if (type == FrameType::kDelivery) {
    if (id != 0) return fail(Errc::kMalformed, "relay frame: a push carries request id 0");
    return ok();
  }
  if (type != FrameType::kError && id == 0) {
    return fail(Errc::kMalformed, "relay frame: request id 0 is reserved for pushes");
  }
  return ok();
}

FrameType type_of(const RelayMessage& m) {
  static constexpr FrameType kTypes[] = {FrameType::kHello,
                                         FrameType::kCreateQueue,
                                         FrameType::kSubscribe,
                                         FrameType::kDeposit,
                                         FrameType::kAck,
                                         FrameType::kDeleteQueue,
                                         FrameType::kPublishBundle,
                                         FrameType::kFetchBundle,
                                         FrameType::kOk,
                                         FrameType::kError,
                                         FrameType::kChallenge,
                                         FrameType::kQueueCreated,
                                         FrameType::kBundle,
                                         FrameType::kDelivery,
                                         FrameType::kEscrowOpen,
                                         FrameType::kEscrowDeposit,
                                         FrameType::kEscrowCancel,
                                         FrameType::kEscrowStatus,
                                         FrameType::kEscrowOpened,
                                         FrameType::kEscrowDeposited,
                                         FrameType::kEscrowState,
                                         FrameType::kDepositReceipt,
                                         FrameType::kAckMany};
  static_assert(std::size(kTypes) == std::variant_size_v<RelayMessage>);
  return kTypes[m.index()];
}

// check_escrow_state enforces the one encoding of an EscrowState: an expired exchange never says
// whether this side had deposited (always 0) and a released one always had both deposits (1).
Result<void> check_escrow_state(EscrowPhase phase, bool own_deposited) {
  if (phase == EscrowPhase::kExpired && own_deposited) {
    return fail(Errc::kMalformed, "relay frame: an expired escrow reports no deposit");
  }
  if (phase == EscrowPhase::kReleased && !own_deposited) {
    return fail(Errc::kMalformed, "relay frame: a released escrow had both deposits");
  }
  return ok();
}

Result<RelayMessage> decode_body(FrameType type, Reader& r) {
  switch (type) {
    case FrameType::kHello:
      return RelayMessage{Hello{}};
    case FrameType::kCreateQueue: {
      BC_ASSIGN_OR_RETURN(auto key, r.fixed<kOwnerKeySize>());
      return RelayMessage{CreateQueue{key}};
    }
    case FrameType::kSubscribe: {
      BC_ASSIGN_OR_RETURN(auto id, r.fixed<kQueueIdSize>());
      BC_ASSIGN_OR_RETURN(auto sig, r.fixed<kSignatureSize>());
      return RelayMessage{Subscribe{id, sig}};
    }
    case FrameType::kDeposit: {
      BC_ASSIGN_OR_RETURN(auto id, r.fixed<kQueueIdSize>());
      BC_ASSIGN_OR_RETURN(Bytes env, r.envelope());
      return RelayMessage{Deposit{id, std::move(env)}};
    }
    case FrameType::kAck: {
      BC_ASSIGN_OR_RETURN(auto id, r.fixed<kQueueIdSize>());
      BC_ASSIGN_OR_RETURN(std::uint64_t message_id, r.u64());
      return RelayMessage{Ack{id, message_id}};
    }
    case FrameType::kDeleteQueue: {
      BC_ASSIGN_OR_RETURN(auto id, r.fixed<kQueueIdSize>());
      return RelayMessage{DeleteQueue{id}};
    }
    case FrameType::kAckMany: {
      AckMany out;
      BC_ASSIGN_OR_RETURN(out.recipient_id, r.fixed<kQueueIdSize>());
      BC_ASSIGN_OR_RETURN(std::uint16_t count, r.u16());
      if (count == 0 || count > kMaxAckMany) {
        return fail(Errc::kMalformed, "relay frame: ack_many needs 1 to 256 message ids");
      }
      out.message_ids.reserve(count);
      for (std::uint16_t i = 0; i < count; ++i) {
        BC_ASSIGN_OR_RETURN(std::uint64_t id, r.u64());
        if (!out.message_ids.empty() && id <= out.message_ids.back()) {
          return fail(Errc::kMalformed, "relay frame: ack_many ids must increase");
        }
        out.message_ids.push_back(id);
      }
      return RelayMessage{std::move(out)};
    }
    case FrameType::kPublishBundle: {
      PublishBundle out;
      BC_ASSIGN_OR_RETURN(out.recipient_id, r.fixed<kQueueIdSize>());
      BC_ASSIGN_OR_RETURN(out.bundle.identity_key,
                          r.short_field(kMaxIdentityKeySize, "identity key"));
      BC_ASSIGN_OR_RETURN(out.bundle.signed_prekey,
                          r.short_field(kMaxSignedPrekeySize, "signed prekey"));
      BC_ASSIGN_OR_RETURN(std::uint16_t count, r.u16());
      if (count > kMaxOneTimePrekeys) {
        return fail(Errc::kLimitExceeded, "relay frame: too many one-time prekeys");
      }
      out.bundle.one_time_prekeys.reserve(count);
      for (std::uint16_t i = 0; i < count; ++i) {
        BC_ASSIGN_OR_RETURN(Bytes k, r.short_field(kMaxOneTimePrekeySize, "one-time prekey"));
        out.bundle.one_time_prekeys.push_back(std::move(k));
      }
      return RelayMessage{std::move(out)};
    }
    case FrameType::kFetchBundle: {
      BC_ASSIGN_OR_RETURN(auto id, r.fixed<kQueueIdSize>());
      return RelayMessage{FetchBundle{id}};
    }
    case FrameType::kOk:
      return RelayMessage{Ok{}};
    case FrameType::kError: {
      BC_ASSIGN_OR_RETURN(std::uint16_t code, r.u16());
      if (!known_error_code(code)) return fail(Errc::kMalformed, "relay frame: unknown error code");
      return RelayMessage{ErrorReply{static_cast<RelayErrorCode>(code)}};
    }
    case FrameType::kChallenge: {
      BC_ASSIGN_OR_RETURN(auto c, r.fixed<kChallengeSize>());
      BC_ASSIGN_OR_RETURN(auto key, r.fixed<kRelayKeySize>());
      return RelayMessage{ChallengeReply{c, key}};
    }
    case FrameType::kQueueCreated: {
      BC_ASSIGN_OR_RETURN(auto s, r.fixed<kQueueIdSize>());
      BC_ASSIGN_OR_RETURN(auto rc, r.fixed<kQueueIdSize>());
      return RelayMessage{QueueCreated{s, rc}};
    }
    case FrameType::kBundle: {
      BundleReply out;
      BC_ASSIGN_OR_RETURN(out.identity_key, r.short_field(kMaxIdentityKeySize, "identity key"));
      BC_ASSIGN_OR_RETURN(out.signed_prekey, r.short_field(kMaxSignedPrekeySize, "signed prekey"));
      BC_ASSIGN_OR_RETURN(std::uint8_t has, r.u8());
      if (has > 1) return fail(Errc::kMalformed, "relay frame: bad one-time prekey flag");
      if (has == 1) {
        BC_ASSIGN_OR_RETURN(Bytes k, r.short_field(kMaxOneTimePrekeySize, "one-time prekey"));
        out.one_time_prekey = std::move(k);
      }
      return RelayMessage{std::move(out)};
    }
    case FrameType::kDelivery: {
      Delivery out;
      BC_ASSIGN_OR_RETURN(out.recipient_id, r.fixed<kQueueIdSize>());
      BC_ASSIGN_OR_RETURN(out.message_id, r.u64());
      BC_ASSIGN_OR_RETURN(std::uint64_t t, r.u64());
      if (t > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return fail(Errc::kMalformed, "relay frame: negative relay time");
      }
      out.relay_time_ms = static_cast<std::int64_t>(t);
      BC_ASSIGN_OR_RETURN(out.proof, read_proof(r));
      BC_ASSIGN_OR_RETURN(out.envelope, r.envelope());
      return RelayMessage{std::move(out)};
    }
    case FrameType::kDepositReceipt: {
      DepositReceipt out;
      BC_ASSIGN_OR_RETURN(out.message_id, r.u64());
      BC_ASSIGN_OR_RETURN(out.relay_time_ms, r.time("relay time"));
      BC_ASSIGN_OR_RETURN(out.envelope_hash, r.fixed<32>());
      BC_ASSIGN_OR_RETURN(out.proof, read_proof(r));
      return RelayMessage{std::move(out)};
    }
    case FrameType::kEscrowOpen: {
      EscrowOpen out;
      BC_ASSIGN_OR_RETURN(out.deadline_ms, r.time("escrow deadline"));
      BC_ASSIGN_OR_RETURN(out.queue_a, r.fixed<kQueueIdSize>());
      BC_ASSIGN_OR_RETURN(out.queue_b, r.fixed<kQueueIdSize>());
      return RelayMessage{out};
    }
    case FrameType::kEscrowDeposit: {
      EscrowDeposit out;
      BC_ASSIGN_OR_RETURN(out.exchange_id, r.fixed<kExchangeIdSize>());
      BC_ASSIGN_OR_RETURN(out.token, r.fixed<kEscrowTokenSize>());
      BC_ASSIGN_OR_RETURN(out.envelope, r.envelope());
      return RelayMessage{std::move(out)};
    }
    case FrameType::kEscrowCancel: {
      BC_ASSIGN_OR_RETURN(auto id, r.fixed<kExchangeIdSize>());
      BC_ASSIGN_OR_RETURN(auto token, r.fixed<kEscrowTokenSize>());
      return RelayMessage{EscrowCancel{id, token}};
    }
    case FrameType::kEscrowStatus: {
      BC_ASSIGN_OR_RETURN(auto id, r.fixed<kExchangeIdSize>());
      BC_ASSIGN_OR_RETURN(auto token, r.fixed<kEscrowTokenSize>());
      return RelayMessage{EscrowStatus{id, token}};
    }
    case FrameType::kEscrowOpened: {
      EscrowOpened out;
      BC_ASSIGN_OR_RETURN(out.exchange_id, r.fixed<kExchangeIdSize>());
      BC_ASSIGN_OR_RETURN(out.token_a, r.fixed<kEscrowTokenSize>());
      BC_ASSIGN_OR_RETURN(out.token_b, r.fixed<kEscrowTokenSize>());
      return RelayMessage{out};
    }
    case FrameType::kEscrowDeposited: {
      BC_ASSIGN_OR_RETURN(auto hash, r.fixed<kEscrowHashSize>());
      return RelayMessage{EscrowDeposited{hash}};
    }
    case FrameType::kEscrowState: {
      EscrowState out;
      BC_ASSIGN_OR_RETURN(std::uint8_t phase, r.u8());
      BC_ASSIGN_OR_RETURN(std::uint8_t own, r.u8());
      if (phase < 1 || phase > 3) return fail(Errc::kMalformed, "relay frame: bad escrow state");
      if (own > 1) return fail(Errc::kMalformed, "relay frame: bad escrow deposit flag");
      out.phase = static_cast<EscrowPhase>(phase);
      out.own_deposited = own == 1;
      BC_TRY(check_escrow_state(out.phase, out.own_deposited));
      if (out.phase == EscrowPhase::kReleased) {
        BC_ASSIGN_OR_RETURN(out.certificate, r.fixed<kEscrowCertificateSize>());
      }
      return RelayMessage{std::move(out)};
    }
  }
  return fail(Errc::kMalformed, "relay frame: unknown frame type");
}

bool known_type(std::uint8_t t) {
  return (t >= 0x01 && t <= 0x09) || (t >= 0x10 && t <= 0x13) || (t >= 0x81 && t <= 0x86) ||
         (t >= 0x90 && t <= 0x92) || t == 0xC1;
}

}  // namespace

std::string_view relay_error_name(RelayErrorCode code) noexcept {
  switch (code) {
    case RelayErrorCode::kMalformed:
      return "malformed";
    case RelayErrorCode::kUnsupportedVersion:
      return "unsupported_version";
    case RelayErrorCode::kHandshakeRequired:
      return "handshake_required";
    case RelayErrorCode::kAuthFailed:
      return "auth_failed";
    case RelayErrorCode::kNotSubscribed:
      return "not_subscribed";
    case RelayErrorCode::kNotFound:
      return "not_found";
    case RelayErrorCode::kQueueFull:
      return "queue_full";
    case RelayErrorCode::kBadEnvelopeSize:
      return "bad_envelope_size";
    case RelayErrorCode::kRateLimited:
      return "rate_limited";
    case RelayErrorCode::kTooManySubscriptions:
      return "too_many_subscriptions";
    case RelayErrorCode::kRelayFull:
      return "relay_full";
    case RelayErrorCode::kStorageUnavailable:
      return "storage_unavailable";
    case RelayErrorCode::kConflict:
      return "conflict";
    case RelayErrorCode::kInternal:
      return "internal";
    case RelayErrorCode::kEscrowClosed:
      return "escrow_closed";
    case RelayErrorCode::kEscrowDuplicate:
      return "escrow_duplicate";
    case RelayErrorCode::kEscrowBadDeadline:
      return "escrow_bad_deadline";
    case RelayErrorCode::kEscrowSameQueue:
      return "escrow_same_queue";
  }
  return "unknown";
}

bool is_envelope_bucket(std::size_t size) noexcept {
  return std::find(kEnvelopeBuckets.begin(), kEnvelopeBuckets.end(), size) !=
         kEnvelopeBuckets.end();
}

Bytes subscribe_proof_message(const Challenge& challenge, const QueueId& recipient_id) {
  Bytes out;
  out.reserve(kSubscribeDomain.size() + challenge.size() + recipient_id.size());
  append(out, as_bytes(kSubscribeDomain));
  append(out, challenge);
  append(out, recipient_id);
  return out;
}

bool is_request(const RelayMessage& message) noexcept {
  return static_cast<std::uint8_t>(type_of(message)) < 0x80;
}

Result<RelayFrame> decode_relay_frame(ByteView frame) {
  if (frame.size() > kMaxRelayFrameSize) return fail(Errc::kLimitExceeded, "relay frame too large");
  Reader r(frame);
  BC_ASSIGN_OR_RETURN(std::uint8_t version, r.u8());
  if (version != kRelayProtocolVersion) {
    return fail(Errc::kUnsupportedVersion, "relay frame: unsupported version");
  }
  BC_ASSIGN_OR_RETURN(std::uint8_t type_byte, r.u8());
  if (!known_type(type_byte)) return fail(Errc::kMalformed, "relay frame: unknown frame type");
  auto type = static_cast<FrameType>(type_byte);
  BC_ASSIGN_OR_RETURN(std::uint32_t request_id, r.u32());
  BC_TRY(check_request_id(type, request_id));
  BC_ASSIGN_OR_RETURN(RelayMessage message, decode_body(type, r));
  if (!r.empty()) return fail(Errc::kMalformed, "relay frame: trailing bytes");
  return RelayFrame{request_id, std::move(message)};
}

Result<Bytes> encode_relay_frame(const RelayFrame& frame) {
  const FrameType type = type_of(frame.message);
  BC_TRY(check_request_id(type, frame.request_id));
  Writer w;
  w.u8(kRelayProtocolVersion);
  w.u8(static_cast<std::uint8_t>(type));
  w.u32(frame.request_id);
  Result<void> body = std::visit(
      [&w](const auto& m) -> Result<void> {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Hello> || std::is_same_v<T, Ok>) {
          return ok();
        } else if constexpr (std::is_same_v<T, CreateQueue>) {
          w.raw(m.owner_key);
          return ok();
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          w.raw(m.recipient_id);
          w.raw(m.signature);
          return ok();
        } else if constexpr (std::is_same_v<T, Deposit>) {
          w.raw(m.sender_id);
          return w.envelope(m.envelope);
        } else if constexpr (std::is_same_v<T, Ack>) {
          w.raw(m.recipient_id);
          w.u64(m.message_id);
          return ok();
        } else if constexpr (std::is_same_v<T, DeleteQueue>) {
          w.raw(m.recipient_id);
          return ok();
        } else if constexpr (std::is_same_v<T, AckMany>) {
          if (m.message_ids.empty() || m.message_ids.size() > kMaxAckMany ||
              std::adjacent_find(m.message_ids.begin(), m.message_ids.end(),
                                 [](MessageId a, MessageId b) { return a >= b; }) !=
                  m.message_ids.end()) {
            return fail(Errc::kMalformed, "relay frame: ack_many needs 1 to 256 increasing ids");
          }
          w.raw(m.recipient_id);
          w.u16(static_cast<std::uint16_t>(m.message_ids.size()));
          for (MessageId id : m.message_ids) w.u64(id);
          return ok();
        } else if constexpr (std::is_same_v<T, PublishBundle>) {
          w.raw(m.recipient_id);
          BC_TRY(w.short_field(m.bundle.identity_key, kMaxIdentityKeySize, "identity key"));
          BC_TRY(w.short_field(m.bundle.signed_prekey, kMaxSignedPrekeySize, "signed prekey"));
          if (m.bundle.one_time_prekeys.size() > kMaxOneTimePrekeys) {
            return fail(Errc::kLimitExceeded, "relay frame: too many one-time prekeys");
          }
          w.u16(static_cast<std::uint16_t>(m.bundle.one_time_prekeys.size()));
          for (const Bytes& k : m.bundle.one_time_prekeys) {
            BC_TRY(w.short_field(k, kMaxOneTimePrekeySize, "one-time prekey"));
          }
          return ok();
        } else if constexpr (std::is_same_v<T, FetchBundle>) {
          w.raw(m.sender_id);
          return ok();
        } else if constexpr (std::is_same_v<T, ErrorReply>) {
          const auto code = static_cast<std::uint16_t>(m.code);
          if (!known_error_code(code))
            return fail(Errc::kMalformed, "relay frame: unknown error code");
          w.u16(code);
          return ok();
        } else if constexpr (std::is_same_v<T, ChallengeReply>) {
          w.raw(m.challenge);
          w.raw(m.relay_key);
          return ok();
        } else if constexpr (std::is_same_v<T, QueueCreated>) {
          w.raw(m.sender_id);
          w.raw(m.recipient_id);
          return ok();
        } else if constexpr (std::is_same_v<T, BundleReply>) {
          BC_TRY(w.short_field(m.identity_key, kMaxIdentityKeySize, "identity key"));
          BC_TRY(w.short_field(m.signed_prekey, kMaxSignedPrekeySize, "signed prekey"));
          w.u8(m.one_time_prekey ? 1 : 0);
          if (m.one_time_prekey) {
            BC_TRY(w.short_field(*m.one_time_prekey, kMaxOneTimePrekeySize, "one-time prekey"));
          }
          return ok();
        } else if constexpr (std::is_same_v<T, EscrowOpen>) {
          if (m.deadline_ms < 0) return fail(Errc::kMalformed, "relay frame: negative deadline");
          w.u64(static_cast<std::uint64_t>(m.deadline_ms));
          w.raw(m.queue_a);
          w.raw(m.queue_b);
          return ok();
        } else if constexpr (std::is_same_v<T, EscrowDeposit>) {
          w.raw(m.exchange_id);
          w.raw(m.token);
          return w.envelope(m.envelope);
        } else if constexpr (std::is_same_v<T, EscrowCancel> || std::is_same_v<T, EscrowStatus>) {
          w.raw(m.exchange_id);
          w.raw(m.token);
          return ok();
        } else if constexpr (std::is_same_v<T, EscrowOpened>) {
          w.raw(m.exchange_id);
          w.raw(m.token_a);
          w.raw(m.token_b);
          return ok();
        } else if constexpr (std::is_same_v<T, EscrowDeposited>) {
          w.raw(m.envelope_hash);
          return ok();
        } else if constexpr (std::is_same_v<T, EscrowState>) {
          const auto phase = static_cast<std::uint8_t>(m.phase);
          if (phase < 1 || phase > 3)
            return fail(Errc::kMalformed, "relay frame: bad escrow state");
          BC_TRY(check_escrow_state(m.phase, m.own_deposited));
          if (m.certificate.has_value() != (m.phase == EscrowPhase::kReleased)) {
            return fail(Errc::kMalformed,
                        "relay frame: an escrow certificate comes exactly with a release");
          }
          w.u8(phase);
          w.u8(m.own_deposited ? 1 : 0);
          if (m.certificate) w.raw(*m.certificate);
          return ok();
        } else if constexpr (std::is_same_v<T, DepositReceipt>) {
          if (m.relay_time_ms < 0)
            return fail(Errc::kMalformed, "relay frame: negative relay time");
          w.u64(m.message_id);
          w.u64(static_cast<std::uint64_t>(m.relay_time_ms));
          w.raw(m.envelope_hash);
          return write_proof(w, m.proof);
        } else {
          static_assert(std::is_same_v<T, Delivery>);
          if (m.relay_time_ms < 0)
            return fail(Errc::kMalformed, "relay frame: negative relay time");
          w.raw(m.recipient_id);
          w.u64(m.message_id);
          w.u64(static_cast<std::uint64_t>(m.relay_time_ms));
          BC_TRY(write_proof(w, m.proof));
          return w.envelope(m.envelope);
        }
      },
      frame.message);
  BC_TRY(std::move(body));
  Bytes out = w.take();
  if (out.size() > kMaxRelayFrameSize) return fail(Errc::kLimitExceeded, "relay frame too large");
  return out;
}

ReceiptPathShape receipt_path_shape(std::uint32_t index, std::uint32_t size) {
  // The steps of RFC 9162's inclusion-proof check (2.1.3.2), noting each sibling's side instead
  // of hashing with it.
  ReceiptPathShape shape;
  std::uint32_t fn = index;
  std::uint32_t sn = size - 1;
  while (sn != 0) {
    if ((fn & 1) != 0 || fn == sn) {
      shape.left_siblings |= std::uint32_t{1} << shape.size;
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    }
    fn >>= 1;
    sn >>= 1;
    ++shape.size;
  }
  return shape;
}

std::size_t receipt_path_size(std::uint32_t index, std::uint32_t size) {
  return receipt_path_shape(index, size).size;
}

}  // namespace bc::wire
