// Conformance tests of RelayStore, run over the in-memory and the SQLite implementations, plus
// SQLite-only tests (restart, locking, schema versions, foreign files).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "store/relay_sql.hpp"
#include "store/relay_store.hpp"
#include "store/sqlite_relay_store.hpp"
#include "support/temp_dir.hpp"

namespace bc::store {
namespace {

// err is the error kind of a result, or Errc{} (no kind) when it holds a value.
template <typename T>
Errc err(const Result<T>& r) {
  return r.has_value() ? Errc{} : r.error().code;
}

namespace fs = std::filesystem;

using test::TempDir;

RelayQueueId qid(std::uint8_t tag) {
  RelayQueueId id;
  id.fill(tag);
  return id;
}

RelayQueueRecord make_queue(std::uint8_t n, std::uint64_t max_messages = 10,
                            std::uint64_t max_bytes = 10'000) {
  RelayQueueRecord q;
  q.sender_id = qid(static_cast<std::uint8_t>(2 * n));
  q.recipient_id = qid(static_cast<std::uint8_t>(2 * n + 1));
  q.owner_key.fill(static_cast<std::uint8_t>(0xA0 + n));
  q.max_messages = max_messages;
  q.max_bytes = max_bytes;
  q.created_ms = 1000 + n;
  return q;
}

EscrowRecord make_escrow(std::uint8_t n, std::int64_t deadline_ms) {
  EscrowRecord e;
  e.exchange_id.fill(static_cast<std::uint8_t>(0xE0 + n));
  e.deadline_ms = deadline_ms;
  e.queue_a = qid(static_cast<std::uint8_t>(2 * n));
  e.queue_b = qid(static_cast<std::uint8_t>(2 * n + 2));
  e.token_hash_a.fill(static_cast<std::uint8_t>(0x10 + n));
  e.token_hash_b.fill(static_cast<std::uint8_t>(0x20 + n));
  e.created_ms = 500 + n;
  return e;
}

struct MemoryFactory {
  static std::unique_ptr<RelayStore> make(const fs::path&) { return make_memory_relay_store(); }
};
struct SqliteFactory {
  static std::unique_ptr<RelayStore> make(const fs::path& dir) {
    Result<std::unique_ptr<RelayStore>> s = open_sqlite_store(dir / kRelayDbFileName);
    EXPECT_TRUE(s.has_value()) << s.error().message();
    return s ? std::move(s).value() : nullptr;
  }
};

template <typename Factory>
class RelayStoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Factory::make(dir_.path());
    ASSERT_NE(store_, nullptr);
  }

  // w runs one durable write and expects it to commit.
  void w(const std::function<void(RelayStoreTxn&)>& body) {
    Result<void> r = store_->write(Durability::kDurable, [&](RelayStoreTxn& t) -> Result<void> {
      body(t);
      return ok();
    });
    ASSERT_TRUE(r.has_value()) << r.error().message();
  }
  void create(const RelayQueueRecord& q) {
    w([&](RelayStoreTxn& t) { ASSERT_TRUE(t.create_queue(q).has_value()); });
  }
  RelayMessageId append(const RelayQueueId& sender, std::size_t size, std::int64_t t_ms,
                        std::uint8_t fill = 1) {
    RelayMessageId id = 0;
    w([&](RelayStoreTxn& t) {
      Result<AppendedEnvelope> r = t.append_envelope(sender, Bytes(size, fill), t_ms);
      ASSERT_TRUE(r.has_value()) << r.error().message();
      id = r->message_id;
    });
    return id;
  }
  std::vector<StoredEnvelope> list(const RelayQueueId& recipient, RelayMessageId after = 0,
                                   std::int64_t min_ms = 0, std::size_t limit = 100) {
    std::vector<StoredEnvelope> out;
    Result<void> r = store_->read([&](RelayStoreTxn& t) -> Result<void> {
      BC_ASSIGN_OR_RETURN(out, t.list_envelopes(recipient, after, min_ms, limit));
      return ok();
    });
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return out;
  }
  std::optional<EscrowRecord> escrow(const EscrowId& id) {
    std::optional<EscrowRecord> out;
    Result<void> r = store_->read([&](RelayStoreTxn& t) -> Result<void> {
      Result<EscrowRecord> e = t.find_escrow(id);
      if (e) out = std::move(e).value();
      return ok();
    });
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return out;
  }
  RelayStoreStats stats() {
    Result<RelayStoreStats> s = store_->stats();
    EXPECT_TRUE(s.has_value());
    return s.value_or(RelayStoreStats{});
  }

  TempDir dir_;
  std::unique_ptr<RelayStore> store_;
};

using Factories = ::testing::Types<MemoryFactory, SqliteFactory>;
class FactoryNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryFactory> ? "Memory" : "Sqlite";
  }
};
TYPED_TEST_SUITE(RelayStoreConformance, Factories, FactoryNames);

TYPED_TEST(RelayStoreConformance, CreateAndFindQueueByEitherId) {
  const RelayQueueRecord q = make_queue(1);
  this->create(q);
  this->w([&](RelayStoreTxn& t) {
    EXPECT_EQ(t.find_queue(q.recipient_id).value_or(RelayQueueRecord{}), q);
    EXPECT_EQ(t.find_queue_by_sender(q.sender_id).value_or(RelayQueueRecord{}), q);
    EXPECT_EQ(err(t.find_queue(q.sender_id)), Errc::kNotFound);
    EXPECT_EQ(err(t.find_queue_by_sender(q.recipient_id)), Errc::kNotFound);
    EXPECT_EQ(t.queue_usage(q.recipient_id).value_or(RelayUsage{9, 9}), RelayUsage{});
  });
  EXPECT_EQ(this->stats(), (RelayStoreStats{1, RelayUsage{}}));
}

