#include "client/transcript_log.hpp"

#include <cstdio>
#include <ctime>

#include "client/record.hpp"
#include "crypto/hash.hpp"

namespace bc::client {
namespace {

constexpr std::uint8_t kEntryVersion = 1;
constexpr std::uint8_t kLivenessVersion = 1;
constexpr std::string_view kLivenessSuffix = "\x1fliveness";

std::string seq20(std::uint64_t seq) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(seq));
  return buf;
}

std::string entry_key(const std::string& alias, bool outgoing, std::uint64_t seq) {
  return alias + '\x1f' + (outgoing ? 'o' : 'i') + '\x1f' + seq20(seq);
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string duration_text(std::int64_t ms) {
  const std::int64_t minutes = ms / 60'000;
  if (minutes >= 60) {
    return std::to_string(minutes / 60) + " h" +
           (minutes % 60 != 0 ? " " + std::to_string(minutes % 60) + " min" : "");
  }
  if (minutes >= 1) return std::to_string(minutes) + " min";
  return std::to_string(ms / 1000) + " s";
}

AlertInfo alert_for(const protocol::Finding& f, const std::string& alias) {
  AlertInfo a;
  a.code = std::string(protocol::finding_code(f.kind));
  a.alias = alias;
  a.first_seq = f.first_seq;
  a.last_seq = f.last_seq;
  const std::string n = std::to_string(f.first_seq);
  switch (f.kind) {
    case protocol::FindingKind::kMissing: {
      const std::uint64_t count = f.last_seq - f.first_seq + 1;
      a.text =
          plural(count, "message", "messages") + " from " + alias +
          (count == 1 ? " is missing (number " + n + ")"
                      : " are missing (numbers " + n + " to " + std::to_string(f.last_seq) + ")");
      if (f.relay_seq != 0) {
        a.text += ": the relay acknowledged deposit " + std::to_string(f.relay_seq) + " at " +
                  format_clock(f.relay_time_ms) + " but has not delivered it";
      }
      break;
    }
    case protocol::FindingKind::kReordered:
      a.text = "message " + n + " from " + alias +
               " arrived late, after later ones: the relay delivered out of order";
      break;
    case protocol::FindingKind::kReplayed:
      a.text = "message " + n + " from " + alias + " arrived a second time (a replay)";
      break;
    case protocol::FindingKind::kAltered:
      a.text = "message " + n + " from " + alias +
               " does not link to the messages before it: the conversation was altered";
      break;
    case protocol::FindingKind::kDiverged:
      a.text = alias +
               "'s view of the conversation differs from ours: what it received as our "
               "message " +
               n + " is not what we sent";
      break;
  }
  return a;
}

}  // namespace

std::string format_clock(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M", &tm);
  return buf;
}

Bytes ChainEntry::encode() const {
  RecordWriter w;
  w.u8(kEntryVersion).boolean(outgoing).u32(kind);
  w.u64(fields.seq).bytes(fields.prev_hash).u64(fields.acked_seq).bytes(fields.acked_hash);
  w.u64(fields.prev_relay_seq).i64(fields.prev_relay_time_ms);
  w.bytes(content_digest).bytes(hash).i64(sent_ms).i64(received_ms).str(envelope_sha256_hex);
  w.str(relay_url).u64(relay_seq).i64(relay_time_ms);
  return w.take();
}

Result<ChainEntry> ChainEntry::decode(ByteView bytes) {
  RecordReader r(bytes);
  if (r.u8() != kEntryVersion) return fail(Errc::kUnsupportedVersion, "chain entry version");
  ChainEntry e;
  e.outgoing = r.boolean();
  e.kind = r.u32();
  e.fields.seq = r.u64();
  e.fields.prev_hash = r.fixed<32>();
  e.fields.acked_seq = r.u64();
  e.fields.acked_hash = r.fixed<32>();
  e.fields.prev_relay_seq = r.u64();
  e.fields.prev_relay_time_ms = r.i64();
  e.content_digest = r.fixed<32>();
  e.hash = r.fixed<32>();
  e.sent_ms = r.i64();
  e.received_ms = r.i64();
  e.envelope_sha256_hex = r.str(64);
  e.relay_url = r.str(1024);
  e.relay_seq = r.u64();
  e.relay_time_ms = r.i64();
  BC_TRY(r.finish("chain entry"));
  return e;
}

