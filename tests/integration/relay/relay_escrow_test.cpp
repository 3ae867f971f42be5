// Integration tests of the relay's escrow through the real backchannel-relay binary over TLS,
// spoken with the client's own RelayLink calls: a release with a certificate that verifies
// against the key the relay printed, refusals, a SIGKILL between the two deposits, expiry.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "client/relay_link.hpp"
#include "core/clock.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "protocol/escrow_certificate.hpp"
#include "relay_harness.hpp"

namespace bc::test {
namespace {

constexpr std::uint32_t kTimeoutMs = 20'000;
constexpr std::int64_t kMinute = 60'000;

// Party is one side: its own link and queue, subscribed.
struct Party {
  std::unique_ptr<client::RelayLink> link;
  crypto::Ed25519KeyPair owner;
  wire::QueueCreated queue;
};

class RelayEscrowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("bc-relay-escrow-it");
    start("purge_interval_ms = 100\n");
  }
  void start(const std::string& config) {
    relay_.reset();
    auto relay = RelayProcess::start(dir_->path() / "data", config);
    ASSERT_TRUE(relay) << relay.error().message();
    relay_ = std::move(*relay);
  }
  std::string url() const { return "wss://127.0.0.1:" + std::to_string(relay_->port()); }

  std::unique_ptr<client::RelayLink> link() {
    auto l = client::RelayLink::connect(url(), relay_->fingerprint(), kTimeoutMs);
    EXPECT_TRUE(l) << l.error().message();
    return l ? std::move(*l) : nullptr;
  }
  Party party() {
    Party p{link(), crypto::ed25519_generate(rng_), {}};
    if (!p.link) return p;
    auto q = p.link->create_queue(p.owner.public_key);
    EXPECT_TRUE(q) << q.error().message();
    if (q) p.queue = *q;
    EXPECT_TRUE(p.link->subscribe(p.queue.recipient_id, p.owner.private_key));
    return p;
  }
  // resubscribe connects `p` again (after a relay restart).
  void resubscribe(Party& p) {
    p.link = link();
    ASSERT_NE(p.link, nullptr);
    ASSERT_TRUE(p.link->subscribe(p.queue.recipient_id, p.owner.private_key));
  }
  static Bytes envelope(std::uint8_t fill, std::size_t size = 1024) { return Bytes(size, fill); }

  crypto::SystemRng rng_;
  SystemClock clock_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<RelayProcess> relay_;
};

TEST_F(RelayEscrowTest, BothDepositsAreReleasedOnceWithACertificateSignedByTheRelay) {
  Party a = party();
  Party b = party();
  ASSERT_TRUE(a.link && b.link);
  const std::int64_t deadline = clock_.now_ms() + 10 * kMinute;
  auto ex = a.link->escrow_open(deadline, a.queue.sender_id, b.queue.sender_id);
  ASSERT_TRUE(ex) << ex.error().message();

  auto ha = a.link->escrow_deposit(ex->exchange_id, ex->token_a, envelope(0xA1));
  ASSERT_TRUE(ha) << ha.error().message();
  EXPECT_EQ(*ha, crypto::sha256(envelope(0xA1)));
  auto sb = b.link->escrow_status(ex->exchange_id, ex->token_b);
  ASSERT_TRUE(sb) << sb.error().message();
  EXPECT_EQ(*sb, (wire::EscrowState{wire::EscrowPhase::kOpen, false, std::nullopt}));
  // A duplicate, a stranger's token.
  auto dup = a.link->escrow_deposit(ex->exchange_id, ex->token_a, envelope(0xA2));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::kDuplicate);
  wire::EscrowToken stranger{};
  stranger.fill(0x77);
  auto eve = b.link->escrow_status(ex->exchange_id, stranger);
  ASSERT_FALSE(eve);
  EXPECT_EQ(eve.error().code, Errc::kNotFound);

  auto hb = b.link->escrow_deposit(ex->exchange_id, ex->token_b, envelope(0xB1, 4096));
  ASSERT_TRUE(hb) << hb.error().message();
  auto to_a = a.link->next_delivery(kTimeoutMs);
  ASSERT_TRUE(to_a && to_a->has_value());
  EXPECT_EQ((*to_a)->envelope, envelope(0xB1, 4096));
  auto to_b = b.link->next_delivery(kTimeoutMs);
  ASSERT_TRUE(to_b && to_b->has_value());
  EXPECT_EQ((*to_b)->envelope, envelope(0xA1));

  for (Party* p : {&a, &b}) {
    auto s = p->link->escrow_status(ex->exchange_id, p == &a ? ex->token_a : ex->token_b);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_EQ(s->phase, wire::EscrowPhase::kReleased);
    ASSERT_TRUE(s->certificate.has_value());
    auto cert = protocol::decode_release_certificate(*s->certificate);
    ASSERT_TRUE(cert) << cert.error().message();
    auto key = crypto::Ed25519PublicKey::from_bytes(relay_->signing_key());
    ASSERT_TRUE(key);
    EXPECT_TRUE(protocol::verify_release_certificate(*key, *cert));
    EXPECT_EQ(cert->exchange_id, ex->exchange_id);
    EXPECT_EQ(cert->deadline_ms, deadline);
    EXPECT_EQ(cert->hash_a, *ha);
    EXPECT_EQ(cert->hash_b, *hb);
    EXPECT_EQ(cert->hash_a, crypto::sha256((*to_b)->envelope));
    EXPECT_EQ(cert->hash_b, crypto::sha256((*to_a)->envelope));
  }
  auto late = a.link->escrow_cancel(ex->exchange_id, ex->token_a);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Errc::kConflict);
}

