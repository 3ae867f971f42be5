#include "store/client_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/bytes.hpp"
#include "support/test_paths.hpp"

namespace bc::store {
namespace {

namespace fs = std::filesystem;

class ClientStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bc-client-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "store.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<ClientStore> make(std::string_view pass = "correct horse") {
    auto s = ClientStore::create(path_, as_bytes(pass), crypto::PwhashCost::minimum());
    EXPECT_TRUE(s) << s.error().message();
    return std::move(s).value();
  }

  // file_bytes reads the store file and its WAL as one string, for scans.
  std::string file_bytes() const {
    std::string all;
    for (const auto& entry : fs::directory_iterator(dir_)) all += test::read_file(entry.path());
    return all;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(ClientStoreTest, PutGetListErase) {
  auto s = make();
  ASSERT_TRUE(s->put("contacts", "bravo", as_bytes("B")));
  ASSERT_TRUE(s->put("contacts", "alpha", as_bytes("A")));
  ASSERT_TRUE(s->put("messages", "alpha", as_bytes("hello")));
  auto got = s->get("contacts", "alpha");
  ASSERT_TRUE(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(to_string(**got), "A");
  auto missing = s->get("contacts", "charlie");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  auto all = s->list("contacts");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2U);
  EXPECT_EQ((*all)[0].first, "alpha");
  EXPECT_EQ((*all)[1].first, "bravo");
  ASSERT_TRUE(s->erase("contacts", "alpha"));
  EXPECT_FALSE(s->get("contacts", "alpha")->has_value());
  EXPECT_EQ(s->list("contacts")->size(), 1U);
}

TEST_F(ClientStoreTest, ReopensWithThePassphrase) {
  {
    auto s = make("pass-1");
    ASSERT_TRUE(s->put("t", "k", as_bytes("v")));
  }
  auto reopened = ClientStore::open(path_, as_bytes("pass-1"));
  ASSERT_TRUE(reopened) << reopened.error().message();
  EXPECT_EQ(to_string(*(*reopened)->get("t", "k").value()), "v");
}

TEST_F(ClientStoreTest, WrongPassphraseIsAuthFailedAndChangesNothing) {
  {
    auto s = make("right");
    ASSERT_TRUE(s->put("t", "k", as_bytes("v")));
  }
  const std::string before = test::read_file(path_);
  auto bad = ClientStore::open(path_, as_bytes("wrong"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kAuthFailed);
  EXPECT_EQ(test::read_file(path_), before);
  auto good = ClientStore::open(path_, as_bytes("right"));
  ASSERT_TRUE(good);
  EXPECT_EQ(to_string(*(*good)->get("t", "k").value()), "v");
}

TEST_F(ClientStoreTest, CreateRefusesAnExistingFile) {
  auto s = make();
  auto again = ClientStore::create(path_, as_bytes("x"), crypto::PwhashCost::minimum());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kConflict);
}

TEST_F(ClientStoreTest, MissingFileIsNotFound) {
  auto r = ClientStore::open((dir_ / "nope.db").string(), as_bytes("x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
}

TEST_F(ClientStoreTest, FileIsPrivate) {
  auto s = make();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST_F(ClientStoreTest, NothingSecretInPlaintextOnDisk) {
  const std::string message = "we will not strike unless attacked first";
  const std::string key_hex = "6b6579206d6174657269616c20666f722074686520736361";
  {
    auto s = make();
    ASSERT_TRUE(s->put("messages", "alpha-secret-alias", as_bytes(message)));
    ASSERT_TRUE(s->put("identity", "private", *from_hex(key_hex)));
  }
  const std::string disk = file_bytes();
  ASSERT_FALSE(disk.empty());
  EXPECT_EQ(disk.find(message), std::string::npos);
  EXPECT_EQ(disk.find("alpha-secret-alias"), std::string::npos);
  EXPECT_EQ(disk.find(to_string(*from_hex(key_hex))), std::string::npos);
  EXPECT_EQ(disk.find("messages"), std::string::npos);
}

TEST_F(ClientStoreTest, TruncatedFileIsMalformed) {
  {
    auto s = make();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->put("t", std::to_string(i), Bytes(200, 7)));
  }
  // Checkpoint happens on close; cut the file in the middle.
  const auto size = fs::file_size(path_);
  fs::resize_file(path_, size / 2);
  auto r = ClientStore::open(path_, as_bytes("correct horse"));
  if (r) {
    // The header survived: reading the damaged pages must fail cleanly, not crash.
    auto all = (*r)->list("t");
    ASSERT_FALSE(all);
    EXPECT_EQ(all.error().code, Errc::kMalformed);
  } else {
    EXPECT_EQ(r.error().code, Errc::kMalformed);
  }
}

TEST_F(ClientStoreTest, GarbageFileIsMalformed) {
  {
    std::ofstream out(path_, std::ios::binary);
    out << std::string(8192, 'x');
  }
  auto r = ClientStore::open(path_, as_bytes("x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kMalformed);
}

TEST_F(ClientStoreTest, FailedTransactionRollsBack) {
  auto s = make();
  ASSERT_TRUE(s->put("t", "kept", as_bytes("1")));
  auto r = s->transaction([](ClientStore& st) -> Result<void> {
    BC_TRY(st.put("t", "kept", as_bytes("2")));
    BC_TRY(st.put("t", "new", as_bytes("3")));
    return fail(Errc::kConflict, "abort");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(to_string(s->get("t", "kept")->value()), "1");
  EXPECT_FALSE(s->get("t", "new")->has_value());
  ASSERT_TRUE(s->transaction([](ClientStore& st) { return st.put("t", "new", as_bytes("4")); }));
  EXPECT_EQ(to_string(s->get("t", "new")->value()), "4");
}

TEST_F(ClientStoreTest, TwoHandlesOnOneFile) {
  auto a = make("p");
  auto b_result = ClientStore::open(path_, as_bytes("p"));
  ASSERT_TRUE(b_result);
  auto b = std::move(b_result).value();
  ASSERT_TRUE(a->put("t", "from-a", as_bytes("1")));
  ASSERT_TRUE(b->put("t", "from-b", as_bytes("2")));
  EXPECT_EQ(a->list("t")->size(), 2U);
  EXPECT_EQ(b->list("t")->size(), 2U);
}

TEST_F(ClientStoreTest, SwappedRecordsDoNotAuthenticate) {
  {
    auto s = make();
    ASSERT_TRUE(s->put("t", "a", as_bytes("value-a")));
    ASSERT_TRUE(s->put("t", "b", as_bytes("value-b")));
  }
  // Swap the sealed blobs of the two rows with SQLite itself: each is bound to its slot.
  std::string cmd =
      "sqlite3 '" + path_ +
      "' \"UPDATE records SET sealed = (SELECT sealed FROM records r2 WHERE r2.row_id "
      "!= records.row_id AND r2.table_tag = records.table_tag) WHERE table_tag IN "
      "(SELECT table_tag FROM records GROUP BY table_tag HAVING count(*) = 2);\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto s = ClientStore::open(path_, as_bytes("correct horse"));
  ASSERT_TRUE(s);
  auto got = (*s)->get("t", "a");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::kMalformed);
}

}  // namespace
}  // namespace bc::store
