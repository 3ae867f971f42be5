// Tests of the relay service through RelayService with a fake Outbox, a ManualClock and a
// deterministic RNG: every request, the limits, group commit and restarts over SQLite.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "protocol/receipt.hpp"
#include "relay/relay.hpp"
#include "relay/relay_client.hpp"

namespace bc::relay {
namespace {

namespace fs = std::filesystem;
using wire::RelayErrorCode;
using wire::RelayFrame;

// FakeOutbox records every frame and close, per connection.
class FakeOutbox final : public Outbox {
 public:
  void send(ConnectionId connection, Bytes frame) override {
    std::lock_guard lock(mu_);
    frames_[connection].push_back(std::move(frame));
  }
  void close(ConnectionId connection) override {
    std::lock_guard lock(mu_);
    closed_.insert(connection);
  }
  // take returns (and forgets) the frames sent to `connection`, decoded.
  std::vector<RelayFrame> take(ConnectionId connection) {
    std::lock_guard lock(mu_);
    std::vector<RelayFrame> out;
    for (const Bytes& f : frames_[connection]) {
      Result<RelayFrame> d = RelayClientCodec::parse(f);
      EXPECT_TRUE(d.has_value()) << "the relay sent an undecodable frame";
      if (d) out.push_back(std::move(d).value());
    }
    frames_[connection].clear();
    return out;
  }
  bool closed(ConnectionId connection) {
    std::lock_guard lock(mu_);
    return closed_.contains(connection);
  }

 private:
  std::mutex mu_;
  std::map<ConnectionId, std::vector<Bytes>> frames_;
  std::set<ConnectionId> closed_;
};

// GatedStore wraps a store; when armed, the next write blocks until released, so a test can pile
// requests up behind one commit. It can also be told to fail every write (a full disk).
class GatedStore final : public store::RelayStore {
 public:
  explicit GatedStore(std::unique_ptr<store::RelayStore> inner) : inner_(std::move(inner)) {}

  Result<void> write(store::Durability d, const TxnFn& fn) override {
    {
      std::unique_lock lock(mu_);
      if (armed_) {
        armed_ = false;
        entered_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return released_; });
      }
      ++writes_;
      if (failing_) return fail(Errc::kUnavailable, "disk full (simulated)");
    }
    return inner_->write(d, fn);
  }
  Result<void> read(const TxnFn& fn) override { return inner_->read(fn); }
  Result<store::RelayStoreStats> stats() override { return inner_->stats(); }

  void arm() {
    std::lock_guard lock(mu_);
    armed_ = true;
    entered_ = false;
    released_ = false;
  }
  void wait_entered() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  void set_failing(bool f) {
    std::lock_guard lock(mu_);
    failing_ = f;
  }

 private:
  std::unique_ptr<store::RelayStore> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, entered_ = false, released_ = false, failing_ = false;
  int writes_ = 0;
};

Bytes envelope(std::uint8_t fill, std::size_t size = 256) { return Bytes(size, fill); }

// std::uint64_t metric reads one un-labelled sample from the metrics text.
std::uint64_t metric(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const auto pos = text.find(key);
  if (pos == std::string::npos) return ~0ULL;
  return std::stoull(text.substr(pos + key.size()));
}

class RelayServiceTest : public ::testing::Test {
 protected:
  struct Client {
    ConnectionId id = 0;
    RelayClientCodec codec;
    wire::Challenge challenge{};
  };
  struct Owner {
    crypto::Ed25519KeyPair keys;
    wire::QueueId sender_id{};
    wire::QueueId recipient_id{};
  };

  void start(const RelayConfig& config = RelayConfig{},
             std::unique_ptr<store::RelayStore> store = nullptr) {
    if (!store) store = store::make_memory_relay_store();
    Result<std::unique_ptr<RelayCore>> r =
        make_relay_service(config, {signing_key_.private_key.copy(), signing_key_.public_key},
                           std::move(store), outbox_, clock_, rng_);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    relay_ = std::move(r).value();
  }

  // connect opens a connection and completes the Hello handshake.
  Client connect() {
    Client c;
    c.id = next_connection_++;
    relay_->on_open(c.id);
    RelayFrame reply = call(c, c.codec.hello().value());
    const auto* challenge = std::get_if<wire::ChallengeReply>(&reply.message);
    EXPECT_NE(challenge, nullptr);
    if (challenge) c.challenge = challenge->challenge;
    return c;
  }

