#include "client/transcript_file.hpp"

#include <algorithm>
#include <map>

#include "client/armor.hpp"
#include "client/record.hpp"
#include "crypto/keys.hpp"
#include "protocol/payload.hpp"
#include "protocol/receipt.hpp"
#include "protocol/transcript.hpp"

namespace bc::client {
namespace {

constexpr std::string_view kArmorLabel = "TRANSCRIPT";
constexpr std::string_view kMagic = "BCTX";
// Version 2 added each receipt's batch (size, index, path); version 1 files are still read.
constexpr std::uint8_t kFileVersion = 2;
constexpr std::size_t kIdentitySize = 33;
// kMaxEntries bounds what a file can make the checker hold.
constexpr std::uint32_t kMaxEntries = 1'000'000;

std::string side(bool outgoing) { return outgoing ? "our" : "their"; }

std::string range_text(std::uint64_t first, std::uint64_t last) {
  return first == last ? "message " + std::to_string(first)
                       : "messages " + std::to_string(first) + " to " + std::to_string(last);
}

TranscriptEntry entry_info(const ChainEntry& e) {
  TranscriptEntry t;
  t.outgoing = e.outgoing;
  t.kind = std::string(protocol::payload_kind_name(e.kind));
  t.seq = e.fields.seq;
  t.hash_hex = to_hex(e.hash);
  t.prev_hash_hex = to_hex(e.fields.prev_hash);
  t.acked_seq = e.fields.acked_seq;
  t.relay_url = e.relay_url;
  t.relay_seq = e.relay_seq;
  t.relay_time_ms = e.relay_time_ms;
  t.sent_ms = e.sent_ms;
  t.received_ms = e.received_ms;
  return t;
}

// check_direction checks one direction's numbering and links; `by_seq` gets its entries.
void check_direction(std::vector<const ChainEntry*> list, bool outgoing,
                     std::map<std::uint64_t, const ChainEntry*>& by_seq,
                     std::vector<std::string>& findings) {
  std::sort(list.begin(), list.end(),
            [](const ChainEntry* a, const ChainEntry* b) { return a->fields.seq < b->fields.seq; });
  const ChainEntry* prev = nullptr;
  for (const ChainEntry* e : list) {
    const std::uint64_t seq = e->fields.seq;
    if (protocol::transcript_hash(e->fields, e->content_digest) != e->hash) {
      findings.push_back(side(outgoing) + " message " + std::to_string(seq) +
                         " does not match its hash (altered)");
    }
    if (seq == 0 || by_seq.contains(seq)) {
      findings.push_back(side(outgoing) + " message " + std::to_string(seq) +
                         " appears twice or has no number (replayed)");
      continue;
    }
    by_seq[seq] = e;
    const std::uint64_t expected = prev == nullptr ? 1 : prev->fields.seq + 1;
    if (seq > expected) {
      std::string text = side(outgoing) + " " + range_text(expected, seq - 1) + " missing";
      if (e->fields.prev_relay_seq != 0) {
        text += " (the next one says the relay acknowledged deposit " +
                std::to_string(e->fields.prev_relay_seq) + " at " +
                format_clock(e->fields.prev_relay_time_ms) + ")";
      }
      findings.push_back(text);
    } else if (prev != nullptr ? e->fields.prev_hash != prev->hash
                               : e->fields.prev_hash != protocol::TranscriptHash{}) {
      findings.push_back(side(outgoing) + " message " + std::to_string(seq) +
                         " does not follow the one before it (altered)");
    }
    prev = e;
  }
}

// check_acks compares what each message of one side says it received with what the other sent.
void check_acks(const std::map<std::uint64_t, const ChainEntry*>& senders, bool outgoing,
                const std::map<std::uint64_t, const ChainEntry*>& other,
                std::vector<std::string>& findings) {
  for (const auto& [seq, e] : senders) {
    const std::uint64_t acked = e->fields.acked_seq;
    if (acked == 0) continue;
    const auto it = other.find(acked);
    if (it == other.end()) {
      // Our own messages are all in the file: theirs naming one we never sent is a divergence;
      // ours naming one of theirs the file lacks was received and then lost from the record.
      if (!outgoing) {
        findings.push_back("their message " + std::to_string(seq) +
                           " says it received our message " + std::to_string(acked) +
                           ", which we never sent (diverged)");
      }
      continue;
    }
    if (it->second->hash != e->fields.acked_hash) {
      findings.push_back(side(outgoing) + " message " + std::to_string(seq) + " says " +
                         side(!outgoing) + " message " + std::to_string(acked) +
                         " was something else (diverged)");
    }
  }
}

}  // namespace

std::string encode_transcript_file(const TranscriptFile& file) {
  RecordWriter w;
  w.bytes(file.our_identity).bytes(file.their_identity).i64(file.exported_ms);
  w.u32(static_cast<std::uint32_t>(file.entries.size()));
  for (const ChainEntry& e : file.entries) w.bytes(e.encode());
  w.u32(static_cast<std::uint32_t>(file.receipts.size()));
  for (const FileReceipt& r : file.receipts) {
    w.u32(r.entry).str(r.relay_url).bytes(r.relay_key).bytes(r.sender_id).u64(r.seq);
    w.i64(r.relay_time_ms).bytes(r.envelope_hash).bytes(r.signature);
    w.u32(r.batch_size).u32(r.batch_index).u32(static_cast<std::uint32_t>(r.batch_path.size()));
    for (const auto& hash : r.batch_path) w.bytes(hash);
  }
  Bytes content = to_bytes(as_bytes(kMagic));
  content.push_back(kFileVersion);
  append(content, w.view());
  return armor(kArmorLabel, content);
}

Result<TranscriptFile> decode_transcript_file(std::string_view text) {
  auto content = dearmor(kArmorLabel, text, "transcript");
  if (!content) return fail(std::move(content).error());
  const std::size_t header = kMagic.size() + 1;
  if (content->size() < header || !std::equal(kMagic.begin(), kMagic.end(), content->begin())) {
    return fail(Errc::kMalformed, "not a Backchannel transcript");
  }
  const std::uint8_t version = (*content)[kMagic.size()];
  if (version != 1 && version != kFileVersion) {
    return fail(Errc::kUnsupportedVersion, "unsupported transcript file version");
  }
  RecordReader r(ByteView(*content).subspan(header));
  TranscriptFile f;
  f.our_identity = r.bytes(kIdentitySize);
  f.their_identity = r.bytes(kIdentitySize);
  f.exported_ms = r.i64();
  const std::uint32_t count = r.u32();
  if (count > kMaxEntries) return fail(Errc::kMalformed, "the transcript is damaged (too long)");
  for (std::uint32_t i = 0; i < count; ++i) {
    const Bytes raw = r.bytes(4096);
    auto e = ChainEntry::decode(raw);
    if (!e)
      return fail(Errc::kMalformed, "the transcript is damaged (entry " + std::to_string(i) + ")");
    f.entries.push_back(std::move(*e));
  }
  const std::uint32_t receipts = r.u32();
  if (receipts > 2 * kMaxEntries) {
    return fail(Errc::kMalformed, "the transcript is damaged (too many receipts)");
  }
  for (std::uint32_t i = 0; i < receipts; ++i) {
    FileReceipt x;
    x.entry = r.u32();
    x.relay_url = r.str(1024);
    x.relay_key = r.fixed<32>();
    x.sender_id = r.fixed<16>();
    x.seq = r.u64();
    x.relay_time_ms = r.i64();
    x.envelope_hash = r.fixed<32>();
    x.signature = r.fixed<64>();
    if (version == kFileVersion) {
      x.batch_size = r.u32();
      x.batch_index = r.u32();
      const std::uint32_t path = r.u32();
      if (path > protocol::kMaxReceiptPath) {
        return fail(Errc::kMalformed, "the transcript is damaged (receipt path too long)");
      }
      for (std::uint32_t k = 0; k < path; ++k) x.batch_path.push_back(r.fixed<32>());
    }
    if (x.entry >= f.entries.size()) {
      return fail(Errc::kMalformed, "the transcript is damaged (receipt for no entry)");
    }
    f.receipts.push_back(std::move(x));
  }
  auto done = r.finish("transcript file");
  if (!done || f.our_identity.size() != kIdentitySize || f.their_identity.size() != kIdentitySize) {
    return fail(Errc::kMalformed, "the transcript is damaged (truncated or trailing bytes)");
  }
  return f;
}

TranscriptCheck check_transcript(const TranscriptFile& file) {
  TranscriptCheck c;
  c.our_identity_hex = to_hex(file.our_identity);
  c.their_identity_hex = to_hex(file.their_identity);
  std::vector<const ChainEntry*> ours;
  std::vector<const ChainEntry*> theirs;
  for (const ChainEntry& e : file.entries) (e.outgoing ? ours : theirs).push_back(&e);
  std::map<std::uint64_t, const ChainEntry*> our_seq;
  std::map<std::uint64_t, const ChainEntry*> their_seq;
  check_direction(ours, true, our_seq, c.findings);
  check_direction(theirs, false, their_seq, c.findings);
  check_acks(their_seq, false, our_seq, c.findings);
  check_acks(our_seq, true, their_seq, c.findings);
  for (const FileReceipt& r : file.receipts) {
    const ChainEntry& e = file.entries.at(r.entry);
    const std::string what = "the receipt of " + side(e.outgoing) + " message " +
                             std::to_string(e.fields.seq) + " from " + r.relay_url;
    if (to_hex(r.envelope_hash) != e.envelope_sha256_hex) {
      c.findings.push_back(what + " is for another envelope");
      continue;
    }
    protocol::Receipt receipt;
    receipt.sender_id = r.sender_id;
    receipt.envelope_hash = r.envelope_hash;
    receipt.seq = r.seq;
    receipt.relay_time_ms = r.relay_time_ms;
    receipt.signature = r.signature;
    if (r.batch_size != 0) {
      receipt.batch = protocol::ReceiptBatch{
          r.batch_size, r.batch_index,
          std::vector<crypto::Sha256Digest>(r.batch_path.begin(), r.batch_path.end())};
    } else if (!r.batch_path.empty()) {
      c.findings.push_back(what + " does not verify");
      continue;
    }
    crypto::Ed25519PublicKey key;
    key.bytes = r.relay_key;
    if (!protocol::verify_receipt(key, receipt)) {
      c.findings.push_back(what + " does not verify");
      continue;
    }
    ++c.receipts_verified;
  }
  c.sent = our_seq.size();
  c.received = their_seq.size();
  c.consistent = c.findings.empty();
  for (const auto* list : {&our_seq, &their_seq}) {
    for (const auto& [seq, e] : *list) c.entries.push_back(entry_info(*e));
  }
  return c;
}

}  // namespace bc::client
