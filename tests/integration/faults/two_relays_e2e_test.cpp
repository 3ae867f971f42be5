// End-to-end tests of a contact pair connected through two relays run by different operators:
// every message goes through both, the receiver keeps the first copy, and a relay that does not
// deliver what the other delivered is named. One relay is the faulty relay, withholding.
#include <gtest/gtest.h>

#include <string>

#include "backchannel/client.hpp"
#include "core/clock.hpp"
#include "integration/relay/relay_harness.hpp"

namespace bc::client {
namespace {

const Bytes kPass = {'p', 'a', 's', 's'};

std::string url_of(const test::RelayProcess& relay) {
  return "wss://127.0.0.1:" + std::to_string(relay.port());
}

class TwoRelaysTest : public ::testing::Test {
 protected:
  // start runs two relays; `faulty` (0 or 1, -1 for none) is the faulty relay withholding
  // everything from its first delivery on.
  void start(int faulty) {
    dir_ = std::make_unique<test::TempDir>("bc-two-relays");
    for (int i = 0; i < 2; ++i) {
      const auto data = dir_->path() / ("relay" + std::to_string(i));
      auto relay = i == faulty ? test::RelayProcess::start_faulty(data, {"withhold=1"})
                               : test::RelayProcess::start(data);
      ASSERT_TRUE(relay) << relay.error().message();
      relays_[i] = std::move(relay).value();
    }
  }

  std::unique_ptr<Client> make(const std::string& name) {
    ClientOptions options;
    options.clock = &clock_;
    auto c = Client::init((dir_->path() / name).string(), kPass, name, KdfCost::kMinimum, options);
    EXPECT_TRUE(c) << c.error().message();
    for (const auto& relay : relays_) {
      auto added = (*c)->relay_add(url_of(*relay), to_hex(relay->fingerprint()));
      EXPECT_TRUE(added) << added.error().message();
    }
    return std::move(c).value();
  }

  // pair makes alpha and bravo contacts of each other (bravo invites, alpha accepts).
  void pair() {
    alpha_ = make("alpha");
    bravo_ = make("bravo");
    auto inv = bravo_->invite_create();
    ASSERT_TRUE(inv) << inv.error().message();
    ASSERT_TRUE(alpha_->invite_accept(inv->code, "bravo"));
    auto events = bravo_->sync();
    ASSERT_TRUE(events) << events.error().message();
    ASSERT_EQ(bravo_->contacts()->size(), 1U);
  }

  // withholding returns the relay_withholding alerts of `events`: the relay each names, then its
  // text.
  static std::vector<std::string> withholding(const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
      if (e.kind != EventKind::kAlert || !e.alert) continue;
      EXPECT_EQ(e.alert->code, "relay_withholding") << e.alert->text;
      if (e.alert->code == "relay_withholding") out.push_back(e.alert->relay_url + " " + e.text);
    }
    return out;
  }

  static std::vector<std::string> texts(Client& c, const std::string& alias) {
    std::vector<std::string> out;
    auto history = c.history(alias);
    EXPECT_TRUE(history) << history.error().message();
    for (const auto& m : *history) {
      if (!m.outgoing) out.push_back(m.text);
    }
    return out;
  }