  // call sends one frame and returns the reply carrying its request id (pushes stay queued).
  RelayFrame call(Client& c, const Bytes& frame) {
    const wire::RequestId id = c.codec.last_request_id();
    relay_->on_frame(c.id, frame);
    relay_->flush();
    std::vector<RelayFrame> got = outbox_.take(c.id);
    std::optional<RelayFrame> reply;
    for (RelayFrame& f : got) {
      if (f.request_id == id && !reply) {
        reply = std::move(f);
      } else {
        pushes_[c.id].push_back(std::move(f));
      }
    }
    EXPECT_TRUE(reply.has_value()) << "no reply to request " << id;
    return reply.value_or(RelayFrame{});
  }

  // pushes returns the deliveries received so far by `c` (and forgets them).
  std::vector<wire::Delivery> deliveries(Client& c) {
    relay_->flush();
    for (RelayFrame& f : outbox_.take(c.id)) pushes_[c.id].push_back(std::move(f));
    std::vector<wire::Delivery> out;
    for (RelayFrame& f : pushes_[c.id]) {
      EXPECT_EQ(f.request_id, 0u);
      if (auto* d = std::get_if<wire::Delivery>(&f.message)) out.push_back(std::move(*d));
    }
    pushes_[c.id].clear();
    return out;
  }

  static std::optional<RelayErrorCode> error_of(const RelayFrame& f) {
    if (const auto* e = std::get_if<wire::ErrorReply>(&f.message)) return e->code;
    return std::nullopt;
  }
  static bool is_ok(const RelayFrame& f) { return std::holds_alternative<wire::Ok>(f.message); }
  static bool is_receipt(const RelayFrame& f) {
    return std::holds_alternative<wire::DepositReceipt>(f.message);
  }

  Owner create_queue(Client& c) {
    Owner o{crypto::ed25519_generate(key_rng_), {}, {}};
    RelayFrame reply = call(c, c.codec.create_queue(o.keys.public_key).value());
    const auto* created = std::get_if<wire::QueueCreated>(&reply.message);
    EXPECT_NE(created, nullptr);
    if (created) {
      o.sender_id = created->sender_id;
      o.recipient_id = created->recipient_id;
    }
    return o;
  }
  RelayFrame subscribe(Client& c, const Owner& o) {
    return call(c, c.codec.subscribe(o.recipient_id, o.keys.private_key, c.challenge).value());
  }
  RelayFrame deposit(Client& c, const wire::QueueId& sender_id, const Bytes& env) {
    return call(c, c.codec.deposit(sender_id, env).value());
  }
  RelayFrame ack(Client& c, const Owner& o, wire::MessageId id) {
    return call(c, c.codec.ack(o.recipient_id, id).value());
  }
  // verifies tells whether the relay's receipt signature holds for an envelope of the queue
  // named by `sender_id` at sequence number `seq` and time `time_ms`.
  bool verifies(const wire::QueueId& sender_id, ByteView env, wire::MessageId seq,
                std::int64_t time_ms, const wire::Signature& signature) const {
    protocol::Receipt r{sender_id, crypto::sha256(env), seq, time_ms, signature};
    return protocol::verify_receipt(signing_key_.public_key, r).has_value();
  }

  ManualClock clock_;
  crypto::DeterministicRng rng_{7};
  crypto::DeterministicRng key_rng_{8};
  crypto::DeterministicRng signing_rng_{9};
  const crypto::Ed25519KeyPair signing_key_ = crypto::ed25519_generate(signing_rng_);
  FakeOutbox outbox_;
  std::unique_ptr<RelayCore> relay_;
  ConnectionId next_connection_ = 1;
  std::map<ConnectionId, std::vector<RelayFrame>> pushes_;
};

TEST_F(RelayServiceTest, RequestsBeforeHelloNeedTheHandshake) {
  start();
  Client c;
  c.id = 99;
  relay_->on_open(c.id);
  RelayFrame reply = call(c, c.codec.create_queue(crypto::Ed25519PublicKey{}).value());
  EXPECT_EQ(error_of(reply), RelayErrorCode::kHandshakeRequired);
  EXPECT_FALSE(outbox_.closed(c.id));
}

TEST_F(RelayServiceTest, ChallengesDifferPerConnectionAndRepeatOnASecondHello) {
  start();
  Client a = connect();
  Client b = connect();
  EXPECT_NE(a.challenge, b.challenge);
  RelayFrame again = call(a, a.codec.hello().value());
  EXPECT_EQ(std::get<wire::ChallengeReply>(again.message).challenge, a.challenge);
}

TEST_F(RelayServiceTest, ChallengeCarriesTheRelaysPublicSigningKey) {
  start();
  Client a = connect();
  RelayFrame reply = call(a, a.codec.hello().value());
  EXPECT_EQ(std::get<wire::ChallengeReply>(reply.message).relay_key, signing_key_.public_key.bytes);
}

