// Client orchestration against an in-process relay (memory store, real transport on loopback),
// with a tap that lets a test replay what the relay received.
#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <mutex>

#include "backchannel/client.hpp"
#include "core/clock.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/random.hpp"
#include "net/certificate.hpp"
#include "net/server.hpp"
#include "protocol/invitation.hpp"
#include "relay/relay.hpp"
#include "relay/relay_client.hpp"
#include "store/relay_store.hpp"
#include "wire/relay_frames.hpp"

namespace bc::client {
namespace {

namespace fs = std::filesystem;
const Bytes kPass = {'p', 'w'};

// TamperOutbox sits between the service and the transport; when told to, it breaks the relay's
// receipt signatures (as a relay that lies about what it signed would).
class TamperOutbox final : public relay::Outbox {
 public:
  void send(relay::ConnectionId c, Bytes frame) override {
    if (break_receipts.load()) {
      auto f = wire::decode_relay_frame(frame);
      if (f) {
        if (auto* r = std::get_if<wire::DepositReceipt>(&f->message)) r->proof.signature[0] ^= 1;
        if (auto* d = std::get_if<wire::Delivery>(&f->message)) d->proof.signature[0] ^= 1;
        frame = wire::encode_relay_frame(*f).value();
      }
    }
    inner->send(c, std::move(frame));
  }
  void close(relay::ConnectionId c) override { inner->close(c); }
  void flush() override { inner->flush(); }
  relay::Outbox* inner = nullptr;
  std::atomic<bool> break_receipts{false};
};

// TapService passes every frame to the real service and keeps the deposits it saw.
class TapService final : public relay::RelayService {
 public:
  void on_open(relay::ConnectionId c) override { inner.load()->on_open(c); }
  void on_frame(relay::ConnectionId c, ByteView frame) override {
    auto f = wire::decode_relay_frame(frame);
    if (f && std::holds_alternative<wire::Deposit>(f->message)) {
      std::lock_guard lock(mu);
      deposits.push_back(to_bytes(frame));
    }
    inner.load()->on_frame(c, frame);
  }
  void on_close(relay::ConnectionId c) override { inner.load()->on_close(c); }
  [[nodiscard]] std::string metrics_text() const override { return inner.load()->metrics_text(); }

  // replay deposits a frame again, as a relay replaying an old envelope would.
  void replay(std::size_t index) {
    Bytes frame;
    {
      std::lock_guard lock(mu);
      frame = deposits.at(index);
    }
    inject(frame);
  }
  // alter deposits a copy of a frame with one byte of its envelope changed at `offset`.
  void alter(std::size_t index, std::size_t offset) {
    Bytes frame;
    {
      std::lock_guard lock(mu);
      frame = deposits.at(index);
    }
    auto f = wire::decode_relay_frame(frame);
    ASSERT_TRUE(f);
    auto& deposit = std::get<wire::Deposit>(f->message);
    deposit.envelope.at(offset) ^= 0x01;
    auto encoded = wire::encode_relay_frame(*f);
    ASSERT_TRUE(encoded);
    inject(*encoded);
  }
  // inject deposits a frame through a connection of its own, as the relay itself could.
  void inject(const Bytes& frame) {
    constexpr relay::ConnectionId kReplayer = 1'000'000;
    relay::RelayClientCodec codec;
    const Bytes hello = *codec.hello();  // the relay answers nothing before the handshake
    inner.load()->on_open(kReplayer);
    inner.load()->on_frame(kReplayer, hello);
    inner.load()->on_frame(kReplayer, frame);
    inner.load()->flush();
    inner.load()->on_close(kReplayer);
  }
  std::size_t deposit_count() {
    std::lock_guard lock(mu);
    return deposits.size();
  }

  // Atomic: a test swaps the service while the transport's threads call it.
  std::atomic<relay::RelayCore*> inner{nullptr};
  std::mutex mu;
  std::vector<Bytes> deposits;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bc-client-unit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "tls");
    auto cert = net::ensure_self_signed(dir_ / "tls", "127.0.0.1");
    ASSERT_TRUE(cert) << cert.error().message();
    net::ServerOptions options;
    options.cert_pem = cert->cert;
    options.key_pem = cert->key;
    auto server = net::Server::create(options);
    ASSERT_TRUE(server) << server.error().message();
    server_ = std::move(server).value();
    tamper_.inner = &server_->outbox();
    auto service = relay::make_relay_service(
        relay::RelayConfig{}, {relay_key_.private_key.copy(), relay_key_.public_key},
        store::make_memory_relay_store(), tamper_, relay_clock_, rng_);
    ASSERT_TRUE(service) << service.error().message();
    service_ = std::move(service).value();
    tap_.inner = service_.get();
    server_->start(tap_);
    url_ = "wss://127.0.0.1:" + std::to_string(server_->port());
    fingerprint_ = to_hex(*net::certificate_fingerprint(cert->cert));
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (service_) service_->shutdown();
    fs::remove_all(dir_);
  }