Bytes LivenessRecord::encode() const {
  RecordWriter w;
  w.u8(kLivenessVersion).i64(last_out_ms).i64(last_in_ms).u32(peer_interval_ms);
  w.boolean(silent_reported);
  return w.take();
}

Result<LivenessRecord> LivenessRecord::decode(ByteView bytes) {
  RecordReader r(bytes);
  if (r.u8() != kLivenessVersion) return fail(Errc::kUnsupportedVersion, "liveness version");
  LivenessRecord l;
  l.last_out_ms = r.i64();
  l.last_in_ms = r.i64();
  l.peer_interval_ms = r.u32();
  l.silent_reported = r.boolean();
  BC_TRY(r.finish("liveness record"));
  return l;
}

Result<protocol::TranscriptState> load_transcript(store::ClientStore& db,
                                                  const std::string& alias) {
  BC_ASSIGN_OR_RETURN(auto raw, db.get(kTranscriptsTable, alias));
  if (!raw) return protocol::TranscriptState{};
  return protocol::TranscriptState::decode(*raw);
}

Result<LivenessRecord> load_liveness(store::ClientStore& db, const std::string& alias) {
  BC_ASSIGN_OR_RETURN(auto raw, db.get(kTranscriptsTable, alias + std::string(kLivenessSuffix)));
  if (!raw) return LivenessRecord{};
  return LivenessRecord::decode(*raw);
}

Result<void> save_liveness(store::ClientStore& db, const std::string& alias,
                           const LivenessRecord& l) {
  return db.put(kTranscriptsTable, alias + std::string(kLivenessSuffix), l.encode());
}

Result<std::string> stamp_outgoing(store::ClientStore& db, const std::string& alias,
                                   protocol::Payload& p, std::int64_t now_ms) {
  BC_ASSIGN_OR_RETURN(protocol::TranscriptState state, load_transcript(db, alias));
  ChainEntry e;
  e.outgoing = true;
  e.kind = p.kind;
  e.fields = protocol::next_fields(state);
  BC_ASSIGN_OR_RETURN(const Bytes content, p.encode_content());
  e.content_digest = protocol::transcript_content_digest(content);
  e.hash = protocol::transcript_hash(e.fields, e.content_digest);
  e.sent_ms = p.sent_at_ms;
  p.transcript = e.fields;
  protocol::record_sent(state, e.fields, e.hash);
  BC_TRY(db.put(kTranscriptsTable, alias, state.encode()));
  const std::string key = entry_key(alias, true, e.fields.seq);
  BC_TRY(db.put(kChainTable, key, e.encode()));
  BC_ASSIGN_OR_RETURN(LivenessRecord l, load_liveness(db, alias));
  l.last_out_ms = now_ms;
  BC_TRY(save_liveness(db, alias, l));
  return key;
}

Result<void> note_envelope(store::ClientStore& db, const std::string& entry_key_value,
                           ByteView envelope) {
  BC_ASSIGN_OR_RETURN(auto raw, db.get(kChainTable, entry_key_value));
  if (!raw) return ok();
  BC_ASSIGN_OR_RETURN(ChainEntry e, ChainEntry::decode(*raw));
  const auto digest = crypto::sha256(envelope);
  e.envelope_sha256_hex = to_hex(digest);
  BC_TRY(db.put(kChainTable, entry_key_value, e.encode()));
  return db.put(kChainTable, "env:" + e.envelope_sha256_hex, as_bytes(entry_key_value));
}

Result<void> note_deposit_receipt(store::ClientStore& db, ByteView envelope_sha256,
                                  const std::string& relay_url, std::uint64_t relay_seq,
                                  std::int64_t relay_time_ms) {
  BC_ASSIGN_OR_RETURN(auto key, db.get(kChainTable, "env:" + to_hex(envelope_sha256)));
  if (!key) return ok();  // not a transcript message (or sent before transcripts existed)
  const std::string k = to_string(*key);
  BC_ASSIGN_OR_RETURN(auto raw, db.get(kChainTable, k));
  if (!raw) return ok();
  BC_ASSIGN_OR_RETURN(ChainEntry e, ChainEntry::decode(*raw));
  // Through two relays, the first receipt is the one the next message reports.
  if (e.relay_seq != 0 && e.relay_url != relay_url) return ok();
  e.relay_url = relay_url;
  e.relay_seq = relay_seq;
  e.relay_time_ms = relay_time_ms;
  BC_TRY(db.put(kChainTable, k, e.encode()));
  const std::string alias = k.substr(0, k.find('\x1f'));
  BC_ASSIGN_OR_RETURN(protocol::TranscriptState state, load_transcript(db, alias));
  protocol::record_receipt(state, e.fields.seq, relay_seq, relay_time_ms);
  return db.put(kTranscriptsTable, alias, state.encode());
}