TEST_F(RelayServiceTest, DepositIsAnsweredWithASignedReceiptThatTheDeliveryRepeats) {
  start();
  Client c = connect();
  Owner q = create_queue(c);
  Owner other = create_queue(c);
  std::vector<wire::DepositReceipt> receipts;
  for (std::uint8_t i = 1; i <= 3; ++i) {
    clock_.advance(5);
    RelayFrame r = deposit(c, q.sender_id, envelope(i));
    const auto* receipt = std::get_if<wire::DepositReceipt>(&r.message);
    ASSERT_NE(receipt, nullptr);
    EXPECT_EQ(receipt->message_id, i);  // the queue's sequence number, from 1
    EXPECT_EQ(receipt->relay_time_ms, clock_.now_ms());
    EXPECT_EQ(receipt->envelope_hash, crypto::sha256(envelope(i)));
    EXPECT_TRUE(verifies(q.sender_id, envelope(i), i, receipt->relay_time_ms, receipt->signature));
    // Bound to its queue, envelope, number and time: any other value does not verify.
    EXPECT_FALSE(
        verifies(other.sender_id, envelope(i), i, receipt->relay_time_ms, receipt->signature));
    EXPECT_FALSE(verifies(q.sender_id, envelope(9), i, receipt->relay_time_ms, receipt->signature));
    EXPECT_FALSE(
        verifies(q.sender_id, envelope(i), i + 1, receipt->relay_time_ms, receipt->signature));
    receipts.push_back(*receipt);
  }
  EXPECT_TRUE(is_ok(subscribe(c, q)));
  std::vector<wire::Delivery> got = deliveries(c);
  ASSERT_EQ(got.size(), 3u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].message_id, receipts[i].message_id);
    EXPECT_EQ(got[i].relay_time_ms, receipts[i].relay_time_ms);
    EXPECT_EQ(got[i].signature, receipts[i].signature);
    EXPECT_TRUE(verifies(q.sender_id, got[i].envelope, got[i].message_id, got[i].relay_time_ms,
                         got[i].signature));
  }
  // A live push (not from the store) carries the same receipt as its deposit.
  RelayFrame live = deposit(c, q.sender_id, envelope(4));
  const auto* receipt = std::get_if<wire::DepositReceipt>(&live.message);
  ASSERT_NE(receipt, nullptr);
  got = deliveries(c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 4u);
  EXPECT_EQ(got[0].signature, receipt->signature);
}

TEST_F(RelayServiceTest, SequenceNumbersContinueAfterAcksAndNeverRepeat) {
  start();
  Client c = connect();
  Owner q = create_queue(c);
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(1))));
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(2))));
  EXPECT_TRUE(is_ok(subscribe(c, q)));
  EXPECT_TRUE(is_ok(ack(c, q, 1)));
  EXPECT_TRUE(is_ok(ack(c, q, 2)));
  RelayFrame r = deposit(c, q.sender_id, envelope(3));
  ASSERT_TRUE(is_receipt(r));
  EXPECT_EQ(std::get<wire::DepositReceipt>(r.message).message_id, 3u);
}

TEST_F(RelayServiceTest, AnEnvelopeStoredWithoutAReceiptIsSignedWhenDelivered) {
  // An envelope from before receipts (a migrated store) has no stored signature.
  auto store = store::make_memory_relay_store();
  Owner q{crypto::ed25519_generate(key_rng_), {}, {}};
  q.sender_id.fill(0x51);
  q.recipient_id.fill(0x52);
  ASSERT_TRUE(
      store->write(store::Durability::kDurable, [&](store::RelayStoreTxn& t) -> Result<void> {
        store::RelayQueueRecord rec;
        rec.sender_id = q.sender_id;
        rec.recipient_id = q.recipient_id;
        rec.owner_key = q.keys.public_key.bytes;
        rec.max_messages = 10;
        rec.max_bytes = 100'000;
        rec.created_ms = clock_.now_ms();
        BC_TRY(t.create_queue(rec));
        BC_ASSIGN_OR_RETURN(store::RelayMessageId id,
                            t.append_envelope(q.sender_id, envelope(7), clock_.now_ms()));
        EXPECT_EQ(id, 1u);
        return ok();
      }));
  start(RelayConfig{}, std::move(store));
  Client c = connect();
  EXPECT_TRUE(is_ok(subscribe(c, q)));
  std::vector<wire::Delivery> got = deliveries(c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 1u);
  EXPECT_TRUE(verifies(q.sender_id, got[0].envelope, 1, got[0].relay_time_ms, got[0].signature));
}

