// Model-based property test of the relay service: random sequences of deposits, acks and
// re-subscriptions against a model of the queue. After every step the subscriber has been pushed
// exactly the stored envelopes it may have (in order, within the push window, none skipped, none
// acknowledged), and every acknowledged deposit is kept until its ack.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <mutex>
#include <set>

#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "protocol/receipt_proof.hpp"
#include "relay/relay.hpp"
#include "relay/relay_client.hpp"

namespace bc::relay {
namespace {

class RecordingOutbox final : public Outbox {
 public:
  void send(ConnectionId connection, Bytes frame) override {
    std::lock_guard lock(mu_);
    frames_[connection].push_back(std::move(frame));
  }
  void close(ConnectionId) override {}
  void flush() override {}
  std::vector<wire::RelayFrame> take(ConnectionId connection) {
    std::lock_guard lock(mu_);
    std::vector<wire::RelayFrame> out;
    for (const Bytes& f : frames_[connection]) {
      Result<wire::RelayFrame> d = RelayClientCodec::parse(f);
      if (d) out.push_back(std::move(d).value());
    }
    frames_[connection].clear();
    return out;
  }

 private:
  std::mutex mu_;
  std::map<ConnectionId, std::vector<Bytes>> frames_;
};

struct Harness {
  RecordingOutbox outbox;
  ManualClock clock;
  crypto::DeterministicRng rng{3};
  std::unique_ptr<RelayCore> relay;

