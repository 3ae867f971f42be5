// Tests of the FaultInjector itself, in front of the real relay service (memory store): each
// switch does exactly its one misbehaviour to exactly the deposit or delivery it names.
#include "faults/fault_injector.hpp"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "crypto/ed25519.hpp"
#include "crypto/random.hpp"
#include "relay/relay.hpp"
#include "relay/relay_client.hpp"
#include "store/relay_store.hpp"

namespace bc::test {
namespace {

using relay::ConnectionId;
using wire::RelayFrame;

// RecordingOutbox stands for the transport: it keeps every frame sent to each connection.
class RecordingOutbox final : public relay::Outbox {
 public:
  void send(ConnectionId connection, Bytes frame) override {
    std::lock_guard lock(mu_);
    frames_[connection].push_back(std::move(frame));
  }
  void close(ConnectionId) override {}
  void flush() override {}
  std::vector<RelayFrame> take(ConnectionId connection) {
    std::lock_guard lock(mu_);
    std::vector<RelayFrame> out;
    for (const Bytes& f : frames_[connection]) {
      auto parsed = relay::RelayClientCodec::parse(f);
      EXPECT_TRUE(parsed) << "undecodable frame from the injector";
      if (parsed) out.push_back(std::move(parsed).value());
    }
    frames_[connection].clear();
    return out;
  }

 private:
  std::mutex mu_;
  std::map<ConnectionId, std::vector<Bytes>> frames_;
};

class FaultInjectorTest : public ::testing::Test {
 protected:
  struct Conn {
    ConnectionId id = 0;
    relay::RelayClientCodec codec;
    wire::Challenge challenge{};
    std::vector<wire::Delivery> pushed;
  };

  void start(std::vector<Fault> faults) {
    injector_ = std::make_unique<FaultInjector>(std::move(faults), outbox_, clock_, false);
    auto core =
        relay::make_relay_service(relay::RelayConfig{}, crypto::ed25519_generate(rng_),
                                  store::make_memory_relay_store(), *injector_, clock_, rng_);
    ASSERT_TRUE(core) << core.error().message();
    core_ = std::move(core).value();
    injector_->attach(*core_);
    Conn setup = open();
    RelayFrame created = call(setup, setup.codec.create_queue(owner_.public_key).value());
    const auto* q = std::get_if<wire::QueueCreated>(&created.message);
    ASSERT_NE(q, nullptr);
    queue_ = *q;
  }

  void TearDown() override {
    if (core_) core_->shutdown();
    if (injector_) injector_->stop();
  }

  Conn open() {
    Conn c;
    c.id = next_id_++;
    injector_->on_open(c.id);
    RelayFrame reply = call(c, c.codec.hello().value());
    c.challenge = std::get<wire::ChallengeReply>(reply.message).challenge;
    return c;
  }

  // call sends a request through the injector and returns its reply; pushes are kept.
  RelayFrame call(Conn& c, const Bytes& frame) {
    const wire::RequestId id = c.codec.last_request_id();
    injector_->on_frame(c.id, frame);
    core_->flush();
    std::optional<RelayFrame> reply;
    for (RelayFrame& f : outbox_.take(c.id)) {
      if (auto* d = std::get_if<wire::Delivery>(&f.message)) {
        c.pushed.push_back(std::move(*d));
      } else if (f.request_id == id && !reply) {
        reply = std::move(f);
      }
    }
    EXPECT_TRUE(reply) << "no reply to request " << id;
    return reply.value_or(RelayFrame{});
  }

  // deposit puts an envelope whose bytes are all `fill` into the queue.
  bool deposit(Conn& c, std::uint8_t fill) {
    return std::holds_alternative<wire::DepositReceipt>(
        call(c, c.codec.deposit(queue_.sender_id, Bytes(256, fill)).value()).message);
  }

  void subscribe(Conn& c) {
    RelayFrame r =
        call(c, c.codec.subscribe(queue_.recipient_id, owner_.private_key, c.challenge).value());
    ASSERT_TRUE(std::holds_alternative<wire::Ok>(r.message));
  }

