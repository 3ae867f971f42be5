// End-to-end tests of the client through the faulty relay (tests/integration/faults): for each
// fault, what reaches the user, that no message the relay did deliver is lost, and what the
// client reports. Numbering in every test: deposit and delivery 1 are the invitation acceptance,
// 2..5 are alpha's messages m1..m4 to bravo.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "backchannel/client.hpp"
#include "core/clock.hpp"
#include "integration/relay/relay_harness.hpp"

namespace bc::client {
namespace {

const Bytes kPass = {'p', 'a', 's', 's'};
const std::vector<std::string> kSent = {"m1", "m2", "m3", "m4"};

class FaultsTest : public ::testing::Test {
 protected:
  // start runs the faulty relay with `faults`, pairs alpha and bravo through it and has alpha
  // send m1..m4 to bravo.
  void start(const std::vector<std::string>& faults) {
    dir_ = std::make_unique<test::TempDir>("bc-faults");
    auto relay = test::RelayProcess::start_faulty(dir_->path() / "relay", faults);
    ASSERT_TRUE(relay) << relay.error().message();
    relay_ = std::move(relay).value();
    alpha_ = make("alpha");
    bravo_ = make("bravo");
    auto inv = bravo_->invite_create();
    ASSERT_TRUE(inv) << inv.error().message();
    ASSERT_TRUE(alpha_->invite_accept(inv->code, "bravo"));
    auto accepted = bravo_->sync();
    ASSERT_TRUE(accepted) << accepted.error().message();
    ASSERT_EQ(bravo_->contacts()->size(), 1U);
    for (const auto& text : kSent) ASSERT_TRUE(alpha_->send_text("bravo", text));
  }

  std::unique_ptr<Client> make(const std::string& name) {
    ClientOptions options;
    options.clock = &clock_;
    auto c = Client::init((dir_->path() / name).string(), kPass, name, KdfCost::kMinimum, options);
    EXPECT_TRUE(c) << c.error().message();
    auto added = (*c)->relay_add("wss://127.0.0.1:" + std::to_string(relay_->port()),
                                 to_hex(relay_->fingerprint()));
    EXPECT_TRUE(added) << added.error().message();
    return std::move(c).value();
  }

  // sync has bravo sync and keeps its events.
  void sync() {
    auto got = bravo_->sync();
    ASSERT_TRUE(got) << got.error().message();
    events_.insert(events_.end(), got->begin(), got->end());
  }

  // received lists bravo's incoming messages from alpha that could be read, in arrival order.
  std::vector<std::string> received() {
    std::vector<std::string> out;
    auto history = bravo_->history("alpha");
    EXPECT_TRUE(history) << history.error().message();
    for (const auto& m : *history) {
      if (!m.outgoing && m.kind != "undecryptable") out.push_back(m.text);
    }
    return out;
  }

  // alerts lists the codes of the alerts raised so far, in order, checking each is also stored.
  std::vector<std::string> alerts() {
    std::vector<std::string> out;
    for (const auto& e : events_) {
      if (e.kind == EventKind::kAlert && e.alert) out.push_back(e.alert->code);
    }
    auto stored = bravo_->alerts("alpha");
    EXPECT_TRUE(stored) << stored.error().message();
    EXPECT_EQ(stored->size(), out.size());
    return out;
  }

  // only_altered: exactly one "altered" alert and the "missing" gap the damaged message leaves in
  // the sender's numbering, beside at most a "bad_receipt" (the relay's signature, where there
  // is one, covers the envelope before the change).
  static bool only_altered(const std::vector<std::string>& codes) {
    const auto altered = std::count(codes.begin(), codes.end(), "altered");
    const auto missing = std::count(codes.begin(), codes.end(), "missing");
    const auto receipt = std::count(codes.begin(), codes.end(), "bad_receipt");
    EXPECT_EQ(altered, 1) << ::testing::PrintToString(codes);
    EXPECT_EQ(missing, 1) << ::testing::PrintToString(codes);
    EXPECT_EQ(altered + missing + receipt, static_cast<long>(codes.size()))
        << ::testing::PrintToString(codes);
    return altered == 1 && missing == 1 &&
           altered + missing + receipt == static_cast<long>(codes.size());
  }

  // has tells whether `codes` holds `code`.
  static bool has(const std::vector<std::string>& codes, const std::string& code) {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
  }

  std::size_t count(EventKind kind) {
    return static_cast<std::size_t>(std::count_if(events_.begin(), events_.end(),
                                                  [&](const Event& e) { return e.kind == kind; }));
  }