  ManualClock clock_{SystemClock().now_ms()};
  std::unique_ptr<test::TempDir> dir_;
  std::unique_ptr<test::RelayProcess> relays_[2];
  std::unique_ptr<Client> alpha_;
  std::unique_ptr<Client> bravo_;
};

TEST_F(TwoRelaysTest, InvitationCarriesBothRelaysAndEachMessageIsShownOnce) {
  start(-1);
  pair();
  const std::vector<std::string> sent = {"one", "two", "three"};
  for (const auto& text : sent) ASSERT_TRUE(alpha_->send_text("bravo", text));
  auto got = bravo_->sync();
  ASSERT_TRUE(got) << got.error().message();
  std::vector<std::string> shown;
  for (const auto& e : *got) {
    if (e.kind == EventKind::kMessage) shown.push_back(e.message->text);
  }
  EXPECT_EQ(shown, sent);  // both copies arrived; the second of each was recognised
  EXPECT_EQ(texts(*bravo_, "alpha"), sent);
  // Both relays delivered everything: no relay is reported, even long after.
  clock_.advance(10 * 60 * 1000);
  auto later = bravo_->sync();
  ASSERT_TRUE(later);
  EXPECT_TRUE(withholding(*later).empty());
  EXPECT_TRUE(bravo_->alerts("alpha")->empty());   // no false alert of any kind
  EXPECT_TRUE(bravo_->held_by_relays()->empty());  // both copies acknowledged
  // And back the other way.
  ASSERT_TRUE(bravo_->send_text("alpha", "reply"));
  auto back = alpha_->sync();
  ASSERT_TRUE(back);
  EXPECT_EQ(texts(*alpha_, "bravo"), std::vector<std::string>{"reply"});
}

TEST_F(TwoRelaysTest, SecondRelayWithholdingLosesNothingAndIsNamed) {
  start(1);
  pair();
  const std::vector<std::string> sent = {"a", "b", "c", "d"};
  for (const auto& text : sent) ASSERT_TRUE(alpha_->send_text("bravo", text));
  auto first = bravo_->sync();
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(texts(*bravo_, "alpha"), sent);  // everything arrived through the honest relay
  EXPECT_TRUE(withholding(*first).empty());  // within the grace period: no verdict yet
  clock_.advance(ClientOptions{}.relay_grace_ms + 1);
  auto second = bravo_->sync();
  ASSERT_TRUE(second) << second.error().message();
  const auto found = withholding(*second);
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].rfind(url_of(*relays_[1]) + " ", 0), 0U) << found[0];  // the alert's relay
  EXPECT_NE(found[0].find("relay " + url_of(*relays_[1]) + " is withholding"), std::string::npos)
      << found[0];
  EXPECT_EQ(found[0].find(url_of(*relays_[0]) + " is withholding"), std::string::npos);
  // Stored with the conversation, and reported once, not at every sync.
  auto stored = bravo_->alerts("alpha");
  ASSERT_TRUE(stored) << stored.error().message();
  ASSERT_EQ(stored->size(), 1U);
  EXPECT_EQ((*stored)[0].code, "relay_withholding");
  EXPECT_EQ((*stored)[0].relay_url, url_of(*relays_[1]));
  clock_.advance(1000);
  EXPECT_TRUE(withholding(*bravo_->sync()).empty());
  EXPECT_EQ(texts(*bravo_, "alpha"), sent);
}

TEST_F(TwoRelaysTest, FirstRelayWithholdingLosesNothingAndIsNamed) {
  start(0);
  pair();
  ASSERT_TRUE(alpha_->send_text("bravo", "through the second relay"));
  ASSERT_TRUE(bravo_->send_text("alpha", "and back"));
  ASSERT_TRUE(bravo_->sync());
  ASSERT_TRUE(alpha_->sync());
  EXPECT_EQ(texts(*bravo_, "alpha"), std::vector<std::string>{"through the second relay"});
  EXPECT_EQ(texts(*alpha_, "bravo"), std::vector<std::string>{"and back"});
  clock_.advance(ClientOptions{}.relay_grace_ms + 1);
  auto found = withholding(*bravo_->sync());
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].rfind(url_of(*relays_[0]) + " ", 0), 0U) << found[0];
  EXPECT_NE(found[0].find("relay " + url_of(*relays_[0]) + " is withholding"), std::string::npos)
      << found[0];
}

TEST_F(TwoRelaysTest, AThirdRelayIsRefused) {
  start(-1);
  auto c = make("alpha");
  test::TempDir third_dir("bc-third-relay");
  auto third = test::RelayProcess::start(third_dir.path() / "relay");
  ASSERT_TRUE(third) << third.error().message();
  auto r = c->relay_add(url_of(**third), to_hex((*third)->fingerprint()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kLimitExceeded);
  EXPECT_EQ(c->relays()->size(), 2U);
}

}  // namespace
}  // namespace bc::client
