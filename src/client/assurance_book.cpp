#include "client/assurance_book.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "client/armor.hpp"
#include "client/record.hpp"
#include "crypto/hash.hpp"
#include "protocol/escrow_certificate.hpp"

namespace bc::client {
namespace fs = std::filesystem;
using protocol::AssuranceMessage;
using protocol::AssuranceMessageType;
using protocol::AssuranceState;

namespace {

constexpr std::uint8_t kRecordVersion = 1;
constexpr std::string_view kAssurances = "assurances";
constexpr std::string_view kEscrows = "escrows";
constexpr std::int64_t kDefaultValidityMs = 30LL * 24 * 60 * 60 * 1000;
constexpr std::string_view kArmorLabel = "EXPORT";
constexpr std::string_view kExportMagic = "BCX";
constexpr std::uint8_t kExportVersion = 1;
constexpr std::uint8_t kExportAssurance = 1;
constexpr std::uint8_t kExportRelease = 2;
constexpr std::size_t kMaxExportSize = 512 * 1024;

Result<protocol::AssuranceId> parse_id(const std::string& hex_id, const char* what) {
  auto raw = from_hex(hex_id);
  if (!raw || raw->size() != protocol::kAssuranceIdSize) {
    return fail(Errc::kMalformed, std::string(what) + " is 32 hex digits");
  }
  protocol::AssuranceId id{};
  std::copy(raw->begin(), raw->end(), id.begin());
  return id;
}

Event event(EventKind kind, const std::string& alias, std::string text) {
  Event e;
  e.kind = kind;
  e.alias = alias;
  e.text = std::move(text);
  return e;
}

}  // namespace

// Record is one stored assurance: who, which way, its canonical document, its lifecycle, the
// withdrawal that ended it (if any) and the escrow exchange it went through (if any).
struct AssuranceBook::Record {
  std::string alias;
  bool outgoing = false;
  Bytes document;
  protocol::Lifecycle lifecycle;
  Bytes withdrawal;
  std::string exchange_id;

  Bytes encode() const {
    RecordWriter w;
    w.u8(kRecordVersion).str(alias).boolean(outgoing).bytes(document);
    w.u8(static_cast<std::uint8_t>(lifecycle.state));
    for (const auto t : lifecycle.entered_ms) w.i64(t);
    w.bytes(withdrawal).str(exchange_id);
    return w.take();
  }
  static Result<Record> decode(ByteView b) {
    RecordReader r(b);
    Record x;
    if (r.u8() != kRecordVersion)
      return fail(Errc::kUnsupportedVersion, "assurance record version");
    x.alias = r.str(64);
    x.outgoing = r.boolean();
    x.document = r.bytes(64 * 1024);
    const std::uint8_t state = r.u8();
    for (auto& t : x.lifecycle.entered_ms) t = r.i64();
    x.withdrawal = r.bytes(1024);
    x.exchange_id = r.str(64);
    BC_TRY(r.finish("assurance record"));
    if (state >= protocol::kAssuranceStateCount) {
      return fail(Errc::kMalformed, "assurance record is damaged");
    }
    x.lifecycle.state = static_cast<AssuranceState>(state);
    return x;
  }
};

// Escrow is one escrowed exchange as this side keeps it: its side and token, what it deposited
// (the envelope itself: the proof if the relay certifies another), what it received, and the
// relay's certificate with the key it was checked with.
struct AssuranceBook::Escrow {
  std::string alias;
  bool opener = false;
  protocol::ExchangeId exchange_id{};
  protocol::EscrowToken token{};
  std::int64_t deadline_ms = 0;
  std::string relay_url;
  std::array<std::uint8_t, 32> fingerprint{};
  std::string state;  // open | deposited | released | expired | cancelled | disputed
  std::string own_assurance;
  Bytes own_envelope;
  Bytes own_hash;
  std::string received_assurance;
  Bytes received_envelope;
  Bytes received_hash;
  Bytes certificate;
  Bytes relay_key;
  std::int64_t released_ms = 0;
  std::string problem;
  bool recheck = false;  // released, our copy not yet received: one more receive pass

