// Tests of the relay service through RelayService with a fake Outbox, a ManualClock and a
// deterministic RNG: every request, the limits, group commit and restarts over SQLite.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "protocol/escrow_certificate.hpp"
#include "protocol/receipt.hpp"
#include "protocol/receipt_proof.hpp"
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
  void flush() override {}
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

// stored_count tells how many envelopes a queue holds.
std::size_t stored_count(store::RelayStore& s, const wire::QueueId& recipient_id) {
  std::size_t out = 0;
  Result<void> r = s.read([&](store::RelayStoreTxn& t) -> Result<void> {
    BC_ASSIGN_OR_RETURN(auto envelopes, t.list_envelopes(recipient_id, 0, 0, 1000));
    out = envelopes.size();
    return ok();
  });
  EXPECT_TRUE(r.has_value()) << r.error().message();
  return out;
}

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
                std::int64_t time_ms, const wire::ReceiptProof& proof) const {
    const protocol::Receipt r =
        protocol::receipt_with_proof(sender_id, crypto::sha256(env), seq, time_ms, proof);
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
    EXPECT_TRUE(verifies(q.sender_id, envelope(i), i, receipt->relay_time_ms, receipt->proof));
    // Bound to its queue, envelope, number and time: any other value does not verify.
    EXPECT_FALSE(verifies(other.sender_id, envelope(i), i, receipt->relay_time_ms, receipt->proof));
    EXPECT_FALSE(verifies(q.sender_id, envelope(9), i, receipt->relay_time_ms, receipt->proof));
    EXPECT_FALSE(verifies(q.sender_id, envelope(i), i + 1, receipt->relay_time_ms, receipt->proof));
    EXPECT_FALSE(verifies(q.sender_id, envelope(i), i, receipt->relay_time_ms + 1, receipt->proof));
    receipts.push_back(*receipt);
  }
  EXPECT_TRUE(is_ok(subscribe(c, q)));
  std::vector<wire::Delivery> got = deliveries(c);
  ASSERT_EQ(got.size(), 3u);
  // From the store, the three receipts are signed again as one batch of the refill: the same
  // statements (queue, envelope, number, time) under one signature.
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].message_id, receipts[i].message_id);
    EXPECT_EQ(got[i].relay_time_ms, receipts[i].relay_time_ms);
    EXPECT_EQ(got[i].proof.batch_size, 3u);
    EXPECT_EQ(got[i].proof.batch_index, i);
    EXPECT_EQ(got[i].proof.signature, got[0].proof.signature);
    EXPECT_TRUE(verifies(q.sender_id, got[i].envelope, got[i].message_id, got[i].relay_time_ms,
                         got[i].proof));
  }
  // A live push (not from the store) carries the same receipt as its deposit.
  RelayFrame live = deposit(c, q.sender_id, envelope(4));
  const auto* receipt = std::get_if<wire::DepositReceipt>(&live.message);
  ASSERT_NE(receipt, nullptr);
  got = deliveries(c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 4u);
  EXPECT_EQ(got[0].proof, receipt->proof);
}

TEST_F(RelayServiceTest, TheDepositsOfOneBatchShareOneSignatureEachWithItsOwnPath) {
  auto owned = std::make_unique<GatedStore>(store::make_memory_relay_store());
  GatedStore* gate = owned.get();
  start(RelayConfig{}, std::move(owned));
  Client c = connect();
  Owner q = create_queue(c);
  Owner other = create_queue(c);
  Client owner = connect();
  EXPECT_TRUE(is_ok(subscribe(owner, q)));

  gate->arm();
  relay_->on_frame(c.id, c.codec.deposit(q.sender_id, envelope(0)).value());
  gate->wait_entered();  // the writer is inside the first commit; the next five share one
  for (std::uint8_t i = 1; i <= 5; ++i) {
    const wire::QueueId& to = i == 3 ? other.sender_id : q.sender_id;
    relay_->on_frame(c.id, c.codec.deposit(to, envelope(i)).value());
  }
  gate->release();
  relay_->flush();
  std::vector<RelayFrame> replies = outbox_.take(c.id);
  ASSERT_EQ(replies.size(), 6u);
  std::vector<wire::DepositReceipt> receipts;
  for (const RelayFrame& r : replies) receipts.push_back(std::get<wire::DepositReceipt>(r.message));
  EXPECT_EQ(receipts[0].proof.batch_size, 1u);
  for (std::size_t i = 1; i <= 5; ++i) {
    const wire::ReceiptProof& p = receipts[i].proof;
    EXPECT_EQ(p.batch_size, 5u);
    EXPECT_EQ(p.batch_index, i - 1);
    EXPECT_EQ(p.signature, receipts[1].proof.signature);
    EXPECT_EQ(p.path.size(), wire::receipt_path_size(p.batch_index, 5));
    const wire::QueueId& to = i == 3 ? other.sender_id : q.sender_id;
    EXPECT_TRUE(verifies(to, envelope(static_cast<std::uint8_t>(i)), receipts[i].message_id,
                         receipts[i].relay_time_ms, p))
        << i;
    // Another receipt's place in the batch does not carry this one.
    EXPECT_FALSE(verifies(to, envelope(static_cast<std::uint8_t>(i)), receipts[i].message_id,
                          receipts[i].relay_time_ms, receipts[i == 1 ? 2 : 1].proof));
  }
  // The owner's live pushes carry the proofs the depositor got.
  std::vector<wire::Delivery> got = deliveries(owner);
  ASSERT_EQ(got.size(), 5u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    const std::size_t at = i < 3 ? i : i + 1;  // deposit 3 went to the other queue
    EXPECT_EQ(got[i].proof, receipts[at].proof) << i;
  }
}