TEST_F(RelayServiceTest, CreateQueueReturnsTwoUnrelatedRandomIds) {
  start();
  Client c = connect();
  Owner a = create_queue(c);
  Owner b = create_queue(c);
  EXPECT_NE(a.sender_id, a.recipient_id);
  EXPECT_NE(a.sender_id, b.sender_id);
  EXPECT_NE(a.recipient_id, b.recipient_id);
  EXPECT_NE(a.sender_id, wire::QueueId{});
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_queues"), 2u);
}

TEST_F(RelayServiceTest, DepositSubscribePushAckAndRedelivery) {
  start();
  Client owner = connect();
  Client sender = connect();
  Owner q = create_queue(owner);
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(1))));
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(2, 1024))));
  EXPECT_TRUE(deliveries(owner).empty());  // nothing pushed before subscribing

  EXPECT_TRUE(is_ok(subscribe(owner, q)));
  std::vector<wire::Delivery> got = deliveries(owner);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].recipient_id, q.recipient_id);
  EXPECT_EQ(got[0].message_id, 1u);
  EXPECT_EQ(got[0].envelope, envelope(1));
  EXPECT_EQ(got[0].relay_time_ms, clock_.now_ms());
  EXPECT_EQ(got[1].message_id, 2u);
  EXPECT_EQ(got[1].envelope, envelope(2, 1024));

  // Live push as deposits arrive.
  clock_.advance(5);
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(3))));
  got = deliveries(owner);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 3u);
  EXPECT_EQ(got[0].relay_time_ms, clock_.now_ms());

  // Ack 1 and 3; a re-subscription redelivers only 2.
  EXPECT_TRUE(is_ok(ack(owner, q, 1)));
  EXPECT_TRUE(is_ok(ack(owner, q, 3)));
  EXPECT_EQ(error_of(ack(owner, q, 3)), RelayErrorCode::kNotFound);
  Client again = connect();
  EXPECT_TRUE(is_ok(subscribe(again, q)));
  got = deliveries(again);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 2u);
  // The new subscriber took the queue over: the old connection gets no more pushes.
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(4))));
  EXPECT_TRUE(deliveries(owner).empty());
  ASSERT_EQ(deliveries(again).size(), 1u);
  EXPECT_EQ(error_of(ack(owner, q, 2)), RelayErrorCode::kNotSubscribed);

  const std::string m = relay_->metrics_text();
  EXPECT_EQ(metric(m, "bc_relay_deposits_total"), 4u);
  EXPECT_EQ(metric(m, "bc_relay_acks_total"), 2u);
  EXPECT_EQ(metric(m, "bc_relay_stored_envelopes"), 2u);
  EXPECT_EQ(metric(m, "bc_relay_stored_bytes"), 1024u + 256u);
  EXPECT_EQ(metric(m, "bc_relay_deliveries_total"), 5u);
}

TEST_F(RelayServiceTest, SubscribeWithABadSignatureFails) {
  start();
  Client c = connect();
  Client other = connect();
  Owner q = create_queue(c);
  // Signed over another connection's challenge.
  RelayFrame r1 =
      call(c, c.codec.subscribe(q.recipient_id, q.keys.private_key, other.challenge).value());
  EXPECT_EQ(error_of(r1), RelayErrorCode::kAuthFailed);
  // Signed by the wrong key.
  Owner stranger = create_queue(other);
  RelayFrame r2 =
      call(c, c.codec.subscribe(q.recipient_id, stranger.keys.private_key, c.challenge).value());
  EXPECT_EQ(error_of(r2), RelayErrorCode::kAuthFailed);
  // Unknown queue.
  RelayFrame r3 = call(c, c.codec.subscribe(q.sender_id, q.keys.private_key, c.challenge).value());
  EXPECT_EQ(error_of(r3), RelayErrorCode::kNotFound);
  // None of these let the connection act as owner.
  EXPECT_EQ(error_of(call(c, c.codec.delete_queue(q.recipient_id).value())),
            RelayErrorCode::kNotSubscribed);
  EXPECT_FALSE(outbox_.closed(c.id));
}

TEST_F(RelayServiceTest, DepositToAnUnknownQueueIsNotFound) {
  start();
  Client c = connect();
  Owner q = create_queue(c);
  EXPECT_EQ(error_of(deposit(c, q.recipient_id, envelope(1))), RelayErrorCode::kNotFound);
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_deposits_rejected_total"), 1u);
}