  Bytes encode() const {
    RecordWriter w;
    w.u8(kRecordVersion).str(alias).boolean(opener).bytes(exchange_id).bytes(token);
    w.i64(deadline_ms).str(relay_url).bytes(fingerprint).str(state).str(own_assurance);
    w.bytes(own_envelope).bytes(own_hash).str(received_assurance).bytes(received_envelope);
    w.bytes(received_hash).bytes(certificate).bytes(relay_key).i64(released_ms).str(problem);
    w.boolean(recheck);
    return w.take();
  }
  static Result<Escrow> decode(ByteView b) {
    RecordReader r(b);
    Escrow x;
    if (r.u8() != kRecordVersion) return fail(Errc::kUnsupportedVersion, "escrow record version");
    x.alias = r.str(64);
    x.opener = r.boolean();
    x.exchange_id = r.fixed<16>();
    x.token = r.fixed<16>();
    x.deadline_ms = r.i64();
    x.relay_url = r.str(256);
    x.fingerprint = r.fixed<32>();
    x.state = r.str(16);
    x.own_assurance = r.str(32);
    x.own_envelope = r.bytes(1 << 17);
    x.own_hash = r.bytes(32);
    x.received_assurance = r.str(32);
    x.received_envelope = r.bytes(1 << 17);
    x.received_hash = r.bytes(32);
    x.certificate = r.bytes(1024);
    x.relay_key = r.bytes(32);
    x.released_ms = r.i64();
    x.problem = r.str(1024);
    x.recheck = r.boolean();
    BC_TRY(r.finish("escrow record"));
    return x;
  }
  EscrowInfo info() const {
    EscrowInfo i;
    i.exchange_id = to_hex(exchange_id);
    i.alias = alias;
    i.role = opener ? "opener" : "counterparty";
    i.state = state;
    i.deadline_ms = deadline_ms;
    i.relay_url = relay_url;
    i.own_assurance = own_assurance;
    i.received_assurance = received_assurance;
    i.own_deposit_sha256 = to_hex(own_hash);
    i.received_deposit_sha256 = to_hex(received_hash);
    i.released_ms = released_ms;
    i.problem = problem;
    return i;
  }
};

namespace {

AssuranceInfo to_info(const std::string& alias, bool outgoing, const protocol::Assurance& a,
                      const protocol::Lifecycle& l, const std::string& exchange_id) {
  AssuranceInfo i;
  i.id = to_hex(a.id);
  i.alias = alias;
  i.outgoing = outgoing;
  i.mode = std::string(protocol::assurance_mode_name(a.mode));
  i.statement = a.statement;
  i.conditions = a.conditions;
  i.scope = a.scope.value_or("");
  i.valid_from_ms = a.valid_from_ms;
  i.valid_until_ms = a.valid_until_ms;
  i.reciprocates = a.reciprocates ? to_hex(*a.reciprocates) : std::string();
  i.state = std::string(protocol::assurance_state_name(l.state));
  for (std::size_t s = 0; s < l.entered_ms.size(); ++s) {
    if (l.entered_ms[s] == 0) continue;
    i.history.push_back(
        {std::string(protocol::assurance_state_name(static_cast<AssuranceState>(s))),
         l.entered_ms[s]});
  }
  std::stable_sort(i.history.begin(), i.history.end(),
                   [](const auto& x, const auto& y) { return x.at_ms < y.at_ms; });
  i.exchange_id = exchange_id;
  i.issuer_key_hex = to_hex(a.issuer.serialize());
  i.counterparty_key_hex = to_hex(a.counterparty.serialize());
  return i;
}

}  // namespace

Result<protocol::Assurance> AssuranceBook::build(const AssurancePeer& peer,
                                                 const AssuranceTerms& terms) {
  BC_ASSIGN_OR_RETURN(const protocol::IdentityKeyPair me, host_.identity());
  protocol::Assurance a;
  host_.rng().fill(a.id);
  a.mode = terms.binding ? protocol::AssuranceMode::kBinding : protocol::AssuranceMode::kDeniable;
  a.issuer = me.public_key();
  a.counterparty = peer.identity;
  a.valid_from_ms = host_.now();
  a.valid_until_ms = terms.valid_until_ms.value_or(a.valid_from_ms + kDefaultValidityMs);
  if (a.valid_until_ms <= a.valid_from_ms) {
    return fail(Errc::kMalformed, "--valid-until must be in the future");
  }
  a.statement = terms.statement;
  a.conditions = terms.conditions;
  a.scope = terms.scope;
  if (terms.reciprocates) {
    BC_ASSIGN_OR_RETURN(a.reciprocates, parse_id(*terms.reciprocates, "--reciprocates"));
    BC_ASSIGN_OR_RETURN(auto raw, host_.store().get(kAssurances, *terms.reciprocates));
    if (!raw)
      return fail(Errc::kNotFound, "no assurance " + *terms.reciprocates + " to reciprocate");
    BC_ASSIGN_OR_RETURN(const Record other, Record::decode(*raw));
    if (other.outgoing || other.alias != peer.alias) {
      return fail(Errc::kConflict,
                  "assurance " + *terms.reciprocates + " was not made to us by " + peer.alias);
    }
  }
  if (a.mode == protocol::AssuranceMode::kBinding) {
    BC_TRY(protocol::sign_assurance(a, me, host_.rng()));
  }
  BC_TRY(a.encode());  // every bound, with a one-line reason
  return a;
}

Result<AssuranceInfo> AssuranceBook::propose(const std::string& alias,
                                             const AssuranceTerms& terms) {
  AssuranceInfo info;
  BC_TRY(host_.store().transaction([&](store::ClientStore& db) -> Result<void> {
    BC_ASSIGN_OR_RETURN(const AssurancePeer peer, host_.peer(alias));
    if (peer.identity_changed) {
      return fail(
          Errc::kUntrustedIdentity,
          "the identity key of " + alias + " changed: run `verify " + alias + " --confirm` first");
    }
    BC_ASSIGN_OR_RETURN(const protocol::Assurance a, build(peer, terms));
    BC_ASSIGN_OR_RETURN(const Bytes doc, a.encode());
    Record rec;
    rec.alias = alias;
    rec.outgoing = true;
    rec.document = doc;
    rec.lifecycle = protocol::Lifecycle::start(AssuranceState::kProposed, a.valid_from_ms);
    const std::string id = to_hex(a.id);
    BC_TRY(db.put(kAssurances, id, rec.encode()));
    BC_TRY(host_.send(alias, AssuranceMessage{AssuranceMessageType::kAssurance, doc}.encode()));
    if (a.reciprocates) {
      // Answering the counterparty's assurance moves it to "reciprocated" on our side too.
      auto moved = change(to_hex(*a.reciprocates), AssuranceState::kReciprocated);
      if (!moved && moved.error().code != Errc::kConflict) return fail(std::move(moved).error());
    }
    info = to_info(alias, true, a, rec.lifecycle, "");
    return ok();
  }));
  // Queued and committed: a relay that cannot be reached leaves it "proposed" until a sync.
  BC_TRY(host_.flush());
  return change(info.id, AssuranceState::kDelivered);
}

Result<AssuranceInfo> AssuranceBook::change(const std::string& id, AssuranceState to, Record* out) {
  BC_ASSIGN_OR_RETURN(auto raw, host_.store().get(kAssurances, id));
  if (!raw) return fail(Errc::kNotFound, "no assurance " + id);
  BC_ASSIGN_OR_RETURN(Record rec, Record::decode(*raw));
  BC_ASSIGN_OR_RETURN(rec.lifecycle, protocol::transition(rec.lifecycle, to, host_.now()));
  BC_TRY(host_.store().put(kAssurances, id, rec.encode()));
  BC_ASSIGN_OR_RETURN(const protocol::Assurance a, protocol::Assurance::decode(rec.document));
  if (out != nullptr) *out = rec;
  return to_info(rec.alias, rec.outgoing, a, rec.lifecycle, rec.exchange_id);
}

Result<std::vector<AssuranceInfo>> AssuranceBook::list() {
  BC_ASSIGN_OR_RETURN(auto rows, host_.store().list(kAssurances));
  std::vector<AssuranceInfo> out;
  for (auto& [id, raw] : rows) {
    BC_ASSIGN_OR_RETURN(Record rec, Record::decode(raw));
    BC_ASSIGN_OR_RETURN(const protocol::Assurance a, protocol::Assurance::decode(rec.document));
    const auto l = protocol::expire_if_due(rec.lifecycle, a.valid_until_ms, host_.now());
    out.push_back(to_info(rec.alias, rec.outgoing, a, l, rec.exchange_id));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    return x.history.front().at_ms < y.history.front().at_ms;
  });
  return out;
}