TYPED_TEST(RelayStoreConformance, CreateRefusesAReusedId) {
  const RelayQueueRecord q = make_queue(1);
  this->create(q);
  RelayQueueRecord same_sender = make_queue(2);
  same_sender.sender_id = q.sender_id;
  RelayQueueRecord crossed = make_queue(3);
  crossed.sender_id = q.recipient_id;
  this->w([&](RelayStoreTxn& t) {
    EXPECT_EQ(err(t.create_queue(same_sender)), Errc::kConflict);
    EXPECT_EQ(err(t.create_queue(crossed)), Errc::kConflict);
    EXPECT_EQ(err(t.create_queue(q)), Errc::kConflict);
  });
  EXPECT_EQ(this->stats().queues, 1u);
}

TYPED_TEST(RelayStoreConformance, AppendAssignsIncreasingIdsAndListsInOrder) {
  const RelayQueueRecord q = make_queue(1);
  this->create(q);
  EXPECT_EQ(this->append(q.sender_id, 256, 10, 1), 1u);
  EXPECT_EQ(this->append(q.sender_id, 1024, 11, 2), 2u);
  EXPECT_EQ(this->append(q.sender_id, 256, 12, 3), 3u);
  std::vector<StoredEnvelope> all = this->list(q.recipient_id);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], (StoredEnvelope{1, 10, Bytes(256, 1)}));
  EXPECT_EQ(all[1], (StoredEnvelope{2, 11, Bytes(1024, 2)}));
  EXPECT_EQ(all[2].message_id, 3u);
  EXPECT_EQ(this->list(q.recipient_id, 1).size(), 2u);
  EXPECT_EQ(this->list(q.recipient_id, 0, 0, 2).size(), 2u);
  EXPECT_EQ(this->list(q.recipient_id, 0, 12).size(), 1u);  // received_ms >= 12
  EXPECT_EQ(this->stats(), (RelayStoreStats{1, RelayUsage{3, 1536}}));
}

TYPED_TEST(RelayStoreConformance, SequenceNumbersAreConsecutiveAndNeverReusedAfterDeletes) {
  const RelayQueueRecord q = make_queue(1);
  const RelayQueueRecord other = make_queue(2);
  this->create(q);
  this->create(other);
  EXPECT_EQ(this->append(q.sender_id, 256, 10), 1u);
  EXPECT_EQ(this->append(q.sender_id, 256, 10), 2u);
  EXPECT_EQ(this->append(other.sender_id, 256, 10), 1u);  // per queue
  this->w([&](RelayStoreTxn& t) {
    EXPECT_TRUE(t.delete_envelope(q.recipient_id, 2).has_value());
    EXPECT_TRUE(t.delete_envelope(q.recipient_id, 1).has_value());
  });
  EXPECT_EQ(this->append(q.sender_id, 256, 11), 3u);  // the queue was empty: still no reuse
  this->w([&](RelayStoreTxn& t) { EXPECT_TRUE(t.purge_expired(12).has_value()); });
  EXPECT_EQ(this->append(q.sender_id, 256, 13), 4u);
}

TYPED_TEST(RelayStoreConformance, AppendNumbersEachQueueOnItsOwnAndListsWhatItStored) {
  const RelayQueueRecord q = make_queue(1);
  const RelayQueueRecord other = make_queue(2);
  this->create(q);
  this->create(other);
  std::vector<AppendedEnvelope> appended;
  this->w([&](RelayStoreTxn& t) {
    for (std::uint8_t fill = 1; fill <= 2; ++fill) {
      Result<AppendedEnvelope> r = t.append_envelope(q.sender_id, Bytes(256, fill), 10);
      ASSERT_TRUE(r.has_value()) << r.error().message();
      appended.push_back(*r);
    }
    Result<AppendedEnvelope> r = t.append_envelope(other.sender_id, Bytes(256, 3), 11);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    appended.push_back(*r);
  });
  EXPECT_EQ(appended, (std::vector<AppendedEnvelope>{
                          {1, q.recipient_id}, {2, q.recipient_id}, {1, other.recipient_id}}));
  EXPECT_EQ(this->list(q.recipient_id),
            (std::vector<StoredEnvelope>{{1, 10, Bytes(256, 1)}, {2, 10, Bytes(256, 2)}}));
  EXPECT_EQ(this->list(other.recipient_id), (std::vector<StoredEnvelope>{{1, 11, Bytes(256, 3)}}));
}

TYPED_TEST(RelayStoreConformance, ARefusedAppendStoresNothingAndTakesNoId) {
  const RelayQueueRecord by_count = make_queue(1, 1, 1'000'000);
  const RelayQueueRecord by_bytes = make_queue(2, 100, 512);
  this->create(by_count);
  this->create(by_bytes);
  EXPECT_EQ(this->append(by_count.sender_id, 256, 1), 1u);
  EXPECT_EQ(this->append(by_bytes.sender_id, 256, 1), 1u);
  this->w([&](RelayStoreTxn& t) {
    EXPECT_EQ(err(t.append_envelope(by_count.sender_id, Bytes(256, 0), 2)), Errc::kLimitExceeded);
    EXPECT_EQ(err(t.append_envelope(by_bytes.sender_id, Bytes(512, 0), 2)), Errc::kLimitExceeded);
    EXPECT_EQ(err(t.append_envelope(qid(99), Bytes(256, 0), 2)), Errc::kNotFound);
    EXPECT_EQ(err(t.append_envelope(by_count.recipient_id, Bytes(256, 0), 2)),
              Errc::kNotFound);  // only the sender id names a queue to deposit into
  });
  EXPECT_EQ(this->stats(), (RelayStoreStats{2, RelayUsage{2, 512}}));
  EXPECT_EQ(this->list(by_count.recipient_id).size(), 1u);
  // The refusals took no message id: the next envelope that fits gets the next one.
  this->w([&](RelayStoreTxn& t) {
    Result<AppendedEnvelope> r = t.append_envelope(by_bytes.sender_id, Bytes(256, 2), 3);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(*r, (AppendedEnvelope{2, by_bytes.recipient_id}));
  });
  EXPECT_EQ(this->list(by_bytes.recipient_id).at(1), (StoredEnvelope{2, 3, Bytes(256, 2)}));
}

