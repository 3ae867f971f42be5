// EscrowService: see escrow_service.hpp and docs/relay-protocol.md ("Escrow").
#include "relay/escrow_service.hpp"

#include <algorithm>

#include "crypto/hash.hpp"
#include "protocol/escrow_certificate.hpp"

namespace bc::relay {
namespace {

using store::EscrowPhase;
using store::EscrowRecord;
using wire::RelayErrorCode;

static_assert(wire::kEscrowCertificateSize == protocol::kReleaseCertificateSize);
static_assert(wire::kExchangeIdSize == store::kEscrowIdSize);
static_assert(wire::kExchangeIdSize == protocol::kExchangeIdBytes);

EscrowOutcome refuse(RelayErrorCode code) { return EscrowOutcome{wire::ErrorReply{code}, {}}; }

// doomed tells whether a store error ends the transaction (anything but a logical refusal).
bool doomed(const Error& e) {
  return e.code == Errc::kUnavailable || e.code == Errc::kInternal || e.code == Errc::kMalformed;
}

store::EscrowTokenHash token_hash(const wire::EscrowToken& token) { return crypto::sha256(token); }

// closed tells whether an exchange takes no more deposits or cancellations: released, expired,
// or open but past its deadline by the relay's clock (the purge tick has not run yet).
bool closed(const EscrowRecord& e, std::int64_t now_ms) {
  return e.phase != EscrowPhase::kOpen || now_ms >= e.deadline_ms;
}

}  // namespace

EscrowService::EscrowService(const EscrowLimits& limits,
                             const crypto::Ed25519PrivateKey& signing_key, RandomFill random,
                             std::uint64_t held)
    : limits_(limits), signing_key_(signing_key), random_(std::move(random)), held_(held) {}

void EscrowService::begin_batch() {
  batch_opened_ = 0;
  batch_forgotten_ = 0;
  batch_released_ = 0;
  batch_expired_ = 0;
}

void EscrowService::commit_batch() {
  const std::uint64_t held = held_.load() + batch_opened_;
  held_.store(held - std::min(held, batch_forgotten_));
  released_total_.fetch_add(batch_released_);
  expired_total_.fetch_add(batch_expired_);
  begin_batch();
}

Result<std::optional<std::pair<EscrowRecord, EscrowService::Side>>> EscrowService::authorize(
    store::RelayStoreTxn& txn, const wire::ExchangeId& id, const wire::EscrowToken& token) {
  using Found = std::optional<std::pair<EscrowRecord, Side>>;
  Result<EscrowRecord> record = txn.find_escrow(id);
  if (!record) {
    if (doomed(record.error())) return fail(std::move(record).error());
    return Found{};
  }
  // Comparing SHA-256 digests: a timing difference tells nothing usable about the token itself.
  const store::EscrowTokenHash h = token_hash(token);
  if (h == record->token_hash_a) return Found{{std::move(record).value(), Side::kA}};
  if (h == record->token_hash_b) return Found{{std::move(record).value(), Side::kB}};
  return Found{};
}

Result<EscrowOutcome> EscrowService::open(store::RelayStoreTxn& txn, const wire::EscrowOpen& m,
                                          std::int64_t now_ms) {
  if (m.deadline_ms <= now_ms || m.deadline_ms - now_ms > limits_.max_deadline_ms) {
    return refuse(RelayErrorCode::kEscrowBadDeadline);
  }
  if (m.queue_a == m.queue_b) return refuse(RelayErrorCode::kEscrowSameQueue);
  if (held_.load() + batch_opened_ >= limits_.max_escrows) {
    return refuse(RelayErrorCode::kRelayFull);
  }
  for (const wire::QueueId& q : {m.queue_a, m.queue_b}) {
    Result<store::RelayQueueRecord> found = txn.find_queue_by_sender(q);
    if (!found) {
      if (doomed(found.error())) return fail(std::move(found).error());
      return refuse(RelayErrorCode::kNotFound);
    }
  }
  EscrowRecord record;
  wire::EscrowOpened reply;
  random_(reply.exchange_id);
  random_(reply.token_a);
  random_(reply.token_b);
  record.exchange_id = reply.exchange_id;
  record.deadline_ms = m.deadline_ms;
  record.queue_a = m.queue_a;
  record.queue_b = m.queue_b;
  record.token_hash_a = token_hash(reply.token_a);
  record.token_hash_b = token_hash(reply.token_b);
  record.created_ms = now_ms;
  if (Result<void> r = txn.create_escrow(record); !r) {
    if (doomed(r.error())) return fail(std::move(r).error());
    return refuse(RelayErrorCode::kConflict);
  }
  ++batch_opened_;
  return EscrowOutcome{reply, {}};
}

Result<EscrowOutcome> EscrowService::deposit(store::RelayStoreTxn& txn,
                                             const wire::EscrowDeposit& m, std::int64_t now_ms) {
  BC_ASSIGN_OR_RETURN(auto found, authorize(txn, m.exchange_id, m.token));
  if (!found) return refuse(RelayErrorCode::kNotFound);
  auto& [record, side] = *found;
  if (closed(record, now_ms)) return refuse(RelayErrorCode::kEscrowClosed);
  std::optional<Bytes>& own = side == Side::kA ? record.deposit_a : record.deposit_b;
  const std::optional<Bytes>& other = side == Side::kA ? record.deposit_b : record.deposit_a;
  if (own) return refuse(RelayErrorCode::kEscrowDuplicate);
  own = m.envelope;
  if (!other) {
    BC_TRY(txn.update_escrow(record));
    return EscrowOutcome{wire::EscrowDeposited{crypto::sha256(m.envelope)}, {}};
  }
  return release(txn, std::move(record), now_ms, crypto::sha256(m.envelope));
}

// release puts each deposit into the other side's queue exactly as a deposit would be stored
// (append_envelope: a message id, the relay's receive time, the queue's quota, the signed
// receipt), stores the signed certificate and drops the deposits, all in the caller's transaction.
// It checks both queues before appending anything, so a refusal (a queue gone or full) leaves
// everything as it was and the second deposit is simply not taken.
Result<EscrowOutcome> EscrowService::release(store::RelayStoreTxn& txn, EscrowRecord record,
                                             std::int64_t now_ms,
                                             const wire::EscrowHash& depositor_hash) {
  struct Leg {
    const wire::QueueId* sender_id;
    const Bytes* body;
  };
  const std::array<Leg, 2> legs = {Leg{&record.queue_b, &*record.deposit_a},
                                   Leg{&record.queue_a, &*record.deposit_b}};
  for (const Leg& leg : legs) {
    Result<store::RelayQueueRecord> q = txn.find_queue_by_sender(*leg.sender_id);
    if (!q) {
      if (doomed(q.error())) return fail(std::move(q).error());
      return refuse(RelayErrorCode::kNotFound);
    }
    BC_ASSIGN_OR_RETURN(store::RelayUsage usage, txn.queue_usage(q->recipient_id));
    if (usage.envelopes + 1 > q->max_messages || usage.bytes + leg.body->size() > q->max_bytes) {
      return refuse(RelayErrorCode::kQueueFull);
    }
  }

  protocol::ReleaseCertificate cert;
  cert.exchange_id = record.exchange_id;
  cert.deadline_ms = record.deadline_ms;
  cert.hash_a = crypto::sha256(*record.deposit_a);
  cert.hash_b = crypto::sha256(*record.deposit_b);
  cert.release_time_ms = now_ms;
  BC_ASSIGN_OR_RETURN(cert, protocol::sign_release_certificate(cert, signing_key_));
  BC_ASSIGN_OR_RETURN(Bytes cert_bytes, protocol::encode_release_certificate(cert));

  EscrowOutcome out;
  for (const Leg& leg : legs) {
    // Both queues were checked above; a refusal now would leave one leg appended, so it dooms
    // the transaction instead (nothing of it is kept).
    Result<store::AppendedEnvelope> appended =
        txn.append_envelope(*leg.sender_id, *leg.body, now_ms);
    if (!appended) {
      if (doomed(appended.error())) return fail(std::move(appended).error());
      return fail(Errc::kInternal, "escrow release: a checked queue refused the envelope");
    }
    out.released.push_back(EscrowRelease{
        *leg.sender_id, appended->recipient_id, appended->message_id, now_ms, *leg.body, {}});
  }
  out.reply = wire::EscrowDeposited{depositor_hash};
  record.phase = EscrowPhase::kReleased;
  record.deposit_a.reset();
  record.deposit_b.reset();
  record.certificate = std::move(cert_bytes);
  BC_TRY(txn.update_escrow(record));
  ++batch_released_;
  return out;
}

Result<EscrowOutcome> EscrowService::cancel(store::RelayStoreTxn& txn, const wire::EscrowCancel& m,
                                            std::int64_t now_ms) {
  BC_ASSIGN_OR_RETURN(auto found, authorize(txn, m.exchange_id, m.token));
  if (!found) return refuse(RelayErrorCode::kNotFound);
  auto& [record, side] = *found;
  if (closed(record, now_ms)) return refuse(RelayErrorCode::kEscrowClosed);
  std::optional<Bytes>& own = side == Side::kA ? record.deposit_a : record.deposit_b;
  if (own) {
    own.reset();
    BC_TRY(txn.update_escrow(record));
  }
  return EscrowOutcome{wire::Ok{}, {}};
}

Result<EscrowOutcome> EscrowService::status(store::RelayStoreTxn& txn, const wire::EscrowStatus& m,
                                            std::int64_t now_ms) {
  BC_ASSIGN_OR_RETURN(auto found, authorize(txn, m.exchange_id, m.token));
  if (!found) return refuse(RelayErrorCode::kNotFound);
  const auto& [record, side] = *found;
  wire::EscrowState state;
  if (record.phase == EscrowPhase::kReleased) {
    if (!record.certificate || record.certificate->size() != wire::kEscrowCertificateSize) {
      return fail(Errc::kMalformed, "relay store: a released escrow without its certificate");
    }
    wire::EscrowCertificateBytes cert{};
    std::copy(record.certificate->begin(), record.certificate->end(), cert.begin());
    state = wire::EscrowState{wire::EscrowPhase::kReleased, true, cert};
  } else if (closed(record, now_ms)) {
    // Expired says nothing more: not whether either side had deposited.
    state = wire::EscrowState{wire::EscrowPhase::kExpired, false, std::nullopt};
  } else {
    const bool own = side == Side::kA ? record.deposit_a.has_value() : record.deposit_b.has_value();
    state = wire::EscrowState{wire::EscrowPhase::kOpen, own, std::nullopt};
  }
  return EscrowOutcome{std::move(state), {}};
}

Result<void> EscrowService::purge(store::RelayStoreTxn& txn, std::int64_t now_ms) {
  BC_ASSIGN_OR_RETURN(std::uint64_t expired, txn.expire_escrows(now_ms));
  BC_ASSIGN_OR_RETURN(std::uint64_t forgotten, txn.forget_escrows(now_ms - limits_.retention_ms));
  batch_expired_ += expired;
  batch_forgotten_ += forgotten;
  return ok();
}

}  // namespace bc::relay