TEST_F(RelayEscrowTest, ASigkillBetweenTheDepositsLosesNothingAndReleasesNothingEarly) {
  Party a = party();
  Party b = party();
  ASSERT_TRUE(a.link && b.link);
  auto ex =
      a.link->escrow_open(clock_.now_ms() + 10 * kMinute, a.queue.sender_id, b.queue.sender_id);
  ASSERT_TRUE(ex) << ex.error().message();
  ASSERT_TRUE(a.link->escrow_deposit(ex->exchange_id, ex->token_a, envelope(0xA1)));
  relay_->kill9();
  start("purge_interval_ms = 100\n");
  resubscribe(a);
  resubscribe(b);
  auto sa = a.link->escrow_status(ex->exchange_id, ex->token_a);
  ASSERT_TRUE(sa) << sa.error().message();
  EXPECT_EQ(*sa, (wire::EscrowState{wire::EscrowPhase::kOpen, true, std::nullopt}));
  ASSERT_TRUE(b.link->escrow_deposit(ex->exchange_id, ex->token_b, envelope(0xB1)));
  auto to_b = b.link->next_delivery(kTimeoutMs);
  ASSERT_TRUE(to_b && to_b->has_value());
  EXPECT_EQ((*to_b)->envelope, envelope(0xA1));
  auto to_a = a.link->next_delivery(kTimeoutMs);
  ASSERT_TRUE(to_a && to_a->has_value());
  EXPECT_EQ((*to_a)->envelope, envelope(0xB1));
}

TEST_F(RelayEscrowTest, AfterTheDeadlineBothSidesLearnOnlyThatItExpired) {
  Party a = party();
  Party b = party();
  ASSERT_TRUE(a.link && b.link);
  auto bad = a.link->escrow_open(clock_.now_ms() - 1, a.queue.sender_id, b.queue.sender_id);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kMalformed);
  const std::int64_t deadline = clock_.now_ms() + 1500;
  auto ex = a.link->escrow_open(deadline, a.queue.sender_id, b.queue.sender_id);
  ASSERT_TRUE(ex) << ex.error().message();
  ASSERT_TRUE(a.link->escrow_deposit(ex->exchange_id, ex->token_a, envelope(0xA1)));
  // Await the deadline by the relay's clock (same machine), with a generous bound.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  wire::EscrowState sa;
  do {
    auto s = a.link->escrow_status(ex->exchange_id, ex->token_a);
    ASSERT_TRUE(s) << s.error().message();
    sa = *s;
    if (sa.phase == wire::EscrowPhase::kOpen) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } while (sa.phase == wire::EscrowPhase::kOpen && std::chrono::steady_clock::now() < give_up);
  const wire::EscrowState expired{wire::EscrowPhase::kExpired, false, std::nullopt};
  EXPECT_EQ(sa, expired);
  auto sb = b.link->escrow_status(ex->exchange_id, ex->token_b);
  ASSERT_TRUE(sb) << sb.error().message();
  EXPECT_EQ(*sb, expired);
  auto late = b.link->escrow_deposit(ex->exchange_id, ex->token_b, envelope(0xB1));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Errc::kConflict);
  // Nothing was delivered to either side.
  auto none = b.link->next_delivery(1000);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

}  // namespace
}  // namespace bc::test