TEST_F(RelayServiceTest, ARefusedDepositStoresNothingAndGetsNoReceipt) {
  auto owned = store::make_memory_relay_store();
  store::RelayStore& stored = *owned;  // owned by the relay from here on
  start(RelayConfig{}, std::move(owned));
  Client c = connect();
  Owner q = create_queue(c);
  RelayFrame r = deposit(c, q.sender_id, envelope(1));
  ASSERT_TRUE(is_receipt(r));
  EXPECT_EQ(stored_count(stored, q.recipient_id), 1u);
  // A refused deposit stores nothing and gets an error, not a receipt.
  EXPECT_EQ(error_of(deposit(c, q.recipient_id, envelope(3))), RelayErrorCode::kNotFound);
  EXPECT_EQ(stored_count(stored, q.recipient_id), 1u);
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

TEST_F(RelayServiceTest, AnEnvelopeFromTheStoreIsSignedWhenDelivered) {
  // An envelope the relay never signed a receipt for (here placed in the store directly, as one
  // from a migrated store) gets one when it is pushed.
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
        BC_ASSIGN_OR_RETURN(store::AppendedEnvelope a,
                            t.append_envelope(q.sender_id, envelope(7), clock_.now_ms()));
        EXPECT_EQ(a.message_id, 1u);
        return ok();
      }));
  start(RelayConfig{}, std::move(store));
  Client c = connect();
  EXPECT_TRUE(is_ok(subscribe(c, q)));
  std::vector<wire::Delivery> got = deliveries(c);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 1u);
  EXPECT_TRUE(verifies(q.sender_id, got[0].envelope, 1, got[0].relay_time_ms, got[0].proof));
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

TEST_F(RelayServiceTest, PushWindowAlsoCountsBytes) {
  RelayConfig config;
  config.push_window_bytes = 3 * 1024;
  start(config);
  Client owner = connect();
  Client sender = connect();
  Owner q = create_queue(owner);
  // Stored before the subscription (pushed by a refill): 1 KiB, 1 KiB, 4 KiB, 256 B.
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(1, 1024))));
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(2, 1024))));
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(3, 4096))));
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(4, 256))));
  EXPECT_TRUE(is_ok(subscribe(owner, q)));
  std::vector<wire::Delivery> got = deliveries(owner);
  ASSERT_EQ(got.size(), 2u);  // 4 KiB more would pass 3 KiB in flight
  EXPECT_EQ(got[1].message_id, 2u);
  EXPECT_TRUE(is_ok(ack(owner, q, 1)));
  EXPECT_TRUE(deliveries(owner).empty());  // 1 KiB + 4 KiB still passes it
  EXPECT_TRUE(is_ok(ack(owner, q, 2)));
  got = deliveries(owner);  // nothing in flight: one push is allowed whatever its size
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 3u);
  EXPECT_TRUE(is_ok(ack(owner, q, 3)));
  got = deliveries(owner);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 4u);
  // Live pushes obey the same bytes: 256 B + 1 KiB + 1 KiB fit, the next 1 KiB waits.
  for (std::uint8_t i = 5; i <= 7; ++i) {
    EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(i, 1024))));
  }
  got = deliveries(owner);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].message_id, 6u);
  EXPECT_TRUE(is_ok(call(owner, owner.codec.ack_many(q.recipient_id, {4, 5, 6}).value())));
  got = deliveries(owner);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message_id, 7u);
}

TEST_F(RelayServiceTest, AStoredBacklogFillsTheWholeWindowAndTheRestFollowsTheAcks) {
  start();  // the default push window
  const std::size_t window = RelayConfig{}.push_window;
  Client owner = connect();
  Client sender = connect();
  Owner q = create_queue(owner);
  for (std::size_t i = 0; i < window + 44; ++i) {
    EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(static_cast<std::uint8_t>(i)))));
  }
  EXPECT_TRUE(is_ok(subscribe(owner, q)));
  std::vector<wire::Delivery> got = deliveries(owner);
  ASSERT_EQ(got.size(), window);  // listed from the store in several reads
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].message_id, i + 1);
  std::vector<wire::MessageId> first(100);
  for (std::size_t i = 0; i < first.size(); ++i) first[i] = i + 1;
  EXPECT_TRUE(is_ok(call(owner, owner.codec.ack_many(q.recipient_id, first).value())));
  got = deliveries(owner);
  ASSERT_EQ(got.size(), 44u);
  EXPECT_EQ(got.front().message_id, window + 1);
  EXPECT_EQ(got.back().message_id, window + 44);
}

