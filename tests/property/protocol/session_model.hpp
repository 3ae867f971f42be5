// A model of two parties exchanging messages through a hostile network (send, deliver in any
// order, duplicate, tamper, restart from the stored record). Each step checks the session
// layer's promises and returns a description of the first violation. Shared by the property
// test and the fuzzer so that one model of events drives both.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "crypto/random.hpp"
#include "protocol/session_cipher.hpp"
#include "unit/protocol/test_party.hpp"
#include "wire/whisper.hpp"

namespace bc::protocol::test {

// unauthenticated_byte: whether byte `i` of a message is covered by no MAC. In a
// PreKeySignalMessage the preKeyId, registrationId and signedPreKeyId fields are outside the
// inner message's MAC (libsignal's format): they only select keys, and once the receiver has
// the session they are not read at all. Every other byte is authenticated.
inline bool unauthenticated_byte(const CiphertextMessage& m, std::size_t i) {
  if (m.type != MessageType::kPreKey) return false;
  auto f = wire::decode_prekey_signal_message(m.serialized);
  if (!f) return false;
  auto varint_size = [](std::uint32_t v) {
    std::size_t n = 1;
    for (; v >= 0x80; v >>= 7) ++n;
    return n;
  };
  const std::size_t head_end = f->prekey_id ? 2 + varint_size(*f->prekey_id) : 1;
  const std::size_t tail_start =
      m.serialized.size() - 2 - varint_size(f->signed_prekey_id) - varint_size(f->registration_id);
  return (i >= 1 && i < head_end) || i >= tail_start;
}

// last_mac_byte is the index of the last byte of the (inner) SignalMessage's MAC.
inline std::size_t last_mac_byte(const CiphertextMessage& m) {
  std::size_t i = m.serialized.size() - 1;
  while (i > 0 && unauthenticated_byte(m, i)) --i;
  return i;
}

class SessionModel {
 public:
  // kMaxMessages keeps a run inside the skipped-key bounds, where every promise is exact.
  static constexpr std::size_t kMaxMessages = 1500;

  explicit SessionModel(std::uint64_t seed)
      : rng_a_(seed * 2 + 1), rng_b_(seed * 2 + 2), parties_{Party(rng_a_), Party(rng_b_)} {
    (void)parties_[0].start(parties_[1].bundle());
  }

  // send: party `from` (0 = Alice, 1 = Bob) encrypts a fresh message, if it can.
  std::optional<std::string> send(int from) {
    Party& p = parties_[from];
    if (!p.record().has_current_state() || sent_.size() >= kMaxMessages) return std::nullopt;
    const std::string text = "message " + std::to_string(sent_.size());
    auto m = p.send(as_bytes(text));
    if (!m) return "encrypt failed: " + m.error().message();
    auto key = ratchet_key_of(*m);
    if (!key) return "encrypt produced an unparsable message";
    sent_.push_back({from, std::move(*m), to_bytes(as_bytes(text)), *key, false});
    return std::nullopt;
  }

  // deliver: message `index` (modulo the number sent) reaches its recipient.
  std::optional<std::string> deliver(std::size_t index) {
    if (sent_.empty()) return std::nullopt;
    Sent& s = sent_[index % sent_.size()];
    const int to = 1 - s.from;
    Party& p = parties_[to];
    auto& seen = seen_keys_[to];
    const bool known = std::find(seen.begin(), seen.end(), s.ratchet_key) != seen.end();
    const bool recent =
        !known || std::find(seen.end() - std::min<std::ptrdiff_t>(seen.size(), kRecentChains),
                            seen.end(), s.ratchet_key) != seen.end();
    const Bytes before = p.record_bytes();
    auto r = p.receive(s.message);
    if (r) {
      if (s.delivered) return "a duplicate decrypted";
      if (*r != s.plaintext) return "decrypted to the wrong plaintext";
      s.delivered = true;
      if (!known) seen.push_back(s.ratchet_key);
      return std::nullopt;
    }
    if (p.record_bytes() != before) return "a failed decrypt changed the record";
    if (s.delivered) {
      if (r.error().code != Errc::kDuplicate)
        return "a duplicate failed with " + r.error().message();
      return std::nullopt;
    }
    if (!recent && r.error().code == Errc::kAuthFailed) return std::nullopt;  // chain evicted
    return "a fresh message failed: " + r.error().message();
  }

  // tamper: a copy of message `index` with bit `bit` flipped must fail and change nothing.
  std::optional<std::string> tamper(std::size_t index, std::size_t bit) {
    if (sent_.empty()) return std::nullopt;
    const Sent& s = sent_[index % sent_.size()];
    CiphertextMessage bad = s.message;
    bit %= bad.serialized.size() * 8;
    if (unauthenticated_byte(bad, bit / 8)) bit = 8 * last_mac_byte(bad) + bit % 8;
    bad.serialized[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    Party& p = parties_[1 - s.from];
    const Bytes before = p.record_bytes();
    auto r = p.receive(bad);
    if (r) return "a tampered message decrypted";
    if (p.record_bytes() != before) return "a tampered message changed the record";
    return std::nullopt;
  }

  // restart: party `who` reloads its record from its serialization.
  std::optional<std::string> restart(int who) {
    Party& p = parties_[who];
    const Bytes bytes = p.record_bytes();
    auto r = SessionRecord::deserialize(bytes);
    if (!r) return "a stored record did not load: " + r.error().message();
    p.record() = std::move(r).value();
    if (p.record_bytes() != bytes) return "a reloaded record serializes differently";
    return std::nullopt;
  }

  [[nodiscard]] std::size_t sent() const noexcept { return sent_.size(); }

 private:
  // A chain is certainly kept while it is among the receiver's newest few (one slot may hold
  // the initiator's placeholder chain from the responder's signed prekey).
  static constexpr std::ptrdiff_t kRecentChains = kMaxReceiverChains - 1;

  struct Sent {
    int from;
    CiphertextMessage message;
    Bytes plaintext;
    wire::SerializedKey ratchet_key;
    bool delivered;
  };

  static std::optional<wire::SerializedKey> ratchet_key_of(const CiphertextMessage& m) {
    ByteView signal = m.serialized;
    if (m.type == MessageType::kPreKey) {
      auto f = wire::decode_prekey_signal_message(m.serialized);
      if (!f) return std::nullopt;
      signal = f->message;
    }
    auto d = wire::decode_signal_message(signal);
    if (!d) return std::nullopt;
    return d->fields.ratchet_key;
  }

  crypto::DeterministicRng rng_a_;
  crypto::DeterministicRng rng_b_;
  Party parties_[2];
  std::deque<Sent> sent_;
  std::vector<wire::SerializedKey> seen_keys_[2];
};

}  // namespace bc::protocol::test
