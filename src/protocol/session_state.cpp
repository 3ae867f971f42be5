#include "protocol/session_state.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace bc::protocol {
namespace {

constexpr std::array<std::uint8_t, 4> kRecordMagic = {'B', 'C', 'S', 'R'};
constexpr std::uint8_t kRecordFormatVersion = 1;
constexpr std::uint8_t kStateHasSender = 1;
constexpr std::uint8_t kStateHasPending = 2;
constexpr std::uint8_t kStatePendingHasPreKeyId = 4;
constexpr std::uint8_t kStateKnownFlags = 7;
constexpr std::uint8_t kRecordHasCurrent = 1;

class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      out_.push_back(static_cast<std::uint8_t>(v >> shift));
  }
  void raw(ByteView v) { append(out_, v); }
  void key(const PublicKey& k) { raw(k.raw().bytes); }

 private:
  Bytes& out_;
};

class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  [[nodiscard]] bool done() const noexcept { return pos_ == in_.size(); }
  Result<ByteView> raw(std::size_t n) {
    if (in_.size() - pos_ < n) return fail(Errc::kMalformed, "session record truncated");
    ByteView out = in_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  Result<std::uint8_t> u8() {
    BC_ASSIGN_OR_RETURN(const ByteView b, raw(1));
    return b[0];
  }
  Result<std::uint16_t> u16() {
    BC_ASSIGN_OR_RETURN(const ByteView b, raw(2));
    return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
  }
  Result<std::uint32_t> u32() {
    BC_ASSIGN_OR_RETURN(const ByteView b, raw(4));
    return (static_cast<std::uint32_t>(b[0]) << 24) | (static_cast<std::uint32_t>(b[1]) << 16) |
           (static_cast<std::uint32_t>(b[2]) << 8) | b[3];
  }
  Result<PublicKey> key() {
    BC_ASSIGN_OR_RETURN(const ByteView b, raw(32));
    BC_ASSIGN_OR_RETURN(const auto k, crypto::X25519PublicKey::from_bytes(b));
    return PublicKey(k);
  }
  Result<SecretBytes> secret(std::size_t n) {
    BC_ASSIGN_OR_RETURN(const ByteView b, raw(n));
    return SecretBytes(b);
  }

 private:
  ByteView in_;
  std::size_t pos_ = 0;
};

void write_chain_key(Writer& w, const ChainKey& ck) {
  w.raw(ck.key.expose());
  w.u32(ck.index);
}

void write_state(Writer& w, const SessionState& s) {
  w.u8(static_cast<std::uint8_t>(s.version));
  w.key(s.local_identity.key);
  w.key(s.remote_identity.key);
  w.u32(s.local_registration_id);
  w.u32(s.remote_registration_id);
  w.raw(s.root_key.expose());
  w.key(s.alice_base_key);
  w.u32(s.previous_counter);
  std::uint8_t flags = 0;
  if (s.sender) flags |= kStateHasSender;
  if (s.pending_prekey) {
    flags |= kStateHasPending;
    if (s.pending_prekey->prekey_id) flags |= kStatePendingHasPreKeyId;
  }
  w.u8(flags);
  if (s.sender) {
    w.raw(s.sender->ratchet_key.private_key.secret().expose());
    w.key(s.sender->ratchet_key.public_key);
    write_chain_key(w, s.sender->chain_key);
  }
  if (s.pending_prekey) {
    if (s.pending_prekey->prekey_id) w.u32(*s.pending_prekey->prekey_id);
    w.u32(s.pending_prekey->signed_prekey_id);
    w.key(s.pending_prekey->base_key);
  }
  w.u8(static_cast<std::uint8_t>(s.receiver_chains.size()));
  for (const auto& chain : s.receiver_chains) {
    w.key(chain.their_ratchet_key);
    write_chain_key(w, chain.chain_key);
    w.u16(static_cast<std::uint16_t>(chain.skipped.size()));
    for (const auto& skipped : chain.skipped) {
      w.u32(skipped.counter);
      w.raw(skipped.seed.expose());
    }
  }
}

Result<ChainKey> read_chain_key(Reader& r) {
  ChainKey ck;
  BC_ASSIGN_OR_RETURN(ck.key, r.secret(kChainKeySize));
  BC_ASSIGN_OR_RETURN(ck.index, r.u32());
  return ck;
}