TEST_F(RelayServiceTest, AckManyDeletesSeveralSkipsTheGoneAndRefillsTheWindow) {
  RelayConfig config;
  config.push_window = 3;
  start(config);
  Client owner = connect();
  Client sender = connect();
  Client stranger = connect();
  Owner q = create_queue(owner);
  for (std::uint8_t i = 1; i <= 5; ++i) {
    EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(i))));
  }
  EXPECT_TRUE(is_ok(subscribe(owner, q)));
  ASSERT_EQ(deliveries(owner).size(), 3u);  // 1, 2, 3: the window is full
  EXPECT_TRUE(is_ok(ack(owner, q, 2)));
  ASSERT_EQ(deliveries(owner).size(), 1u);  // 4

  // Only a subscribed connection may acknowledge.
  EXPECT_EQ(error_of(call(stranger, stranger.codec.ack_many(q.recipient_id, {1, 3}).value())),
            RelayErrorCode::kNotSubscribed);
  // 2 is gone already and 99 never existed: skipped; 1, 3 and 4 are deleted.
  EXPECT_TRUE(is_ok(call(owner, owner.codec.ack_many(q.recipient_id, {1, 2, 3, 4, 99}).value())));
  std::vector<wire::Delivery> got = deliveries(owner);
  ASSERT_EQ(got.size(), 1u);  // the window refilled with 5
  EXPECT_EQ(got[0].message_id, 5u);

  const std::string m = relay_->metrics_text();
  EXPECT_EQ(metric(m, "bc_relay_acks_total"), 4u);
  EXPECT_EQ(metric(m, "bc_relay_stored_envelopes"), 1u);
  Client again = connect();
  EXPECT_TRUE(is_ok(subscribe(again, q)));
  got = deliveries(again);
  ASSERT_EQ(got.size(), 1u);  // only 5 is left to redeliver
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