  std::unique_ptr<Client> make(const std::string& name, Clock* clock = nullptr) {
    ClientOptions options;
    options.clock = clock;
    options.sync_quiet_ms = 300;
    auto c = Client::init((dir_ / name).string(), kPass, name, KdfCost::kMinimum, options);
    EXPECT_TRUE(c) << c.error().message();
    EXPECT_TRUE((*c)->relay_add(url_, fingerprint_));
    return std::move(c).value();
  }

  static int count(const std::vector<Event>& events, EventKind kind) {
    int n = 0;
    for (const auto& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }

  fs::path dir_;
  SystemClock relay_clock_;
  crypto::SystemRng rng_;
  const crypto::Ed25519KeyPair relay_key_ = crypto::ed25519_generate(rng_);
  TamperOutbox tamper_;
  std::unique_ptr<net::Server> server_;
  std::unique_ptr<relay::RelayCore> service_;
  TapService tap_;
  std::string url_;
  std::string fingerprint_;
};

TEST_F(ClientTest, ReplayedEnvelopeIsShownOnce) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto inv = mediator->invite_create();
  ASSERT_TRUE(inv);
  ASSERT_TRUE(alpha->invite_accept(inv->code, "med"));
  ASSERT_TRUE(mediator->sync());
  ASSERT_TRUE(alpha->send_text("med", "only once"));
  auto first = mediator->sync();
  ASSERT_TRUE(first);
  EXPECT_EQ(count(*first, EventKind::kMessage), 1);
  tap_.replay(tap_.deposit_count() - 1);  // the relay replays the text message
  tap_.replay(0);                         // and the very first PreKeySignalMessage
  auto held = mediator->held_by_relays();
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 2U);  // both replays reached the mediator's queue
  auto second = mediator->sync();
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(count(*second, EventKind::kMessage), 0);
  EXPECT_EQ(count(*second, EventKind::kContactAdded), 0);
  EXPECT_EQ(mediator->history("alpha")->size(), 1U);
  EXPECT_EQ(mediator->contacts()->size(), 1U);
  EXPECT_TRUE(mediator->held_by_relays()->empty());  // the replays were acknowledged away
  // Each replay raised one "replayed" alert, reported by sync and kept for later.
  ASSERT_EQ(count(*second, EventKind::kAlert), 2);
  for (const auto& e : *second) {
    ASSERT_TRUE(e.alert);
    EXPECT_EQ(e.alert->code, "replayed");
    EXPECT_EQ(e.alert->alias, "alpha");
    EXPECT_EQ(e.alert->relay_url, url_);
  }
  auto stored = mediator->alerts("alpha");
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 2U);
  EXPECT_EQ((*stored)[0].code, "replayed");
  EXPECT_EQ(mediator->alerts("")->size(), 2U);
  EXPECT_EQ(mediator->alerts("nobody").error().code, Errc::kNotFound);
}

TEST_F(ClientTest, ReceiptsOfBothSidesVerifyUnderThePinnedRelayKey) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  EXPECT_EQ(alpha->relays()->at(0).signing_key_hex, to_hex(relay_key_.public_key.view()));
  auto inv = mediator->invite_create();
  ASSERT_TRUE(alpha->invite_accept(inv->code, "med"));
  ASSERT_TRUE(mediator->sync());
  ASSERT_TRUE(alpha->send_text("med", "one"));
  ASSERT_TRUE(alpha->send_text("med", "two"));
  ASSERT_TRUE(mediator->sync());
  auto sent = alpha->history("med");
  auto got = mediator->history("alpha");
  ASSERT_EQ(sent->size(), 2U);
  ASSERT_EQ(got->size(), 2U);
  for (std::size_t i = 0; i < 2; ++i) {
    ASSERT_EQ((*sent)[i].receipts.size(), 1U);
    ASSERT_EQ((*got)[i].receipts.size(), 1U);
    const ReceiptInfo& d = (*sent)[i].receipts[0];
    const ReceiptInfo& r = (*got)[i].receipts[0];
    EXPECT_EQ(d.direction, "deposit");
    EXPECT_EQ(r.direction, "delivery");
    // The same statement on both sides; the delivery came from the store, so the relay signed
    // it again in its refill's batch.
    EXPECT_EQ(d.seq, r.seq);
    EXPECT_EQ(d.relay_time_ms, r.relay_time_ms);
    EXPECT_EQ(d.envelope_hash_hex, r.envelope_hash_hex);
    EXPECT_EQ(d.batch_size, 1U);  // each deposit waited for its receipt: a batch of its own
    EXPECT_TRUE(d.batch_path_hex.empty());
    EXPECT_EQ(r.batch_size, 2U);  // both deliveries came in one refill
    EXPECT_EQ(r.batch_index, i);
    EXPECT_EQ(r.batch_path_hex.size(), 64U);
    EXPECT_EQ(r.signature_hex, (*got)[0].receipts[0].signature_hex);
    EXPECT_EQ(d.relay_url, url_);
  }
  EXPECT_EQ((*sent)[1].receipts[0].seq, (*sent)[0].receipts[0].seq + 1);
  EXPECT_TRUE(alpha->alerts("med")->empty());
  EXPECT_TRUE(mediator->alerts("alpha")->empty());
}

