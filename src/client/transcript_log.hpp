// The client's side of transcript consistency: the per-contact chain state and the log of every
// message's chain entry (with the relay's receipts), kept in the client store and updated in the
// same transaction as the message; the alerts the chain raises; heartbeats and silence.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backchannel/client.hpp"
#include "core/bytes.hpp"
#include "core/result.hpp"
#include "protocol/payload.hpp"
#include "protocol/transcript.hpp"
#include "store/client_store.hpp"

namespace bc::client {

// kTranscriptsTable: "<alias>" -> TranscriptState; "<alias>\x1fliveness" -> LivenessRecord.
inline constexpr std::string_view kTranscriptsTable = "transcripts";
// kChainTable: "<alias>\x1f<o|i>\x1f<20-digit seq>" -> ChainEntry; "env:<hex sha256>" -> the
// key of the outgoing entry whose envelope that is (so a deposit receipt finds its message).
inline constexpr std::string_view kChainTable = "chain";

// ChainEntry is one message of a conversation as the transcript knows it: hashes and numbers,
// never content.
struct ChainEntry {
  bool outgoing = false;
  std::uint32_t kind = 0;
  protocol::TranscriptFields fields;
  protocol::TranscriptHash content_digest{};
  protocol::TranscriptHash hash{};
  std::int64_t sent_ms = 0;
  std::int64_t received_ms = 0;
  std::string envelope_sha256_hex;
  std::string relay_url;        // the relay that accepted (outgoing) or delivered it
  std::uint64_t relay_seq = 0;  // its sequence number there (0: not known)
  std::int64_t relay_time_ms = 0;
  [[nodiscard]] Bytes encode() const;
  [[nodiscard]] static Result<ChainEntry> decode(ByteView bytes);
};

// LivenessRecord: when we last sent to / heard from a contact, and the heartbeat interval the
// contact announced.
struct LivenessRecord {
  std::int64_t last_out_ms = 0;
  std::int64_t last_in_ms = 0;
  std::uint32_t peer_interval_ms = 0;
  bool silent_reported = false;
  [[nodiscard]] Bytes encode() const;
  [[nodiscard]] static Result<LivenessRecord> decode(ByteView bytes);
};

[[nodiscard]] Result<protocol::TranscriptState> load_transcript(store::ClientStore& db,
                                                                const std::string& alias);
[[nodiscard]] Result<LivenessRecord> load_liveness(store::ClientStore& db,
                                                   const std::string& alias);
[[nodiscard]] Result<void> save_liveness(store::ClientStore& db, const std::string& alias,
                                         const LivenessRecord& l);

// stamp_outgoing gives `p` its transcript fields and records the message in our direction of
// the chain (in the caller's transaction). Returns the entry's key for note_envelope.
[[nodiscard]] Result<std::string> stamp_outgoing(store::ClientStore& db, const std::string& alias,
                                                 protocol::Payload& p, std::int64_t now_ms);
// note_envelope links an outgoing entry to the hash of the envelope that carries it.
[[nodiscard]] Result<void> note_envelope(store::ClientStore& db, const std::string& entry_key,
                                         ByteView envelope);
// note_deposit_receipt records the relay's receipt for an envelope we deposited (a relay
// sequence number and time); the next message to that contact reports it.
[[nodiscard]] Result<void> note_deposit_receipt(store::ClientStore& db, ByteView envelope_sha256,
                                                const std::string& relay_url,
                                                std::uint64_t relay_seq,
                                                std::int64_t relay_time_ms);

// Delivered is how a message reached us.
struct Delivered {
  std::string relay_url;
  std::uint64_t relay_seq = 0;
  std::int64_t relay_time_ms = 0;
  std::string envelope_sha256_hex;
  std::int64_t received_ms = 0;
};

// check_incoming runs the chain check for a message from `alias` (no-op for a payload without
// transcript fields), records it, and returns the alerts it raises (not yet stored).
[[nodiscard]] Result<std::vector<AlertInfo>> check_incoming(store::ClientStore& db,
                                                            const std::string& alias,
                                                            const protocol::Payload& p,
                                                            const Delivered& how);

// check_silence returns a "silent" alert when the contact announced heartbeats and nothing came
// for two intervals (once per silence).
[[nodiscard]] Result<std::optional<AlertInfo>> check_silence(store::ClientStore& db,
                                                             const std::string& alias,
                                                             std::int64_t now_ms);

// heartbeat_body / heartbeat_interval: a heartbeat's body is the sender's interval (u32 ms BE).
[[nodiscard]] Bytes heartbeat_body(std::uint32_t interval_ms);

// load_chain lists a conversation's chain entries: ours, then theirs, each by sequence number.
[[nodiscard]] Result<std::vector<ChainEntry>> load_chain(store::ClientStore& db,
                                                         const std::string& alias);

// format_clock gives "HH:MM" (UTC) of a time, for alert texts.
[[nodiscard]] std::string format_clock(std::int64_t ms);

}  // namespace bc::client