TYPED_TEST(RelayStoreConformance, AFailedTransactionKeepsNoEnvelope) {
  const RelayQueueRecord q = make_queue(1);
  this->create(q);
  Result<void> failed = this->store_->write(Durability::kDurable, [&](RelayStoreTxn& t) {
    BC_ASSIGN_OR_RETURN(AppendedEnvelope a, t.append_envelope(q.sender_id, Bytes(256, 1), 1));
    EXPECT_EQ(a.message_id, 1u);
    return fail(Errc::kUnavailable, "disk full");
  });
  EXPECT_EQ(err(failed), Errc::kUnavailable);
  EXPECT_TRUE(this->list(q.recipient_id).empty());
  EXPECT_EQ(this->append(q.sender_id, 256, 2), 1u);  // the failed one's id was not taken
}

TYPED_TEST(RelayStoreConformance, WithinOneTransactionAppendsCountAgainstTheQuotaAndAcksFreeIt) {
  const RelayQueueRecord q = make_queue(1, 3, 1'000'000);
  this->create(q);
  this->w([&](RelayStoreTxn& t) {
    for (std::uint8_t i = 1; i <= 3; ++i) {
      Result<AppendedEnvelope> r = t.append_envelope(q.sender_id, Bytes(256, i), i);
      ASSERT_TRUE(r.has_value()) << r.error().message();
      EXPECT_EQ(r->message_id, i);
    }
    EXPECT_EQ(err(t.append_envelope(q.sender_id, Bytes(256, 4), 4)), Errc::kLimitExceeded);
    const std::vector<RelayMessageId> acked{1, 2};
    Result<RelayUsage> gone = t.delete_envelopes(q.recipient_id, acked);
    ASSERT_TRUE(gone.has_value()) << gone.error().message();
    EXPECT_EQ(*gone, (RelayUsage{2, 512}));
    for (std::uint8_t i = 4; i <= 5; ++i) {
      Result<AppendedEnvelope> r = t.append_envelope(q.sender_id, Bytes(256, i), i);
      ASSERT_TRUE(r.has_value()) << r.error().message();
      EXPECT_EQ(r->message_id, i);
    }
    EXPECT_EQ(err(t.append_envelope(q.sender_id, Bytes(256, 6), 6)), Errc::kLimitExceeded);
    Result<RelayUsage> usage = t.queue_usage(q.recipient_id);
    ASSERT_TRUE(usage.has_value()) << usage.error().message();
    EXPECT_EQ(*usage, (RelayUsage{3, 768}));
  });
  EXPECT_EQ(this->stats(), (RelayStoreStats{1, RelayUsage{3, 768}}));
  EXPECT_EQ(this->list(q.recipient_id).front().message_id, 3u);
  this->w([&](RelayStoreTxn& t) {  // still full after the commit
    EXPECT_EQ(err(t.append_envelope(q.sender_id, Bytes(256, 7), 7)), Errc::kLimitExceeded);
  });
}

TYPED_TEST(RelayStoreConformance, AppendToUnknownQueueIsNotFound) {
  this->w([&](RelayStoreTxn& t) {
    EXPECT_EQ(err(t.append_envelope(qid(99), Bytes(256, 0), 1)), Errc::kNotFound);
    EXPECT_EQ(err(t.list_envelopes(qid(99), 0, 0, 10)), Errc::kNotFound);
  });
}

TYPED_TEST(RelayStoreConformance, QuotaOnCountAndBytes) {
  const RelayQueueRecord by_count = make_queue(1, 2, 1'000'000);
  const RelayQueueRecord by_bytes = make_queue(2, 100, 1280);
  this->create(by_count);
  this->create(by_bytes);
  this->append(by_count.sender_id, 256, 1);
  this->append(by_count.sender_id, 256, 1);
  this->append(by_bytes.sender_id, 1024, 1);
  this->append(by_bytes.sender_id, 256, 1);
  this->w([&](RelayStoreTxn& t) {
    EXPECT_EQ(err(t.append_envelope(by_count.sender_id, Bytes(256, 0), 1)), Errc::kLimitExceeded);
    EXPECT_EQ(err(t.append_envelope(by_bytes.sender_id, Bytes(256, 0), 1)), Errc::kLimitExceeded);
  });
  EXPECT_EQ(this->list(by_count.recipient_id).size(), 2u);
  // Acknowledging frees the quota, and ids are not reused.
  this->w([&](RelayStoreTxn& t) { ASSERT_TRUE(t.delete_envelope(by_count.recipient_id, 1)); });
  EXPECT_EQ(this->append(by_count.sender_id, 256, 2), 3u);
}

TYPED_TEST(RelayStoreConformance, DeleteEnvelope) {
  const RelayQueueRecord q = make_queue(1);
  this->create(q);
  this->append(q.sender_id, 256, 1);
  this->append(q.sender_id, 1024, 1);
  this->w([&](RelayStoreTxn& t) {
    EXPECT_EQ(t.delete_envelope(q.recipient_id, 2).value_or(0), 1024u);
    EXPECT_EQ(err(t.delete_envelope(q.recipient_id, 2)), Errc::kNotFound);
    EXPECT_EQ(err(t.delete_envelope(q.recipient_id, 77)), Errc::kNotFound);
    EXPECT_EQ(err(t.delete_envelope(q.sender_id, 1)), Errc::kNotFound);
    EXPECT_EQ(t.queue_usage(q.recipient_id).value_or(RelayUsage{}), (RelayUsage{1, 256}));
  });
  ASSERT_EQ(this->list(q.recipient_id).size(), 1u);
  EXPECT_EQ(this->stats().usage, (RelayUsage{1, 256}));
}