  // call sends a frame and returns the reply to it; pushes are appended to `pushes`.
  wire::RelayFrame call(ConnectionId c, RelayClientCodec& codec, const Bytes& frame,
                        std::vector<wire::Delivery>& pushes) {
    const wire::RequestId id = codec.last_request_id();
    relay->on_frame(c, frame);
    relay->flush();
    wire::RelayFrame reply;
    for (wire::RelayFrame& f : outbox.take(c)) {
      if (auto* d = std::get_if<wire::Delivery>(&f.message)) {
        pushes.push_back(std::move(*d));
      } else if (f.request_id == id) {
        reply = std::move(f);
      }
    }
    return reply;
  }
};

bool is_ok(const wire::RelayFrame& f) { return std::holds_alternative<wire::Ok>(f.message); }

RC_GTEST_PROP(RelayServiceModel, PushesAreOrderedWindowedAndNothingIsLost, ()) {
  const auto window = *rc::gen::inRange<std::uint32_t>(1, 5);
  // Envelopes are 256 B or 1 KiB: a byte window of 256 B holds one 1 KiB push only alone.
  const auto window_bytes = *rc::gen::element<std::uint64_t>(256, 1024, 1500, 4ULL << 20);
  const auto commands = *rc::gen::container<std::vector<std::pair<int, int>>>(
      rc::gen::pair(rc::gen::inRange(0, 6), rc::gen::inRange(0, 8)));

  Harness h;
  RelayConfig config;
  config.push_window = window;
  config.push_window_bytes = window_bytes;
  crypto::Ed25519KeyPair relay_key = crypto::ed25519_generate(h.rng);
  const crypto::Ed25519PublicKey relay_public = relay_key.public_key;
  auto made = make_relay_service(config, std::move(relay_key), store::make_memory_relay_store(),
                                 h.outbox, h.clock, h.rng);
  RC_ASSERT(made.has_value());
  h.relay = std::move(made).value();

  crypto::DeterministicRng key_rng(4);
  const crypto::Ed25519KeyPair owner_key = crypto::ed25519_generate(key_rng);
  std::vector<wire::Delivery> ignored;

  // The sender connection creates the queue.
  const ConnectionId sender = 1;
  RelayClientCodec sender_codec;
  h.relay->on_open(sender);
  h.call(sender, sender_codec, sender_codec.hello().value(), ignored);
  wire::RelayFrame created = h.call(
      sender, sender_codec, sender_codec.create_queue(owner_key.public_key).value(), ignored);
  const auto* ids = std::get_if<wire::QueueCreated>(&created.message);
  RC_ASSERT(ids != nullptr);

  // Model.
  std::map<wire::MessageId, Bytes>
      stored;  // deposited and acknowledged to the depositor, not acked
  std::map<wire::MessageId, std::int64_t> receipt_times;  // as the depositor's receipts state
  wire::MessageId next_id = 1;
  bool subscribed = false;
  ConnectionId owner = 0;
  RelayClientCodec owner_codec;
  wire::MessageId last_seen = 0;      // highest id pushed in the current subscription
  std::set<wire::MessageId> pending;  // pushed in this subscription, not acked
  std::uint8_t fill = 0;

  auto absorb = [&](std::vector<wire::Delivery>& pushes) {
    for (const wire::Delivery& d : pushes) {
      RC_ASSERT(subscribed);
      RC_ASSERT(d.recipient_id == ids->recipient_id);
      RC_ASSERT(d.message_id > last_seen);  // in order, no repeats within a subscription
      auto it = stored.find(d.message_id);
      RC_ASSERT(it != stored.end());  // never an acknowledged or unknown envelope
      RC_ASSERT(it->second == d.envelope);
      // The same receipt on both sides: the depositor's statement, signed in a batch.
      RC_ASSERT(d.relay_time_ms == receipt_times.at(d.message_id));
      RC_ASSERT(
          protocol::verify_receipt(
              relay_public, protocol::receipt_with_proof(ids->sender_id, crypto::sha256(d.envelope),
                                                         d.message_id, d.relay_time_ms, d.proof))
              .has_value());
      last_seen = d.message_id;
      pending.insert(d.message_id);
    }
    pushes.clear();
    if (!subscribed) return;
    std::uint64_t pending_bytes = 0;
    for (const wire::MessageId id : pending) pending_bytes += stored.at(id).size();
    RC_ASSERT(pending.size() <= window);
    RC_ASSERT(pending.size() <= 1 || pending_bytes <= window_bytes);
    // Everything stored up to last_seen has been pushed in this subscription and not acked...
    for (const auto& [id, body] : stored) {
      if (id <= last_seen) RC_ASSERT(pending.contains(id));
    }
    // ...and nothing stored is held back while the window has room for it.
    const auto next = stored.upper_bound(last_seen);
    if (next != stored.end()) {
      const bool room = pending.empty() || (pending.size() < window &&
                                            pending_bytes + next->second.size() <= window_bytes);
      RC_ASSERT(!room);
    }
  };

  for (const auto& [kind, arg] : commands) {
    std::vector<wire::Delivery> pushes;
    if (kind <= 2) {  // deposit
      const Bytes env(wire::kEnvelopeBuckets[static_cast<std::size_t>(arg) % 2], ++fill);
      wire::RelayFrame r =
          h.call(sender, sender_codec, sender_codec.deposit(ids->sender_id, env).value(), ignored);
      const auto* receipt = std::get_if<wire::DepositReceipt>(&r.message);
      RC_ASSERT(receipt != nullptr);
      RC_ASSERT(receipt->message_id == next_id);  // consecutive sequence numbers from 1
      receipt_times[next_id] = receipt->relay_time_ms;
      stored[next_id++] = env;
    } else if (kind == 3 && subscribed && !pending.empty()) {  // ack one pushed envelope
      auto it = pending.begin();
      std::advance(it, arg % static_cast<int>(pending.size()));
      const wire::MessageId id = *it;
      wire::RelayFrame r =
          h.call(owner, owner_codec, owner_codec.ack(ids->recipient_id, id).value(), pushes);
      RC_ASSERT(is_ok(r));
      stored.erase(id);
      pending.erase(id);
    } else if (kind == 4 && subscribed) {  // ack something not stored
      wire::RelayFrame r = h.call(owner, owner_codec,
                                  owner_codec.ack(ids->recipient_id, next_id + 5).value(), pushes);
      const auto* e = std::get_if<wire::ErrorReply>(&r.message);
      RC_ASSERT(e != nullptr);
      RC_ASSERT(e->code == wire::RelayErrorCode::kNotFound);
    } else {  // (re)subscribe on a fresh connection
      if (owner != 0) h.relay->on_close(owner);
      owner = 100 + static_cast<ConnectionId>(next_id) * 10 + static_cast<ConnectionId>(arg);
      owner_codec = RelayClientCodec{};
      h.relay->on_open(owner);
      wire::RelayFrame hello = h.call(owner, owner_codec, owner_codec.hello().value(), pushes);
      const auto* challenge = std::get_if<wire::ChallengeReply>(&hello.message);
      RC_ASSERT(challenge != nullptr);
      subscribed = true;
      last_seen = 0;
      pending.clear();
      wire::RelayFrame r = h.call(
          owner, owner_codec,
          owner_codec.subscribe(ids->recipient_id, owner_key.private_key, challenge->challenge)
              .value(),
          pushes);
      RC_ASSERT(is_ok(r));
    }
    if (subscribed) {
      h.relay->flush();
      for (wire::RelayFrame& f : h.outbox.take(owner)) {
        if (auto* d = std::get_if<wire::Delivery>(&f.message)) pushes.push_back(std::move(*d));
      }
    }
    absorb(pushes);
  }
  h.relay->shutdown();
}

}  // namespace
}  // namespace bc::relay
