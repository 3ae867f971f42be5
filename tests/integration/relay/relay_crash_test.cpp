// Crash and disk-full tests of backchannel-relay: SIGKILL at random moments under load must lose
// no acknowledged deposit; a file system that runs out of space gives errors, not corruption.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "crypto/random.hpp"
#include "relay_harness.hpp"

namespace bc::test {
namespace {

struct Mailbox {
  crypto::Ed25519KeyPair key;
  wire::QueueCreated ids;
};

Result<Mailbox> make_mailbox(RelayProcess& relay) {
  crypto::SystemRng rng;
  Mailbox box{crypto::ed25519_generate(rng), {}};
  BC_ASSIGN_OR_RETURN(auto conn, RelayConn::open(relay.options()));
  BC_TRY(conn->hello());
  BC_ASSIGN_OR_RETURN(box.ids, conn->create_queue(box.key.public_key));
  return box;
}

// Ledger records what the relay acknowledged and what the owner received, across restarts.
struct Ledger {
  std::mutex mu;
  std::set<std::uint64_t> acknowledged;  // deposits the relay answered Ok
  std::set<std::uint64_t> received;      // distinct sequences the owner got
  std::uint64_t duplicates = 0;          // deliveries of a sequence already received

  void on_delivery(std::uint64_t sequence) {
    std::lock_guard lock(mu);
    if (!received.insert(sequence).second) ++duplicates;
  }
  std::set<std::uint64_t> missing() {
    std::lock_guard lock(mu);
    std::set<std::uint64_t> out;
    for (auto s : acknowledged) {
      if (received.count(s) == 0) out.insert(s);
    }
    return out;
  }
};

// drain subscribes and acknowledges deliveries until every acknowledged deposit has arrived.
// Fails the test (naming what is missing) if the relay stops pushing before that.
void drain_and_check(RelayProcess& relay, const Mailbox& box, Ledger& ledger, int round) {
  auto conn = RelayConn::open(relay.options());
  ASSERT_TRUE(conn) << conn.error().message();
  ASSERT_TRUE((*conn)->hello());
  ASSERT_TRUE((*conn)->subscribe(box.ids.recipient_id, box.key.private_key));
  while (!ledger.missing().empty()) {
    const auto d = (*conn)->next_delivery(20'000);
    ASSERT_TRUE(d) << "round " << round << ": " << ledger.missing().size()
                   << " acknowledged deposits never delivered, first " << *ledger.missing().begin();
    ledger.on_delivery(sequence_of(d->envelope));
    ASSERT_TRUE((*conn)->ack(box.ids.recipient_id, d->message_id));
  }
}

TEST(RelayCrash, SigkillUnderLoadLosesNoAcknowledgedDeposit) {
  TempDir dir("bc-relay-crash");
  const auto data = dir.path() / "data";
  auto first = RelayProcess::start(data);
  ASSERT_TRUE(first) << first.error().message();
  const auto box = make_mailbox(**first);
  ASSERT_TRUE(box) << box.error().message();
  (*first)->kill9();

  Ledger ledger;
  std::atomic<std::uint64_t> next_sequence{1};
  std::mt19937 random(std::random_device{}());
  constexpr int kRounds = 20;
  constexpr int kDepositors = 3;
  std::uint64_t total_deposits = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto relay = RelayProcess::start(data);
    ASSERT_TRUE(relay) << "round " << round << ": " << relay.error().message();
    drain_and_check(**relay, *box, ledger, round);
    if (HasFatalFailure()) return;

    // Load: depositors waiting on each ack, and the owner receiving and acknowledging.
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::atomic<std::uint64_t> deposits{0};
    for (int t = 0; t < kDepositors; ++t) {
      threads.emplace_back([&] {
        auto conn = RelayConn::open((*relay)->options());
        if (!conn || !(*conn)->hello()) return;
        while (!stop.load()) {
          const std::uint64_t seq = next_sequence.fetch_add(1);
          const auto reply = (*conn)->deposit(box->ids.sender_id, envelope_with(seq));
          if (!reply) return;  // the relay died under us: this deposit is not acknowledged
          if (std::holds_alternative<wire::DepositReceipt>(*reply)) {
            std::lock_guard lock(ledger.mu);
            ledger.acknowledged.insert(seq);
            deposits.fetch_add(1);
          }
        }
      });
    }
    threads.emplace_back([&] {
      auto conn = RelayConn::open((*relay)->options());
      if (!conn || !(*conn)->hello()) return;
      if (!(*conn)->subscribe(box->ids.recipient_id, box->key.private_key)) return;
      while (!stop.load()) {
        const auto d = (*conn)->next_delivery(5'000);
        if (!d) return;
        ledger.on_delivery(sequence_of(d->envelope));
        if (!(*conn)->ack(box->ids.recipient_id, d->message_id)) return;
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + random() % 800));
    (*relay)->kill9();
    stop.store(true);
    for (auto& t : threads) t.join();
    total_deposits += deposits.load();
  }
  auto last = RelayProcess::start(data);
  ASSERT_TRUE(last) << last.error().message();
  drain_and_check(**last, *box, ledger, kRounds);
  EXPECT_EQ((*last)->terminate(), 0);
  EXPECT_TRUE(ledger.missing().empty());
  EXPECT_GT(total_deposits, 0u);
  std::printf(
      "crash test: %d SIGKILLs, %llu acknowledged deposits, all delivered; "
      "%llu duplicate deliveries (redelivered after an ack lost in a crash)\n",
      kRounds, static_cast<unsigned long long>(total_deposits),
      static_cast<unsigned long long>(ledger.duplicates));
  RecordProperty("acknowledged_deposits", std::to_string(total_deposits));
  RecordProperty("duplicates", std::to_string(ledger.duplicates));
}

TEST(RelayDiskFull, FullFileSystemGivesErrorsNotCorruption) {
  TempDir dir("bc-relay-diskfull");
  const auto mount_point = dir.path() / "fs";
  std::filesystem::create_directories(mount_point);
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=3m") != 0) {
    GTEST_SKIP() << "cannot mount a size-limited tmpfs here (" << std::strerror(errno)
                 << "); disk-full test skipped";
  }
  struct Unmount {
    std::filesystem::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  const auto data = mount_point / "data";
  const auto filler = mount_point / "filler";

  Ledger ledger;
  std::optional<Mailbox> box;
  {
    auto relay = RelayProcess::start(data, "queue_max_messages = 100000\n");
    ASSERT_TRUE(relay) << relay.error().message();
    auto made = make_mailbox(**relay);
    ASSERT_TRUE(made) << made.error().message();
    box = std::move(*made);
    // Leave about 256 KiB free, then deposit until the relay reports a storage error.
    {
      const auto space = std::filesystem::space(mount_point);
      std::ofstream out(filler, std::ios::binary);
      const std::string block(4096, 'f');
      for (std::uintmax_t left = space.available; left > 256 * 1024; left -= block.size()) {
        out.write(block.data(), static_cast<std::streamsize>(block.size()));
      }
    }
    auto conn = RelayConn::open((*relay)->options());
    ASSERT_TRUE(conn);
    ASSERT_TRUE((*conn)->hello());
    int errors = 0;
    for (std::uint64_t seq = 1; seq <= 2000 && errors < 5; ++seq) {
      const auto reply = (*conn)->deposit(box->ids.sender_id, envelope_with(seq, 1024));
      ASSERT_TRUE(reply) << "the relay dropped the connection instead of answering: "
                         << reply.error().message();
      if (std::holds_alternative<wire::DepositReceipt>(*reply)) {
        ledger.acknowledged.insert(seq);
      } else {
        const auto* error = std::get_if<wire::ErrorReply>(&*reply);
        ASSERT_NE(error, nullptr);
        EXPECT_EQ(error->code, wire::RelayErrorCode::kStorageUnavailable);
        ++errors;
      }
    }
    EXPECT_GT(errors, 0) << "the file system never filled";
    EXPECT_GT(ledger.acknowledged.size(), 0u);
    EXPECT_TRUE((*relay)->alive());
    // Space comes back: the relay accepts deposits again without a restart.
    std::filesystem::remove(filler);
    const auto after = (*conn)->deposit(box->ids.sender_id, envelope_with(100'000, 1024));
    ASSERT_TRUE(after);
    if (std::holds_alternative<wire::DepositReceipt>(*after)) ledger.acknowledged.insert(100'000);
    (*relay)->kill9();
  }
  // After a crash and restart, everything acknowledged is there, intact and in order.
  auto relay = RelayProcess::start(data);
  ASSERT_TRUE(relay) << relay.error().message();
  drain_and_check(**relay, *box, ledger, 0);
  EXPECT_EQ(ledger.duplicates, 0u);
  EXPECT_EQ((*relay)->terminate(), 0);
}

}  // namespace
}  // namespace bc::test
