// End-to-end tests of the client through the real backchannel-relay binary over TLS.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <thread>

#include "backchannel/client.hpp"
#include "core/clock.hpp"
#include "integration/relay/relay_harness.hpp"
#include "support/test_paths.hpp"

namespace bc::client {
namespace {

namespace fs = std::filesystem;

const Bytes kPass = {'p', 'a', 's', 's'};

class ClientE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<test::TempDir>("bc-client-e2e");
    auto relay = test::RelayProcess::start(dir_->path() / "relay");
    ASSERT_TRUE(relay) << relay.error().message();
    relay_ = std::move(relay).value();
    url_ = "wss://127.0.0.1:" + std::to_string(relay_->port());
    fingerprint_ = to_hex(relay_->fingerprint());
  }

  std::unique_ptr<Client> make(const std::string& name, ClientOptions options = {}) {
    if (options.clock == nullptr) options.clock = &clock_;
    auto c = Client::init((dir_->path() / name).string(), kPass, name, KdfCost::kMinimum, options);
    EXPECT_TRUE(c) << c.error().message();
    auto added = (*c)->relay_add(url_, fingerprint_);
    EXPECT_TRUE(added) << added.error().message();
    return std::move(c).value();
  }

  // connect makes `acceptor` accept an invitation of `issuer`, then the issuer syncs.
  void connect(Client& issuer, Client& acceptor, const std::string& alias) {
    auto inv = issuer.invite_create();
    ASSERT_TRUE(inv) << inv.error().message();
    auto accepted = acceptor.invite_accept(inv->code, alias);
    ASSERT_TRUE(accepted) << accepted.error().message();
    auto events = issuer.sync();
    ASSERT_TRUE(events) << events.error().message();
  }

  static std::vector<std::string> aliases(Client& c) {
    std::vector<std::string> out;
    auto list = c.contacts();
    EXPECT_TRUE(list) << list.error().message();
    for (const auto& x : *list) out.push_back(x.alias);
    return out;
  }

  ManualClock clock_{SystemClock().now_ms()};
  std::unique_ptr<test::TempDir> dir_;
  std::unique_ptr<test::RelayProcess> relay_;
  std::string url_;
  std::string fingerprint_;
};

TEST_F(ClientE2ETest, InvitationThenMessagesBothWaysExactlyOnce) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  connect(*mediator, *alpha, "med");
  EXPECT_EQ(aliases(*alpha), std::vector<std::string>{"med"});
  EXPECT_EQ(aliases(*mediator), std::vector<std::string>{"alpha"});

  ASSERT_TRUE(alpha->send_text("med", "hello mediator"));
  auto got = mediator->sync();
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got->size(), 1U);
  ASSERT_TRUE((*got)[0].message);
  EXPECT_EQ((*got)[0].message->text, "hello mediator");
  // A second sync finds nothing: the envelope was acknowledged and deleted.
  EXPECT_TRUE(mediator->sync()->empty());
  EXPECT_TRUE(mediator->held_by_relays()->empty());

  ASSERT_TRUE(mediator->send_text("alpha", "hello alpha"));
  ASSERT_TRUE(mediator->send_text("alpha", "second"));
  auto back = alpha->sync();
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 2U);
  auto history = alpha->history("med");
  ASSERT_TRUE(history);
  ASSERT_EQ(history->size(), 3U);
  EXPECT_TRUE((*history)[0].outgoing);
  EXPECT_EQ((*history)[1].text, "hello alpha");
  EXPECT_EQ((*history)[2].text, "second");
}