TEST_F(RelayServiceTest, TwoAcksOfOneMessageInOneBatchAreBothAnswered) {
  auto gated = std::make_unique<GatedStore>(store::make_memory_relay_store());
  GatedStore* gate = gated.get();
  start(RelayConfig{}, std::move(gated));
  Client owner = connect();
  Client sender = connect();
  Owner q = create_queue(owner);
  EXPECT_TRUE(is_ok(subscribe(owner, q)));
  EXPECT_TRUE(is_receipt(deposit(sender, q.sender_id, envelope(1))));
  ASSERT_EQ(deliveries(owner).size(), 1u);

  // The writer is held inside another commit, so both acks wait for the same next batch.
  gate->arm();
  relay_->on_frame(sender.id, sender.codec.deposit(q.sender_id, envelope(2)).value());
  gate->wait_entered();
  relay_->on_frame(owner.id, owner.codec.ack(q.recipient_id, 1).value());
  const wire::RequestId first = owner.codec.last_request_id();
  relay_->on_frame(owner.id, owner.codec.ack(q.recipient_id, 1).value());
  const wire::RequestId second = owner.codec.last_request_id();
  gate->release();
  relay_->flush();

  std::map<wire::RequestId, RelayFrame> replies;
  for (RelayFrame& f : outbox_.take(owner.id)) {
    if (f.request_id != 0) replies.emplace(f.request_id, std::move(f));
  }
  ASSERT_EQ(replies.count(first), 1u);
  ASSERT_EQ(replies.count(second), 1u);
  EXPECT_TRUE(is_ok(replies.at(first)));
  EXPECT_EQ(error_of(replies.at(second)), RelayErrorCode::kNotFound);
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_acks_total"), 1u);
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

// ---- escrow ----

// EscrowTest: two parties, each subscribed to its own queue on its own connection, and an
// exchange between them; the store stays reachable for inspection.
class EscrowTest : public RelayServiceTest {
 protected:
  struct Party {
    Client c;
    Owner q;
  };
  static constexpr std::int64_t kHour = 60LL * 60 * 1000;

  void start_escrow(const RelayConfig& config = RelayConfig{},
                    std::unique_ptr<store::RelayStore> s = nullptr) {
    if (!s) s = store::make_memory_relay_store();
    store_ = s.get();
    start(config, std::move(s));
  }
  Party party() {
    Client c = connect();
    Owner q = create_queue(c);
    EXPECT_TRUE(is_ok(subscribe(c, q)));
    return Party{c, std::move(q)};
  }
  RelayFrame open(Party& opener, const Party& counterparty, std::int64_t deadline_ms) {
    return call(
        opener.c,
        opener.c.codec.escrow_open(deadline_ms, opener.q.sender_id, counterparty.q.sender_id)
            .value());
  }
  wire::EscrowOpened opened(Party& opener, const Party& counterparty, std::int64_t deadline_ms) {
    RelayFrame f = open(opener, counterparty, deadline_ms);
    const auto* o = std::get_if<wire::EscrowOpened>(&f.message);
    EXPECT_NE(o, nullptr) << "escrow_open refused";
    return o != nullptr ? *o : wire::EscrowOpened{};
  }
  RelayFrame put(Client& c, const wire::ExchangeId& id, const wire::EscrowToken& token,
                 const Bytes& env) {
    return call(c, c.codec.escrow_deposit(id, token, env).value());
  }
  RelayFrame cancel(Client& c, const wire::ExchangeId& id, const wire::EscrowToken& token) {
    return call(c, c.codec.escrow_cancel(id, token).value());
  }
  wire::EscrowState status(Client& c, const wire::ExchangeId& id, const wire::EscrowToken& token) {
    RelayFrame f = call(c, c.codec.escrow_status(id, token).value());
    const auto* s = std::get_if<wire::EscrowState>(&f.message);
    EXPECT_NE(s, nullptr) << "escrow_status refused";
    return s != nullptr ? *s : wire::EscrowState{};
  }
  static std::optional<wire::EscrowHash> hash_of(const RelayFrame& f) {
    if (const auto* d = std::get_if<wire::EscrowDeposited>(&f.message)) return d->envelope_hash;
    return std::nullopt;
  }
  // stored reads the exchange as the store holds it (std::nullopt once forgotten).
  std::optional<store::EscrowRecord> stored(const wire::ExchangeId& id) {
    std::optional<store::EscrowRecord> out;
    Result<void> r = store_->read([&](store::RelayStoreTxn& t) -> Result<void> {
      Result<store::EscrowRecord> e = t.find_escrow(id);
      if (e) out = std::move(e).value();
      return ok();
    });
    EXPECT_TRUE(r.has_value());
    return out;
  }
  // queued counts the envelopes stored in a queue.
  std::uint64_t queued(const Owner& o) {
    std::uint64_t n = 0;
    Result<void> r = store_->read([&](store::RelayStoreTxn& t) -> Result<void> {
      BC_ASSIGN_OR_RETURN(store::RelayUsage u, t.queue_usage(o.recipient_id));
      n = u.envelopes;
      return ok();
    });
    EXPECT_TRUE(r.has_value());
    return n;
  }
  // tick moves the relay clock and runs a batch, so the purge runs when it is due.
  void tick(Party& p, std::int64_t ms) {
    clock_.advance(ms);
    (void)call(p.c, p.c.codec.escrow_status(wire::ExchangeId{}, wire::EscrowToken{}).value());
  }

  store::RelayStore* store_ = nullptr;  // owned by the relay
};

TEST_F(EscrowTest, BothDepositsReleaseOnceIntoTheOtherQueueWithAVerifiableCertificate) {
  start_escrow();
  Party a = party();
  Party b = party();
  const std::int64_t deadline = clock_.now_ms() + kHour;
  const wire::EscrowOpened ex = opened(a, b, deadline);
  const Bytes env_a = envelope(0xA1, 1024);
  const Bytes env_b = envelope(0xB2, 256);

  RelayFrame first = put(a.c, ex.exchange_id, ex.token_a, env_a);
  EXPECT_EQ(hash_of(first), crypto::sha256(env_a));
  EXPECT_TRUE(deliveries(a.c).empty());
  EXPECT_TRUE(deliveries(b.c).empty());
  // Before release, each side learns only about its own deposit.
  EXPECT_EQ(status(a.c, ex.exchange_id, ex.token_a),
            (wire::EscrowState{wire::EscrowPhase::kOpen, true, std::nullopt}));
  EXPECT_EQ(status(b.c, ex.exchange_id, ex.token_b),
            (wire::EscrowState{wire::EscrowPhase::kOpen, false, std::nullopt}));

  clock_.advance(1000);
  const std::int64_t release_time = clock_.now_ms();
  RelayFrame second = put(b.c, ex.exchange_id, ex.token_b, env_b);
  EXPECT_EQ(hash_of(second), crypto::sha256(env_b));
  std::vector<wire::Delivery> to_a = deliveries(a.c);
  std::vector<wire::Delivery> to_b = deliveries(b.c);
  ASSERT_EQ(to_a.size(), 1u);
  ASSERT_EQ(to_b.size(), 1u);
  EXPECT_EQ(to_a[0].recipient_id, a.q.recipient_id);
  EXPECT_EQ(to_a[0].envelope, env_b);
  EXPECT_EQ(to_a[0].relay_time_ms, release_time);
  EXPECT_EQ(to_b[0].recipient_id, b.q.recipient_id);
  EXPECT_EQ(to_b[0].envelope, env_a);
  // Ordinary envelopes: each carries the relay's receipt for its queue, as a deposit does, and is
  // acknowledged like any other.
  for (const auto& [d, q] : {std::pair{&to_a[0], &a.q}, std::pair{&to_b[0], &b.q}}) {
    EXPECT_TRUE(verifies(q->sender_id, d->envelope, d->message_id, d->relay_time_ms, d->proof));
  }
  EXPECT_TRUE(is_ok(ack(a.c, a.q, to_a[0].message_id)));

  const wire::EscrowState sa = status(a.c, ex.exchange_id, ex.token_a);
  const wire::EscrowState sb = status(b.c, ex.exchange_id, ex.token_b);
  EXPECT_EQ(sa, sb);
  ASSERT_EQ(sa.phase, wire::EscrowPhase::kReleased);
  ASSERT_TRUE(sa.certificate.has_value());
  Result<protocol::ReleaseCertificate> cert = protocol::decode_release_certificate(*sa.certificate);
  ASSERT_TRUE(cert.has_value()) << cert.error().message();
  EXPECT_TRUE(protocol::verify_release_certificate(signing_key_.public_key, *cert).has_value());
  EXPECT_EQ(cert->exchange_id, ex.exchange_id);
  EXPECT_EQ(cert->deadline_ms, deadline);
  EXPECT_EQ(cert->hash_a, crypto::sha256(env_a));
  EXPECT_EQ(cert->hash_b, crypto::sha256(env_b));
  EXPECT_EQ(cert->release_time_ms, release_time);

  // Released once: the deposits are gone from the exchange, a further deposit is refused.
  const std::optional<store::EscrowRecord> rec = stored(ex.exchange_id);
  ASSERT_TRUE(rec.has_value());
  EXPECT_FALSE(rec->deposit_a.has_value());
  EXPECT_FALSE(rec->deposit_b.has_value());
  EXPECT_EQ(error_of(put(a.c, ex.exchange_id, ex.token_a, env_a)), RelayErrorCode::kEscrowClosed);
  EXPECT_EQ(error_of(cancel(b.c, ex.exchange_id, ex.token_b)), RelayErrorCode::kEscrowClosed);
  EXPECT_TRUE(deliveries(a.c).empty());
  EXPECT_TRUE(deliveries(b.c).empty());
  const std::string m = relay_->metrics_text();
  EXPECT_EQ(metric(m, "bc_relay_escrow_releases_total"), 1u);
  EXPECT_EQ(metric(m, "bc_relay_escrows"), 1u);
}

TEST_F(EscrowTest, ReleaseReachesAnOwnerWhoSubscribesLater) {
  start_escrow();
  Party a = party();
  Client late = connect();
  Party b{late, create_queue(late)};  // not subscribed yet
  const wire::EscrowOpened ex = opened(a, b, clock_.now_ms() + kHour);
  ASSERT_TRUE(hash_of(put(b.c, ex.exchange_id, ex.token_b, envelope(0xB0))));
  ASSERT_TRUE(hash_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0xA0))));
  EXPECT_EQ(deliveries(a.c).size(), 1u);
  EXPECT_EQ(queued(b.q), 1u);
  Client again = connect();
  EXPECT_TRUE(is_ok(subscribe(again, b.q)));
  std::vector<wire::Delivery> got = deliveries(again);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].envelope, envelope(0xA0));
}

