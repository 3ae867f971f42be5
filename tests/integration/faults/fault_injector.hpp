// FaultInjector: a decorator between the relay's transport and its service that makes the relay
// misbehave on purpose (drop, delay, duplicate, reorder, replay, truncate, alter, withhold), one
// switch per fault, each aimed at the Nth deposit or delivery so that tests are deterministic.
// Test-only: it is linked into backchannel-faulty-relay, never into the shipped relay.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "relay/relay_service.hpp"
#include "wire/relay_frames.hpp"

namespace bc::test {

// FaultKind names one misbehaviour of the relay.
enum class FaultKind : std::uint8_t {
  kDrop,       // deposit N is stored and acknowledged but its envelope is never delivered
  kDelay,      // delivery N is held back for `millis` while later ones go out
  kDuplicate,  // delivery N is pushed twice
  kReorder,    // delivery N is held until the next delivery on its connection has gone out
  kReplay,     // delivery N, once acknowledged, is pushed again (under a new message id, as if
               // deposited again) when its queue is next subscribed
  kTruncate,   // delivery N's envelope keeps its first `keep` bytes, the rest becomes zeros
  kAlter,      // delivery N's envelope has one byte flipped (at `offset`)
  kWithhold,   // delivery N and every later one are never pushed (deposits still succeed)
};

// Fault is one switch: what, and which deposit or delivery (1-based, counted relay-wide over
// distinct envelopes in the order the relay first pushes or accepts them).
struct Fault {
  FaultKind kind = FaultKind::kDrop;
  std::uint64_t nth = 1;
  std::int64_t millis = 2000;  // kDelay
  std::size_t keep = 64;       // kTruncate
  std::size_t offset = 100;    // kAlter (taken modulo the envelope size)
  friend bool operator==(const Fault&, const Fault&) = default;
};

// parse_fault reads "KIND=N" or "KIND=N:ARG" (drop=3, delay=2:1500, truncate=2:40, alter=2:17,
// duplicate=2, reorder=2, replay=1, withhold=1). kMalformed with a one-line reason otherwise.
[[nodiscard]] Result<Fault> parse_fault(std::string_view text);
// fault_kind_name gives "drop", "delay", ...
[[nodiscard]] std::string_view fault_kind_name(FaultKind kind);

// FaultStats counts what the injector did (for tests of the injector itself).
struct FaultStats {
  std::uint64_t deposits = 0;       // distinct deposits seen
  std::uint64_t deliveries = 0;     // distinct envelopes the service pushed
  std::uint64_t suppressed = 0;     // pushes never sent (drop, withhold)
  std::uint64_t injected = 0;       // extra pushes (duplicate, replay)
  std::uint64_t modified = 0;       // pushes sent with a changed envelope (truncate, alter)
  std::uint64_t held = 0;           // pushes held back (delay, reorder)
  std::uint64_t acks_answered = 0;  // acks of re-sent envelopes answered by the injector
};

// FaultInjector is the RelayService the transport talks to and the Outbox the service answers
// through. attach() must be called before the transport starts. Thread-safe like the service.
class FaultInjector final : public relay::RelayService, public relay::Outbox {
 public:
  // The injector sends to `downstream` (the transport's outbox), which must outlive it. With
  // `timer`, a thread releases delayed deliveries; without, tests call release_due().
  FaultInjector(std::vector<Fault> faults, relay::Outbox& downstream, const Clock& clock,
                bool timer = true);
  ~FaultInjector() override;
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  // attach names the real service frames are passed to.
  void attach(relay::RelayService& upstream);
  // stop ends the timer thread and forgets held deliveries. Idempotent.
  void stop();
  // release_due sends the delayed deliveries whose time has come.
  void release_due();
  [[nodiscard]] FaultStats stats() const;

  // RelayService (transport -> service).
  void on_open(relay::ConnectionId connection) override;
  void on_frame(relay::ConnectionId connection, ByteView frame) override;
  void on_close(relay::ConnectionId connection) override;
  [[nodiscard]] std::string metrics_text() const override;

  // Outbox (service -> transport).
  void send(relay::ConnectionId connection, Bytes frame) override;
  void close(relay::ConnectionId connection) override;
  void flush() override;

 private:
  using Key = std::pair<wire::QueueId, wire::MessageId>;
  // Replays carry message ids from here up, far above any the service hands out.
  static constexpr wire::MessageId kReplayIdBase = 1ULL << 62;
  // What happened to a delivery the first time, applied again to the relay's redeliveries.
  enum class Fate : std::uint8_t { kPass, kSuppress, kHeld, kModified };
  struct Held {
    relay::ConnectionId connection = 0;
    Key key;
    Bytes frame;
    std::int64_t due_ms = 0;  // kDelay; 0 for a reorder (released by the next delivery)
  };

  [[nodiscard]] const Fault* find(FaultKind kind, std::uint64_t nth) const;
  // note_ack records the client's acknowledgement of `key` (mu_ held) and arms a replay after
  // it; false when the envelope is the injector's own copy, whose ack the injector answers.
  bool note_ack(const Key& key);
  void on_delivery(relay::ConnectionId connection, const wire::Delivery& delivery, Bytes frame);
  void forward(relay::ConnectionId connection, Bytes frame);
  static Bytes encode(wire::RequestId request_id, wire::RelayMessage message);
  void run_timer();

  const std::vector<Fault> faults_;
  relay::Outbox& downstream_;
  const Clock& clock_;
  relay::RelayService* upstream_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread timer_;
  FaultStats stats_;
  std::set<std::array<std::uint8_t, 32>> dropped_;  // envelope hashes of dropped deposits
  std::map<Key, Fate> fates_;
  std::map<Key, Bytes> modified_;  // the altered frame, sent on every push
  std::vector<Held> held_;
  std::set<Key> resent_;  // keys pushed more than once on purpose
  std::set<Key> acked_;
  std::set<Key> replayed_;     // replays, under message ids the service never gave
  std::uint64_t replays_ = 0;  // keys whose ack reached the service
  std::map<Key, wire::Delivery> replay_after_ack_;      // replay armed, waiting for the ack
  std::map<wire::QueueId, Bytes> replay_at_subscribe_;  // replay due at the next subscription
  std::map<std::pair<relay::ConnectionId, wire::RequestId>, wire::QueueId> subscribing_;
};

}  // namespace bc::test