Result<AssuranceInfo> AssuranceBook::show(const std::string& id) {
  BC_TRY(parse_id(id, "an assurance id"));
  BC_ASSIGN_OR_RETURN(auto raw, host_.store().get(kAssurances, id));
  if (!raw) return fail(Errc::kNotFound, "no assurance " + id);
  BC_ASSIGN_OR_RETURN(Record rec, Record::decode(*raw));
  BC_ASSIGN_OR_RETURN(const protocol::Assurance a, protocol::Assurance::decode(rec.document));
  const auto l = protocol::expire_if_due(rec.lifecycle, a.valid_until_ms, host_.now());
  return to_info(rec.alias, rec.outgoing, a, l, rec.exchange_id);
}

Result<AssuranceInfo> AssuranceBook::ack(const std::string& id) {
  BC_TRY(parse_id(id, "an assurance id"));
  AssuranceInfo info;
  BC_TRY(host_.store().transaction([&](store::ClientStore& db) -> Result<void> {
    BC_ASSIGN_OR_RETURN(auto raw, db.get(kAssurances, id));
    if (!raw) return fail(Errc::kNotFound, "no assurance " + id);
    BC_ASSIGN_OR_RETURN(const Record rec, Record::decode(*raw));
    if (rec.outgoing)
      return fail(Errc::kConflict,
                  "assurance " + id + " is ours: the counterparty acknowledges it");
    BC_ASSIGN_OR_RETURN(const protocol::Assurance a, protocol::Assurance::decode(rec.document));
    const auto now_state = protocol::expire_if_due(rec.lifecycle, a.valid_until_ms, host_.now());
    if (now_state.final()) {
      return fail(Errc::kConflict,
                  "assurance " + id + " is " +
                      std::string(protocol::assurance_state_name(now_state.state)));
    }
    BC_ASSIGN_OR_RETURN(info, change(id, AssuranceState::kAcknowledged));
    const protocol::Acknowledgement k{a.id, host_.now()};
    return host_.send(
        rec.alias, AssuranceMessage{AssuranceMessageType::kAcknowledgement, k.encode()}.encode());
  }));
  BC_TRY(host_.flush());
  return info;
}

Result<AssuranceInfo> AssuranceBook::withdraw(const std::string& id) {
  BC_TRY(parse_id(id, "an assurance id"));
  AssuranceInfo info;
  BC_TRY(host_.store().transaction([&](store::ClientStore& db) -> Result<void> {
    BC_ASSIGN_OR_RETURN(auto raw, db.get(kAssurances, id));
    if (!raw) return fail(Errc::kNotFound, "no assurance " + id);
    BC_ASSIGN_OR_RETURN(Record rec, Record::decode(*raw));
    if (!rec.outgoing) return fail(Errc::kConflict, "only its issuer can withdraw assurance " + id);
    BC_ASSIGN_OR_RETURN(const protocol::Assurance a, protocol::Assurance::decode(rec.document));
    const auto now_state = protocol::expire_if_due(rec.lifecycle, a.valid_until_ms, host_.now());
    if (now_state.final()) {
      return fail(Errc::kConflict,
                  "assurance " + id + " is already " +
                      std::string(protocol::assurance_state_name(now_state.state)));
    }
    BC_ASSIGN_OR_RETURN(const protocol::IdentityKeyPair me, host_.identity());
    protocol::Withdrawal w;
    w.assurance_id = a.id;
    w.mode = a.mode;
    w.issuer = me.public_key();
    w.withdrawn_at_ms = host_.now();
    if (w.mode == protocol::AssuranceMode::kBinding) {
      BC_TRY(protocol::sign_withdrawal(w, me, host_.rng()));
    }
    BC_ASSIGN_OR_RETURN(const Bytes body, w.encode());
    Record changed;
    BC_ASSIGN_OR_RETURN(info, change(id, AssuranceState::kWithdrawn, &changed));
    changed.withdrawal = body;
    BC_TRY(db.put(kAssurances, id, changed.encode()));
    return host_.send(rec.alias,
                      AssuranceMessage{AssuranceMessageType::kWithdrawal, body}.encode());
  }));
  BC_TRY(host_.flush());
  return info;
}

Result<void> AssuranceBook::receive(const std::string& alias, ByteView doc,
                                    const std::string& exchange_id, std::vector<Event>& events,
                                    bool& accepted) {
  auto warn = [&](const std::string& text) {
    events.push_back(event(EventKind::kWarning, alias, text));
    return ok();
  };
  BC_ASSIGN_OR_RETURN(const AssurancePeer peer, host_.peer(alias));
  BC_ASSIGN_OR_RETURN(const protocol::IdentityKeyPair me, host_.identity());
  store::ClientStore& db = host_.store();
  auto a = protocol::Assurance::decode(doc);
  if (!a) return warn("a malformed assurance from " + alias + " was ignored: " + a.error().detail);
  // The session authenticates the sender; the document must name the same two parties.
  if (!(a->issuer == peer.identity) || !(a->counterparty == me.public_key())) {
    return warn("an assurance from " + alias + " names other parties; ignored");
  }
  if (a->mode == protocol::AssuranceMode::kBinding && !protocol::verify_assurance(*a)) {
    return warn("a binding assurance from " + alias + " has a bad signature; ignored");
  }
  const std::string id = to_hex(a->id);
  BC_ASSIGN_OR_RETURN(auto existing, db.get(kAssurances, id));
  if (existing) return ok();
  accepted = true;
  Record rec;
  rec.alias = alias;
  rec.document = to_bytes(doc);
  rec.lifecycle = protocol::Lifecycle::start(AssuranceState::kDelivered, host_.now());
  rec.exchange_id = exchange_id;
  BC_TRY(db.put(kAssurances, id, rec.encode()));
  Event e = event(EventKind::kAssurance, alias,
                  std::string(protocol::assurance_mode_name(a->mode)) + " assurance from " + alias +
                      (exchange_id.empty() ? "" : " (released from escrow)") + ": \"" +
                      a->statement + "\"");
  e.assurance = to_info(alias, false, *a, rec.lifecycle, exchange_id);
  events.push_back(std::move(e));
  if (!a->reciprocates) return ok();
  // It answers one of ours: that one is now reciprocated.
  const std::string answered = to_hex(*a->reciprocates);
  BC_ASSIGN_OR_RETURN(auto mine, db.get(kAssurances, answered));
  if (!mine) return ok();
  BC_ASSIGN_OR_RETURN(const Record ours, Record::decode(*mine));
  if (!ours.outgoing || ours.alias != alias) return ok();
  auto moved = change(answered, AssuranceState::kReciprocated);
  if (!moved) return ok();  // withdrawn or expired meanwhile: it stays so
  Event r = event(EventKind::kAssurance, alias, alias + " reciprocated your assurance " + answered);
  r.assurance = std::move(*moved);
  events.push_back(std::move(r));
  return ok();
}