TEST_F(RelayServiceTest, FullQueueGivesTheDepositorAClearError) {
  RelayConfig config;
  config.queue_max_messages = 2;
  config.queue_max_bytes = 1024 + 256;
  start(config);
  Client c = connect();
  Owner q = create_queue(c);
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(1))));
  EXPECT_EQ(error_of(deposit(c, q.sender_id, envelope(2, 4096))), RelayErrorCode::kQueueFull);
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(3, 1024))));
  EXPECT_EQ(error_of(deposit(c, q.sender_id, envelope(4))), RelayErrorCode::kQueueFull);
  // Acknowledging makes room again.
  EXPECT_TRUE(is_ok(subscribe(c, q)));
  EXPECT_EQ(deliveries(c).size(), 2u);
  EXPECT_TRUE(is_ok(ack(c, q, 1)));
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(5))));
}

TEST_F(RelayServiceTest, ExpiredEnvelopesArePurgedAndNeverDelivered) {
  start();
  Client c = connect();
  Owner q = create_queue(c);
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(1))));
  clock_.advance(RelayConfig{}.message_ttl_ms - 1000);
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(2))));
  // The first is now past its TTL, the second is not; a purge is due (interval passed).
  clock_.advance(RelayConfig{}.purge_interval_ms + 1000);
  Client owner = connect();
  EXPECT_TRUE(is_ok(subscribe(owner, q)));
  std::vector<wire::Delivery> got = deliveries(owner);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 2u);
  const std::string m = relay_->metrics_text();
  EXPECT_EQ(metric(m, "bc_relay_expired_envelopes_total"), 1u);
  EXPECT_EQ(metric(m, "bc_relay_stored_envelopes"), 1u);
}

TEST_F(RelayServiceTest, ExpiredButNotYetPurgedIsNotDelivered) {
  RelayConfig config;
  config.purge_interval_ms = 365LL * 24 * 3600 * 1000;  // no purge after the first batch
  start(config);
  Client c = connect();
  Owner q = create_queue(c);
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(1))));
  clock_.advance(config.message_ttl_ms + 1);
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(2))));
  EXPECT_TRUE(is_ok(subscribe(c, q)));
  std::vector<wire::Delivery> got = deliveries(c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 2u);
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_expired_envelopes_total"), 0u);
}

TEST_F(RelayServiceTest, BundleOneTimePrekeysAreHandedOutOnce) {
  start();
  Client owner = connect();
  Client fetcher = connect();
  Owner q = create_queue(owner);
  wire::PrekeyBundle bundle{Bytes(33, 1), Bytes(96, 2), {Bytes(33, 10), Bytes(33, 11)}};
  // Publishing needs a subscription on this connection.
  EXPECT_EQ(error_of(call(owner, owner.codec.publish_bundle(q.recipient_id, bundle).value())),
            RelayErrorCode::kNotSubscribed);
  EXPECT_EQ(error_of(call(fetcher, fetcher.codec.fetch_bundle(q.sender_id).value())),
            RelayErrorCode::kNotFound);
  EXPECT_TRUE(is_ok(subscribe(owner, q)));
  EXPECT_TRUE(is_ok(call(owner, owner.codec.publish_bundle(q.recipient_id, bundle).value())));
  std::vector<std::optional<Bytes>> handed;
  for (int i = 0; i < 3; ++i) {
    RelayFrame r = call(fetcher, fetcher.codec.fetch_bundle(q.sender_id).value());
    const auto* b = std::get_if<wire::BundleReply>(&r.message);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->identity_key, bundle.identity_key);
    EXPECT_EQ(b->signed_prekey, bundle.signed_prekey);
    handed.push_back(b->one_time_prekey);
  }
  EXPECT_EQ(handed[0], Bytes(33, 10));
  EXPECT_EQ(handed[1], Bytes(33, 11));
  EXPECT_EQ(handed[2], std::nullopt);
  // The recipient id does not name the bundle.
  EXPECT_EQ(error_of(call(fetcher, fetcher.codec.fetch_bundle(q.recipient_id).value())),
            RelayErrorCode::kNotFound);
}

TEST_F(RelayServiceTest, DeleteQueue) {
  start();
  Client owner = connect();
  Owner q = create_queue(owner);
  EXPECT_TRUE(is_receipt(deposit(owner, q.sender_id, envelope(1))));
  EXPECT_EQ(error_of(call(owner, owner.codec.delete_queue(q.recipient_id).value())),
            RelayErrorCode::kNotSubscribed);
  EXPECT_TRUE(is_ok(subscribe(owner, q)));
  EXPECT_EQ(deliveries(owner).size(), 1u);
  EXPECT_TRUE(is_ok(call(owner, owner.codec.delete_queue(q.recipient_id).value())));
  EXPECT_EQ(error_of(deposit(owner, q.sender_id, envelope(2))), RelayErrorCode::kNotFound);
  EXPECT_EQ(error_of(subscribe(owner, q)), RelayErrorCode::kNotFound);
  const std::string m = relay_->metrics_text();
  EXPECT_EQ(metric(m, "bc_relay_queues"), 0u);
  EXPECT_EQ(metric(m, "bc_relay_stored_envelopes"), 0u);
  EXPECT_EQ(metric(m, "bc_relay_subscriptions"), 0u);
}