TEST_F(EscrowTest, OneDepositThenTheDeadlineExpiresItAndNothingIsDelivered) {
  RelayConfig config;
  config.escrow_retention_ms = 2 * kHour;
  config.purge_interval_ms = 2 * kHour;  // no purge at the deadline itself
  start_escrow(config);
  Party a = party();
  Party b = party();
  const std::int64_t deadline = clock_.now_ms() + kHour;
  const wire::EscrowOpened ex = opened(a, b, deadline);
  ASSERT_TRUE(hash_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0xA1))));

  // At the deadline (before any purge) the exchange is closed by the relay's clock.
  clock_.set(deadline);
  EXPECT_EQ(error_of(put(b.c, ex.exchange_id, ex.token_b, envelope(0xB1))),
            RelayErrorCode::kEscrowClosed);
  const wire::EscrowState expired{wire::EscrowPhase::kExpired, false, std::nullopt};
  EXPECT_EQ(status(a.c, ex.exchange_id, ex.token_a), expired);
  EXPECT_EQ(status(b.c, ex.exchange_id, ex.token_b), expired);

  // The purge tick deletes the deposit and keeps a small terminal record.
  EXPECT_EQ(stored(ex.exchange_id)->deposit_a, envelope(0xA1));
  tick(a, config.purge_interval_ms);
  std::optional<store::EscrowRecord> rec = stored(ex.exchange_id);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->phase, store::EscrowPhase::kExpired);
  EXPECT_FALSE(rec->deposit_a.has_value());
  EXPECT_FALSE(rec->deposit_b.has_value());
  EXPECT_EQ(status(a.c, ex.exchange_id, ex.token_a), expired);
  EXPECT_EQ(status(b.c, ex.exchange_id, ex.token_b), expired);
  EXPECT_TRUE(deliveries(a.c).empty());
  EXPECT_TRUE(deliveries(b.c).empty());
  EXPECT_EQ(queued(a.q), 0u);
  EXPECT_EQ(queued(b.q), 0u);
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_escrow_expired_total"), 1u);

  // Past the retention period the relay forgets the exchange entirely.
  tick(a, config.purge_interval_ms);
  EXPECT_FALSE(stored(ex.exchange_id).has_value());
  EXPECT_EQ(error_of(call(a.c, a.c.codec.escrow_status(ex.exchange_id, ex.token_a).value())),
            RelayErrorCode::kNotFound);
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_escrows"), 0u);
}

TEST_F(EscrowTest, TheWriterPurgesExpiredDepositsWithoutAnyRequest) {
  RelayConfig config;
  config.purge_interval_ms = 20;  // also the writer's real-time wake-up period
  start_escrow(config);
  Party a = party();
  Party b = party();
  const wire::EscrowOpened ex = opened(a, b, clock_.now_ms() + kHour);
  ASSERT_TRUE(hash_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0xA1))));
  clock_.advance(2 * kHour);
  // No request arrives; the writer's timed wake-up runs the purge. Await it (generous bound).
  bool purged = false;
  for (int i = 0; i < 3000 && !purged; ++i) {
    std::optional<store::EscrowRecord> rec = stored(ex.exchange_id);
    purged = rec && rec->phase == store::EscrowPhase::kExpired && !rec->deposit_a;
    if (!purged) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(purged);
}

