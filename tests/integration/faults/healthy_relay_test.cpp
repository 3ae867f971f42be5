// A healthy relay never causes a false alert: 10,000 messages through the real relay, with a
// reconnect for every sync and send and a relay restart every round (messages written while the
// relay is down wait in the outbox), and not one alert, warning or undecryptable message.
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
// Four pairs, each with a relay of its own, run side by side (the work is mostly waiting for
// fsync, so they overlap well); together they exchange 10,000 messages.
constexpr int kPairs = 4;
constexpr int kRounds = 5;
constexpr int kLivePerRound = 20;     // sent while the relay is up: one connection each
constexpr int kQueuedPerRound = 480;  // written while the relay is down, flushed at its restart
constexpr int kPerPair = kRounds * (kLivePerRound + kQueuedPerRound);
static_assert(kPairs * kPerPair == 10'000);

std::string text_of(int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "m%05d", n);
  return buf;
}

// run_pair makes alpha and bravo talk through a relay of their own under `dir`: every round,
// live messages, a reply, then the relay goes down (SIGTERM, or SIGKILL every other round) while
// alpha keeps writing, and comes back on the same port; then alpha's outbox is flushed and bravo
// receives. Every event, stored alert and the complete history are checked at the end.
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
  sync(*bravo);
  int sent = 0;
  int replies = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kLivePerRound; ++i) {
      ASSERT_TRUE(alpha->send_text("bravo", text_of(sent++)));
    }
    sync(*bravo);
    ASSERT_TRUE(bravo->send_text("alpha", "reply " + std::to_string(replies++)));
    sync(*alpha);
    if (round % 2 == 0) {
      EXPECT_EQ((*relay)->terminate(), 0);
    } else {
      (*relay)->kill9();
    }
    for (int i = 0; i < kQueuedPerRound; ++i) {
      auto queued = alpha->send_text("bravo", text_of(sent++));
      ASSERT_FALSE(queued);
      ASSERT_EQ(queued.error().code, Errc::kUnavailable);
    }
    relay = test::RelayProcess::start(dir / "relay", {}, listen);
    ASSERT_TRUE(relay) << relay.error().message();
    sync(*alpha);  // flushes the outbox
    sync(*bravo);
    clock.advance(60 * 1000);
  }
  sync(*bravo);
  sync(*alpha);
  ASSERT_EQ(sent, kPerPair);

  for (const auto& e : events) {
    EXPECT_TRUE(e.kind == EventKind::kMessage || e.kind == EventKind::kContactAdded)
        << event_kind_name(e.kind) << ": " << e.text;
  }
  EXPECT_TRUE(bravo->alerts("alpha")->empty());
  EXPECT_TRUE(alpha->alerts("bravo")->empty());
  auto history = bravo->history("alpha");
  ASSERT_TRUE(history);
  std::vector<std::string> received;
  for (const auto& m : *history) {
    if (!m.outgoing) received.push_back(m.text);
  }
  ASSERT_EQ(received.size(), static_cast<std::size_t>(kPerPair));
  for (int n = 0; n < kPerPair; ++n) ASSERT_EQ(received[n], text_of(n));
  EXPECT_EQ(alpha->history("bravo")->size(), static_cast<std::size_t>(kPerPair + replies));
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
