// InMemoryRelayStore: RelayStore in process memory, for tests and fuzzing. A write transaction
// works on a copy of the state that replaces the original only when the callback succeeds.
#include <map>
#include <mutex>

#include "store/relay_store.hpp"

namespace bc::store {
namespace {

struct MemoryQueue {
  RelayQueueRecord record;
  RelayMessageId next_message_id = 1;
  std::map<RelayMessageId, StoredEnvelope> envelopes;
  RelayUsage usage;
  std::optional<StoredBundle> bundle;
};

struct MemoryState {
  std::map<RelayQueueId, MemoryQueue> queues;      // by recipient id
  std::map<RelayQueueId, RelayQueueId> by_sender;  // sender id -> recipient id
  std::map<EscrowId, EscrowRecord> escrows;
};

class MemoryTxn final : public RelayStoreTxn {
 public:
  explicit MemoryTxn(MemoryState& state) : s_(state) {}

  Result<void> create_queue(const RelayQueueRecord& queue) override {
    if (s_.queues.contains(queue.recipient_id) || s_.by_sender.contains(queue.sender_id) ||
        s_.queues.contains(queue.sender_id) || s_.by_sender.contains(queue.recipient_id)) {
      return fail(Errc::kConflict, "queue id already in use");
    }
    MemoryQueue q;
    q.record = queue;
    s_.queues.emplace(queue.recipient_id, std::move(q));
    s_.by_sender.emplace(queue.sender_id, queue.recipient_id);
    return ok();
  }

  Result<RelayQueueRecord> find_queue(const RelayQueueId& recipient_id) override {
    BC_ASSIGN_OR_RETURN(MemoryQueue * q, by_recipient(recipient_id));
    return q->record;
  }

  Result<RelayQueueRecord> find_queue_by_sender(const RelayQueueId& sender_id) override {
    BC_ASSIGN_OR_RETURN(MemoryQueue * q, by_sender(sender_id));
    return q->record;
  }

  Result<RelayUsage> queue_usage(const RelayQueueId& recipient_id) override {
    BC_ASSIGN_OR_RETURN(MemoryQueue * q, by_recipient(recipient_id));
    return q->usage;
  }

  Result<RelayUsage> delete_queue(const RelayQueueId& recipient_id) override {
    BC_ASSIGN_OR_RETURN(MemoryQueue * q, by_recipient(recipient_id));
    RelayUsage usage = q->usage;
    s_.by_sender.erase(q->record.sender_id);
    s_.queues.erase(recipient_id);
    return usage;
  }

  Result<AppendedEnvelope> append_envelope(const RelayQueueId& sender_id, ByteView body,
                                           std::int64_t received_ms) override {
    BC_ASSIGN_OR_RETURN(MemoryQueue * q, by_sender(sender_id));
    if (q->usage.envelopes + 1 > q->record.max_messages ||
        q->usage.bytes + body.size() > q->record.max_bytes) {
      return fail(Errc::kLimitExceeded, "queue full");
    }
    const RelayMessageId id = q->next_message_id++;
    StoredEnvelope envelope{id, received_ms, to_bytes(body)};
    q->envelopes.emplace(id, std::move(envelope));
    q->usage.envelopes += 1;
    q->usage.bytes += body.size();
    return AppendedEnvelope{id, q->record.recipient_id};
  }

  Result<std::vector<StoredEnvelope>> list_envelopes(const RelayQueueId& recipient_id,
                                                     RelayMessageId after,
                                                     std::int64_t min_received_ms,
                                                     std::size_t limit) override {
    BC_ASSIGN_OR_RETURN(MemoryQueue * q, by_recipient(recipient_id));
    std::vector<StoredEnvelope> out;
    for (auto it = q->envelopes.upper_bound(after); it != q->envelopes.end() && out.size() < limit;
         ++it) {
      if (it->second.received_ms >= min_received_ms) out.push_back(it->second);
    }
    return out;
  }

  Result<RelayUsage> delete_envelopes(const RelayQueueId& recipient_id,
                                      std::span<const RelayMessageId> message_ids) override {
    BC_ASSIGN_OR_RETURN(MemoryQueue * q, by_recipient(recipient_id));
    RelayUsage gone;
    for (const RelayMessageId id : message_ids) {
      auto it = q->envelopes.find(id);
      if (it == q->envelopes.end()) continue;
      gone.envelopes += 1;
      gone.bytes += it->second.body.size();
      q->envelopes.erase(it);
    }
    q->usage.envelopes -= gone.envelopes;
    q->usage.bytes -= gone.bytes;
    return gone;
  }