TEST_F(ClientTest, BadReceiptKeepsTheMessageAndRaisesAnAlert) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto inv = mediator->invite_create();
  ASSERT_TRUE(alpha->invite_accept(inv->code, "med"));
  ASSERT_TRUE(mediator->sync());
  tamper_.break_receipts = true;
  auto sent = alpha->send_text("med", "signed badly");
  ASSERT_TRUE(sent) << sent.error().message();  // the relay stored it: the message is sent
  auto got = mediator->sync();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(count(*got, EventKind::kMessage), 1);
  ASSERT_EQ(count(*got, EventKind::kAlert), 1);
  for (const auto& s : {alpha->alerts("med"), mediator->alerts("alpha")}) {
    ASSERT_TRUE(s);
    ASSERT_EQ(s->size(), 1U);
    EXPECT_EQ((*s)[0].code, "bad_receipt");
    EXPECT_EQ((*s)[0].relay_url, url_);
  }
  auto history = mediator->history("alpha");
  ASSERT_EQ(history->size(), 1U);
  EXPECT_EQ((*history)[0].text, "signed badly");
  EXPECT_TRUE((*history)[0].receipts.empty());  // only receipts that verify are kept
  EXPECT_EQ(alpha->history("med")->at(0).status, "sent");
}

TEST_F(ClientTest, RelayThatSignsWithAnotherKeyIsRefused) {
  auto alpha = make("alpha");
  auto inv = alpha->invite_create();
  ASSERT_TRUE(inv);
  // The same address and certificate, but another signing key behind it.
  auto other =
      relay::make_relay_service(relay::RelayConfig{}, crypto::ed25519_generate(rng_),
                                store::make_memory_relay_store(), tamper_, relay_clock_, rng_);
  ASSERT_TRUE(other);
  tap_.inner = other->get();
  auto refused = alpha->sync();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kAuthFailed);
  EXPECT_EQ(alpha->relay_add(url_, fingerprint_).error().code, Errc::kAuthFailed);
  tap_.inner = service_.get();
  (*other)->shutdown();
  EXPECT_TRUE(alpha->sync());  // the pinned relay is accepted again
}

TEST_F(ClientTest, AlteredEnvelopeIsKeptAndRaisesAnAlert) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto inv = mediator->invite_create();
  ASSERT_TRUE(alpha->invite_accept(inv->code, "med"));
  ASSERT_TRUE(mediator->sync());
  ASSERT_TRUE(alpha->send_text("med", "one"));
  // The relay withholds nothing but hands over a copy of the message with one byte changed.
  tap_.alter(tap_.deposit_count() - 1, 40);
  auto got = mediator->sync();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(count(*got, EventKind::kMessage), 1);
  EXPECT_EQ(count(*got, EventKind::kUndecryptable), 1);
  ASSERT_EQ(count(*got, EventKind::kAlert), 1);
  auto alerts = mediator->alerts("alpha");
  ASSERT_EQ(alerts->size(), 1U);
  EXPECT_EQ((*alerts)[0].code, "altered");
  EXPECT_NE((*alerts)[0].text.find("alpha"), std::string::npos);
}