TYPED_TEST(RelayStoreConformance, DeleteEnvelopesRemovesThoseStillHeldAndSkipsTheRest) {
  const RelayQueueRecord q = make_queue(1);
  const RelayQueueRecord other = make_queue(2);
  this->create(q);
  this->create(other);
  this->append(q.sender_id, 256, 1);   // 1
  this->append(q.sender_id, 1024, 1);  // 2
  this->append(q.sender_id, 4096, 1);  // 3
  this->append(q.sender_id, 256, 1);   // 4
  this->append(other.sender_id, 1024, 1);
  this->w([&](RelayStoreTxn& t) {
    const std::vector<RelayMessageId> ids = {2, 3, 9};
    EXPECT_EQ(t.delete_envelopes(q.recipient_id, ids).value_or(RelayUsage{}),
              (RelayUsage{2, 1024 + 4096}));
    // Again: nothing is left to remove, and nothing changes.
    EXPECT_EQ(t.delete_envelopes(q.recipient_id, ids).value_or(RelayUsage{9, 9}), (RelayUsage{}));
    EXPECT_EQ(t.queue_usage(q.recipient_id).value_or(RelayUsage{}), (RelayUsage{2, 512}));
    const std::vector<RelayMessageId> first = {1};
    EXPECT_EQ(err(t.delete_envelopes(q.sender_id, first)), Errc::kNotFound);
    EXPECT_EQ(err(t.delete_envelopes(make_queue(3).recipient_id, first)), Errc::kNotFound);
  });
  const auto left = this->list(q.recipient_id);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].message_id, 1u);
  EXPECT_EQ(left[1].message_id, 4u);
  EXPECT_EQ(this->list(other.recipient_id).size(), 1u);  // another queue's message 1 stays
  EXPECT_EQ(this->stats().usage, (RelayUsage{3, 512 + 1024}));
}

TYPED_TEST(RelayStoreConformance, DeleteQueueRemovesEverything) {
  const RelayQueueRecord q = make_queue(1);
  const RelayQueueRecord other = make_queue(2);
  this->create(q);
  this->create(other);
  this->append(q.sender_id, 256, 1);
  this->append(other.sender_id, 256, 1);
  this->w([&](RelayStoreTxn& t) {
    ASSERT_TRUE(t.put_bundle(q.recipient_id, StoredBundle{Bytes{1}, Bytes{2}, {Bytes{3}}}));
    EXPECT_EQ(t.delete_queue(q.recipient_id).value_or(RelayUsage{}), (RelayUsage{1, 256}));
    EXPECT_EQ(err(t.delete_queue(q.recipient_id)), Errc::kNotFound);
    EXPECT_EQ(err(t.find_queue_by_sender(q.sender_id)), Errc::kNotFound);
    EXPECT_EQ(err(t.take_bundle(q.sender_id)), Errc::kNotFound);
  });
  EXPECT_EQ(this->stats(), (RelayStoreStats{1, RelayUsage{1, 256}}));
  // The ids may be registered again afterwards and start empty.
  this->create(q);
  EXPECT_TRUE(this->list(q.recipient_id).empty());
}

TYPED_TEST(RelayStoreConformance, PurgeExpired) {
  const RelayQueueRecord a = make_queue(1);
  const RelayQueueRecord b = make_queue(2);
  this->create(a);
  this->create(b);
  this->append(a.sender_id, 256, 100);
  this->append(a.sender_id, 1024, 200);
  this->append(b.sender_id, 4096, 150);
  this->append(b.sender_id, 256, 300);
  this->w([&](RelayStoreTxn& t) {
    EXPECT_EQ(t.purge_expired(100).value_or(RelayUsage{9, 9}), RelayUsage{});
    EXPECT_EQ(t.purge_expired(201).value_or(RelayUsage{}), (RelayUsage{3, 256 + 1024 + 4096}));
    EXPECT_EQ(t.queue_usage(a.recipient_id).value_or(RelayUsage{9, 9}), RelayUsage{});
    EXPECT_EQ(t.queue_usage(b.recipient_id).value_or(RelayUsage{}), (RelayUsage{1, 256}));
  });
  EXPECT_EQ(this->stats().usage, (RelayUsage{1, 256}));
  ASSERT_EQ(this->list(b.recipient_id).size(), 1u);
  EXPECT_EQ(this->list(b.recipient_id)[0].message_id, 2u);
}

TYPED_TEST(RelayStoreConformance, BundleHandsOutEachOneTimePrekeyOnce) {
  const RelayQueueRecord q = make_queue(1);
  this->create(q);
  this->w([&](RelayStoreTxn& t) {
    EXPECT_EQ(err(t.take_bundle(q.sender_id)), Errc::kNotFound);
    EXPECT_EQ(err(t.put_bundle(qid(200), StoredBundle{Bytes{1}, Bytes{2}, {}})), Errc::kNotFound);
    ASSERT_TRUE(
        t.put_bundle(q.recipient_id, StoredBundle{Bytes{1}, Bytes{2}, {Bytes{10}, Bytes{11}}}));
  });
  std::vector<std::optional<Bytes>> handed;
  for (int i = 0; i < 3; ++i) {
    this->w([&](RelayStoreTxn& t) {
      Result<TakenBundle> b = t.take_bundle(q.sender_id);
      ASSERT_TRUE(b.has_value());
      EXPECT_EQ(b->identity_key, Bytes{1});
      EXPECT_EQ(b->signed_prekey, Bytes{2});
      handed.push_back(b->one_time_prekey);
    });
  }
  EXPECT_EQ(handed[0], Bytes{10});
  EXPECT_EQ(handed[1], Bytes{11});
  EXPECT_EQ(handed[2], std::nullopt);
  // Taking by recipient id is not allowed: only the sender id names the bundle.
  this->w(
      [&](RelayStoreTxn& t) { EXPECT_EQ(err(t.take_bundle(q.recipient_id)), Errc::kNotFound); });
}