  Result<RelayUsage> purge_expired(std::int64_t before_ms) override {
    RelayUsage gone;
    for (auto& [id, q] : s_.queues) {
      for (auto it = q.envelopes.begin(); it != q.envelopes.end();) {
        if (it->second.received_ms < before_ms) {
          gone.envelopes += 1;
          gone.bytes += it->second.body.size();
          q.usage.envelopes -= 1;
          q.usage.bytes -= it->second.body.size();
          it = q.envelopes.erase(it);
        } else {
          ++it;
        }
      }
    }
    return gone;
  }

  Result<void> put_bundle(const RelayQueueId& recipient_id, const StoredBundle& bundle) override {
    BC_ASSIGN_OR_RETURN(MemoryQueue * q, by_recipient(recipient_id));
    q->bundle = bundle;
    return ok();
  }

  Result<TakenBundle> take_bundle(const RelayQueueId& sender_id) override {
    BC_ASSIGN_OR_RETURN(MemoryQueue * q, by_sender(sender_id));
    if (!q->bundle) return fail(Errc::kNotFound, "no prekey bundle");
    TakenBundle out{q->bundle->identity_key, q->bundle->signed_prekey, std::nullopt};
    auto& keys = q->bundle->one_time_prekeys;
    if (!keys.empty()) {
      out.one_time_prekey = std::move(keys.front());
      keys.erase(keys.begin());
    }
    return out;
  }

  Result<void> create_escrow(const EscrowRecord& escrow) override {
    if (!s_.escrows.emplace(escrow.exchange_id, escrow).second) {
      return fail(Errc::kConflict, "escrow id already in use");
    }
    return ok();
  }

  Result<EscrowRecord> find_escrow(const EscrowId& exchange_id) override {
    auto it = s_.escrows.find(exchange_id);
    if (it == s_.escrows.end()) return fail(Errc::kNotFound, "no such escrow");
    return it->second;
  }

  Result<void> update_escrow(const EscrowRecord& escrow) override {
    auto it = s_.escrows.find(escrow.exchange_id);
    if (it == s_.escrows.end()) return fail(Errc::kNotFound, "no such escrow");
    it->second.phase = escrow.phase;
    it->second.deposit_a = escrow.deposit_a;
    it->second.deposit_b = escrow.deposit_b;
    it->second.certificate = escrow.certificate;
    return ok();
  }

  Result<std::uint64_t> expire_escrows(std::int64_t now_ms) override {
    std::uint64_t n = 0;
    for (auto& [id, e] : s_.escrows) {
      if (e.phase != EscrowPhase::kOpen || e.deadline_ms > now_ms) continue;
      e.phase = EscrowPhase::kExpired;
      e.deposit_a.reset();
      e.deposit_b.reset();
      ++n;
    }
    return n;
  }

  Result<std::uint64_t> forget_escrows(std::int64_t before_ms) override {
    return std::erase_if(s_.escrows, [before_ms](const auto& entry) {
      return entry.second.phase != EscrowPhase::kOpen && entry.second.deadline_ms < before_ms;
    });
  }

 private:
  Result<MemoryQueue*> by_recipient(const RelayQueueId& recipient_id) {
    auto it = s_.queues.find(recipient_id);
    if (it == s_.queues.end()) return fail(Errc::kNotFound, "no such queue");
    return &it->second;
  }
  Result<MemoryQueue*> by_sender(const RelayQueueId& sender_id) {
    auto it = s_.by_sender.find(sender_id);
    if (it == s_.by_sender.end()) return fail(Errc::kNotFound, "no such queue");
    return by_recipient(it->second);
  }

  MemoryState& s_;
};

class InMemoryRelayStore final : public RelayStore {
 public:
  Result<void> write(Durability /*durability*/, const TxnFn& fn) override {
    std::lock_guard lock(mu_);
    MemoryState draft = state_;
    MemoryTxn txn(draft);
    BC_TRY(fn(txn));
    state_ = std::move(draft);
    return ok();
  }

  Result<void> read(const TxnFn& fn) override {
    std::lock_guard lock(mu_);
    MemoryState draft = state_;  // a copy, so a misbehaving reader cannot change anything
    MemoryTxn txn(draft);
    return fn(txn);
  }

  Result<RelayStoreStats> stats() override {
    std::lock_guard lock(mu_);
    RelayStoreStats out;
    out.queues = state_.queues.size();
    out.escrows = state_.escrows.size();
    for (const auto& [id, q] : state_.queues) {
      out.usage.envelopes += q.usage.envelopes;
      out.usage.bytes += q.usage.bytes;
    }
    return out;
  }

 private:
  std::mutex mu_;
  MemoryState state_;
};

}  // namespace

std::unique_ptr<RelayStore> make_memory_relay_store() {
  return std::make_unique<InMemoryRelayStore>();
}

}  // namespace bc::store