Result<void> AssuranceBook::on_payload(const std::string& alias, ByteView body, ByteView envelope,
                                       std::vector<Event>& events) {
  auto warn = [&](const std::string& text) {
    events.push_back(event(EventKind::kWarning, alias, text));
    return ok();
  };
  auto m = AssuranceMessage::decode(body);
  if (!m) return warn("a malformed assurance message from " + alias + " was ignored");
  BC_ASSIGN_OR_RETURN(const AssurancePeer peer, host_.peer(alias));
  store::ClientStore& db = host_.store();
  switch (m->type) {
    case AssuranceMessageType::kAssurance: {
      bool accepted = false;
      return receive(alias, m->body, "", events, accepted);
    }
    case AssuranceMessageType::kAcknowledgement: {
      auto k = protocol::Acknowledgement::decode(m->body);
      if (!k) return warn("a malformed acknowledgement from " + alias + " was ignored");
      const std::string id = to_hex(k->assurance_id);
      BC_ASSIGN_OR_RETURN(auto raw, db.get(kAssurances, id));
      if (!raw) return ok();
      BC_ASSIGN_OR_RETURN(const Record rec, Record::decode(*raw));
      if (!rec.outgoing || rec.alias != alias) return ok();
      auto moved = change(id, AssuranceState::kAcknowledged);
      if (!moved) return ok();  // already further along (reciprocated, withdrawn, expired)
      Event e = event(EventKind::kAssurance, alias, alias + " acknowledged your assurance " + id);
      e.assurance = std::move(*moved);
      events.push_back(std::move(e));
      return ok();
    }
    case AssuranceMessageType::kWithdrawal: {
      auto w = protocol::Withdrawal::decode(m->body);
      if (!w) return warn("a malformed withdrawal from " + alias + " was ignored");
      const std::string id = to_hex(w->assurance_id);
      BC_ASSIGN_OR_RETURN(auto raw, db.get(kAssurances, id));
      if (!raw) return ok();
      BC_ASSIGN_OR_RETURN(const Record rec, Record::decode(*raw));
      if (rec.outgoing || rec.alias != alias) return ok();
      BC_ASSIGN_OR_RETURN(const protocol::Assurance a, protocol::Assurance::decode(rec.document));
      if (!(w->issuer == a.issuer) || w->mode != a.mode) {
        return warn("a withdrawal from " + alias + " does not match assurance " + id + "; ignored");
      }
      if (a.mode == protocol::AssuranceMode::kBinding && !protocol::verify_withdrawal(*w)) {
        return warn("the withdrawal of binding assurance " + id + " has a bad signature; ignored");
      }
      Record changed;
      auto moved = change(id, AssuranceState::kWithdrawn, &changed);
      if (!moved) return ok();
      changed.withdrawal = to_bytes(m->body);
      BC_TRY(db.put(kAssurances, id, changed.encode()));
      Event e = event(EventKind::kAssurance, alias, alias + " withdrew assurance " + id);
      e.assurance = std::move(*moved);
      events.push_back(std::move(e));
      return ok();
    }
    case AssuranceMessageType::kEscrowInvitation:
      return on_escrow_invitation(alias, peer, m->body, events);
    case AssuranceMessageType::kEscrowDeposit:
      return on_escrow_deposit(alias, m->body, envelope, events);
  }
  return ok();
}

Result<void> AssuranceBook::after_sync(std::vector<Event>& events) {
  BC_ASSIGN_OR_RETURN(const bool flushed, host_.outbox_empty());
  return host_.store().transaction([&](store::ClientStore& db) -> Result<void> {
    BC_ASSIGN_OR_RETURN(auto rows, db.list(kAssurances));
    for (auto& [id, raw] : rows) {
      BC_ASSIGN_OR_RETURN(Record rec, Record::decode(raw));
      BC_ASSIGN_OR_RETURN(const protocol::Assurance a, protocol::Assurance::decode(rec.document));
      protocol::Lifecycle l = rec.lifecycle;
      std::string text;
      if (flushed && rec.outgoing && rec.exchange_id.empty() &&
          l.state == AssuranceState::kProposed) {
        auto d = protocol::transition(l, AssuranceState::kDelivered, host_.now());
        if (d) l = *d;
      }
      const auto expired = protocol::expire_if_due(l, a.valid_until_ms, host_.now());
      if (expired.state != l.state) text = "assurance " + id + " expired";
      l = expired;
      if (l == rec.lifecycle) continue;
      rec.lifecycle = l;
      BC_TRY(db.put(kAssurances, id, rec.encode()));
      if (text.empty()) continue;  // a delivery we made ourselves is not news
      Event e = event(EventKind::kAssurance, rec.alias, text);
      e.assurance = to_info(rec.alias, rec.outgoing, a, l, rec.exchange_id);
      events.push_back(std::move(e));
    }
    return ok();
  });
}