TEST_F(ClientE2ETest, IntroductionWithConsentGivesAPrivateSession) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  connect(*mediator, *alpha, "mediator");
  connect(*mediator, *bravo, "mediator");
  auto id = mediator->introduce("alpha", "bravo");
  ASSERT_TRUE(id) << id.error().message();
  ASSERT_TRUE(alpha->sync());
  ASSERT_TRUE(bravo->sync());
  auto pending = alpha->introductions();
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 1U);
  EXPECT_EQ((*pending)[0].state, "offered");
  EXPECT_EQ((*pending)[0].other, "bravo");
  ASSERT_TRUE(alpha->intro_accept(*id));
  EXPECT_EQ(alpha->intro_accept(*id).error().code, Errc::kConflict);  // answered already
  ASSERT_TRUE(bravo->intro_accept(*id));
  ASSERT_TRUE(mediator->sync());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(alpha->sync());
    ASSERT_TRUE(bravo->sync());
  }
  auto ac = alpha->contacts();
  auto bc = bravo->contacts();
  ASSERT_EQ(ac->size(), 2U);
  ASSERT_EQ(bc->size(), 2U);
  for (const auto& c : *ac) {
    if (c.alias == "bravo") {
      EXPECT_EQ(c.introduced_by, "mediator");
    }
  }
  for (const auto& c : *bc) {
    if (c.alias == "alpha") {
      EXPECT_EQ(c.introduced_by, "mediator");
    }
  }
  ASSERT_TRUE(alpha->send_text("bravo", "no strike unless attacked first"));
  auto got = bravo->sync();
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1U);
  EXPECT_EQ((*got)[0].message->text, "no strike unless attacked first");
  ASSERT_TRUE(bravo->send_text("alpha", "nor will we"));
  auto reply = alpha->sync();
  ASSERT_EQ(reply->size(), 1U);
  EXPECT_EQ((*reply)[0].message->text, "nor will we");
  // The safety numbers agree, and the mediator has no session with the pair.
  EXPECT_EQ(alpha->verify("bravo", false)->digits, bravo->verify("alpha", false)->digits);
  EXPECT_EQ(mediator->contacts()->size(), 2U);
}

TEST_F(ClientE2ETest, DeclinedIntroductionMakesNoContact) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  connect(*mediator, *alpha, "mediator");
  connect(*mediator, *bravo, "mediator");
  auto id = mediator->introduce("alpha", "bravo");
  ASSERT_TRUE(id);
  ASSERT_TRUE(alpha->sync());
  ASSERT_TRUE(bravo->sync());
  ASSERT_TRUE(alpha->intro_accept(*id));
  ASSERT_TRUE(bravo->intro_decline(*id));
  auto m = mediator->sync();
  ASSERT_TRUE(m);
  bool declined = false;
  for (const auto& e : *m) declined |= e.kind == EventKind::kIntroductionDeclined;
  EXPECT_TRUE(declined);
  auto a = alpha->sync();
  ASSERT_TRUE(a);
  EXPECT_EQ(alpha->contacts()->size(), 1U);
  EXPECT_EQ(bravo->contacts()->size(), 1U);
  EXPECT_EQ((*alpha->introductions())[0].state, "declined");
}

TEST_F(ClientE2ETest, InvitationCodeWorksOnce) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto eve = make("eve");
  auto inv = mediator->invite_create();
  ASSERT_TRUE(inv);
  ASSERT_TRUE(alpha->invite_accept(inv->code, "m"));
  ASSERT_TRUE(mediator->sync());
  ASSERT_TRUE(eve->invite_accept(inv->code, "m"));  // eve cannot know it was used
  auto events = mediator->sync();
  ASSERT_TRUE(events);
  EXPECT_EQ(aliases(*mediator), std::vector<std::string>{"alpha"});
  bool refused = false;
  for (const auto& e : *events)
    refused |= e.kind == EventKind::kWarning || e.kind == EventKind::kUndecryptable;
  EXPECT_TRUE(refused);
}

TEST_F(ClientE2ETest, ExpiredAndMalformedCodesAreRefused) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto inv = mediator->invite_create();
  ASSERT_TRUE(inv);
  auto bad = alpha->invite_accept("bc1notacode", "m");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kMalformed);
  auto own = mediator->invite_accept(inv->code, "me");
  ASSERT_FALSE(own);
  EXPECT_EQ(own.error().code, Errc::kConflict);
  clock_.advance(8LL * 24 * 60 * 60 * 1000);
  auto expired = alpha->invite_accept(inv->code, "m");
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, Errc::kConflict);
  EXPECT_TRUE(alpha->contacts()->empty());
}

TEST_F(ClientE2ETest, WrongFingerprintIsRefused) {
  auto c = Client::init((dir_->path() / "x").string(), kPass, "x", KdfCost::kMinimum);
  ASSERT_TRUE(c);
  std::string wrong = fingerprint_;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  auto r = (*c)->relay_add(url_, wrong);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kAuthFailed);
  EXPECT_TRUE((*c)->relays()->empty());
}

TEST_F(ClientE2ETest, UnknownAliasAndEmptyText) {
  auto alpha = make("alpha");
  EXPECT_EQ(alpha->send_text("nobody", "hi").error().code, Errc::kNotFound);
  EXPECT_EQ(alpha->history("nobody").error().code, Errc::kNotFound);
  EXPECT_EQ(alpha->verify("nobody", false).error().code, Errc::kNotFound);
  EXPECT_EQ(alpha->introduce("a", "b").error().code, Errc::kNotFound);
}