TEST_F(RelayServiceTest, MalformedFrameClosesOnlyThatConnection) {
  start();
  Client bad = connect();
  Client good = connect();
  Owner q = create_queue(good);
  relay_->on_frame(bad.id, Bytes{wire::kRelayProtocolVersion, 0x04, 0, 0});
  relay_->flush();
  EXPECT_TRUE(outbox_.closed(bad.id));
  std::vector<RelayFrame> last = outbox_.take(bad.id);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(error_of(last[0]), RelayErrorCode::kMalformed);
  // Later frames from the closed connection are ignored.
  relay_->on_frame(bad.id, bad.codec.deposit(q.sender_id, envelope(1)).value());
  relay_->flush();
  EXPECT_TRUE(outbox_.take(bad.id).empty());
  // The other connection is untouched.
  EXPECT_FALSE(outbox_.closed(good.id));
  EXPECT_TRUE(is_receipt(deposit(good, q.sender_id, envelope(2))));
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_malformed_frames_total"), 1u);
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_stored_envelopes"), 1u);
}

TEST_F(RelayServiceTest, WrongVersionReplyFramesAndBadEnvelopeSizesClose) {
  start();
  Client a = connect();
  Bytes other = a.codec.hello().value();
  other[0] = wire::kRelayProtocolVersion + 1;
  relay_->on_frame(a.id, other);
  EXPECT_TRUE(outbox_.closed(a.id));
  EXPECT_EQ(error_of(outbox_.take(a.id).at(0)), RelayErrorCode::kUnsupportedVersion);

  // A client speaking version 1 (before receipts) is told so.
  Client old = connect();
  Bytes v1 = old.codec.hello().value();
  v1[0] = 1;
  relay_->on_frame(old.id, v1);
  EXPECT_TRUE(outbox_.closed(old.id));
  EXPECT_EQ(error_of(outbox_.take(old.id).at(0)), RelayErrorCode::kUnsupportedVersion);

  Client b = connect();
  relay_->on_frame(b.id, wire::encode_relay_frame({1, wire::Ok{}}).value());
  EXPECT_TRUE(outbox_.closed(b.id));

  Client c = connect();
  Bytes odd = {wire::kRelayProtocolVersion, 0x04, 0, 0, 0, 9};
  append(odd, wire::QueueId{});
  append(odd, Bytes{0, 0, 0x01, 0x2C});
  append(odd, Bytes(300, 0));
  relay_->on_frame(c.id, odd);
  EXPECT_TRUE(outbox_.closed(c.id));
  EXPECT_EQ(error_of(outbox_.take(c.id).at(0)), RelayErrorCode::kBadEnvelopeSize);
}

TEST_F(RelayServiceTest, PerConnectionRateLimit) {
  RelayConfig config;
  config.request_burst = 4;
  config.requests_per_second = 2;
  start(config);
  Client c = connect();  // Hello takes one token
  Owner q = create_queue(c);
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(1))));
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(2))));
  EXPECT_EQ(error_of(deposit(c, q.sender_id, envelope(3))), RelayErrorCode::kRateLimited);
  Client other = connect();  // another connection has its own bucket
  EXPECT_TRUE(is_receipt(deposit(other, q.sender_id, envelope(4))));
  clock_.advance(500);  // one token back
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(5))));
  EXPECT_EQ(error_of(deposit(c, q.sender_id, envelope(6))), RelayErrorCode::kRateLimited);
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_rate_limited_total"), 2u);
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_stored_envelopes"), 4u);
}

TEST_F(RelayServiceTest, SubscriptionsPerConnectionAreCapped) {
  RelayConfig config;
  config.max_subscriptions_per_connection = 2;
  start(config);
  Client c = connect();
  Owner a = create_queue(c), b = create_queue(c), d = create_queue(c);
  EXPECT_TRUE(is_ok(subscribe(c, a)));
  EXPECT_TRUE(is_ok(subscribe(c, b)));
  EXPECT_TRUE(is_ok(subscribe(c, a)));  // re-subscribing is not a new subscription
  EXPECT_EQ(error_of(subscribe(c, d)), RelayErrorCode::kTooManySubscriptions);
  Client other = connect();
  EXPECT_TRUE(is_ok(subscribe(other, d)));
}

