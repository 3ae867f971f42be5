// The relay service: mailboxes, prekey bundles, group-committed durable deposits behind
// RelayService (see relay_service.hpp), built by make_relay_service.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"
#include "relay/relay_service.hpp"
#include "store/relay_store.hpp"

namespace bc::relay {

// RelayConfig names every limit of the service. Defaults are the documented production values.
struct RelayConfig {
  // Envelopes older than this are purged and never delivered (default 21 days).
  std::int64_t message_ttl_ms = 21LL * 24 * 60 * 60 * 1000;
  // How often (by the injected clock) expired envelopes are purged, at the next batch.
  std::int64_t purge_interval_ms = 60 * 1000;
  // Per-queue quota given to each new queue.
  std::uint64_t queue_max_messages = 1000;
  std::uint64_t queue_max_bytes = 16ULL * 1024 * 1024;
  // Relay-wide cap on queues.
  std::uint64_t max_queues = 1'000'000;
  // Per-connection caps.
  std::uint32_t max_subscriptions_per_connection = 128;
  std::uint32_t requests_per_second = 10'000;  // sustained rate (token bucket)
  std::uint32_t request_burst = 20'000;        // bucket size
  // Unacknowledged pushes in flight per subscription, and their envelopes' bytes; more are pushed
  // as acks arrive. One push is always allowed when none is in flight. Large enough that a
  // subscriber acknowledging as it reads keeps the window from running dry while its
  // acknowledgements travel and commit (docs/performance.md).
  std::uint32_t push_window = 512;
  std::uint64_t push_window_bytes = 4ULL * 1024 * 1024;
  // Group commit: at most this many requests share one transaction.
  std::size_t max_batch = 1024;
  // Requests accepted but not yet handled, relay-wide; beyond it requests get relay_full.
  std::size_t max_pending_requests = 65'536;
  // Bytes of frames accepted but not yet handled, relay-wide (bounds memory under a slow disk).
  std::size_t max_pending_bytes = 256ULL * 1024 * 1024;
  // Escrow (docs/relay-protocol.md, "Escrow"): an exchange's deadline is at most this far after
  // the relay's clock when it is opened (default 30 days); a released or expired exchange's
  // small record (state, certificate) is kept this long after its deadline, then forgotten
  // (default 7 days); at most this many exchanges are held at once, relay-wide.
  std::int64_t escrow_max_deadline_ms = 30LL * 24 * 60 * 60 * 1000;
  std::int64_t escrow_retention_ms = 7LL * 24 * 60 * 60 * 1000;
  std::uint64_t max_escrows = 100'000;
};

// validate_relay_config fails with kMalformed naming the first limit that is zero or negative.
[[nodiscard]] Result<void> validate_relay_config(const RelayConfig& config);

// RelayCore is RelayService plus control of its writer thread.
class RelayCore : public RelayService {
 public:
  // flush blocks until every frame received so far has been handled (committed, answered and
  // its pushes sent). Used by tests and by shutdown.
  virtual void flush() = 0;
  // shutdown handles what is pending, then stops the writer thread; later frames are answered
  // with relay_full. Idempotent; the destructor calls it.
  virtual void shutdown() = 0;
};

// make_relay_service builds the service over `store` and starts its writer thread. `signing_key`
// is the relay's own Ed25519 key: the service hands its public half to every client in the
// handshake and signs with it (see load_or_create_signing_key). `outbox`, `clock` and `rng` must
// outlive the service. Fails with kMalformed for a bad config or kUnavailable when the store
// cannot be read.
[[nodiscard]] Result<std::unique_ptr<RelayCore>> make_relay_service(
    const RelayConfig& config, crypto::Ed25519KeyPair signing_key,
    std::unique_ptr<store::RelayStore> store, Outbox& outbox, Clock& clock, Rng& rng);

}  // namespace bc::relay