TEST_F(ClientE2ETest, WrongPassphraseChangesNothing) {
  { auto alpha = make("alpha"); }
  const auto path = dir_->path() / "alpha" / "store.db";
  const std::string before = test::read_file(path);
  auto r = Client::open((dir_->path() / "alpha").string(), as_bytes("wrong"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kAuthFailed);
  EXPECT_EQ(test::read_file(path), before);
  EXPECT_TRUE(Client::open((dir_->path() / "alpha").string(), kPass));
}

TEST_F(ClientE2ETest, UnreachableRelayKeepsTheMessageQueued) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  connect(*mediator, *alpha, "med");
  relay_->terminate();
  auto r = alpha->send_text("med", "while the relay is down");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  auto history = alpha->history("med");
  ASSERT_EQ(history->size(), 1U);
  EXPECT_EQ((*history)[0].status, "queued");
  EXPECT_EQ(mediator->sync().error().code, Errc::kUnavailable);
}

TEST_F(ClientE2ETest, NothingSecretInPlaintextOnDisk) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  connect(*mediator, *alpha, "med");
  const std::string secret = "the meeting is at the old customs house";
  ASSERT_TRUE(alpha->send_text("med", secret));
  ASSERT_TRUE(mediator->sync());
  const std::string key = *mediator->identity_key_hex();
  for (const auto& entry : fs::recursive_directory_iterator(dir_->path())) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = test::read_file(entry.path());
    EXPECT_EQ(bytes.find(secret), std::string::npos) << entry.path();
    EXPECT_EQ(bytes.find("customs"), std::string::npos) << entry.path();
  }
}

TEST_F(ClientE2ETest, WatchPrintsArrivingMessages) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  connect(*mediator, *alpha, "med");
  std::atomic<bool> stop{false};
  std::atomic<int> received{0};
  ClientOptions quick;
  quick.watch_idle_ms = 500;
  auto watcher = Client::open((dir_->path() / "mediator").string(), kPass, quick);
  ASSERT_TRUE(watcher);
  std::thread t([&] {
    auto r = (*watcher)->watch(
        [&](const Event& e) {
          if (e.kind == EventKind::kMessage) received.fetch_add(1);
        },
        stop);
    EXPECT_TRUE(r) << r.error().message();
  });
  ASSERT_TRUE(alpha->send_text("med", "one"));
  ASSERT_TRUE(alpha->send_text("med", "two"));
  for (int i = 0; i < 200 && received.load() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop.store(true);
  t.join();
  EXPECT_EQ(received.load(), 2);
  EXPECT_EQ(mediator->history("alpha")->size(), 2U);
}

