// Tests of the client's kept relay receipts (src/client/receipts.cpp): the record keeps a
// receipt's batch, and records from before batch signing are still read.
#include "client/receipts.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "client/record.hpp"
#include "crypto/pwhash.hpp"
#include "store/client_store.hpp"

namespace bc::client {
namespace {

namespace fs = std::filesystem;

class ReceiptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bc-receipts-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto s = store::ClientStore::create((dir_ / "store.db").string(), as_bytes("pass"),
                                        crypto::PwhashCost::minimum());
    ASSERT_TRUE(s) << s.error().message();
    db_ = std::move(s).value();
  }
  void TearDown() override {
    db_.reset();
    fs::remove_all(dir_);
  }

  fs::path dir_;
  std::unique_ptr<store::ClientStore> db_;
};

ReceiptInfo batched() {
  ReceiptInfo r;
  r.relay_url = "wss://relay.example:8443";
  r.seq = 7;
  r.relay_time_ms = 1'700'000'000'000;
  r.envelope_hash_hex = std::string(64, 'a');
  r.signature_hex = std::string(128, 'b');
  r.direction = "delivery";
  r.batch_size = 5;
  r.batch_index = 4;
  r.batch_path_hex = std::string(64, 'c');
  return r;
}

TEST_F(ReceiptsTest, AReceiptIsKeptWithItsBatch) {
  const ReceiptInfo r = batched();
  ASSERT_TRUE(store_receipt(*db_, "m1", r));
  auto all = load_receipts(*db_);
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->at("m1").size(), 1U);
  const ReceiptInfo& back = all->at("m1")[0];
  EXPECT_EQ(back.seq, r.seq);
  EXPECT_EQ(back.signature_hex, r.signature_hex);
  EXPECT_EQ(back.batch_size, 5U);
  EXPECT_EQ(back.batch_index, 4U);
  EXPECT_EQ(back.batch_path_hex, r.batch_path_hex);
}

TEST_F(ReceiptsTest, AVersionOneRecordIsAReceiptSignedAlone) {
  const ReceiptInfo r = batched();
  RecordWriter w;
  w.u8(1).str(r.relay_url).u64(r.seq).i64(r.relay_time_ms);
  w.str(r.envelope_hash_hex).str(r.signature_hex).str(r.direction);
  ASSERT_TRUE(db_->put(kReceiptsTable, std::string("m1\x1e") + r.relay_url, w.view()));
  auto all = load_receipts(*db_);
  ASSERT_TRUE(all) << all.error().message();
  const ReceiptInfo& back = all->at("m1").at(0);
  EXPECT_EQ(back.seq, r.seq);
  EXPECT_EQ(back.signature_hex, r.signature_hex);
  EXPECT_EQ(back.direction, r.direction);
  EXPECT_EQ(back.batch_size, 0U);
  EXPECT_TRUE(back.batch_path_hex.empty());

  // A later version is refused, not misread.
  RecordWriter later;
  later.u8(3).str(r.relay_url);
  ASSERT_TRUE(db_->put(kReceiptsTable, std::string("m2\x1e") + r.relay_url, later.view()));
  auto refused = load_receipts(*db_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kUnsupportedVersion);
}

}  // namespace
}  // namespace bc::client
