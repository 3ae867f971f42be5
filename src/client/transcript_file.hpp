// Transcript export files: a conversation's hash chain as one side recorded it (sequence numbers,
// hashes, content digests and the relay's sequence numbers and times; never any content), and
// the offline check of such a file. Layout: docs/protocol.md ("Transcript export file").
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "backchannel/client.hpp"
#include "client/transcript_log.hpp"
#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::client {

// FileReceipt is a relay's signed receipt for one entry's envelope, with what checks it offline:
// the relay's signing key and the sender id of the queue the envelope went into.
struct FileReceipt {
  std::uint32_t entry = 0;  // index into TranscriptFile::entries
  std::string relay_url;
  std::array<std::uint8_t, 32> relay_key{};
  std::array<std::uint8_t, 16> sender_id{};
  std::uint64_t seq = 0;
  std::int64_t relay_time_ms = 0;
  std::array<std::uint8_t, 32> envelope_hash{};
  std::array<std::uint8_t, 64> signature{};
  // The receipt's place in the batch the relay signed (protocol/receipt.hpp); batch_size 0: a
  // receipt signed on its own, with no path.
  std::uint32_t batch_size = 0;
  std::uint32_t batch_index = 0;
  std::vector<std::array<std::uint8_t, 32>> batch_path;
};

// TranscriptFile is what an export holds.
struct TranscriptFile {
  Bytes our_identity;    // the exporter's identity key (33 bytes)
  Bytes their_identity;  // the contact's identity key (33 bytes)
  std::int64_t exported_ms = 0;
  std::vector<ChainEntry> entries;  // ours, then theirs, each by sequence number
  std::vector<FileReceipt> receipts;
};

// encode_transcript_file gives the armored text of a file.
[[nodiscard]] std::string encode_transcript_file(const TranscriptFile& file);
// decode_transcript_file parses armored text strictly (kMalformed on any deviation).
[[nodiscard]] Result<TranscriptFile> decode_transcript_file(std::string_view text);

// check_transcript recomputes every entry's hash from its fields and content digest and checks
// the chain in both directions: numbering from 1 without gaps, each message naming the hash of
// the one before it, and each side's statement of what it received matching what the other sent;
// and every relay receipt's signature (through its batch's root when it has a batch), over the
// hash of the envelope its entry names.
[[nodiscard]] TranscriptCheck check_transcript(const TranscriptFile& file);

}  // namespace bc::client