TEST_F(ClientE2ETest, WatchSurvivesARelayRestartAndLosesNothing) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  connect(*mediator, *alpha, "med");
  std::atomic<bool> stop{false};
  std::atomic<int> received{0};
  std::atomic<int> warnings{0};
  ClientOptions fast;
  fast.relay_timeout_ms = 2000;
  fast.watch_idle_ms = 500;
  auto watcher = Client::open((dir_->path() / "mediator").string(), kPass, fast);
  ASSERT_TRUE(watcher);
  std::thread t([&] {
    auto r = (*watcher)->watch(
        [&](const Event& e) {
          if (e.kind == EventKind::kMessage) received.fetch_add(1);
          if (e.kind == EventKind::kWarning) warnings.fetch_add(1);
        },
        stop);
    EXPECT_TRUE(r) << r.error().message();
  });
  ASSERT_TRUE(alpha->send_text("med", "before the restart"));
  for (int i = 0; i < 200 && received.load() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(received.load(), 1);
  // Restart the relay on the same port with the same data (and so the same certificate).
  const std::uint16_t port = relay_->port();
  EXPECT_EQ(relay_->terminate(), 0);
  relay_.reset();
  auto again =
      test::RelayProcess::start(dir_->path() / "relay", {}, "127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(again) << again.error().message();
  relay_ = std::move(again).value();
  ASSERT_TRUE(alpha->send_text("med", "after the restart"));
  ASSERT_TRUE(alpha->send_text("med", "and once more"));
  for (int i = 0; i < 400 && received.load() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop.store(true);
  t.join();
  EXPECT_EQ(received.load(), 3);
  EXPECT_GE(warnings.load(), 1);  // the outage was reported
  auto history = mediator->history("alpha");
  ASSERT_TRUE(history);
  ASSERT_EQ(history->size(), 3U);
  EXPECT_EQ((*history)[2].text, "and once more");
}

// receipt_of is the one receipt a message holds, or nullptr.
const ReceiptInfo* receipt_of(const MessageInfo& m) {
  EXPECT_EQ(m.receipts.size(), 1U) << m.text;
  return m.receipts.size() == 1 ? &m.receipts[0] : nullptr;
}

TEST_F(ClientE2ETest, EverySentAndReceivedMessageHasTheSameVerifiedReceiptOnBothSides) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  auto relays = alpha->relays();
  ASSERT_TRUE(relays);
  ASSERT_EQ(relays->size(), 1U);
  EXPECT_EQ((*relays)[0].signing_key_hex, to_hex(relay_->signing_key()));  // pinned at relay add
  connect(*mediator, *alpha, "med");
  for (const char* text : {"one", "two", "three"}) ASSERT_TRUE(alpha->send_text("med", text));
  ASSERT_TRUE(mediator->send_text("alpha", "back"));
  ASSERT_TRUE(mediator->sync());
  ASSERT_TRUE(alpha->sync());
  auto sent = alpha->history("med");
  auto got = mediator->history("alpha");
  ASSERT_TRUE(sent && got);
  ASSERT_EQ(sent->size(), 4U);
  ASSERT_EQ(got->size(), 4U);
  std::uint64_t last_seq = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const MessageInfo& a = (*sent)[i];
    // Each side lists its own sends first when it sent before it received: match by text.
    const auto same = std::find_if(got->begin(), got->end(),
                                   [&](const MessageInfo& x) { return x.text == a.text; });
    ASSERT_NE(same, got->end()) << a.text;
    const MessageInfo& m = *same;
    ASSERT_NE(a.outgoing, m.outgoing);
    const ReceiptInfo* ra = receipt_of(a);
    const ReceiptInfo* rm = receipt_of(m);
    ASSERT_TRUE(ra && rm);
    // Each side kept the receipt of its own direction (only receipts that verify are kept); it
    // is the same statement, signed in a batch: the deposit's, or the refill's that delivered it.
    EXPECT_EQ(ra->direction, a.outgoing ? "deposit" : "delivery");
    EXPECT_EQ(rm->direction, m.outgoing ? "deposit" : "delivery");
    EXPECT_EQ(ra->relay_url, url_);
    EXPECT_EQ(ra->seq, rm->seq);
    EXPECT_EQ(ra->relay_time_ms, rm->relay_time_ms);
    EXPECT_EQ(ra->envelope_hash_hex, rm->envelope_hash_hex);
    EXPECT_GE(ra->batch_size, 1U);
    EXPECT_GE(rm->batch_size, 1U);
    if (a.outgoing) {
      EXPECT_GT(ra->seq, last_seq);  // the relay numbers one queue's envelopes in order
      last_seq = ra->seq;
    }
  }
  EXPECT_TRUE(alpha->alerts("med")->empty());
  EXPECT_TRUE(mediator->alerts("alpha")->empty());
}

TEST_F(ClientE2ETest, ARelayWhoseSigningKeyChangedIsRefused) {
  auto mediator = make("mediator");
  auto alpha = make("alpha");
  connect(*mediator, *alpha, "med");
  ASSERT_TRUE(alpha->send_text("med", "before"));
  // Same address, same data and certificate, but a new signing key: not the relay we pinned.
  const std::uint16_t port = relay_->port();
  EXPECT_EQ(relay_->terminate(), 0);
  relay_.reset();
  fs::remove(dir_->path() / "relay" / "relay-signing.key");
  auto again =
      test::RelayProcess::start(dir_->path() / "relay", {}, "127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(again) << again.error().message();
  relay_ = std::move(again).value();
  auto refused = mediator->sync();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kAuthFailed);
  EXPECT_NE(refused.error().message().find("different key"), std::string::npos);
  // Sending is refused too and the message stays queued, not lost.
  auto queued = alpha->send_text("med", "after");
  auto history = alpha->history("med");
  ASSERT_TRUE(history);
  ASSERT_EQ(history->size(), 2U);
  EXPECT_EQ((*history)[1].status, "queued");
  EXPECT_FALSE(queued);
  // Adding the relay again does not re-pin it either.
  auto readded = alpha->relay_add(url_, fingerprint_);
  ASSERT_FALSE(readded);
  EXPECT_EQ(readded.error().code, Errc::kAuthFailed);
}

}  // namespace
}  // namespace bc::client