// ---- escrowed exchanges ----

namespace {

// utc_time renders a timestamp (ms since the epoch) as UTC, to the second.
std::string utc_time(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Result<AssuranceBook::Escrow> AssuranceBook::load_escrow(const std::string& exchange_id) {
  auto raw_id = from_hex(exchange_id);
  if (!raw_id || raw_id->size() != protocol::kExchangeIdSize) {
    return fail(Errc::kMalformed, "an exchange id is 32 hex digits");
  }
  BC_ASSIGN_OR_RETURN(auto raw, host_.store().get(kEscrows, exchange_id));
  if (!raw) return fail(Errc::kNotFound, "no escrowed exchange " + exchange_id);
  return Escrow::decode(*raw);
}

Result<EscrowInfo> AssuranceBook::escrow_open(const std::string& alias,
                                              std::int64_t deadline_in_ms) {
  if (deadline_in_ms <= 0) return fail(Errc::kMalformed, "the deadline must be in the future");
  BC_ASSIGN_OR_RETURN(const AssurancePeer peer, host_.peer(alias));
  if (peer.identity_changed) {
    return fail(Errc::kUntrustedIdentity, "the identity key of " + alias + " changed");
  }
  // The relay releases each deposit into the other's queue: both queues must be on it.
  if (peer.our_relay_url.empty() || peer.our_relay_url != peer.relay_url) {
    return fail(Errc::kConflict,
                "an escrowed exchange needs both of our queues with " + alias + " on one relay");
  }
  Escrow x;
  x.alias = alias;
  x.opener = true;
  x.deadline_ms = host_.now() + deadline_in_ms;
  x.relay_url = peer.relay_url;
  x.fingerprint = peer.relay_fingerprint;
  x.state = "open";
  BC_ASSIGN_OR_RETURN(auto l, host_.link(x.relay_url, x.fingerprint));
  BC_ASSIGN_OR_RETURN(const wire::EscrowOpened opened,
                      l->escrow_open(x.deadline_ms, peer.our_queue, peer.their_queue));
  x.relay_key = to_bytes(l->relay_key());
  l->close();
  x.exchange_id = opened.exchange_id;
  x.token = opened.token_a;
  protocol::EscrowInvitation inv;
  inv.exchange_id = opened.exchange_id;
  inv.token = opened.token_b;
  inv.deadline_ms = x.deadline_ms;
  inv.relay_url = x.relay_url;
  inv.relay_certificate_sha256 = x.fingerprint;
  BC_ASSIGN_OR_RETURN(const Bytes body, inv.encode());
  BC_TRY(host_.store().transaction([&](store::ClientStore& db) -> Result<void> {
    BC_TRY(db.put(kEscrows, to_hex(x.exchange_id), x.encode()));
    return host_.send(alias,
                      AssuranceMessage{AssuranceMessageType::kEscrowInvitation, body}.encode());
  }));
  BC_TRY(host_.flush());
  return x.info();
}

Result<void> AssuranceBook::on_escrow_invitation(const std::string& alias,
                                                 const AssurancePeer& peer, ByteView body,
                                                 std::vector<Event>& events) {
  auto inv = protocol::EscrowInvitation::decode(body);
  if (!inv) {
    events.push_back(event(EventKind::kWarning, alias,
                           "a malformed escrow invitation from " + alias + " was ignored"));
    return ok();
  }
  const std::string id = to_hex(inv->exchange_id);
  BC_ASSIGN_OR_RETURN(auto existing, host_.store().get(kEscrows, id));
  if (existing) return ok();
  if (inv->relay_url != peer.relay_url) {
    events.push_back(event(
        EventKind::kWarning, alias,
        "an escrow invitation from " + alias + " names a relay we do not share with it; ignored"));
    return ok();
  }
  Escrow x;
  x.alias = alias;
  x.exchange_id = inv->exchange_id;
  x.token = inv->token;
  x.deadline_ms = inv->deadline_ms;
  x.relay_url = inv->relay_url;
  x.fingerprint = peer.relay_fingerprint;
  x.state = "open";
  BC_TRY(host_.store().put(kEscrows, id, x.encode()));
  Event e =
      event(EventKind::kEscrow, alias,
            alias + " opened escrowed exchange " + id + " (deposit with `assure escrow deposit " +
                id + "`; deadline " + utc_time(x.deadline_ms) + ")");
  e.escrow = x.info();
  events.push_back(std::move(e));
  return ok();
}

Result<EscrowInfo> AssuranceBook::escrow_deposit(const std::string& exchange_id,
                                                 const AssuranceTerms& terms) {
  BC_ASSIGN_OR_RETURN(Escrow x, load_escrow(exchange_id));
  if (x.state != "open") {
    return fail(Errc::kConflict, "exchange " + exchange_id + " is " + x.state);
  }
  if (host_.now() >= x.deadline_ms) {
    return fail(Errc::kConflict, "the deadline of exchange " + exchange_id + " has passed");
  }
  BC_ASSIGN_OR_RETURN(const AssurancePeer peer, host_.peer(x.alias));
  if (terms.reciprocates) {
    return fail(Errc::kMalformed, "an escrowed assurance is reciprocal by the exchange itself");
  }
  // Sealed and recorded in one transaction; the relay gets it after. Should the relay refuse
  // it, the records are taken back (the session's step is simply skipped by the other side).
  Record rec;
  protocol::Assurance a;
  BC_TRY(host_.store().transaction([&](store::ClientStore& db) -> Result<void> {
    BC_ASSIGN_OR_RETURN(a, build(peer, terms));
    protocol::EscrowDeposit d;
    d.exchange_id = x.exchange_id;
    d.assurance = a;
    BC_ASSIGN_OR_RETURN(const Bytes inner, d.encode());
    BC_ASSIGN_OR_RETURN(
        x.own_envelope,
        host_.seal(x.alias,
                   AssuranceMessage{AssuranceMessageType::kEscrowDeposit, inner}.encode()));
    const auto hash = crypto::sha256(x.own_envelope);
    x.own_hash.assign(hash.begin(), hash.end());
    x.own_assurance = to_hex(a.id);
    BC_ASSIGN_OR_RETURN(rec.document, a.encode());
    rec.alias = x.alias;
    rec.outgoing = true;
    rec.exchange_id = exchange_id;
    rec.lifecycle = protocol::Lifecycle::start(AssuranceState::kProposed, host_.now());
    BC_TRY(db.put(kAssurances, x.own_assurance, rec.encode()));
    return db.put(kEscrows, exchange_id, x.encode());
  }));
  auto deposited = [&]() -> Result<wire::EscrowHash> {
    BC_ASSIGN_OR_RETURN(auto l, host_.link(x.relay_url, x.fingerprint));
    BC_ASSIGN_OR_RETURN(const wire::EscrowHash h,
                        l->escrow_deposit(x.exchange_id, x.token, x.own_envelope));
    x.relay_key = to_bytes(l->relay_key());
    l->close();
    return h;
  }();
  if (!deposited) {
    BC_TRY(host_.store().transaction([&](store::ClientStore& db) -> Result<void> {
      BC_TRY(db.erase(kAssurances, x.own_assurance));
      x.own_assurance.clear();
      x.own_envelope.clear();
      x.own_hash.clear();
      return db.put(kEscrows, exchange_id, x.encode());
    }));
    return fail(std::move(deposited).error());
  }
  x.state = "deposited";
  std::vector<Event> ignored;
  if (!ct_equal(*deposited, x.own_hash)) {
    BC_TRY(host_.store().transaction([&](store::ClientStore&) -> Result<void> {
      return dispute(x, "escrow_mismatch",
                     "the relay acknowledged our deposit with the hash of another envelope",
                     ignored);
    }));
    return x.info();
  }
  BC_TRY(host_.store().put(kEscrows, exchange_id, x.encode()));
  return x.info();
}

Result<EscrowInfo> AssuranceBook::escrow_cancel(const std::string& exchange_id) {
  BC_ASSIGN_OR_RETURN(Escrow x, load_escrow(exchange_id));
  if (x.state != "open" && x.state != "deposited") {
    return fail(Errc::kConflict, "exchange " + exchange_id + " is " + x.state);
  }
  BC_ASSIGN_OR_RETURN(auto l, host_.link(x.relay_url, x.fingerprint));
  BC_TRY(l->escrow_cancel(x.exchange_id, x.token));
  l->close();
  BC_TRY(host_.store().transaction([&](store::ClientStore& db) -> Result<void> {
    if (!x.own_assurance.empty()) {
      auto moved = change(x.own_assurance, AssuranceState::kWithdrawn);
      if (!moved && moved.error().code != Errc::kConflict) return fail(std::move(moved).error());
    }
    x.state = "cancelled";
    return db.put(kEscrows, exchange_id, x.encode());
  }));
  return x.info();
}

Result<std::vector<EscrowInfo>> AssuranceBook::escrows() {
  BC_ASSIGN_OR_RETURN(auto rows, host_.store().list(kEscrows));
  std::vector<EscrowInfo> out;
  for (auto& [id, raw] : rows) {
    BC_ASSIGN_OR_RETURN(const Escrow x, Escrow::decode(raw));
    out.push_back(x.info());
  }
  return out;
}

Result<void> AssuranceBook::dispute(Escrow& x, const std::string& code, const std::string& problem,
                                    std::vector<Event>& events) {
  x.state = "disputed";
  x.problem = problem;
  BC_TRY(host_.store().put(kEscrows, to_hex(x.exchange_id), x.encode()));
  const std::string id = to_hex(x.exchange_id);
  BC_TRY(host_.alert(code, x.alias,
                     "escrowed exchange " + id + ": " + problem +
                         "; the relay's certificate is kept as proof (`assure export " + id + "`)",
                     events));
  Event e =
      event(EventKind::kEscrow, x.alias, "escrowed exchange " + id + " is disputed: " + problem);
  e.escrow = x.info();
  events.push_back(std::move(e));
  return ok();
}

Result<void> AssuranceBook::on_escrow_deposit(const std::string& alias, ByteView body,
                                              ByteView envelope, std::vector<Event>& events) {
  auto d = protocol::EscrowDeposit::decode(body);
  if (!d) {
    events.push_back(event(EventKind::kWarning, alias,
                           "a malformed escrowed deposit from " + alias + " was ignored"));
    return ok();
  }
  const std::string id = to_hex(d->exchange_id);
  BC_ASSIGN_OR_RETURN(auto raw, host_.store().get(kEscrows, id));
  if (!raw) {
    return host_.alert(
        "escrow_unknown", alias,
        "a deposit for an escrowed exchange we do not know (" + id + ") arrived from " + alias,
        events);
  }
  BC_ASSIGN_OR_RETURN(Escrow x, Escrow::decode(*raw));
  if (x.alias != alias) {
    return host_.alert(
        "escrow_unknown", alias,
        "a deposit for exchange " + id + " arrived from " + alias + ", who is not its counterparty",
        events);
  }
  if (!x.received_hash.empty()) return ok();  // already have it
  bool accepted = false;
  BC_TRY(receive(alias, d->assurance.encode().value_or(Bytes{}), id, events, accepted));
  if (!accepted) return ok();
  const auto hash = crypto::sha256(envelope);
  x.received_hash.assign(hash.begin(), hash.end());
  x.received_envelope = to_bytes(envelope);
  x.received_assurance = to_hex(d->assurance.id);
  if (x.own_hash.empty() || x.state == "cancelled") {
    // An honest relay releases nothing before both deposits are in.
    return dispute(x, "escrow_early_release",
                   "the relay released " + alias + "'s deposit although we had not deposited",
                   events);
  }
  if (!x.certificate.empty()) return settle(x, events);
  return host_.store().put(kEscrows, id, x.encode());
}

// settle checks a released exchange: certificate against the relay's key, our deposit's hash,
// and the deposit we received, then records the outcome.
Result<void> AssuranceBook::settle(Escrow& x, std::vector<Event>& events) {
  const std::string id = to_hex(x.exchange_id);
  auto cert = protocol::decode_release_certificate(x.certificate);
  auto key = crypto::Ed25519PublicKey::from_bytes(x.relay_key);
  if (!cert || !key || !protocol::verify_release_certificate(*key, *cert) ||
      cert->exchange_id != x.exchange_id || cert->deadline_ms != x.deadline_ms) {
    return dispute(x, "escrow_bad_certificate",
                   "the relay's release certificate does not verify with its signing key", events);
  }
  x.released_ms = cert->release_time_ms;
  const auto& own = x.opener ? cert->hash_a : cert->hash_b;
  const auto& other = x.opener ? cert->hash_b : cert->hash_a;
  if (!ct_equal(own, x.own_hash)) {
    return dispute(x, "escrow_mismatch",
                   "the certificate names another deposit of ours than the one we made", events);
  }
  if (x.received_hash.empty()) {
    if (!x.recheck) {
      x.recheck = true;  // released: our copy should be in our queue; receive once more
      return host_.store().put(kEscrows, id, x.encode());
    }
    return dispute(
        x, "escrow_withheld",
        "the relay certified the release of " + x.alias + "'s deposit but did not deliver it",
        events);
  }
  if (!ct_equal(other, x.received_hash)) {
    return dispute(
        x, "escrow_mismatch",
        "the deposit we received from " + x.alias + " is not the one the relay certified", events);
  }
  x.state = "released";
  x.recheck = false;
  BC_TRY(host_.store().put(kEscrows, id, x.encode()));
  auto moved = change(x.own_assurance, AssuranceState::kDelivered);
  if (!moved && moved.error().code != Errc::kConflict) return fail(std::move(moved).error());
  Event e = event(EventKind::kEscrow, x.alias,
                  "escrowed exchange " + id + " with " + x.alias +
                      " released both assurances at once (at " + utc_time(x.released_ms) +
                      "); the certificate checks");
  e.escrow = x.info();
  events.push_back(std::move(e));
  return ok();
}

Result<void> AssuranceBook::poll_escrows(std::vector<Event>& events, bool& again) {
  BC_ASSIGN_OR_RETURN(auto rows, host_.store().list(kEscrows));
  std::map<std::string, std::unique_ptr<RelayLink>> links;
  for (auto& [id, raw] : rows) {
    BC_ASSIGN_OR_RETURN(Escrow x, Escrow::decode(raw));
    if (x.state != "open" && x.state != "deposited") continue;
    auto& l = links[x.relay_url];
    if (!l) {
      BC_ASSIGN_OR_RETURN(l, host_.link(x.relay_url, x.fingerprint));
    }
    BC_ASSIGN_OR_RETURN(const wire::EscrowState st, l->escrow_status(x.exchange_id, x.token));
    BC_TRY(host_.store().transaction([&](store::ClientStore& db) -> Result<void> {
      BC_ASSIGN_OR_RETURN(auto fresh, db.get(kEscrows, id));  // a delivery may have updated it
      if (fresh) {
        BC_ASSIGN_OR_RETURN(x, Escrow::decode(*fresh));
      }
      if (st.phase == wire::EscrowPhase::kExpired) {
        x.state = "expired";
        BC_TRY(db.put(kEscrows, id, x.encode()));
        if (!x.own_assurance.empty()) {
          auto moved = change(x.own_assurance, AssuranceState::kExpired);
          if (!moved && moved.error().code != Errc::kConflict)
            return fail(std::move(moved).error());
        }
        Event e = event(EventKind::kEscrow, x.alias,
                        "escrowed exchange " + id + " with " + x.alias +
                            " expired: the relay released nothing and deleted what it held");
        e.escrow = x.info();
        events.push_back(std::move(e));
        return ok();
      }
      if (st.phase != wire::EscrowPhase::kReleased || !st.certificate) return ok();
      x.certificate = to_bytes(*st.certificate);
      if (x.relay_key.empty()) x.relay_key = to_bytes(l->relay_key());
      BC_TRY(settle(x, events));
      if (x.recheck && x.state != "disputed") again = true;
      return ok();
    }));
  }
  for (auto& [url, l] : links) l->close();
  return ok();
}

Result<std::string> AssuranceBook::export_to(const std::string& id, const std::string& path) {
  RecordWriter w;
  std::string kind;
  BC_ASSIGN_OR_RETURN(auto escrow_raw, host_.store().get(kEscrows, id));
  if (escrow_raw) {
    BC_ASSIGN_OR_RETURN(const Escrow x, Escrow::decode(*escrow_raw));
    if (x.certificate.empty()) {
      return fail(Errc::kConflict,
                  "exchange " + id + " has no release certificate (it is " + x.state + ")");
    }
    Bytes own_doc;
    Bytes received_doc;
    for (const auto& [aid, doc] :
         {std::pair{x.own_assurance, &own_doc}, std::pair{x.received_assurance, &received_doc}}) {
      if (aid.empty()) continue;
      BC_ASSIGN_OR_RETURN(auto raw, host_.store().get(kAssurances, aid));
      if (!raw) continue;
      BC_ASSIGN_OR_RETURN(const Record rec, Record::decode(*raw));
      *doc = rec.document;
    }
    w.u8(kExportRelease).str(x.relay_url).bytes(x.relay_key).bytes(x.certificate);
    w.boolean(x.opener).bytes(x.own_envelope).bytes(x.received_envelope);
    w.bytes(own_doc).bytes(received_doc);
    kind = "release";
  } else {
    BC_TRY(parse_id(id, "an assurance or exchange id"));
    BC_ASSIGN_OR_RETURN(auto raw, host_.store().get(kAssurances, id));
    if (!raw) return fail(Errc::kNotFound, "no assurance or exchange " + id);
    BC_ASSIGN_OR_RETURN(const Record rec, Record::decode(*raw));
    w.u8(kExportAssurance).bytes(rec.document).bytes(rec.withdrawal);
    kind = "assurance";
  }
  Bytes content = to_bytes(as_bytes(kExportMagic));
  content.push_back(kExportVersion);
  append(content, w.view());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << armor(kArmorLabel, content);
  out.close();
  if (!out) return fail(Errc::kUnavailable, "cannot write " + path);
  return kind;
}

namespace {

// verify_release checks an exported release certificate and what came with it.
Result<VerifiedExport> verify_release(RecordReader& r) {
  VerifiedExport v;
  v.kind = "release";
  EscrowInfo x;
  x.relay_url = r.str(256);
  const Bytes key = r.bytes(32);
  const Bytes cert_bytes = r.bytes(1024);
  const bool opener = r.boolean();
  const Bytes own_envelope = r.bytes(1 << 17);
  const Bytes received_envelope = r.bytes(1 << 17);
  const Bytes own_doc = r.bytes(64 * 1024);
  const Bytes received_doc = r.bytes(64 * 1024);
  BC_TRY(r.finish("export"));
  BC_ASSIGN_OR_RETURN(const crypto::Ed25519PublicKey relay_key,
                      crypto::Ed25519PublicKey::from_bytes(key));
  BC_ASSIGN_OR_RETURN(const protocol::ReleaseCertificate cert,
                      protocol::decode_release_certificate(cert_bytes));
  BC_TRY(protocol::verify_release_certificate(relay_key, cert));
  v.relay_signing_key_hex = to_hex(key);
  x.exchange_id = to_hex(cert.exchange_id);
  x.role = opener ? "opener" : "counterparty";
  x.deadline_ms = cert.deadline_ms;
  x.released_ms = cert.release_time_ms;
  x.state = "released";
  v.findings.push_back("the release certificate of exchange " + x.exchange_id +
                       " is signed by relay key " + v.relay_signing_key_hex + " (released at " +
                       utc_time(cert.release_time_ms) + ", deadline " + utc_time(cert.deadline_ms) +
                       ")");
  const auto& own = opener ? cert.hash_a : cert.hash_b;
  const auto& other = opener ? cert.hash_b : cert.hash_a;
  const auto own_hash = crypto::sha256(own_envelope);
  x.own_deposit_sha256 = to_hex(own_hash);
  if (own_envelope.empty() || !ct_equal(own_hash, own)) {
    v.relay_fault = true;
    v.findings.push_back(
        "RELAY FAULT: the certificate names another deposit of the exporter than the one it made");
  } else {
    v.findings.push_back("the exporter's deposit is the one certified");
  }
  if (received_envelope.empty()) {
    v.relay_fault = true;
    v.findings.push_back(
        "RELAY FAULT: the relay certified a release but the exporter received no deposit");
  } else {
    const auto got = crypto::sha256(received_envelope);
    x.received_deposit_sha256 = to_hex(got);
    if (!ct_equal(got, other)) {
      v.relay_fault = true;
      v.findings.push_back(
          "RELAY FAULT: the deposit the exporter received is not the one the relay certified");
    } else {
      v.findings.push_back("the deposit the exporter received is the one certified");
    }
  }
  if (v.relay_fault) x.state = "disputed";
  for (const Bytes* doc : {&own_doc, &received_doc}) {
    if (doc->empty()) continue;
    auto a = protocol::Assurance::decode(*doc);
    if (!a) return fail(Errc::kMalformed, "an exported assurance is damaged");
    protocol::Lifecycle l;
    AssuranceInfo info = to_info("", doc == &own_doc, *a, l, x.exchange_id);
    info.state.clear();
    info.history.clear();
    if (a->mode == protocol::AssuranceMode::kBinding) {
      BC_TRY(protocol::verify_assurance(*a));
      v.findings.push_back("binding assurance " + info.id + " is signed by its issuer " +
                           info.issuer_key_hex);
    } else {
      v.findings.push_back("assurance " + info.id +
                           " is deniable: it shows what was exchanged but proves nothing");
    }
    v.released.push_back(std::move(info));
  }
  v.escrow = std::move(x);
  return v;
}

}  // namespace

Result<VerifiedExport> AssuranceBook::verify_file(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return fail(Errc::kNotFound, "cannot read " + path + ": " + ec.message());
  if (size > kMaxExportSize) return fail(Errc::kMalformed, "not a Backchannel export (too large)");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  BC_ASSIGN_OR_RETURN(const Bytes content, dearmor(kArmorLabel, text.str(), "export"));
  const std::size_t header = kExportMagic.size() + 1;
  if (content.size() < header + 1 ||
      !std::equal(kExportMagic.begin(), kExportMagic.end(), content.begin())) {
    return fail(Errc::kMalformed, "not a Backchannel export");
  }
  if (content[kExportMagic.size()] != kExportVersion) {
    return fail(Errc::kUnsupportedVersion,
                "export version " + std::to_string(content[kExportMagic.size()]));
  }
  RecordReader r(ByteView(content).subspan(header));
  const std::uint8_t kind = r.u8();
  if (kind == kExportRelease) return verify_release(r);
  if (kind != kExportAssurance) return fail(Errc::kMalformed, "unknown export kind");
  const Bytes doc = r.bytes(64 * 1024);
  const Bytes withdrawal = r.bytes(1024);
  BC_TRY(r.finish("export"));
  auto a = protocol::Assurance::decode(doc);
  if (!a) return fail(Errc::kMalformed, "the exported assurance is damaged: " + a.error().detail);
  VerifiedExport v;
  v.kind = "assurance";
  protocol::Lifecycle l = protocol::Lifecycle::start(AssuranceState::kDelivered, a->valid_from_ms);
  v.assurance = to_info("", false, *a, l, "");
  v.assurance->state.clear();
  v.assurance->history.clear();
  BC_TRY(protocol::verify_assurance(*a));
  v.findings.push_back("signature by issuer " + to_hex(a->issuer.serialize()) + " verifies");
  if (!withdrawal.empty()) {
    auto w = protocol::Withdrawal::decode(withdrawal);
    if (!w || !(w->issuer == a->issuer) || w->assurance_id != a->id) {
      return fail(Errc::kMalformed, "the exported withdrawal is damaged");
    }
    BC_TRY(protocol::verify_withdrawal(*w));
    v.assurance->state = "withdrawn";
    v.findings.push_back("withdrawn by its issuer (signed) at " + utc_time(w->withdrawn_at_ms));
  }
  return v;
}

}  // namespace bc::client