  bool ack(Conn& c, wire::MessageId id) {
    return std::holds_alternative<wire::Ok>(
        call(c, c.codec.ack(queue_.recipient_id, id).value()).message);
  }

  // drain collects what was pushed to `c` so far (first byte of each envelope) and clears it.
  std::vector<int> drain(Conn& c) {
    core_->flush();
    for (RelayFrame& f : outbox_.take(c.id)) {
      if (auto* d = std::get_if<wire::Delivery>(&f.message)) c.pushed.push_back(std::move(*d));
    }
    std::vector<int> out;
    for (const auto& d : c.pushed) out.push_back(d.envelope.empty() ? -1 : d.envelope[0]);
    last_ = std::move(c.pushed);
    c.pushed.clear();
    return out;
  }

  // deposit_all deposits envelopes filled with 1..n from a separate sender connection.
  void deposit_all(int n) {
    Conn sender = open();
    for (int i = 1; i <= n; ++i) ASSERT_TRUE(deposit(sender, static_cast<std::uint8_t>(i)));
  }

  RecordingOutbox outbox_;
  ManualClock clock_;
  crypto::DeterministicRng rng_{7};
  crypto::DeterministicRng key_rng_{8};
  std::unique_ptr<FaultInjector> injector_;
  std::unique_ptr<relay::RelayCore> core_;
  crypto::Ed25519KeyPair owner_ = crypto::ed25519_generate(key_rng_);
  wire::QueueCreated queue_;
  ConnectionId next_id_ = 1;
  std::vector<wire::Delivery> last_;
};

TEST(FaultSwitchTest, ParsesEverySwitchAndRefusesBadOnes) {
  auto drop = parse_fault("drop=3");
  ASSERT_TRUE(drop);
  EXPECT_EQ(drop->kind, FaultKind::kDrop);
  EXPECT_EQ(drop->nth, 3U);
  EXPECT_EQ(parse_fault("delay=2:1500")->millis, 1500);
  EXPECT_EQ(parse_fault("truncate=2:40")->keep, 40U);
  EXPECT_EQ(parse_fault("alter=1:17")->offset, 17U);
  for (const char* name : {"duplicate", "reorder", "replay", "withhold"}) {
    auto f = parse_fault(std::string(name) + "=1");
    ASSERT_TRUE(f) << name;
    EXPECT_EQ(fault_kind_name(f->kind), name);
  }
  for (const char* bad : {"", "drop", "drop=", "drop=0", "drop=x", "drop=1:5", "melt=1",
                          "delay=1:", "delay=1:-5", "alter=2x"}) {
    auto f = parse_fault(bad);
    EXPECT_FALSE(f) << bad;
    if (!f) {
      EXPECT_EQ(f.error().code, Errc::kMalformed);
    }
  }
}

TEST_F(FaultInjectorTest, WithoutSwitchesEverythingPassesInOrder) {
  start({});
  deposit_all(3);
  Conn owner = open();
  subscribe(owner);
  EXPECT_EQ(drain(owner), (std::vector<int>{1, 2, 3}));
  for (const auto& d : last_) EXPECT_TRUE(ack(owner, d.message_id));
  EXPECT_EQ(injector_->stats().deliveries, 3U);
  EXPECT_EQ(injector_->stats().suppressed, 0U);
}

TEST_F(FaultInjectorTest, DropAcknowledgesTheDepositButNeverDeliversIt) {
  start({Fault{FaultKind::kDrop, 2}});
  deposit_all(3);  // each deposit was answered Ok
  Conn owner = open();
  subscribe(owner);
  EXPECT_EQ(drain(owner), (std::vector<int>{1, 3}));
  // A new subscription gets the relay's redelivery of the unacknowledged envelope: still dropped.
  Conn again = open();
  subscribe(again);
  EXPECT_EQ(drain(again), (std::vector<int>{1, 3}));
  EXPECT_EQ(injector_->stats().deposits, 3U);
}

TEST_F(FaultInjectorTest, DuplicatePushesTwiceAndAnswersTheSecondAck) {
  start({Fault{FaultKind::kDuplicate, 2}});
  deposit_all(3);
  Conn owner = open();
  subscribe(owner);
  EXPECT_EQ(drain(owner), (std::vector<int>{1, 2, 2, 3}));
  EXPECT_EQ(last_[1].message_id, last_[2].message_id);
  for (const auto& d : last_) EXPECT_TRUE(ack(owner, d.message_id));  // no not_found
  EXPECT_EQ(injector_->stats().acks_answered, 1U);
}

TEST_F(FaultInjectorTest, ReorderSwapsADeliveryWithTheNext) {
  start({Fault{FaultKind::kReorder, 1}});
  deposit_all(3);
  Conn owner = open();
  subscribe(owner);
  EXPECT_EQ(drain(owner), (std::vector<int>{2, 1, 3}));
}

TEST_F(FaultInjectorTest, DelayHoldsADeliveryUntilItsTime) {
  start({Fault{FaultKind::kDelay, 1, 5000}});
  deposit_all(2);
  Conn owner = open();
  subscribe(owner);
  EXPECT_EQ(drain(owner), (std::vector<int>{2}));
  clock_.advance(4999);
  injector_->release_due();
  EXPECT_TRUE(drain(owner).empty());
  clock_.advance(1);
  injector_->release_due();
  EXPECT_EQ(drain(owner), (std::vector<int>{1}));
}

TEST_F(FaultInjectorTest, ReplayRedeliversAnAcknowledgedEnvelopeAtTheNextSubscription) {
  start({Fault{FaultKind::kReplay, 1}});
  deposit_all(2);
  Conn owner = open();
  subscribe(owner);
  EXPECT_EQ(drain(owner), (std::vector<int>{1, 2}));
  const auto first = last_[0];
  for (const auto& d : last_) EXPECT_TRUE(ack(owner, d.message_id));
  Conn later = open();
  subscribe(later);
  EXPECT_EQ(drain(later), (std::vector<int>{1}));
  EXPECT_EQ(last_[0].envelope, first.envelope);  // the same envelope, as if deposited again
  EXPECT_NE(last_[0].message_id, first.message_id);
  EXPECT_TRUE(ack(later, last_[0].message_id));  // answered, though the relay never had that id
  Conn after = open();
  subscribe(after);
  EXPECT_TRUE(drain(after).empty());  // replayed once
}

TEST_F(FaultInjectorTest, TruncateAndAlterChangeOneDeliveryTheSameWayEachTime) {
  start({Fault{FaultKind::kTruncate, 1, 0, 10}, Fault{FaultKind::kAlter, 2, 0, 64, 300}});
  deposit_all(3);
  Conn owner = open();
  subscribe(owner);
  EXPECT_EQ(drain(owner), (std::vector<int>{1, 2, 3}));
  const auto truncated = last_[0];
  const auto altered = last_[1];
  ASSERT_EQ(truncated.envelope.size(), 256U);
  EXPECT_EQ(truncated.envelope[9], 1);
  EXPECT_EQ(truncated.envelope[10], 0);
  EXPECT_EQ(truncated.envelope[255], 0);
  Bytes expected(256, 2);
  expected[300 % 256] ^= 0xff;
  EXPECT_EQ(altered.envelope, expected);
  EXPECT_EQ(last_[2].envelope, Bytes(256, 3));
  // Unacknowledged, both come again after a reconnect, changed the same way.
  Conn again = open();
  subscribe(again);
  drain(again);
  ASSERT_EQ(last_.size(), 3U);
  EXPECT_EQ(last_[0], truncated);
  EXPECT_EQ(last_[1], altered);
}

TEST_F(FaultInjectorTest, WithholdSuppressesEveryDeliveryFromTheNth) {
  start({Fault{FaultKind::kWithhold, 2}});
  deposit_all(4);
  Conn owner = open();
  subscribe(owner);
  EXPECT_EQ(drain(owner), (std::vector<int>{1}));
  EXPECT_EQ(injector_->stats().suppressed, 3U);
}

}  // namespace
}  // namespace bc::test
