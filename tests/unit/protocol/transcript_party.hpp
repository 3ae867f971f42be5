// A party of a conversation for transcript tests: sends (fields and hash of fresh content) and
// receives (check_arrival with the lookup of what it sent), without any session.
#pragma once

#include <map>

#include "protocol/transcript.hpp"

namespace bc::protocol::test {

struct Sent {
  TranscriptFields fields;
  TranscriptHash hash{};
};

struct Party {
  TranscriptState state;
  std::map<std::uint64_t, TranscriptHash> sent;
  std::uint64_t content_counter = 0;

  Sent send() {
    Sent m;
    m.fields = next_fields(state);
    Bytes content = {static_cast<std::uint8_t>(content_counter >> 8),
                     static_cast<std::uint8_t>(content_counter)};
    ++content_counter;
    m.hash = transcript_hash(m.fields, transcript_content_digest(content));
    record_sent(state, m.fields, m.hash);
    sent[m.fields.seq] = m.hash;
    return m;
  }
  void receipt(std::uint64_t seq, std::uint64_t relay_seq, std::int64_t time_ms) {
    record_receipt(state, seq, relay_seq, time_ms);
  }
  // receive checks a message from `from` (whose `sent` we do not look at: only our own).
  std::vector<Finding> receive(const Sent& m, const Party& /*from*/) {
    Arrival a;
    a.fields = m.fields;
    a.hash = m.hash;
    if (const auto it = sent.find(m.fields.acked_seq); it != sent.end())
      a.our_acked_hash = it->second;
    return check_arrival(state, a);
  }
};

}  // namespace bc::protocol::test