TEST_F(EscrowTest, CancelWithdrawsOnlyTheCallersDepositThenTheDeadlinePasses) {
  start_escrow();
  Party a = party();
  Party b = party();
  const std::int64_t deadline = clock_.now_ms() + kHour;
  const wire::EscrowOpened ex = opened(a, b, deadline);
  ASSERT_TRUE(hash_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0xA1))));
  EXPECT_TRUE(is_ok(cancel(a.c, ex.exchange_id, ex.token_a)));
  EXPECT_EQ(status(a.c, ex.exchange_id, ex.token_a).own_deposited, false);
  EXPECT_FALSE(stored(ex.exchange_id)->deposit_a.has_value());
  EXPECT_TRUE(is_ok(cancel(a.c, ex.exchange_id, ex.token_a)));  // nothing left: still Ok

  // B's deposit now finds nothing to be released against.
  ASSERT_TRUE(hash_of(put(b.c, ex.exchange_id, ex.token_b, envelope(0xB1))));
  EXPECT_EQ(status(b.c, ex.exchange_id, ex.token_b),
            (wire::EscrowState{wire::EscrowPhase::kOpen, true, std::nullopt}));
  EXPECT_TRUE(deliveries(a.c).empty());
  EXPECT_TRUE(deliveries(b.c).empty());

  clock_.set(deadline);
  EXPECT_EQ(error_of(cancel(b.c, ex.exchange_id, ex.token_b)), RelayErrorCode::kEscrowClosed);
  tick(a, RelayConfig{}.purge_interval_ms);
  EXPECT_EQ(status(a.c, ex.exchange_id, ex.token_a).phase, wire::EscrowPhase::kExpired);
  EXPECT_EQ(status(b.c, ex.exchange_id, ex.token_b),
            (wire::EscrowState{wire::EscrowPhase::kExpired, false, std::nullopt}));
  EXPECT_FALSE(stored(ex.exchange_id)->deposit_b.has_value());
  EXPECT_TRUE(deliveries(a.c).empty());
  EXPECT_TRUE(deliveries(b.c).empty());
}

TEST_F(EscrowTest, ACancelledSideMayDepositAgainAndTheNewDepositIsReleased) {
  start_escrow();
  Party a = party();
  Party b = party();
  const wire::EscrowOpened ex = opened(a, b, clock_.now_ms() + kHour);
  ASSERT_TRUE(hash_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0x01))));
  EXPECT_TRUE(is_ok(cancel(a.c, ex.exchange_id, ex.token_a)));
  ASSERT_TRUE(hash_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0x02))));
  ASSERT_TRUE(hash_of(put(b.c, ex.exchange_id, ex.token_b, envelope(0x03))));
  std::vector<wire::Delivery> to_b = deliveries(b.c);
  ASSERT_EQ(to_b.size(), 1u);
  EXPECT_EQ(to_b[0].envelope, envelope(0x02));
}

TEST_F(EscrowTest, ADuplicateDepositIsRefusedAndTheFirstOneCounts) {
  start_escrow();
  Party a = party();
  Party b = party();
  const wire::EscrowOpened ex = opened(a, b, clock_.now_ms() + kHour);
  ASSERT_TRUE(hash_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0x01))));
  EXPECT_EQ(error_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0x02))),
            RelayErrorCode::kEscrowDuplicate);
  EXPECT_EQ(stored(ex.exchange_id)->deposit_a, envelope(0x01));
  ASSERT_TRUE(hash_of(put(b.c, ex.exchange_id, ex.token_b, envelope(0x03))));
  std::vector<wire::Delivery> to_b = deliveries(b.c);
  ASSERT_EQ(to_b.size(), 1u);
  EXPECT_EQ(to_b[0].envelope, envelope(0x01));
}

TEST_F(EscrowTest, AThirdPartyWithTheExchangeIdButNoTokenLearnsNothing) {
  start_escrow();
  Party a = party();
  Party b = party();
  Client eve = connect();
  const wire::EscrowOpened ex = opened(a, b, clock_.now_ms() + kHour);
  ASSERT_TRUE(hash_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0xA1))));

  wire::EscrowToken guess{};
  guess.fill(0x5E);
  wire::ExchangeId unknown = ex.exchange_id;
  unknown[0] ^= 1;
  // A wrong token and an unknown exchange get the very same answer, for every request.
  for (const wire::ExchangeId& id : {ex.exchange_id, unknown}) {
    EXPECT_EQ(error_of(put(eve, id, guess, envelope(0xEE))), RelayErrorCode::kNotFound);
    EXPECT_EQ(error_of(cancel(eve, id, guess)), RelayErrorCode::kNotFound);
    EXPECT_EQ(error_of(call(eve, eve.codec.escrow_status(id, guess).value())),
              RelayErrorCode::kNotFound);
  }
  // Nor does the opener's token work on another exchange id.
  EXPECT_EQ(error_of(put(a.c, unknown, ex.token_a, envelope(0xA2))), RelayErrorCode::kNotFound);
  // Eve's attempts changed nothing: B's deposit releases A's, and only A's.
  EXPECT_EQ(stored(ex.exchange_id)->deposit_b, std::nullopt);
  ASSERT_TRUE(hash_of(put(b.c, ex.exchange_id, ex.token_b, envelope(0xB1))));
  std::vector<wire::Delivery> to_b = deliveries(b.c);
  ASSERT_EQ(to_b.size(), 1u);
  EXPECT_EQ(to_b[0].envelope, envelope(0xA1));
}