Result<SessionState> read_state(Reader& r) {
  SessionState s;
  BC_ASSIGN_OR_RETURN(const std::uint8_t version, r.u8());
  if (version != kSessionVersion) {
    return fail(Errc::kUnsupportedVersion, "session record: unsupported session version");
  }
  s.version = version;
  BC_ASSIGN_OR_RETURN(s.local_identity.key, r.key());
  BC_ASSIGN_OR_RETURN(s.remote_identity.key, r.key());
  BC_ASSIGN_OR_RETURN(s.local_registration_id, r.u32());
  BC_ASSIGN_OR_RETURN(s.remote_registration_id, r.u32());
  BC_ASSIGN_OR_RETURN(s.root_key, r.secret(kRootKeySize));
  BC_ASSIGN_OR_RETURN(s.alice_base_key, r.key());
  BC_ASSIGN_OR_RETURN(s.previous_counter, r.u32());
  BC_ASSIGN_OR_RETURN(const std::uint8_t flags, r.u8());
  if ((flags & ~kStateKnownFlags) != 0 ||
      ((flags & kStatePendingHasPreKeyId) != 0 && (flags & kStateHasPending) == 0)) {
    return fail(Errc::kMalformed, "session record: unknown state flags");
  }
  if ((flags & kStateHasSender) != 0) {
    BC_ASSIGN_OR_RETURN(const ByteView private_key, r.raw(32));
    BC_ASSIGN_OR_RETURN(auto priv, crypto::X25519PrivateKey::from_bytes(private_key));
    BC_ASSIGN_OR_RETURN(const PublicKey pub, r.key());
    BC_ASSIGN_OR_RETURN(ChainKey ck, read_chain_key(r));
    s.sender = SenderChain{KeyPair{std::move(priv), pub}, std::move(ck)};
  }
  if ((flags & kStateHasPending) != 0) {
    PendingPreKey pending;
    if ((flags & kStatePendingHasPreKeyId) != 0) {
      BC_ASSIGN_OR_RETURN(const std::uint32_t id, r.u32());
      pending.prekey_id = id;
    }
    BC_ASSIGN_OR_RETURN(pending.signed_prekey_id, r.u32());
    BC_ASSIGN_OR_RETURN(pending.base_key, r.key());
    s.pending_prekey = pending;
  }
  BC_ASSIGN_OR_RETURN(const std::uint8_t chains, r.u8());
  if (chains > kMaxReceiverChains) {
    return fail(Errc::kLimitExceeded, "session record: too many receiving chains");
  }
  std::size_t total_skipped = 0;
  s.receiver_chains.reserve(chains);
  for (std::uint8_t i = 0; i < chains; ++i) {
    ReceiverChain chain;
    BC_ASSIGN_OR_RETURN(chain.their_ratchet_key, r.key());
    BC_ASSIGN_OR_RETURN(chain.chain_key, read_chain_key(r));
    if (s.find_receiver_chain(chain.their_ratchet_key) != nullptr) {
      return fail(Errc::kMalformed, "session record: repeated receiving chain");
    }
    BC_ASSIGN_OR_RETURN(const std::uint16_t skipped, r.u16());
    total_skipped += skipped;
    if (skipped > kMaxSkippedKeysPerChain || total_skipped > kMaxSkippedKeysPerState) {
      return fail(Errc::kLimitExceeded, "session record: too many skipped keys");
    }
    for (std::uint16_t k = 0; k < skipped; ++k) {
      SkippedKey key;
      BC_ASSIGN_OR_RETURN(key.counter, r.u32());
      if (key.counter >= chain.chain_key.index ||
          (!chain.skipped.empty() && key.counter <= chain.skipped.back().counter)) {
        return fail(Errc::kMalformed, "session record: skipped keys out of order");
      }
      BC_ASSIGN_OR_RETURN(key.seed, r.secret(kMessageKeySeedSize));
      chain.skipped.push_back(std::move(key));
    }
    s.receiver_chains.push_back(std::move(chain));
  }
  return s;
}

}  // namespace

SessionState SessionState::copy() const {
  SessionState out;
  out.version = version;
  out.local_identity = local_identity;
  out.remote_identity = remote_identity;
  out.local_registration_id = local_registration_id;
  out.remote_registration_id = remote_registration_id;
  out.root_key = root_key.copy();
  out.alice_base_key = alice_base_key;
  out.previous_counter = previous_counter;
  if (sender) out.sender = SenderChain{sender->ratchet_key.copy(), sender->chain_key.copy()};
  out.pending_prekey = pending_prekey;
  out.receiver_chains.reserve(receiver_chains.size());
  for (const auto& chain : receiver_chains) {
    ReceiverChain c{chain.their_ratchet_key, chain.chain_key.copy(), {}};
    for (const auto& k : chain.skipped) c.skipped.push_back({k.counter, k.seed.copy()});
    out.receiver_chains.push_back(std::move(c));
  }
  return out;
}

