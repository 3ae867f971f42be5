// EscrowService: the relay's escrow exchanges (docs/relay-protocol.md, "Escrow"). Runs inside the
// relay's group-commit transaction on the writer thread: it reads and writes only through the
// RelayStoreTxn it is given, so a request's effects commit or vanish with its batch.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "core/result.hpp"
#include "crypto/keys.hpp"
#include "store/relay_store.hpp"
#include "wire/relay_frames.hpp"

namespace bc::relay {

// EscrowLimits are the escrow's service limits (RelayConfig carries them; see relay.hpp).
struct EscrowLimits {
  std::int64_t max_deadline_ms = 0;  // a deadline at most this far after the relay's now
  std::int64_t retention_ms = 0;     // terminal records are forgotten this long after deadline
  std::uint64_t max_escrows = 0;     // exchanges held at once, relay-wide
};

// EscrowRelease is one deposit the release appended to a queue as an ordinary envelope. Its
// receipt is signed with the rest of the batch's, as a deposit's is (the relay service fills in
// `proof` once the batch has committed).
struct EscrowRelease {
  wire::QueueId sender_id{};
  wire::QueueId recipient_id{};
  wire::MessageId message_id = 0;
  std::int64_t received_ms = 0;
  Bytes body;
  wire::ReceiptProof proof;
};

// EscrowOutcome is what one escrow request did: the reply, and the two envelopes it appended when
// it released the exchange.
struct EscrowOutcome {
  wire::RelayMessage reply;
  std::vector<EscrowRelease> released;
};

// EscrowService handles the four escrow requests. Not thread-safe: the writer thread owns it.
// Methods fail only when the store fails in a way that dooms the transaction (kUnavailable,
// kInternal, kMalformed); every refusal is an ErrorReply in the outcome.
class EscrowService {
 public:
  using RandomFill = std::function<void(std::span<std::uint8_t>)>;

  // `signing_key` must outlive the service; `held` is the number of exchanges in the store.
  EscrowService(const EscrowLimits& limits, const crypto::Ed25519PrivateKey& signing_key,
                RandomFill random, std::uint64_t held);

  // begin_batch forgets the counts of a batch that did not commit; commit_batch applies them.
  void begin_batch();
  void commit_batch();

  [[nodiscard]] Result<EscrowOutcome> open(store::RelayStoreTxn& txn, const wire::EscrowOpen& m,
                                           std::int64_t now_ms);
  [[nodiscard]] Result<EscrowOutcome> deposit(store::RelayStoreTxn& txn,
                                              const wire::EscrowDeposit& m, std::int64_t now_ms);
  [[nodiscard]] Result<EscrowOutcome> cancel(store::RelayStoreTxn& txn, const wire::EscrowCancel& m,
                                             std::int64_t now_ms);
  [[nodiscard]] Result<EscrowOutcome> status(store::RelayStoreTxn& txn, const wire::EscrowStatus& m,
                                             std::int64_t now_ms);
  // handle dispatches any of the four requests to the method above.
  template <typename Request>
  [[nodiscard]] Result<EscrowOutcome> handle(store::RelayStoreTxn& txn, const Request& m,
                                             std::int64_t now_ms) {
    if constexpr (std::is_same_v<Request, wire::EscrowOpen>) {
      return open(txn, m, now_ms);
    } else if constexpr (std::is_same_v<Request, wire::EscrowDeposit>) {
      return deposit(txn, m, now_ms);
    } else if constexpr (std::is_same_v<Request, wire::EscrowCancel>) {
      return cancel(txn, m, now_ms);
    } else {
      static_assert(std::is_same_v<Request, wire::EscrowStatus>);
      return status(txn, m, now_ms);
    }
  }
  // purge expires every open exchange whose deadline has passed (its deposits are deleted) and
  // forgets terminal records older than the retention period (run at the relay's purge tick).
  [[nodiscard]] Result<void> purge(store::RelayStoreTxn& txn, std::int64_t now_ms);

  // Counters for the metrics (committed batches only; thread-safe).
  [[nodiscard]] std::uint64_t held() const noexcept { return held_.load(); }
  [[nodiscard]] std::uint64_t released_total() const noexcept { return released_total_.load(); }
  [[nodiscard]] std::uint64_t expired_total() const noexcept { return expired_total_.load(); }

 private:
  enum class Side : std::uint8_t { kA, kB };
  // authorize finds the exchange and tells which side `token` belongs to; std::nullopt (answered
  // not_found) for an unknown exchange and for a wrong token alike.
  Result<std::optional<std::pair<store::EscrowRecord, Side>>> authorize(
      store::RelayStoreTxn& txn, const wire::ExchangeId& id, const wire::EscrowToken& token);
  Result<EscrowOutcome> release(store::RelayStoreTxn& txn, store::EscrowRecord record,
                                std::int64_t now_ms, const wire::EscrowHash& depositor_hash);

  EscrowLimits limits_;
  const crypto::Ed25519PrivateKey& signing_key_;
  RandomFill random_;
  // Read by the metrics from other threads.
  std::atomic<std::uint64_t> held_{0};
  std::atomic<std::uint64_t> released_total_{0};
  std::atomic<std::uint64_t> expired_total_{0};
  // This batch's changes, applied by commit_batch.
  std::uint64_t batch_opened_ = 0;
  std::uint64_t batch_forgotten_ = 0;
  std::uint64_t batch_released_ = 0;
  std::uint64_t batch_expired_ = 0;
};

}  // namespace bc::relay