TEST_F(EscrowTest, TokensAreStoredOnlyAsHashes) {
  start_escrow();
  Party a = party();
  Party b = party();
  const wire::EscrowOpened ex = opened(a, b, clock_.now_ms() + kHour);
  const std::optional<store::EscrowRecord> rec = stored(ex.exchange_id);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->token_hash_a, crypto::sha256(ex.token_a));
  EXPECT_EQ(rec->token_hash_b, crypto::sha256(ex.token_b));
  EXPECT_NE(ex.token_a, ex.token_b);
  EXPECT_EQ(rec->queue_a, a.q.sender_id);
  EXPECT_EQ(rec->queue_b, b.q.sender_id);
}

TEST_F(EscrowTest, OpenChecksTheDeadlineTheQueuesAndTheRelayWideCap) {
  RelayConfig config;
  config.escrow_max_deadline_ms = 10 * kHour;
  config.max_escrows = 2;
  start_escrow(config);
  Party a = party();
  Party b = party();
  const std::int64_t now = clock_.now_ms();
  EXPECT_EQ(error_of(open(a, b, now)), RelayErrorCode::kEscrowBadDeadline);
  EXPECT_EQ(error_of(open(a, b, now - 1)), RelayErrorCode::kEscrowBadDeadline);
  EXPECT_EQ(error_of(open(a, b, now + 10 * kHour + 1)), RelayErrorCode::kEscrowBadDeadline);
  EXPECT_EQ(error_of(open(a, a, now + kHour)), RelayErrorCode::kEscrowSameQueue);
  Party gone = party();
  gone.q.sender_id[0] ^= 1;  // no such queue
  EXPECT_EQ(error_of(open(a, gone, now + kHour)), RelayErrorCode::kNotFound);
  EXPECT_EQ(error_of(open(gone, b, now + kHour)), RelayErrorCode::kNotFound);
  (void)opened(a, b, now + 10 * kHour);  // exactly the cap is fine
  (void)opened(b, a, now + kHour);
  EXPECT_EQ(error_of(open(a, b, now + kHour)), RelayErrorCode::kRelayFull);
}

TEST_F(EscrowTest, AnEscrowEnvelopeOfANonBucketSizeClosesTheConnection) {
  start_escrow();
  Party a = party();
  Party b = party();
  const wire::EscrowOpened ex = opened(a, b, clock_.now_ms() + kHour);
  Bytes odd = {wire::kRelayProtocolVersion, 0x11, 0, 0, 0, 9};
  append(odd, ex.exchange_id);
  append(odd, ex.token_a);
  append(odd, Bytes{0, 0, 0x01, 0x2C});
  append(odd, Bytes(300, 0));
  relay_->on_frame(a.c.id, odd);
  relay_->flush();
  EXPECT_TRUE(outbox_.closed(a.c.id));
  EXPECT_EQ(error_of(outbox_.take(a.c.id).at(0)), RelayErrorCode::kBadEnvelopeSize);
  EXPECT_FALSE(stored(ex.exchange_id)->deposit_a.has_value());
}

TEST_F(EscrowTest, AFullDestinationQueueRefusesTheSecondDepositAndChangesNothing) {
  RelayConfig config;
  config.queue_max_messages = 1;
  start_escrow(config);
  Party a = party();
  Party b = party();
  const wire::EscrowOpened ex = opened(a, b, clock_.now_ms() + kHour);
  ASSERT_TRUE(hash_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0xA1))));
  (void)deposit(a.c, b.q.sender_id, envelope(0x99));  // B's queue is now full
  EXPECT_EQ(deliveries(b.c).size(), 1u);
  EXPECT_EQ(error_of(put(b.c, ex.exchange_id, ex.token_b, envelope(0xB1))),
            RelayErrorCode::kQueueFull);
  // Neither leg went through: A's queue is empty and both sides are where they were.
  EXPECT_EQ(queued(a.q), 0u);
  EXPECT_EQ(queued(b.q), 1u);
  EXPECT_TRUE(deliveries(a.c).empty());
  EXPECT_EQ(status(a.c, ex.exchange_id, ex.token_a).own_deposited, true);
  EXPECT_EQ(status(b.c, ex.exchange_id, ex.token_b).own_deposited, false);
  // Once B's queue has room, B's retry releases both.
  EXPECT_TRUE(is_ok(ack(b.c, b.q, 1)));
  ASSERT_TRUE(hash_of(put(b.c, ex.exchange_id, ex.token_b, envelope(0xB1))));
  EXPECT_EQ(deliveries(a.c).size(), 1u);
  EXPECT_EQ(deliveries(b.c).size(), 1u);
}

// FailingCommitStore runs each write's callback, then, when told to, fails the commit: the
// transaction rolls back as after a full disk.
class FailingCommitStore final : public store::RelayStore {
 public:
  FailingCommitStore(std::unique_ptr<store::RelayStore> inner, std::atomic<bool>& failing)
      : inner_(std::move(inner)), failing_(failing) {}
  Result<void> write(store::Durability d, const TxnFn& fn) override {
    return inner_->write(d, [&](store::RelayStoreTxn& t) -> Result<void> {
      BC_TRY(fn(t));
      if (failing_.load()) return fail(Errc::kUnavailable, "commit failed (simulated)");
      return ok();
    });
  }
  Result<void> read(const TxnFn& fn) override { return inner_->read(fn); }
  Result<store::RelayStoreStats> stats() override { return inner_->stats(); }

