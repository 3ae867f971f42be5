// A healthy relay never causes a false alert: 10,000 messages through the real relay, both ways,
// with a new connection for every send and sync and a relay restart every round (SIGTERM and
// SIGKILL in turn; what both sides write while the relay is down waits in their outboxes), and not
// one alert, warning or undecryptable message; every message arrives once, in order.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "backchannel/client.hpp"
#include "core/clock.hpp"
#include "integration/relay/relay_harness.hpp"

namespace bc::client {
namespace {

const Bytes kPass = {'p', 'a', 's', 's'};
// Four pairs, each with a relay of its own, run side by side; together they exchange 10,000
// messages. Per round and pair: alpha and bravo each send kLive messages while the relay is up
// (one connection each), then the relay goes down and alpha writes kAlphaQueued, bravo
// kBravoQueued messages into their outboxes, flushed once it is back.
constexpr int kPairs = 4;
constexpr int kRounds = 5;
constexpr int kLive = 20;
constexpr int kAlphaQueued = 400;
constexpr int kBravoQueued = 60;
constexpr int kAlphaPerPair = kRounds * (kLive + kAlphaQueued);
constexpr int kBravoPerPair = kRounds * (kLive + kBravoQueued);
static_assert(kPairs * (kAlphaPerPair + kBravoPerPair) == 10'000);

std::string text_of(const char* who, int n) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%s %05d", who, n);
  return buf;
}

// expect_received checks that c's history with `alias` holds exactly the `count` messages `from`
// sent, in order, and the `sent` messages c sent.
void expect_received(Client& c, const std::string& alias, const char* from, int count, int sent) {
  auto history = c.history(alias);
  ASSERT_TRUE(history) << history.error().message();
  std::vector<std::string> received;
  for (const auto& m : *history) {
    if (!m.outgoing) received.push_back(m.text);
  }
  ASSERT_EQ(received.size(), static_cast<std::size_t>(count));
  for (int n = 0; n < count; ++n) ASSERT_EQ(received[n], text_of(from, n));
  EXPECT_EQ(history->size() - received.size(), static_cast<std::size_t>(sent));
}

// run_pair makes alpha and bravo talk through a relay of their own under `dir`. Every event,
// stored alert and both complete histories are checked at the end.
void run_pair(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  auto relay = test::RelayProcess::start(dir / "relay");
  ASSERT_TRUE(relay) << relay.error().message();
  const std::string listen = "127.0.0.1:" + std::to_string((*relay)->port());
  const std::string url = "wss://" + listen;
  const std::string fingerprint = to_hex((*relay)->fingerprint());
  ManualClock clock(SystemClock().now_ms());
  ClientOptions options;
  options.clock = &clock;
  options.sync_quiet_ms = 1000;
  auto make = [&](const std::string& name) {
    auto c = Client::init((dir / name).string(), kPass, name, KdfCost::kMinimum, options);
    EXPECT_TRUE(c) << c.error().message();
    EXPECT_TRUE((*c)->relay_add(url, fingerprint));
    return std::move(c).value();
  };
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  auto inv = bravo->invite_create();
  ASSERT_TRUE(inv);
  ASSERT_TRUE(alpha->invite_accept(inv->code, "bravo"));

  std::vector<Event> events;
  auto sync = [&](Client& c) {
    auto got = c.sync();
    ASSERT_TRUE(got) << got.error().message();
    events.insert(events.end(), got->begin(), got->end());
  };
  // queue sends while the relay is down: the message is kept and the send says so.
  auto queue = [](Client& c, const std::string& to, const std::string& text) {
    auto queued = c.send_text(to, text);
    ASSERT_FALSE(queued);
    ASSERT_EQ(queued.error().code, Errc::kUnavailable);
  };
  sync(*bravo);
  int alpha_sent = 0;
  int bravo_sent = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kLive; ++i) {
      ASSERT_TRUE(alpha->send_text("bravo", text_of("alpha", alpha_sent++)));
    }
    sync(*bravo);
    for (int i = 0; i < kLive; ++i) {
      ASSERT_TRUE(bravo->send_text("alpha", text_of("bravo", bravo_sent++)));
    }
    sync(*alpha);
    if (round % 2 == 0) {
      EXPECT_EQ((*relay)->terminate(), 0);
    } else {
      (*relay)->kill9();
    }
    for (int i = 0; i < kAlphaQueued; ++i) queue(*alpha, "bravo", text_of("alpha", alpha_sent++));
    for (int i = 0; i < kBravoQueued; ++i) queue(*bravo, "alpha", text_of("bravo", bravo_sent++));
    relay = test::RelayProcess::start(dir / "relay", {}, listen);
    ASSERT_TRUE(relay) << relay.error().message();
    sync(*alpha);  // flushes alpha's outbox
    sync(*bravo);  // flushes bravo's, receives alpha's
    sync(*alpha);  // receives bravo's
    clock.advance(60 * 1000);
  }
  sync(*bravo);
  sync(*alpha);
  ASSERT_EQ(alpha_sent, kAlphaPerPair);
  ASSERT_EQ(bravo_sent, kBravoPerPair);

  for (const auto& e : events) {
    EXPECT_TRUE(e.kind == EventKind::kMessage || e.kind == EventKind::kContactAdded)
        << event_kind_name(e.kind) << ": " << e.text;
  }
  auto alpha_alerts = alpha->alerts("bravo");
  ASSERT_TRUE(alpha_alerts);
  EXPECT_TRUE(alpha_alerts->empty()) << alpha_alerts->front().code;
  auto bravo_alerts = bravo->alerts("alpha");
  ASSERT_TRUE(bravo_alerts);
  EXPECT_TRUE(bravo_alerts->empty()) << bravo_alerts->front().code;
  expect_received(*bravo, "alpha", "alpha", kAlphaPerPair, kBravoPerPair);
  expect_received(*alpha, "bravo", "bravo", kBravoPerPair, kAlphaPerPair);
  EXPECT_TRUE(alpha->held_by_relays()->empty());
  EXPECT_TRUE(bravo->held_by_relays()->empty());
}

TEST(HealthyRelayTest, TenThousandMessagesWithReconnectsAndRestartsRaiseNoAlert) {
  // This test is about false alerts, not durability (the crash tests cover that): where there is
  // a memory file system its stores go there, so fsync costs nothing and the run stays short.
  if (std::filesystem::is_directory("/dev/shm")) ::setenv("TMPDIR", "/dev/shm", 1);
  test::TempDir dir("bc-healthy");
  std::vector<std::thread> pairs;
  for (int i = 0; i < kPairs; ++i) {
    pairs.emplace_back([&dir, i] { run_pair(dir.path() / ("pair" + std::to_string(i))); });
  }
  for (auto& t : pairs) t.join();
}

}  // namespace
}  // namespace bc::client