Result<std::vector<AlertInfo>> check_incoming(store::ClientStore& db, const std::string& alias,
                                              const protocol::Payload& p, const Delivered& how) {
  BC_ASSIGN_OR_RETURN(LivenessRecord l, load_liveness(db, alias));
  l.last_in_ms = how.received_ms;
  l.silent_reported = false;
  if (p.kind == static_cast<std::uint32_t>(protocol::PayloadKind::kHeartbeat)) {
    RecordReader r(p.body);
    const std::uint32_t interval = r.u32();
    if (r.finish("heartbeat")) l.peer_interval_ms = interval;
  }
  BC_TRY(save_liveness(db, alias, l));
  if (!p.transcript) return std::vector<AlertInfo>{};  // a payload of an older client
  BC_ASSIGN_OR_RETURN(protocol::TranscriptState state, load_transcript(db, alias));
  ChainEntry e;
  e.outgoing = false;
  e.kind = p.kind;
  e.fields = *p.transcript;
  BC_ASSIGN_OR_RETURN(const Bytes content, p.encode_content());
  e.content_digest = protocol::transcript_content_digest(content);
  e.hash = protocol::transcript_hash(e.fields, e.content_digest);
  e.sent_ms = p.sent_at_ms;
  e.received_ms = how.received_ms;
  e.envelope_sha256_hex = how.envelope_sha256_hex;
  e.relay_url = how.relay_url;
  e.relay_seq = how.relay_seq;
  e.relay_time_ms = how.relay_time_ms;
  protocol::Arrival arrival;
  arrival.fields = e.fields;
  arrival.hash = e.hash;
  if (e.fields.acked_seq != 0) {
    BC_ASSIGN_OR_RETURN(auto ours, db.get(kChainTable, entry_key(alias, true, e.fields.acked_seq)));
    if (ours) {
      BC_ASSIGN_OR_RETURN(const ChainEntry mine, ChainEntry::decode(*ours));
      arrival.our_acked_hash = mine.hash;
    }
  }
  const auto findings = protocol::check_arrival(state, arrival);
  BC_TRY(db.put(kTranscriptsTable, alias, state.encode()));
  const std::string key = entry_key(alias, false, e.fields.seq);
  BC_ASSIGN_OR_RETURN(auto existing, db.get(kChainTable, key));
  if (!existing) BC_TRY(db.put(kChainTable, key, e.encode()));  // the first copy is the record
  std::vector<AlertInfo> out;
  for (const auto& f : findings) out.push_back(alert_for(f, alias));
  return out;
}

Result<std::optional<AlertInfo>> check_silence(store::ClientStore& db, const std::string& alias,
                                               std::int64_t now_ms) {
  BC_ASSIGN_OR_RETURN(LivenessRecord l, load_liveness(db, alias));
  const std::int64_t interval = l.peer_interval_ms;
  if (interval == 0 || l.silent_reported || now_ms - l.last_in_ms <= 2 * interval) {
    return std::optional<AlertInfo>();
  }
  l.silent_reported = true;
  BC_TRY(save_liveness(db, alias, l));
  AlertInfo a;
  a.code = "silent";
  a.alias = alias;
  a.text = "nothing from " + alias + " for " + duration_text(now_ms - l.last_in_ms) +
           " though it sends a heartbeat every " + duration_text(interval) +
           ": the relay may be withholding its messages";
  return std::optional<AlertInfo>(std::move(a));
}

Bytes heartbeat_body(std::uint32_t interval_ms) {
  RecordWriter w;
  w.u32(interval_ms);
  return w.take();
}

Result<std::vector<ChainEntry>> load_chain(store::ClientStore& db, const std::string& alias) {
  BC_ASSIGN_OR_RETURN(auto rows, db.list(kChainTable));
  std::vector<ChainEntry> out;
  const std::string prefix = alias + '\x1f';
  for (auto& [key, raw] : rows) {
    if (!key.starts_with(prefix)) continue;
    BC_ASSIGN_OR_RETURN(ChainEntry e, ChainEntry::decode(raw));
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace bc::client