TEST_F(RelayServiceTest, PushWindowKeepsOrderAndRefillsOnAck) {
  RelayConfig config;
  config.push_window = 2;
  start(config);
  Client owner = connect();
  Client sender = connect();
  Owner q = create_queue(owner);
  for (std::uint8_t i = 1; i <= 3; ++i) {
    EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(i))));
  }
  EXPECT_TRUE(is_ok(subscribe(owner, q)));
  std::vector<wire::Delivery> got = deliveries(owner);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].message_id, 1u);
  EXPECT_EQ(got[1].message_id, 2u);
  // A new deposit must wait behind the stored backlog.
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(4))));
  EXPECT_TRUE(deliveries(owner).empty());
  EXPECT_TRUE(is_ok(ack(owner, q, 1)));
  got = deliveries(owner);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 3u);
  EXPECT_TRUE(is_ok(ack(owner, q, 2)));
  EXPECT_TRUE(is_ok(ack(owner, q, 3)));
  got = deliveries(owner);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 4u);
  // Backlog drained: live pushes resume.
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(5))));
  got = deliveries(owner);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 5u);
}

TEST_F(RelayServiceTest, ClosingAConnectionDropsItsSubscriptions) {
  start();
  Client owner = connect();
  Client sender = connect();
  Owner q = create_queue(owner);
  EXPECT_TRUE(is_ok(subscribe(owner, q)));
  relay_->on_close(owner.id);
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(1))));
  EXPECT_TRUE(deliveries(owner).empty());
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_subscriptions"), 0u);
  Client back = connect();
  EXPECT_TRUE(is_ok(subscribe(back, q)));
  EXPECT_EQ(deliveries(back).size(), 1u);
}

TEST_F(RelayServiceTest, GroupCommitRepliesOnlyAfterTheSharedCommit) {
  auto gated = std::make_unique<GatedStore>(store::make_memory_relay_store());
  GatedStore* gate = gated.get();
  start(RelayConfig{}, std::move(gated));
  Client c = connect();
  Owner q = create_queue(c);
  Client owner = connect();
  EXPECT_TRUE(is_ok(subscribe(owner, q)));

  gate->arm();
  relay_->on_frame(c.id, c.codec.deposit(q.sender_id, envelope(0)).value());
  gate->wait_entered();  // the writer is inside the first commit
  for (std::uint8_t i = 1; i <= 20; ++i) {
    relay_->on_frame(c.id, c.codec.deposit(q.sender_id, envelope(i)).value());
  }
  // Nothing is acknowledged or pushed while the commit is pending.
  EXPECT_TRUE(outbox_.take(c.id).empty());
  EXPECT_TRUE(outbox_.take(owner.id).empty());
  gate->release();
  relay_->flush();
  std::vector<RelayFrame> replies = outbox_.take(c.id);
  ASSERT_EQ(replies.size(), 21u);
  for (const RelayFrame& r : replies) EXPECT_TRUE(is_receipt(r));
  std::vector<wire::Delivery> got = deliveries(owner);
  ASSERT_EQ(got.size(), 21u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].message_id, i + 1);
    EXPECT_EQ(got[i].envelope, envelope(static_cast<std::uint8_t>(i)));
  }
  const std::string m = relay_->metrics_text();
  // The 20 deposits queued behind the first commit shared one transaction.
  EXPECT_NE(m.find("bc_relay_commit_batch_size_bucket{le=\"16\"} 3"), std::string::npos) << m;
  EXPECT_NE(m.find("bc_relay_commit_batch_size_bucket{le=\"32\"} 4"), std::string::npos) << m;
  EXPECT_EQ(metric(m, "bc_relay_commit_batch_size_count"), 4u);
  // Durable commits: the queue creation and the two deposit batches (subscribe needs none).
  EXPECT_EQ(metric(m, "bc_relay_fsync_seconds_count"), 3u);
}

TEST_F(RelayServiceTest, PendingBytesAreBoundedWhileTheDiskIsSlow) {
  auto gated = std::make_unique<GatedStore>(store::make_memory_relay_store());
  GatedStore* gate = gated.get();
  RelayConfig config;
  config.max_pending_bytes = wire::kMaxRelayFrameSize + 2 * 1024;
  start(config, std::move(gated));
  Client c = connect();
  Owner q = create_queue(c);
  gate->arm();
  relay_->on_frame(c.id, c.codec.deposit(q.sender_id, envelope(0)).value());
  gate->wait_entered();  // the writer is stuck in a commit; what follows waits in memory
  relay_->on_frame(c.id, c.codec.deposit(q.sender_id, envelope(1, 65536)).value());
  relay_->on_frame(c.id, c.codec.deposit(q.sender_id, envelope(2, 1024)).value());
  const wire::RequestId refused = c.codec.last_request_id() + 1;
  relay_->on_frame(c.id, c.codec.deposit(q.sender_id, envelope(3, 4096)).value());
  // The refusal is immediate, before the commit finishes.
  std::vector<RelayFrame> now = outbox_.take(c.id);
  gate->release();
  relay_->flush();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].request_id, refused);
  EXPECT_EQ(error_of(now[0]), RelayErrorCode::kRelayFull);
  std::vector<RelayFrame> later = outbox_.take(c.id);
  ASSERT_EQ(later.size(), 3u);
  for (const RelayFrame& r : later) EXPECT_TRUE(is_receipt(r));
  // Memory is released: a large deposit fits again.
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(4, 65536))));
}

