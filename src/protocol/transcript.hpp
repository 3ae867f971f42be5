// Transcript consistency: a hash chain per conversation carried inside the encryption of every
// message, so that each side can tell what the relay dropped, replayed, reordered or altered, and
// whether the other side saw what it sent. Pure and deterministic: no clock, no store, no I/O.
// The format and the checks are specified in docs/protocol.md ("Transcript consistency").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::protocol {

using TranscriptHash = std::array<std::uint8_t, 32>;

// TranscriptFields are what a sender states about the conversation in each message (payload
// fields 6-11).
struct TranscriptFields {
  std::uint64_t seq = 0;                // this message's number in the sender's direction, from 1
  TranscriptHash prev_hash{};           // the hash of the sender's previous message (zero for 1)
  std::uint64_t acked_seq = 0;          // the last message the sender received from us (0: none)
  TranscriptHash acked_hash{};          // its hash (zero when acked_seq is 0)
  std::uint64_t prev_relay_seq = 0;     // the relay's receipt for the previous message: its
  std::int64_t prev_relay_time_ms = 0;  //   sequence number and time (0: not known)
  friend bool operator==(const TranscriptFields&, const TranscriptFields&) = default;
};

// transcript_hash is a message's hash: SHA-256 over a domain string, the transcript fields in
// a fixed layout and the SHA-256 of the payload's canonical content bytes (fields 1-5). Because
// the fields hold the previous message's hash, the hashes form a chain; because the content
// enters only as a digest, a transcript file can be checked without any plaintext.
[[nodiscard]] TranscriptHash transcript_hash(const TranscriptFields& fields,
                                             const TranscriptHash& content_digest);
// transcript_content_digest is SHA-256("backchannel-transcript-content-v1" || content bytes).
[[nodiscard]] TranscriptHash transcript_content_digest(ByteView content);

// SeqRange is a run of sequence numbers that has not arrived, with what its neighbours tell
// about it: the hash of the message before `first` and the hash of `last` as the message after
// it claims (when those neighbours arrived), and the relay's receipt for `last` as the message
// after it reported.
struct SeqRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::optional<TranscriptHash> before;
  std::optional<TranscriptHash> last_hash;
  std::uint64_t last_relay_seq = 0;
  std::int64_t last_relay_time_ms = 0;
  friend bool operator==(const SeqRange&, const SeqRange&) = default;
};

// TranscriptState is one conversation's chain, as one side keeps it.
struct TranscriptState {
  // Our direction.
  std::uint64_t out_seq = 0;  // the last message we sent
  TranscriptHash out_hash{};
  std::uint64_t out_relay_seq = 0;  // the relay's receipt for it, when it came
  std::int64_t out_relay_time_ms = 0;
  // Their direction.
  std::uint64_t in_seq = 0;  // the highest message received
  TranscriptHash in_hash{};
  std::vector<SeqRange> missing;  // ordered, disjoint, all below in_seq

  [[nodiscard]] Bytes encode() const;
  [[nodiscard]] static Result<TranscriptState> decode(ByteView bytes);
  friend bool operator==(const TranscriptState&, const TranscriptState&) = default;
};

// kMaxMissingRanges bounds the state a hostile relay can make a receiver keep.
inline constexpr std::size_t kMaxMissingRanges = 1024;

// next_fields gives the fields of the next message we send (the state is not changed).
[[nodiscard]] TranscriptFields next_fields(const TranscriptState& state);
// record_sent advances our direction after a message with `fields` and `hash` was sent.
void record_sent(TranscriptState& state, const TranscriptFields& fields,
                 const TranscriptHash& hash);
// record_receipt notes the relay's receipt for our message `seq` (kept only for the latest).
void record_receipt(TranscriptState& state, std::uint64_t seq, std::uint64_t relay_seq,
                    std::int64_t relay_time_ms);

// FindingKind classifies what an arriving message tells.
enum class FindingKind : std::uint8_t {
  kMissing,    // messages first..last have not arrived (a gap opened)
  kReordered,  // this message arrived after later ones (it filled part of a gap)
  kReplayed,   // this sequence number arrived before
  kAltered,    // the chain does not link: the message or one before it is not what was sent
  kDiverged,   // what the sender says it received from us is not what we sent
};
[[nodiscard]] std::string_view finding_code(FindingKind kind) noexcept;

struct Finding {
  FindingKind kind = FindingKind::kMissing;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  // kMissing: the relay's receipt for last_seq, when the sender's next message reported it.
  std::uint64_t relay_seq = 0;
  std::int64_t relay_time_ms = 0;
  friend bool operator==(const Finding&, const Finding&) = default;
};

// Arrival is what the receiver checks for one message: its fields, its hash, and the hash we
// recorded for our message `fields.acked_seq` (nullopt when we have no such message).
struct Arrival {
  TranscriptFields fields;
  TranscriptHash hash{};
  std::optional<TranscriptHash> our_acked_hash;
};

// check_arrival classifies an arriving message against the state and updates the state.
// In order and consistent: no finding. A message is never refused: the findings are alerts
// beside it.
[[nodiscard]] std::vector<Finding> check_arrival(TranscriptState& state, const Arrival& arrival);

}  // namespace bc::protocol