  ManualClock clock_{SystemClock().now_ms()};
  std::unique_ptr<test::TempDir> dir_;
  std::unique_ptr<test::RelayProcess> relay_;
  std::unique_ptr<Client> alpha_;
  std::unique_ptr<Client> bravo_;
  std::vector<Event> events_;
};

TEST_F(FaultsTest, DropLosesOnlyTheDroppedMessage) {
  start({"drop=3"});  // m2 was acknowledged to alpha, never delivered
  sync();
  sync();
  EXPECT_EQ(received(), (std::vector<std::string>{"m1", "m3", "m4"}));
  EXPECT_EQ(count(EventKind::kUndecryptable), 0U);
  const auto codes = alerts();
  EXPECT_TRUE(has(codes, "missing")) << ::testing::PrintToString(codes);
}

TEST_F(FaultsTest, DelayedMessageArrivesLaterAndNothingIsLost) {
  start({"delay=3:60000"});  // m2 held back past the end of the first sync
  sync();
  EXPECT_EQ(received(), (std::vector<std::string>{"m1", "m3", "m4"}));
  sync();  // the relay pushes the unacknowledged m2 again on the next connection
  EXPECT_EQ(received(), (std::vector<std::string>{"m1", "m3", "m4", "m2"}));
  const auto codes = alerts();
  EXPECT_TRUE(has(codes, "reordered")) << ::testing::PrintToString(codes);
}

TEST_F(FaultsTest, DuplicateIsShownOnce) {
  start({"duplicate=3"});
  sync();
  EXPECT_EQ(received(), kSent);
  EXPECT_EQ(count(EventKind::kMessage), kSent.size());
  // The copy has the same relay sequence number but comes after the client acknowledged the
  // first (a relay pushes an unacknowledged envelope again after a lost connection, never an
  // acknowledged one): a replay.
  EXPECT_EQ(alerts(), std::vector<std::string>{"replayed"});
}

TEST_F(FaultsTest, ReorderedMessagesAllArrive) {
  start({"reorder=3"});
  sync();
  EXPECT_EQ(received(), (std::vector<std::string>{"m1", "m3", "m2", "m4"}));
  const auto codes = alerts();
  EXPECT_TRUE(has(codes, "reordered")) << ::testing::PrintToString(codes);
}

TEST_F(FaultsTest, ReplayedSessionStartIsNotShownAgain) {
  start({"replay=1"});  // the acceptance: a PreKeySignalMessage that opened the session
  sync();
  sync();  // the replay comes at this subscription
  EXPECT_EQ(received(), kSent);
  EXPECT_EQ(bravo_->contacts()->size(), 1U);  // no second contact, no identity change
  EXPECT_FALSE((*bravo_->contacts())[0].identity_changed);
  EXPECT_EQ(alerts(), std::vector<std::string>{"replayed"});
}

TEST_F(FaultsTest, ReplayedMessageIsNotShownAgain) {
  start({"replay=2"});  // m1, itself a PreKeySignalMessage (alpha has not heard from bravo)
  sync();
  EXPECT_TRUE(alerts().empty());
  sync();
  EXPECT_EQ(received(), kSent);
  EXPECT_EQ(count(EventKind::kMessage), kSent.size());
  EXPECT_EQ(alerts(), std::vector<std::string>{"replayed"});
}

TEST_F(FaultsTest, TruncatedEnvelopeIsKeptAndReportedAndTheRestArrive) {
  start({"truncate=3:40"});
  sync();
  EXPECT_EQ(received(), (std::vector<std::string>{"m1", "m3", "m4"}));
  EXPECT_EQ(count(EventKind::kUndecryptable), 1U);
  EXPECT_EQ(bravo_->history("alpha")->size(), kSent.size());  // the damaged one is kept too
  EXPECT_TRUE(only_altered(alerts()));
}

TEST_F(FaultsTest, AlteredEnvelopeIsKeptAndReportedAndTheRestArrive) {
  start({"alter=3"});
  sync();
  EXPECT_EQ(received(), (std::vector<std::string>{"m1", "m3", "m4"}));
  EXPECT_EQ(count(EventKind::kUndecryptable), 1U);
  EXPECT_TRUE(only_altered(alerts()));
}

TEST_F(FaultsTest, WithholdingKeepsWhatWasDelivered) {
  start({"withhold=3"});
  sync();
  sync();
  EXPECT_EQ(received(), (std::vector<std::string>{"m1"}));
}

}  // namespace
}  // namespace bc::client