ReceiverChain* SessionState::find_receiver_chain(const PublicKey& their_ratchet_key) {
  for (auto& chain : receiver_chains) {
    if (chain.their_ratchet_key == their_ratchet_key) return &chain;
  }
  return nullptr;
}

const ReceiverChain* SessionState::find_receiver_chain(const PublicKey& key) const {
  for (const auto& chain : receiver_chains) {
    if (chain.their_ratchet_key == key) return &chain;
  }
  return nullptr;
}

std::size_t SessionState::skipped_key_count() const noexcept {
  std::size_t n = 0;
  for (const auto& chain : receiver_chains) n += chain.skipped.size();
  return n;
}

void SessionState::add_receiver_chain(ReceiverChain chain) {
  receiver_chains.push_back(std::move(chain));
  if (receiver_chains.size() > kMaxReceiverChains) receiver_chains.erase(receiver_chains.begin());
}

void SessionState::enforce_skipped_key_cap() {
  for (auto& chain : receiver_chains) {
    while (chain.skipped.size() > kMaxSkippedKeysPerChain) chain.skipped.pop_front();
  }
  std::size_t total = skipped_key_count();
  for (auto& chain : receiver_chains) {  // oldest chain first
    while (total > kMaxSkippedKeysPerState && !chain.skipped.empty()) {
      chain.skipped.pop_front();
      --total;
    }
  }
}

void SessionRecord::set_current_state(SessionState state) {
  if (current_) {
    previous_.push_front(std::move(*current_));
    if (previous_.size() > kMaxArchivedStates) previous_.pop_back();
  }
  current_ = std::move(state);
}

void SessionRecord::promote_previous_state(std::size_t index) {
  BC_CHECK(index < previous_.size());
  SessionState promoted = std::move(previous_[index]);
  previous_.erase(previous_.begin() + static_cast<std::ptrdiff_t>(index));
  set_current_state(std::move(promoted));
}

const SessionState* SessionRecord::find_state_with_base_key(
    const PublicKey& base_key) const noexcept {
  if (current_ && current_->alice_base_key == base_key) return &*current_;
  for (const auto& state : previous_) {
    if (state.alice_base_key == base_key) return &state;
  }
  return nullptr;
}

void SessionRecord::serialize_to(Bytes& out) const {
  Writer w(out);
  w.raw(kRecordMagic);
  w.u8(kRecordFormatVersion);
  w.u8(current_ ? kRecordHasCurrent : 0);
  if (current_) write_state(w, *current_);
  w.u8(static_cast<std::uint8_t>(previous_.size()));
  for (const auto& state : previous_) write_state(w, state);
}

SecretBytes SessionRecord::serialize() const {
  Bytes buffer;
  buffer.reserve(1024);
  serialize_to(buffer);
  SecretBytes out(buffer);
  secure_zero(buffer.data(), buffer.size());
  return out;
}

Result<SessionRecord> SessionRecord::deserialize(ByteView bytes) {
  Reader r(bytes);
  BC_ASSIGN_OR_RETURN(const ByteView magic, r.raw(kRecordMagic.size()));
  if (!std::equal(magic.begin(), magic.end(), kRecordMagic.begin())) {
    return fail(Errc::kMalformed, "not a session record");
  }
  BC_ASSIGN_OR_RETURN(const std::uint8_t format, r.u8());
  if (format != kRecordFormatVersion) {
    return fail(Errc::kUnsupportedVersion, "session record: unknown format version");
  }
  SessionRecord record;
  BC_ASSIGN_OR_RETURN(const std::uint8_t flags, r.u8());
  if ((flags & ~kRecordHasCurrent) != 0) return fail(Errc::kMalformed, "session record: flags");
  if ((flags & kRecordHasCurrent) != 0) {
    BC_ASSIGN_OR_RETURN(record.current_, read_state(r));
  }
  BC_ASSIGN_OR_RETURN(const std::uint8_t previous, r.u8());
  if (previous > kMaxArchivedStates) {
    return fail(Errc::kLimitExceeded, "session record: too many archived states");
  }
  for (std::uint8_t i = 0; i < previous; ++i) {
    BC_ASSIGN_OR_RETURN(SessionState state, read_state(r));
    record.previous_.push_back(std::move(state));
  }
  if (!r.done()) return fail(Errc::kMalformed, "session record: trailing bytes");
  return record;
}

}  // namespace bc::protocol