TEST_F(RelayServiceTest, StorageFailureRefusesDepositsAndLosesNothing) {
  auto gated = std::make_unique<GatedStore>(store::make_memory_relay_store());
  GatedStore* store = gated.get();
  start(RelayConfig{}, std::move(gated));
  Client c = connect();
  Owner q = create_queue(c);
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(1))));
  store->set_failing(true);
  EXPECT_EQ(error_of(deposit(c, q.sender_id, envelope(2))), RelayErrorCode::kStorageUnavailable);
  store->set_failing(false);
  EXPECT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(3))));
  EXPECT_TRUE(is_ok(subscribe(c, q)));
  std::vector<wire::Delivery> got = deliveries(c);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].envelope, envelope(1));
  EXPECT_EQ(got[1].envelope, envelope(3));
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_storage_errors_total"), 1u);
}

TEST_F(RelayServiceTest, EverythingAcknowledgedSurvivesARestartOverSqlite) {
  std::string tmpl = (fs::temp_directory_path() / "bc-relay-service-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path dir = tmpl;
  const fs::path file = dir / store::kRelayDbFileName;
  std::optional<Owner> owner;
  {
    auto s = store::open_sqlite_store(file);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    start(RelayConfig{}, std::move(s).value());
    Client c = connect();
    owner.emplace(create_queue(c));
    const Owner& q = *owner;
    for (std::uint8_t i = 1; i <= 10; ++i) {
      ASSERT_TRUE(is_receipt(deposit(c, q.sender_id, envelope(i, 1024))));
    }
    EXPECT_TRUE(is_ok(subscribe(c, q)));
    EXPECT_EQ(deliveries(c).size(), 10u);
    EXPECT_TRUE(is_ok(ack(c, q, 4)));
    relay_.reset();
  }
  auto s = store::open_sqlite_store(file);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  start(RelayConfig{}, std::move(s).value());
  const Owner& q = *owner;
  const std::string m = relay_->metrics_text();
  EXPECT_EQ(metric(m, "bc_relay_queues"), 1u);
  EXPECT_EQ(metric(m, "bc_relay_stored_envelopes"), 9u);
  Client c = connect();
  EXPECT_TRUE(is_ok(subscribe(c, q)));
  std::vector<wire::Delivery> got = deliveries(c);
  ASSERT_EQ(got.size(), 9u);
  std::vector<wire::MessageId> ids;
  for (const auto& d : got) ids.push_back(d.message_id);
  EXPECT_EQ(ids, (std::vector<wire::MessageId>{1, 2, 3, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(got[4].envelope, envelope(6, 1024));
  relay_.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_F(RelayServiceTest, ShutdownAnswersLaterRequestsWithRelayFull) {
  start();
  Client c = connect();
  Owner q = create_queue(c);
  relay_->shutdown();
  relay_->shutdown();  // idempotent
  EXPECT_EQ(error_of(deposit(c, q.sender_id, envelope(1))), RelayErrorCode::kRelayFull);
}

TEST(RelayConfigTest, RejectsZeroLimits) {
  EXPECT_TRUE(validate_relay_config(RelayConfig{}).has_value());
  RelayConfig c;
  c.push_window = 0;
  EXPECT_EQ(validate_relay_config(c).error().code, Errc::kMalformed);
  RelayConfig t;
  t.message_ttl_ms = 0;
  EXPECT_FALSE(validate_relay_config(t).has_value());
  FakeOutbox outbox;
  ManualClock clock;
  crypto::DeterministicRng rng(1);
  EXPECT_FALSE(make_relay_service(c, crypto::ed25519_generate(rng),
                                  store::make_memory_relay_store(), outbox, clock, rng));
  EXPECT_FALSE(make_relay_service(RelayConfig{}, crypto::ed25519_generate(rng), nullptr, outbox,
                                  clock, rng));
}

}  // namespace
}  // namespace bc::relay