 private:
  std::unique_ptr<store::RelayStore> inner_;
  std::atomic<bool>& failing_;
};

TEST_F(EscrowTest, AReleaseWhoseTransactionFailsLeavesNothingHalfDone) {
  std::atomic<bool> failing{false};
  start_escrow(RelayConfig{},
               std::make_unique<FailingCommitStore>(store::make_memory_relay_store(), failing));
  Party a = party();
  Party b = party();
  const wire::EscrowOpened ex = opened(a, b, clock_.now_ms() + kHour);
  ASSERT_TRUE(hash_of(put(a.c, ex.exchange_id, ex.token_a, envelope(0xA1))));
  failing = true;
  EXPECT_EQ(error_of(put(b.c, ex.exchange_id, ex.token_b, envelope(0xB1))),
            RelayErrorCode::kStorageUnavailable);
  failing = false;
  EXPECT_TRUE(deliveries(a.c).empty());
  EXPECT_TRUE(deliveries(b.c).empty());
  EXPECT_EQ(queued(a.q), 0u);
  EXPECT_EQ(queued(b.q), 0u);
  const std::optional<store::EscrowRecord> rec = stored(ex.exchange_id);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->phase, store::EscrowPhase::kOpen);
  EXPECT_EQ(rec->deposit_a, envelope(0xA1));
  EXPECT_FALSE(rec->deposit_b.has_value());
  EXPECT_FALSE(rec->certificate.has_value());
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_escrow_releases_total"), 0u);
  // The retry releases both, exactly once.
  ASSERT_TRUE(hash_of(put(b.c, ex.exchange_id, ex.token_b, envelope(0xB1))));
  EXPECT_EQ(deliveries(a.c).size(), 1u);
  EXPECT_EQ(deliveries(b.c).size(), 1u);
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_escrow_releases_total"), 1u);
}

TEST_F(EscrowTest, ARestartBetweenTheDepositsLosesNothingAndReleasesNothingEarly) {
  std::string tmpl = (fs::temp_directory_path() / "bc-relay-escrow-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path dir = tmpl;
  const fs::path file = dir / store::kRelayDbFileName;
  std::optional<Party> a, b;
  wire::EscrowOpened ex;
  {
    auto s = store::open_sqlite_store(file);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    start_escrow(RelayConfig{}, std::move(s).value());
    a.emplace(party());
    b.emplace(party());
    ex = opened(*a, *b, clock_.now_ms() + kHour);
    ASSERT_TRUE(hash_of(put(a->c, ex.exchange_id, ex.token_a, envelope(0xA1, 4096))));
    relay_.reset();
  }
  // Neither token is in the database files; only their hashes are.
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream in(file.string() + suffix, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const wire::EscrowToken& t : {ex.token_a, ex.token_b}) {
      EXPECT_EQ(bytes.find(std::string(t.begin(), t.end())), std::string::npos) << suffix;
    }
  }
  auto s = store::open_sqlite_store(file);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  start_escrow(RelayConfig{}, std::move(s).value());
  EXPECT_EQ(metric(relay_->metrics_text(), "bc_relay_escrows"), 1u);
  Client ca = connect();
  Client cb = connect();
  EXPECT_TRUE(is_ok(subscribe(ca, a->q)));
  EXPECT_TRUE(is_ok(subscribe(cb, b->q)));
  EXPECT_TRUE(deliveries(ca).empty());  // nothing released early
  EXPECT_TRUE(deliveries(cb).empty());
  EXPECT_EQ(status(ca, ex.exchange_id, ex.token_a),
            (wire::EscrowState{wire::EscrowPhase::kOpen, true, std::nullopt}));
  EXPECT_EQ(status(cb, ex.exchange_id, ex.token_b),
            (wire::EscrowState{wire::EscrowPhase::kOpen, false, std::nullopt}));
  ASSERT_TRUE(hash_of(put(cb, ex.exchange_id, ex.token_b, envelope(0xB1))));
  std::vector<wire::Delivery> to_b = deliveries(cb);
  ASSERT_EQ(to_b.size(), 1u);
  EXPECT_EQ(to_b[0].envelope, envelope(0xA1, 4096));  // A's deposit survived the restart
  std::vector<wire::Delivery> to_a = deliveries(ca);
  ASSERT_EQ(to_a.size(), 1u);
  EXPECT_EQ(to_a[0].envelope, envelope(0xB1));
  relay_.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(RelayConfigTest, RejectsZeroLimits) {
  EXPECT_TRUE(validate_relay_config(RelayConfig{}).has_value());
  RelayConfig c;
  c.push_window = 0;
  EXPECT_EQ(validate_relay_config(c).error().code, Errc::kMalformed);
  RelayConfig t;
  t.message_ttl_ms = 0;
  EXPECT_FALSE(validate_relay_config(t).has_value());
  RelayConfig b;
  b.push_window_bytes = 0;
  EXPECT_EQ(validate_relay_config(b).error().message(),
            "malformed: relay config: push_window_bytes");
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
