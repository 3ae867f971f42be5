#include "protocol/assurance.hpp"

#include <algorithm>

#include "crypto/xeddsa.hpp"

namespace bc::protocol {
namespace {

constexpr std::uint8_t kFlagReciprocates = 0x01;
constexpr std::uint8_t kFlagScope = 0x02;

// Writer appends big-endian integers and u16/u32-length-prefixed strings. Never fails.
class Writer {
 public:
  Writer& u8(std::uint8_t v) {
    out_.push_back(v);
    return *this;
  }
  Writer& u16(std::uint16_t v) { return uint(v, 2); }
  Writer& u32(std::uint32_t v) { return uint(v, 4); }
  Writer& i64(std::int64_t v) { return uint(static_cast<std::uint64_t>(v), 8); }
  Writer& raw(ByteView v) {
    append(out_, v);
    return *this;
  }
  Writer& text16(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    return raw(as_bytes(s));
  }
  Bytes take() { return std::move(out_); }

 private:
  Writer& uint(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes out_;
};

// Reader takes fields in order; the first short read marks it failed (checked by finish and
// by the callers before they use what they read).
class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(uint(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(uint(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(uint(4)); }
  std::int64_t i64() { return static_cast<std::int64_t>(uint(8)); }
  ByteView raw(std::size_t n) {
    if (failed_ || in_.size() - pos_ < n) {
      failed_ = true;
      return {};
    }
    const ByteView out = in_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  template <std::size_t N>
  std::array<std::uint8_t, N> fixed() {
    std::array<std::uint8_t, N> out{};
    const ByteView b = raw(N);
    if (b.size() == N) std::copy(b.begin(), b.end(), out.begin());
    return out;
  }
  std::string text16() {
    const std::uint16_t n = u16();
    return to_string(raw(n));
  }
  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] std::size_t remaining() const { return failed_ ? 0 : in_.size() - pos_; }
  // finish fails (naming `what`) when a read ran short or bytes remain.
  [[nodiscard]] Result<void> finish(std::string_view what) const {
    if (failed_) return fail(Errc::kMalformed, std::string(what) + " is truncated");
    if (pos_ != in_.size())
      return fail(Errc::kMalformed, std::string(what) + " has trailing bytes");
    return ok();
  }

 private:
  std::uint64_t uint(int n) {
    const ByteView b = raw(static_cast<std::size_t>(n));
    std::uint64_t v = 0;
    for (const auto byte : b) v = (v << 8) | byte;
    return v;
  }
  ByteView in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

// valid_utf8 accepts well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF).
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// check_text enforces what every text of an assurance is: non-empty, within `max` bytes, UTF-8,
// and free of control characters other than newline and tab (they would reach terminals).
Result<void> check_text(std::string_view s, std::size_t max, const char* what) {
  if (s.empty()) return fail(Errc::kMalformed, std::string(what) + " is empty");
  if (s.size() > max) return fail(Errc::kMalformed, std::string(what) + " is too long");
  if (!valid_utf8(s)) return fail(Errc::kMalformed, std::string(what) + " is not UTF-8");
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if ((u < 0x20 && ch != '\n' && ch != '\t') || u == 0x7F) {
      return fail(Errc::kMalformed, std::string(what) + " has a control character");
    }
  }
  return ok();
}

Result<AssuranceMode> mode_from(std::uint8_t v) {
  if (v != static_cast<std::uint8_t>(AssuranceMode::kDeniable) &&
      v != static_cast<std::uint8_t>(AssuranceMode::kBinding)) {
    return fail(Errc::kMalformed, "unknown assurance mode");
  }
  return static_cast<AssuranceMode>(v);
}

Result<void> check_version(std::uint8_t v, bool failed, const char* what) {
  if (failed) return fail(Errc::kMalformed, std::string(what) + " is truncated");
  if (v != kAssuranceVersion) {
    return fail(Errc::kUnsupportedVersion, std::string(what) + " version " + std::to_string(v));
  }
  return ok();
}

Result<IdentityKey> read_key(Reader& r) {
  const auto raw = r.fixed<kSerializedPublicKeySize>();
  if (r.failed()) return fail(Errc::kMalformed, "identity key is truncated");
  return IdentityKey::decode(raw);
}

Bytes with_context(std::string_view context, ByteView body) {
  Bytes out = to_bytes(as_bytes(context));
  append(out, body);
  return out;
}

Result<void> check_signature_matches_mode(AssuranceMode mode, bool has_signature,
                                          const char* what) {
  if ((mode == AssuranceMode::kBinding) != has_signature) {
    return fail(Errc::kMalformed,
                std::string("a ") + what + " carries a signature exactly when it is binding");
  }
  return ok();
}

}  // namespace

std::string_view assurance_mode_name(AssuranceMode mode) noexcept {
  return mode == AssuranceMode::kBinding ? "binding" : "deniable";
}

// ---- Assurance ----

Result<Bytes> Assurance::signed_bytes() const {
  BC_TRY(check_text(statement, kMaxStatementSize, "the statement"));
  if (conditions.size() > kMaxConditions) return fail(Errc::kMalformed, "too many conditions");
  for (const auto& c : conditions) BC_TRY(check_text(c, kMaxConditionSize, "a condition"));
  if (scope) BC_TRY(check_text(*scope, kMaxScopeSize, "the scope"));
  if (valid_until_ms <= valid_from_ms) {
    return fail(Errc::kMalformed, "an assurance must end after it begins");
  }
  if (issuer == counterparty) {
    return fail(Errc::kMalformed, "issuer and counterparty are the same identity");
  }
  Writer w;
  w.u8(kAssuranceVersion).u8(static_cast<std::uint8_t>(mode)).raw(id);
  w.raw(issuer.serialize()).raw(counterparty.serialize());
  w.i64(valid_from_ms).i64(valid_until_ms);
  const std::uint8_t flags = (reciprocates ? kFlagReciprocates : 0) | (scope ? kFlagScope : 0);
  w.u8(flags);
  if (reciprocates) w.raw(*reciprocates);
  w.text16(statement);
  w.u8(static_cast<std::uint8_t>(conditions.size()));
  for (const auto& c : conditions) w.text16(c);
  if (scope) w.text16(*scope);
  return w.take();
}

Result<Bytes> Assurance::encode() const {
  BC_TRY(mode_from(static_cast<std::uint8_t>(mode)));
  BC_TRY(check_signature_matches_mode(mode, signature.has_value(), "assurance"));
  BC_ASSIGN_OR_RETURN(Bytes out, signed_bytes());
  if (signature) append(out, *signature);
  return out;
}

Result<Assurance> Assurance::decode(ByteView bytes) {
  Reader r(bytes);
  Assurance a;
  BC_TRY(check_version(r.u8(), r.failed(), "assurance"));
  BC_ASSIGN_OR_RETURN(a.mode, mode_from(r.u8()));
  a.id = r.fixed<kAssuranceIdSize>();
  BC_ASSIGN_OR_RETURN(a.issuer, read_key(r));
  BC_ASSIGN_OR_RETURN(a.counterparty, read_key(r));
  a.valid_from_ms = r.i64();
  a.valid_until_ms = r.i64();
  const std::uint8_t flags = r.u8();
  if ((flags & ~(kFlagReciprocates | kFlagScope)) != 0) {
    return fail(Errc::kMalformed, "assurance has unknown flags");
  }
  if ((flags & kFlagReciprocates) != 0) a.reciprocates = r.fixed<kAssuranceIdSize>();
  a.statement = r.text16();
  const std::uint8_t n = r.u8();
  if (n > kMaxConditions) return fail(Errc::kMalformed, "too many conditions");
  for (std::uint8_t i = 0; i < n && !r.failed(); ++i) a.conditions.push_back(r.text16());
  if ((flags & kFlagScope) != 0) a.scope = r.text16();
  if (r.failed()) return fail(Errc::kMalformed, "assurance is truncated");
  if (a.mode == AssuranceMode::kBinding) a.signature = r.fixed<kSignatureSize>();
  BC_TRY(r.finish("assurance"));
  // The bounds are checked by re-encoding, so decode accepts exactly what encode produces.
  BC_ASSIGN_OR_RETURN(const Bytes again, a.encode());
  if (again.size() != bytes.size() || !std::equal(again.begin(), again.end(), bytes.begin())) {
    return fail(Errc::kMalformed, "assurance is not in canonical form");
  }
  return a;
}

Result<void> sign_assurance(Assurance& a, const IdentityKeyPair& issuer, Rng& rng) {
  if (a.mode != AssuranceMode::kBinding) {
    return fail(Errc::kMalformed, "only a binding assurance is signed");
  }
  if (!(issuer.public_key() == a.issuer)) {
    return fail(Errc::kMalformed, "the signing key is not the assurance's issuer");
  }
  BC_ASSIGN_OR_RETURN(const Bytes body, a.signed_bytes());
  a.signature =
      crypto::xeddsa_sign(issuer.pair.private_key, with_context(kAssuranceSignContext, body), rng);
  return ok();
}

Result<void> verify_assurance(const Assurance& a) {
  if (a.mode != AssuranceMode::kBinding || !a.signature) {
    return fail(Errc::kAuthFailed, "a deniable assurance carries no signature and proves nothing");
  }
  BC_ASSIGN_OR_RETURN(const Bytes body, a.signed_bytes());
  if (!crypto::xeddsa_verify(a.issuer.key.raw(), with_context(kAssuranceSignContext, body),
                             *a.signature)) {
    return fail(Errc::kAuthFailed, "the assurance's signature does not verify");
  }
  return ok();
}

// ---- Withdrawal ----

Result<Bytes> Withdrawal::signed_bytes() const {
  BC_TRY(mode_from(static_cast<std::uint8_t>(mode)));
  Writer w;
  w.u8(kAssuranceVersion).u8(static_cast<std::uint8_t>(mode)).raw(assurance_id);
  w.raw(issuer.serialize()).i64(withdrawn_at_ms);
  return w.take();
}

Result<Bytes> Withdrawal::encode() const {
  BC_TRY(check_signature_matches_mode(mode, signature.has_value(), "withdrawal"));
  BC_ASSIGN_OR_RETURN(Bytes out, signed_bytes());
  if (signature) append(out, *signature);
  return out;
}

Result<Withdrawal> Withdrawal::decode(ByteView bytes) {
  Reader r(bytes);
  Withdrawal w;
  BC_TRY(check_version(r.u8(), r.failed(), "withdrawal"));
  BC_ASSIGN_OR_RETURN(w.mode, mode_from(r.u8()));
  w.assurance_id = r.fixed<kAssuranceIdSize>();
  BC_ASSIGN_OR_RETURN(w.issuer, read_key(r));
  w.withdrawn_at_ms = r.i64();
  if (w.mode == AssuranceMode::kBinding) w.signature = r.fixed<kSignatureSize>();
  BC_TRY(r.finish("withdrawal"));
  return w;
}

Result<void> sign_withdrawal(Withdrawal& w, const IdentityKeyPair& issuer, Rng& rng) {
  if (w.mode != AssuranceMode::kBinding) {
    return fail(Errc::kMalformed, "only the withdrawal of a binding assurance is signed");
  }
  if (!(issuer.public_key() == w.issuer)) {
    return fail(Errc::kMalformed, "the signing key is not the assurance's issuer");
  }
  BC_ASSIGN_OR_RETURN(const Bytes body, w.signed_bytes());
  w.signature =
      crypto::xeddsa_sign(issuer.pair.private_key, with_context(kWithdrawalSignContext, body), rng);
  return ok();
}

Result<void> verify_withdrawal(const Withdrawal& w) {
  if (w.mode != AssuranceMode::kBinding || !w.signature) {
    return fail(Errc::kAuthFailed, "the withdrawal carries no signature");
  }
  BC_ASSIGN_OR_RETURN(const Bytes body, w.signed_bytes());
  if (!crypto::xeddsa_verify(w.issuer.key.raw(), with_context(kWithdrawalSignContext, body),
                             *w.signature)) {
    return fail(Errc::kAuthFailed, "the withdrawal's signature does not verify");
  }
  return ok();
}

// ---- Acknowledgement ----

Bytes Acknowledgement::encode() const {
  Writer w;
  w.u8(kAssuranceVersion).raw(assurance_id).i64(acknowledged_at_ms);
  return w.take();
}

Result<Acknowledgement> Acknowledgement::decode(ByteView bytes) {
  Reader r(bytes);
  Acknowledgement a;
  BC_TRY(check_version(r.u8(), r.failed(), "acknowledgement"));
  a.assurance_id = r.fixed<kAssuranceIdSize>();
  a.acknowledged_at_ms = r.i64();
  BC_TRY(r.finish("acknowledgement"));
  return a;
}

// ---- EscrowInvitation ----

Result<Bytes> EscrowInvitation::encode() const {
  if (relay_url.size() > kMaxEscrowRelayUrlSize || !relay_url.starts_with("wss://") ||
      relay_url.size() <= 6) {
    return fail(Errc::kMalformed, "escrow relay URL must be wss://HOST:PORT");
  }
  Writer w;
  w.u8(kAssuranceVersion).raw(exchange_id).raw(token).i64(deadline_ms);
  w.raw(relay_certificate_sha256).text16(relay_url);
  return w.take();
}

Result<EscrowInvitation> EscrowInvitation::decode(ByteView bytes) {
  Reader r(bytes);
  EscrowInvitation e;
  BC_TRY(check_version(r.u8(), r.failed(), "escrow invitation"));
  e.exchange_id = r.fixed<kExchangeIdSize>();
  e.token = r.fixed<kEscrowTokenSize>();
  e.deadline_ms = r.i64();
  e.relay_certificate_sha256 = r.fixed<32>();
  e.relay_url = r.text16();
  BC_TRY(r.finish("escrow invitation"));
  BC_TRY(e.encode());  // the URL's form
  return e;
}

// ---- EscrowDeposit ----

Result<Bytes> EscrowDeposit::encode() const {
  BC_ASSIGN_OR_RETURN(const Bytes doc, assurance.encode());
  Writer w;
  w.u8(kAssuranceVersion).raw(exchange_id).u32(static_cast<std::uint32_t>(doc.size())).raw(doc);
  return w.take();
}

Result<EscrowDeposit> EscrowDeposit::decode(ByteView bytes) {
  Reader r(bytes);
  EscrowDeposit d;
  BC_TRY(check_version(r.u8(), r.failed(), "escrow deposit"));
  d.exchange_id = r.fixed<kExchangeIdSize>();
  const std::uint32_t n = r.u32();
  const ByteView doc = r.raw(n);
  BC_TRY(r.finish("escrow deposit"));
  BC_ASSIGN_OR_RETURN(d.assurance, Assurance::decode(doc));
  return d;
}

// ---- AssuranceMessage ----

Bytes AssuranceMessage::encode() const {
  Bytes out{static_cast<std::uint8_t>(type)};
  append(out, body);
  return out;
}

Result<AssuranceMessage> AssuranceMessage::decode(ByteView bytes) {
  if (bytes.size() < 2) return fail(Errc::kMalformed, "assurance message is truncated");
  if (bytes[0] < static_cast<std::uint8_t>(AssuranceMessageType::kAssurance) ||
      bytes[0] > static_cast<std::uint8_t>(AssuranceMessageType::kEscrowDeposit)) {
    return fail(Errc::kMalformed, "unknown assurance message type");
  }
  return AssuranceMessage{static_cast<AssuranceMessageType>(bytes[0]), to_bytes(bytes.subspan(1))};
}

// ---- lifecycle ----

std::string_view assurance_state_name(AssuranceState state) noexcept {
  switch (state) {
    case AssuranceState::kProposed:
      return "proposed";
    case AssuranceState::kDelivered:
      return "delivered";
    case AssuranceState::kAcknowledged:
      return "acknowledged";
    case AssuranceState::kReciprocated:
      return "reciprocated";
    case AssuranceState::kWithdrawn:
      return "withdrawn";
    case AssuranceState::kExpired:
      return "expired";
  }
  return "unknown";
}

Result<AssuranceState> assurance_state_from_name(std::string_view name) {
  for (std::uint8_t i = 0; i < kAssuranceStateCount; ++i) {
    const auto s = static_cast<AssuranceState>(i);
    if (assurance_state_name(s) == name) return s;
  }
  return fail(Errc::kMalformed, "unknown assurance state: " + std::string(name));
}

Lifecycle Lifecycle::start(AssuranceState state, std::int64_t at_ms) {
  Lifecycle l;
  l.state = state;
  l.entered_ms[static_cast<std::size_t>(state)] = at_ms;
  return l;
}

Result<Lifecycle> transition(const Lifecycle& from, AssuranceState to, std::int64_t at_ms) {
  const auto f = static_cast<std::uint8_t>(from.state);
  const auto t = static_cast<std::uint8_t>(to);
  const bool forward = t <= static_cast<std::uint8_t>(AssuranceState::kReciprocated) && t > f;
  const bool ends = to == AssuranceState::kWithdrawn || to == AssuranceState::kExpired;
  if (t >= kAssuranceStateCount || from.final() || !(forward || ends)) {
    return fail(Errc::kConflict, "an assurance cannot go from " +
                                     std::string(assurance_state_name(from.state)) + " to " +
                                     std::string(assurance_state_name(to)));
  }
  const std::int64_t last = *std::max_element(from.entered_ms.begin(), from.entered_ms.end());
  if (at_ms < last) return fail(Errc::kMalformed, "a lifecycle change cannot predate the last one");
  Lifecycle next = from;
  next.state = to;
  next.entered_ms[t] = at_ms;
  return next;
}

Lifecycle expire_if_due(const Lifecycle& from, std::int64_t valid_until_ms, std::int64_t now_ms) {
  if (from.final() || now_ms < valid_until_ms) return from;
  const std::int64_t last = *std::max_element(from.entered_ms.begin(), from.entered_ms.end());
  auto next = transition(from, AssuranceState::kExpired, std::max(valid_until_ms, last));
  return next ? *next : from;
}

}  // namespace bc::protocol