TYPED_TEST(RelayStoreConformance, PublishReplacesTheBundle) {
  const RelayQueueRecord q = make_queue(1);
  this->create(q);
  this->w([&](RelayStoreTxn& t) {
    ASSERT_TRUE(t.put_bundle(q.recipient_id, StoredBundle{Bytes{1}, Bytes{2}, {Bytes{10}}}));
    ASSERT_TRUE(t.put_bundle(q.recipient_id, StoredBundle{Bytes{3}, Bytes{4}, {Bytes{20}}}));
    Result<TakenBundle> b = t.take_bundle(q.sender_id);
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(*b, (TakenBundle{Bytes{3}, Bytes{4}, Bytes{20}}));
  });
}

TYPED_TEST(RelayStoreConformance, FailedTransactionChangesNothing) {
  const RelayQueueRecord q = make_queue(1);
  this->create(q);
  this->append(q.sender_id, 256, 1);
  Result<void> r = this->store_->write(Durability::kDurable, [&](RelayStoreTxn& t) -> Result<void> {
    EXPECT_TRUE(t.append_envelope(q.sender_id, Bytes(256, 9), 2).has_value());
    EXPECT_TRUE(t.delete_envelope(q.recipient_id, 1).has_value());
    EXPECT_TRUE(t.create_queue(make_queue(5)).has_value());
    EXPECT_TRUE(t.put_bundle(q.recipient_id, StoredBundle{Bytes{1}, Bytes{2}, {}}));
    return fail(Errc::kUnavailable, "simulated failure");
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(err(r), Errc::kUnavailable);
  std::vector<StoredEnvelope> left = this->list(q.recipient_id);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].message_id, 1u);
  EXPECT_EQ(this->stats(), (RelayStoreStats{1, RelayUsage{1, 256}}));
  this->w([&](RelayStoreTxn& t) { EXPECT_EQ(err(t.take_bundle(q.sender_id)), Errc::kNotFound); });
  // The message-id counter did not move either.
  EXPECT_EQ(this->append(q.sender_id, 256, 3), 2u);
}

TYPED_TEST(RelayStoreConformance, RelaxedWritesAreVisible) {
  const RelayQueueRecord q = make_queue(1);
  this->create(q);
  this->append(q.sender_id, 256, 1);
  Result<void> r = this->store_->write(Durability::kRelaxed, [&](RelayStoreTxn& t) {
    return t.delete_envelope(q.recipient_id, 1).has_value() ? ok()
                                                            : fail(Errc::kInternal, "delete");
  });
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(this->list(q.recipient_id).empty());
}

TYPED_TEST(RelayStoreConformance, ManyQueuesKeepTheirOwnIdsAndOrder) {
  for (std::uint8_t n = 1; n <= 20; ++n) this->create(make_queue(n, 100, 1'000'000));
  for (int round = 0; round < 3; ++round) {
    for (std::uint8_t n = 1; n <= 20; ++n) {
      this->append(make_queue(n).sender_id, 256, round, static_cast<std::uint8_t>(n + round));
    }
  }
  for (std::uint8_t n = 1; n <= 20; ++n) {
    std::vector<StoredEnvelope> got = this->list(make_queue(n).recipient_id);
    ASSERT_EQ(got.size(), 3u);
    for (int round = 0; round < 3; ++round) {
      EXPECT_EQ(got[static_cast<std::size_t>(round)].message_id,
                static_cast<RelayMessageId>(round + 1));
      EXPECT_EQ(got[static_cast<std::size_t>(round)].body[0], n + round);
    }
  }
  EXPECT_EQ(this->stats(), (RelayStoreStats{20, RelayUsage{60, 60 * 256}}));
}