TEST_F(ClientTest, CleanConversationRaisesNoAlert) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto inv = mediator->invite_create();
  ASSERT_TRUE(alpha->invite_accept(inv->code, "med"));
  ASSERT_TRUE(mediator->sync());
  int shown = 0;
  for (int round = 0; round < 4; ++round) {
    ASSERT_TRUE(alpha->send_text("med", "a" + std::to_string(round)));
    ASSERT_TRUE(alpha->send_text("med", "b" + std::to_string(round)));
    auto at_mediator = mediator->sync();  // every sync is a new connection
    ASSERT_TRUE(at_mediator);
    EXPECT_EQ(count(*at_mediator, EventKind::kAlert), 0);
    shown += count(*at_mediator, EventKind::kMessage);
    ASSERT_TRUE(mediator->send_text("alpha", "r" + std::to_string(round)));
    auto at_alpha = alpha->sync();
    ASSERT_TRUE(at_alpha);
    EXPECT_EQ(count(*at_alpha, EventKind::kAlert), 0);
    EXPECT_EQ(count(*at_alpha, EventKind::kMessage), 1);
  }
  EXPECT_EQ(shown, 8);
  EXPECT_TRUE(mediator->alerts("")->empty());
  EXPECT_TRUE(alpha->alerts("")->empty());
}

TEST_F(ClientTest, InvitationExpiredWhenItArrivesIsRefused) {
  ManualClock issuer_clock(SystemClock().now_ms());
  auto mediator = make("mediator", &issuer_clock);
  auto alpha = make("alpha");
  auto inv = mediator->invite_create();
  ASSERT_TRUE(inv);
  ASSERT_TRUE(alpha->invite_accept(inv->code, "med"));
  issuer_clock.advance(8LL * 24 * 60 * 60 * 1000);
  auto events = mediator->sync();
  ASSERT_TRUE(events);
  EXPECT_EQ(count(*events, EventKind::kWarning), 1);
  EXPECT_TRUE(mediator->contacts()->empty());
}

TEST_F(ClientTest, QueuedMessageGoesOutWithTheNextSync) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto inv = mediator->invite_create();
  ASSERT_TRUE(alpha->invite_accept(inv->code, "med"));
  ASSERT_TRUE(mediator->sync());
  ASSERT_TRUE(alpha->send_text("med", "one"));
  ASSERT_TRUE(alpha->send_text("med", "two"));
  auto got = mediator->sync();
  ASSERT_TRUE(got);
  ASSERT_EQ(count(*got, EventKind::kMessage), 2);
  EXPECT_EQ((*got)[0].message->text, "one");
  EXPECT_EQ((*got)[1].message->text, "two");
  auto history = alpha->history("med");
  ASSERT_EQ(history->size(), 2U);
  EXPECT_EQ((*history)[0].status, "sent");
}

// A relay (or anyone who learned a queue's address) that starts a new session under a contact's
// queue makes the contact's identity key change: sending stops until the user confirms.
TEST_F(ClientTest, ChangedIdentityKeyBlocksSendingUntilConfirmed) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto eve = make("eve");
  auto inv = mediator->invite_create();
  ASSERT_TRUE(alpha->invite_accept(inv->code, "med"));
  ASSERT_TRUE(mediator->sync());
  ASSERT_TRUE(alpha->send_text("med", "hello"));
  ASSERT_TRUE(mediator->sync());
  // The last deposit went to the mediator's queue for alpha: aim a fresh invitation at it.
  const auto last = wire::decode_relay_frame(tap_.deposits.back());
  ASSERT_TRUE(last);
  const auto alpha_queue = std::get<wire::Deposit>(last->message).sender_id;
  auto second = mediator->invite_create();
  ASSERT_TRUE(second);
  auto forged = protocol::Invitation::from_code(second->code);
  ASSERT_TRUE(forged);
  forged->relays[0].queue = alpha_queue;
  // Only the signed prekey: a one-time prekey of another invitation is refused on a contact queue.
  forged->bundle.prekey_id.reset();
  forged->bundle.prekey.reset();
  ASSERT_TRUE(eve->invite_accept(*forged->to_code(), "med"));
  auto events = mediator->sync();
  ASSERT_TRUE(events) << events.error().message();
  EXPECT_EQ(count(*events, EventKind::kWarning), 1);
  auto contacts = mediator->contacts();
  ASSERT_EQ(contacts->size(), 1U);
  EXPECT_TRUE((*contacts)[0].identity_changed);
  auto blocked = mediator->send_text("alpha", "are you still you?");
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().code, Errc::kUntrustedIdentity);
  ASSERT_TRUE(mediator->verify("alpha", true));
  EXPECT_TRUE(mediator->send_text("alpha", "confirmed"));
}

}  // namespace
}  // namespace bc::client
