#include "protocol/transcript.hpp"

#include <algorithm>

#include "crypto/hash.hpp"

namespace bc::protocol {
namespace {

constexpr std::string_view kHashDomain = "backchannel-transcript-v1";
constexpr std::string_view kContentDomain = "backchannel-transcript-content-v1";
constexpr std::uint8_t kStateVersion = 1;

void put64(Bytes& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// Reader walks a state record; any read past the end marks it failed.
class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  std::uint64_t u64() {
    if (in_.size() - pos_ < 8) {
      failed_ = true;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | in_[pos_++];
    return v;
  }
  std::uint8_t u8() {
    if (pos_ >= in_.size()) {
      failed_ = true;
      return 0;
    }
    return in_[pos_++];
  }
  TranscriptHash hash() {
    TranscriptHash h{};
    if (in_.size() - pos_ < h.size()) {
      failed_ = true;
      return h;
    }
    std::copy_n(in_.begin() + static_cast<std::ptrdiff_t>(pos_), h.size(), h.begin());
    pos_ += h.size();
    return h;
  }
  std::optional<TranscriptHash> optional_hash() {
    const std::uint8_t present = u8();
    if (present > 1) failed_ = true;
    if (present == 1) return hash();
    return std::nullopt;
  }
  [[nodiscard]] bool ok() const { return !failed_ && pos_ == in_.size(); }

 private:
  ByteView in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

void put_optional(Bytes& out, const std::optional<TranscriptHash>& h) {
  out.push_back(h ? 1 : 0);
  if (h) append(out, *h);
}

Finding finding(FindingKind kind, std::uint64_t first, std::uint64_t last) {
  Finding f;
  f.kind = kind;
  f.first_seq = first;
  f.last_seq = last;
  return f;
}

}  // namespace

TranscriptHash transcript_content_digest(ByteView content) {
  crypto::Sha256 h;
  h.update(as_bytes(kContentDomain)).update(content);
  return h.finish();
}

TranscriptHash transcript_hash(const TranscriptFields& f, const TranscriptHash& content_digest) {
  Bytes input = to_bytes(as_bytes(kHashDomain));
  put64(input, f.seq);
  append(input, f.prev_hash);
  put64(input, f.acked_seq);
  append(input, f.acked_hash);
  put64(input, f.prev_relay_seq);
  put64(input, static_cast<std::uint64_t>(f.prev_relay_time_ms));
  append(input, content_digest);
  return crypto::sha256(input);
}

Bytes TranscriptState::encode() const {
  Bytes out;
  out.push_back(kStateVersion);
  put64(out, out_seq);
  append(out, out_hash);
  put64(out, out_relay_seq);
  put64(out, static_cast<std::uint64_t>(out_relay_time_ms));
  put64(out, in_seq);
  append(out, in_hash);
  put64(out, missing.size());
  for (const auto& r : missing) {
    put64(out, r.first);
    put64(out, r.last);
    put_optional(out, r.before);
    put_optional(out, r.last_hash);
    put64(out, r.last_relay_seq);
    put64(out, static_cast<std::uint64_t>(r.last_relay_time_ms));
  }
  return out;
}

Result<TranscriptState> TranscriptState::decode(ByteView bytes) {
  Reader r(bytes);
  if (r.u8() != kStateVersion) return fail(Errc::kUnsupportedVersion, "transcript state version");
  TranscriptState s;
  s.out_seq = r.u64();
  s.out_hash = r.hash();
  s.out_relay_seq = r.u64();
  s.out_relay_time_ms = static_cast<std::int64_t>(r.u64());
  s.in_seq = r.u64();
  s.in_hash = r.hash();
  const std::uint64_t n = r.u64();
  if (n > kMaxMissingRanges) return fail(Errc::kMalformed, "transcript state is damaged");
  for (std::uint64_t i = 0; i < n; ++i) {
    SeqRange range;
    range.first = r.u64();
    range.last = r.u64();
    range.before = r.optional_hash();
    range.last_hash = r.optional_hash();
    range.last_relay_seq = r.u64();
    range.last_relay_time_ms = static_cast<std::int64_t>(r.u64());
    s.missing.push_back(range);
  }
  if (!r.ok()) return fail(Errc::kMalformed, "transcript state is damaged");
  return s;
}

TranscriptFields next_fields(const TranscriptState& s) {
  TranscriptFields f;
  f.seq = s.out_seq + 1;
  f.prev_hash = s.out_hash;
  f.acked_seq = s.in_seq;
  f.acked_hash = s.in_hash;
  f.prev_relay_seq = s.out_relay_seq;
  f.prev_relay_time_ms = s.out_relay_time_ms;
  return f;
}

void record_sent(TranscriptState& s, const TranscriptFields& fields, const TranscriptHash& hash) {
  s.out_seq = fields.seq;
  s.out_hash = hash;
  // The receipt named in the next message is the one for this message: not known yet.
  s.out_relay_seq = 0;
  s.out_relay_time_ms = 0;
}

void record_receipt(TranscriptState& s, std::uint64_t seq, std::uint64_t relay_seq,
                    std::int64_t relay_time_ms) {
  if (seq != s.out_seq) return;  // a later message already went out: this receipt is history
  s.out_relay_seq = relay_seq;
  s.out_relay_time_ms = relay_time_ms;
}

std::string_view finding_code(FindingKind kind) noexcept {
  switch (kind) {
    case FindingKind::kMissing:
      return "missing";
    case FindingKind::kReordered:
      return "reordered";
    case FindingKind::kReplayed:
      return "replayed";
    case FindingKind::kAltered:
      return "altered";
    case FindingKind::kDiverged:
      return "diverged";
  }
  return "altered";
}

std::vector<Finding> check_arrival(TranscriptState& s, const Arrival& a) {
  std::vector<Finding> out;
  const TranscriptFields& f = a.fields;
  const std::uint64_t n = f.seq;
  if (n == 0) {
    out.push_back(finding(FindingKind::kAltered, 0, 0));  // no sender numbers a message 0
    return out;
  }
  // What the sender says it last received from us must be a message we sent.
  if (f.acked_seq != 0 && (!a.our_acked_hash || *a.our_acked_hash != f.acked_hash)) {
    out.push_back(finding(FindingKind::kDiverged, f.acked_seq, f.acked_seq));
  }
  if (n > s.in_seq) {
    if (n == s.in_seq + 1) {
      // The chain must link to the last message received (to zero for the first).
      const TranscriptHash expected = s.in_seq == 0 ? TranscriptHash{} : s.in_hash;
      if (f.prev_hash != expected) out.push_back(finding(FindingKind::kAltered, n, n));
    } else {
      SeqRange gap;
      gap.first = s.in_seq + 1;
      gap.last = n - 1;
      gap.before = s.in_seq == 0 ? TranscriptHash{} : s.in_hash;
      gap.last_hash = f.prev_hash;
      gap.last_relay_seq = f.prev_relay_seq;
      gap.last_relay_time_ms = f.prev_relay_time_ms;
      // A hostile relay must not make the state grow without bound: the oldest gap is
      // forgotten (it was reported when it opened).
      if (s.missing.size() >= kMaxMissingRanges) s.missing.erase(s.missing.begin());
      s.missing.push_back(gap);
      Finding m = finding(FindingKind::kMissing, gap.first, gap.last);
      m.relay_seq = f.prev_relay_seq;
      m.relay_time_ms = f.prev_relay_time_ms;
      out.push_back(m);
    }
    s.in_seq = n;
    s.in_hash = a.hash;
    return out;
  }
  const auto it = std::find_if(s.missing.begin(), s.missing.end(),
                               [n](const SeqRange& r) { return r.first <= n && n <= r.last; });
  if (it == s.missing.end()) {
    out.push_back(finding(FindingKind::kReplayed, n, n));
    return out;
  }
  out.push_back(finding(FindingKind::kReordered, n, n));
  const SeqRange r = *it;
  const bool links_back = n != r.first || !r.before || f.prev_hash == *r.before;
  const bool links_forward = n != r.last || !r.last_hash || a.hash == *r.last_hash;
  if (!links_back || !links_forward) out.push_back(finding(FindingKind::kAltered, n, n));
  // Split the range around n; what n says of n-1 and what we now know of n go to the neighbours.
  std::vector<SeqRange> parts;
  if (n > r.first) {
    SeqRange left = r;
    left.last = n - 1;
    left.last_hash = f.prev_hash;
    left.last_relay_seq = f.prev_relay_seq;
    left.last_relay_time_ms = f.prev_relay_time_ms;
    parts.push_back(left);
  }
  if (n < r.last) {
    SeqRange right = r;
    right.first = n + 1;
    right.before = a.hash;
    parts.push_back(right);
  }
  const auto at = s.missing.erase(it);
  s.missing.insert(at, parts.begin(), parts.end());
  return out;
}

}  // namespace bc::protocol