TYPED_TEST(RelayStoreConformance, EscrowCreateFindAndUpdate) {
  EscrowRecord e = make_escrow(1, 10'000);
  e.deposit_b = Bytes(1024, 0xB0);
  this->w([&](RelayStoreTxn& t) { ASSERT_TRUE(t.create_escrow(e).has_value()); });
  EXPECT_EQ(this->escrow(e.exchange_id), e);
  EXPECT_EQ(this->stats().escrows, 1u);

  EscrowRecord clash = make_escrow(2, 1);
  clash.exchange_id = e.exchange_id;
  this->w([&](RelayStoreTxn& t) {
    EXPECT_EQ(err(t.create_escrow(clash)), Errc::kConflict);
    EXPECT_EQ(err(t.find_escrow(make_escrow(3, 1).exchange_id)), Errc::kNotFound);
    EXPECT_EQ(err(t.update_escrow(make_escrow(3, 1))), Errc::kNotFound);
  });
  EXPECT_EQ(this->escrow(e.exchange_id), e);  // the clash changed nothing

  // update_escrow writes phase, deposits and certificate only.
  EscrowRecord changed = e;
  changed.deposit_a = Bytes(256, 0xA0);
  changed.deposit_b.reset();
  changed.deadline_ms = 1;  // immutable: ignored
  this->w([&](RelayStoreTxn& t) { ASSERT_TRUE(t.update_escrow(changed).has_value()); });
  EscrowRecord expected = e;
  expected.deposit_a = Bytes(256, 0xA0);
  expected.deposit_b.reset();
  EXPECT_EQ(this->escrow(e.exchange_id), expected);

  expected.phase = EscrowPhase::kReleased;
  expected.deposit_a.reset();
  expected.certificate = Bytes(161, 0xCE);
  this->w([&](RelayStoreTxn& t) { ASSERT_TRUE(t.update_escrow(expected).has_value()); });
  EXPECT_EQ(this->escrow(e.exchange_id), expected);
}

TYPED_TEST(RelayStoreConformance, EscrowExpiryDropsDepositsAndForgettingKeepsOpenOnes) {
  EscrowRecord due = make_escrow(1, 100);
  due.deposit_a = Bytes(256, 1);
  const EscrowRecord later = make_escrow(2, 200);
  EscrowRecord released = make_escrow(3, 50);
  released.phase = EscrowPhase::kReleased;
  released.certificate = Bytes(161, 3);
  this->w([&](RelayStoreTxn& t) {
    ASSERT_TRUE(t.create_escrow(due).has_value());
    ASSERT_TRUE(t.create_escrow(later).has_value());
    ASSERT_TRUE(t.create_escrow(released).has_value());
  });
  this->w([&](RelayStoreTxn& t) {
    Result<std::uint64_t> n = t.expire_escrows(99);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 0u);
    n = t.expire_escrows(100);  // the deadline itself is past
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 1u);
  });
  EscrowRecord expired = due;
  expired.phase = EscrowPhase::kExpired;
  expired.deposit_a.reset();
  EXPECT_EQ(this->escrow(due.exchange_id), expired);
  EXPECT_EQ(this->escrow(later.exchange_id), later);
  EXPECT_EQ(this->escrow(released.exchange_id), released);  // a release is never expired

  this->w([&](RelayStoreTxn& t) {
    Result<std::uint64_t> n = t.forget_escrows(100);  // only deadlines strictly before
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 1u);
    n = t.forget_escrows(1'000);  // the open one stays until expired
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 1u);
  });
  EXPECT_FALSE(this->escrow(due.exchange_id).has_value());
  EXPECT_FALSE(this->escrow(released.exchange_id).has_value());
  EXPECT_EQ(this->escrow(later.exchange_id), later);
  EXPECT_EQ(this->stats().escrows, 1u);
}

TYPED_TEST(RelayStoreConformance, FailedEscrowTransactionChangesNothing) {
  const RelayQueueRecord qa = make_queue(1);
  const RelayQueueRecord qb = make_queue(2);
  this->create(qa);
  this->create(qb);
  EscrowRecord e = make_escrow(1, 10'000);
  e.deposit_a = Bytes(256, 0xA);
  this->w([&](RelayStoreTxn& t) { ASSERT_TRUE(t.create_escrow(e).has_value()); });
  // A release: both envelopes appended, the record updated, then the transaction fails.
  Result<void> r = this->store_->write(Durability::kDurable, [&](RelayStoreTxn& t) -> Result<void> {
    EXPECT_TRUE(t.append_envelope(qb.sender_id, Bytes(256, 0xA), 5).has_value());
    EXPECT_TRUE(t.append_envelope(qa.sender_id, Bytes(256, 0xB), 5).has_value());
    EscrowRecord released = e;
    released.phase = EscrowPhase::kReleased;
    released.deposit_a.reset();
    released.certificate = Bytes(161, 1);
    EXPECT_TRUE(t.update_escrow(released).has_value());
    EXPECT_TRUE(t.create_escrow(make_escrow(2, 1)).has_value());
    return fail(Errc::kUnavailable, "simulated failure");
  });
  EXPECT_EQ(err(r), Errc::kUnavailable);
  EXPECT_EQ(this->escrow(e.exchange_id), e);
  EXPECT_FALSE(this->escrow(make_escrow(2, 1).exchange_id).has_value());
  EXPECT_TRUE(this->list(qa.recipient_id).empty());
  EXPECT_TRUE(this->list(qb.recipient_id).empty());
  EXPECT_EQ(this->stats(), (RelayStoreStats{2, RelayUsage{}, 1}));
}

// ---- SQLite only ----

TEST(SqliteRelayStore, EverythingCommittedSurvivesARestart) {
  TempDir dir;
  const fs::path file = dir.path() / kRelayDbFileName;
  const RelayQueueRecord q = make_queue(1);
  {
    auto store = open_sqlite_store(file);
    ASSERT_TRUE(store.has_value()) << store.error().message();
    ASSERT_TRUE((*store)->write(Durability::kDurable, [&](RelayStoreTxn& t) -> Result<void> {
      BC_TRY(t.create_queue(q));
      for (int i = 0; i < 5; ++i) {
        BC_ASSIGN_OR_RETURN(AppendedEnvelope a,
                            t.append_envelope(q.sender_id, Bytes(256, std::uint8_t(i)), 10 + i));
        (void)a;
      }
      BC_TRY(t.put_bundle(q.recipient_id, StoredBundle{Bytes{1}, Bytes{2}, {Bytes{3}, Bytes{4}}}));
      return ok();
    }));
    ASSERT_TRUE((*store)->write(Durability::kRelaxed, [&](RelayStoreTxn& t) -> Result<void> {
      BC_ASSIGN_OR_RETURN(std::uint64_t size, t.delete_envelope(q.recipient_id, 2));
      (void)size;
      BC_ASSIGN_OR_RETURN(TakenBundle b, t.take_bundle(q.sender_id));
      EXPECT_EQ(b.one_time_prekey, Bytes{3});
      return ok();
    }));
  }
  auto store = open_sqlite_store(file);
  ASSERT_TRUE(store.has_value()) << store.error().message();
  EXPECT_EQ((*store)->stats().value_or(RelayStoreStats{}), (RelayStoreStats{1, {4, 1024}}));
  ASSERT_TRUE((*store)->write(Durability::kDurable, [&](RelayStoreTxn& t) -> Result<void> {
    BC_ASSIGN_OR_RETURN(RelayQueueRecord back, t.find_queue(q.recipient_id));
    EXPECT_EQ(back, q);
    BC_ASSIGN_OR_RETURN(auto envs, t.list_envelopes(q.recipient_id, 0, 0, 10));
    EXPECT_EQ(envs.size(), 4u);
    std::vector<RelayMessageId> ids;
    for (const auto& e : envs) ids.push_back(e.message_id);
    EXPECT_EQ(ids, (std::vector<RelayMessageId>{1, 3, 4, 5}));
    EXPECT_EQ(envs[2].body, Bytes(256, 3));
    BC_ASSIGN_OR_RETURN(TakenBundle b, t.take_bundle(q.sender_id));
    EXPECT_EQ(b.one_time_prekey, Bytes{4});
    BC_ASSIGN_OR_RETURN(AppendedEnvelope next, t.append_envelope(q.sender_id, Bytes(256, 0), 99));
    EXPECT_EQ(next.message_id, 6u);
    return ok();
  }));
}

// record_statement is a SQLITE_TRACE_STMT callback: it notes the SQL text of each statement run.
int record_statement(unsigned /*type*/, void* context, void* /*statement*/, void* sql) {
  static_cast<std::vector<std::string>*>(context)->emplace_back(static_cast<const char*>(sql));
  return 0;
}

TEST(SqliteRelayStore, AnAppendRunsOneSelectOneInsertAndOneUpdate) {
  TempDir dir;
  auto store = open_sqlite_store(dir.path() / kRelayDbFileName);
  ASSERT_TRUE(store.has_value()) << store.error().message();
  sqlite3* db = sqlite_connection(**store);
  ASSERT_NE(db, nullptr);
  const RelayQueueRecord q = make_queue(1, 1, 1'000'000);
  ASSERT_TRUE(
      (*store)->write(Durability::kDurable, [&](RelayStoreTxn& t) { return t.create_queue(q); }));
  // traced runs `fn` inside a write and returns the statements SQLite ran for it (BEGIN and
  // COMMIT are outside).
  auto traced = [&](const std::function<void(RelayStoreTxn&)>& fn) {
    std::vector<std::string> statements;
    EXPECT_TRUE((*store)->write(Durability::kDurable, [&](RelayStoreTxn& t) -> Result<void> {
      EXPECT_EQ(sqlite3_trace_v2(db, SQLITE_TRACE_STMT, record_statement, &statements), SQLITE_OK);
      fn(t);
      EXPECT_EQ(sqlite3_trace_v2(db, 0, nullptr, nullptr), SQLITE_OK);
      return ok();
    }));
    return statements;
  };
  const std::vector<std::string> deposit = traced([&](RelayStoreTxn& t) {
    EXPECT_TRUE(t.append_envelope(q.sender_id, Bytes(256, 1), 1).has_value());
  });
  EXPECT_EQ(deposit, (std::vector<std::string>{std::string(relay_sql::kSelectQueueBySender),
                                               std::string(relay_sql::kInsertEnvelope),
                                               std::string(relay_sql::kQueueAfterAppend)}));
  // A refusal (full queue, unknown sender) stops after the lookup.
  const std::vector<std::string> refused = traced([&](RelayStoreTxn& t) {
    EXPECT_EQ(err(t.append_envelope(q.sender_id, Bytes(256, 2), 2)), Errc::kLimitExceeded);
    EXPECT_EQ(err(t.append_envelope(qid(99), Bytes(256, 2), 2)), Errc::kNotFound);
  });
  EXPECT_EQ(refused, (std::vector<std::string>(2, std::string(relay_sql::kSelectQueueBySender))));
  // What the INSERT stored is what a listing returns.
  ASSERT_TRUE((*store)->read([&](RelayStoreTxn& t) -> Result<void> {
    BC_ASSIGN_OR_RETURN(auto envs, t.list_envelopes(q.recipient_id, 0, 0, 10));
    EXPECT_EQ(envs, (std::vector<StoredEnvelope>{{1, 1, Bytes(256, 1)}}));
    return ok();
  }));
  EXPECT_EQ(sqlite_connection(*make_memory_relay_store()), nullptr);
}

TEST(SqliteRelayStore, UsesWalModeAndASchemaVersion) {
  TempDir dir;
  const fs::path file = dir.path() / kRelayDbFileName;
  { ASSERT_TRUE(open_sqlite_store(file).has_value()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  auto one = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(s), SQLITE_ROW);
    std::string out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
  };
  EXPECT_EQ(one("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(one("SELECT version FROM relay_schema_version"), "3");
  // A newer schema is refused, not touched.
  EXPECT_EQ(
      sqlite3_exec(db, "UPDATE relay_schema_version SET version = 99", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  Result<std::unique_ptr<RelayStore>> again = open_sqlite_store(file);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(err(again), Errc::kUnsupportedVersion);
}

TEST(SqliteRelayStore, EscrowsSurviveARestart) {
  TempDir dir;
  const fs::path file = dir.path() / kRelayDbFileName;
  EscrowRecord e = make_escrow(1, 10'000);
  e.deposit_b = Bytes(256, 0xB);
  {
    auto store = open_sqlite_store(file);
    ASSERT_TRUE(store.has_value()) << store.error().message();
    ASSERT_TRUE((*store)->write(Durability::kDurable,
                                [&](RelayStoreTxn& t) { return t.create_escrow(e); }));
  }
  auto store = open_sqlite_store(file);
  ASSERT_TRUE(store.has_value()) << store.error().message();
  EXPECT_EQ((*store)->stats().value_or(RelayStoreStats{}).escrows, 1u);
  ASSERT_TRUE((*store)->read([&](RelayStoreTxn& t) -> Result<void> {
    BC_ASSIGN_OR_RETURN(EscrowRecord back, t.find_escrow(e.exchange_id));
    EXPECT_EQ(back, e);
    EXPECT_FALSE(back.deposit_a.has_value());  // NULL, not an empty deposit
    return ok();
  }));
}

TEST(SqliteRelayStore, AVersionOneStoreIsMigratedKeepingItsQueues) {
  TempDir dir;
  const fs::path file = dir.path() / kRelayDbFileName;
  const RelayQueueRecord q = make_queue(1);
  {
    auto store = open_sqlite_store(file);
    ASSERT_TRUE(store.has_value());
    ASSERT_TRUE((*store)->write(Durability::kDurable, [&](RelayStoreTxn& t) -> Result<void> {
      BC_TRY(t.create_queue(q));
      BC_ASSIGN_OR_RETURN(AppendedEnvelope a, t.append_envelope(q.sender_id, Bytes(256, 7), 1));
      (void)a;
      return ok();
    }));
  }
  // Turn the file back into what a relay before escrow wrote.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TABLE escrows; ALTER TABLE envelopes DROP COLUMN receipt_signature; "
                         "UPDATE relay_schema_version SET version = 1; "
                         "PRAGMA wal_checkpoint(TRUNCATE)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = open_sqlite_store(file);
  ASSERT_TRUE(store.has_value()) << store.error().message();
  EXPECT_EQ((*store)->stats().value_or(RelayStoreStats{}), (RelayStoreStats{1, {1, 256}, 0}));
  ASSERT_TRUE((*store)->write(Durability::kDurable, [&](RelayStoreTxn& t) -> Result<void> {
    BC_TRY(t.create_escrow(make_escrow(1, 5)));
    BC_ASSIGN_OR_RETURN(EscrowRecord back, t.find_escrow(make_escrow(1, 5).exchange_id));
    EXPECT_EQ(back, make_escrow(1, 5));
    return ok();
  }));
}

TEST(SqliteRelayStore, AVersionTwoStoreIsMigratedKeepingItsEnvelopes) {
  TempDir dir;
  const fs::path file = dir.path() / kRelayDbFileName;
  const RelayQueueRecord q = make_queue(1);
  {
    auto store = open_sqlite_store(file);
    ASSERT_TRUE(store.has_value());
    ASSERT_TRUE((*store)->write(Durability::kDurable, [&](RelayStoreTxn& t) -> Result<void> {
      BC_TRY(t.create_queue(q));
      BC_ASSIGN_OR_RETURN(AppendedEnvelope a, t.append_envelope(q.sender_id, Bytes(256, 7), 1));
      (void)a;
      return ok();
    }));
  }
  // Turn the file back into what a relay before receipts wrote.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "ALTER TABLE envelopes DROP COLUMN receipt_signature; "
                         "UPDATE relay_schema_version SET version = 2; "
                         "PRAGMA wal_checkpoint(TRUNCATE)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = open_sqlite_store(file);
  ASSERT_TRUE(store.has_value()) << store.error().message();
  ASSERT_TRUE((*store)->write(Durability::kDurable, [&](RelayStoreTxn& t) -> Result<void> {
    BC_ASSIGN_OR_RETURN(auto before, t.list_envelopes(q.recipient_id, 0, 0, 10));
    EXPECT_EQ(before, (std::vector<StoredEnvelope>{{1, 1, Bytes(256, 7)}}));
    // The sequence continues where it was.
    BC_ASSIGN_OR_RETURN(AppendedEnvelope a, t.append_envelope(q.sender_id, Bytes(256, 8), 2));
    EXPECT_EQ(a.message_id, 2u);
    BC_ASSIGN_OR_RETURN(auto after, t.list_envelopes(q.recipient_id, 1, 0, 10));
    EXPECT_EQ(after, (std::vector<StoredEnvelope>{{2, 2, Bytes(256, 8)}}));
    return ok();
  }));
}

TEST(SqliteRelayStore, RefusesASecondOpenOfTheSameFile) {
  TempDir dir;
  const fs::path file = dir.path() / kRelayDbFileName;
  auto first = open_sqlite_store(file);
  ASSERT_TRUE(first.has_value());
  auto second = open_sqlite_store(file);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(err(second), Errc::kUnavailable);
}

TEST(SqliteRelayStore, RefusesAFileThatIsNotARelayStore) {
  TempDir dir;
  const fs::path garbage = dir.path() / "garbage.sqlite3";
  {
    std::ofstream out(garbage, std::ios::binary);
    out << std::string(8192, 'x');
  }
  Result<std::unique_ptr<RelayStore>> r = open_sqlite_store(garbage);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(err(r), Errc::kMalformed);
  EXPECT_EQ(fs::file_size(garbage), 8192u);  // untouched

  const fs::path other = dir.path() / "other.sqlite3";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE notes(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  Result<std::unique_ptr<RelayStore>> r2 = open_sqlite_store(other);
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(err(r2), Errc::kMalformed);
}

TEST(SqliteRelayStore, MissingDirectoryIsUnavailable) {
  TempDir dir;
  Result<std::unique_ptr<RelayStore>> r = open_sqlite_store(dir.path() / "nope" / "relay.sqlite3");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(err(r), Errc::kUnavailable);
}

}  // namespace
}  // namespace bc::store
