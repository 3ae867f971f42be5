// The relay store's coalescing VFS: each transaction reaches the WAL in one write, before COMMIT
// returns, and the files stay ordinary SQLite files that the platform VFS reads.
#include "store/coalescing_vfs.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "support/temp_dir.hpp"

namespace bc::store {
namespace {

class CoalescingVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_.path() / "db.sqlite").string();
    ASSERT_NE(coalescing_vfs_name(), nullptr);
  }

  static sqlite3* open(const std::string& path, const char* vfs) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
              SQLITE_OK);
    return db;
  }
  static void exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "") << " in " << sql;
    sqlite3_free(err);
  }
  static std::string text(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (s != nullptr && sqlite3_step(s) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(s, 0);
      out = t != nullptr ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(s);
    return out;
  }
  // insert_rows adds `n` rows of 3 KiB to two indexed tables in one transaction: several pages.
  static void insert_rows(sqlite3* db, int first, int n) {
    std::string sql = "BEGIN;";
    for (int i = first; i < first + n; ++i) {
      sql += "INSERT INTO a (k, v) VALUES (" + std::to_string(i) + ", randomblob(3000));";
      sql += "INSERT INTO b (k) VALUES (" + std::to_string(i) + ");";
    }
    sql += "COMMIT;";
    exec(db, sql);
  }

  test::TempDir dir_{"bc-vfs"};
  std::string path_;
};

TEST_F(CoalescingVfsTest, EachCommitReachesTheWalInOneWriteBeforeCommitReturns) {
  sqlite3* db = open(path_, coalescing_vfs_name());
  exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;");
  exec(db, "CREATE TABLE a (k INTEGER PRIMARY KEY, v BLOB); CREATE TABLE b (k INTEGER UNIQUE);");
  // A reader through the platform VFS sees only what is in the files.
  sqlite3* reader = open(path_, nullptr);
  const auto before = coalescing_vfs_stats();
  constexpr int kCommits = 20;
  for (int c = 0; c < kCommits; ++c) {
    insert_rows(db, c * 3, 3);
    // synchronous=NORMAL: no fsync at commit, yet the frames are in the file already.
    EXPECT_EQ(text(reader, "SELECT count(*) FROM a"), std::to_string((c + 1) * 3)) << c;
  }
  const auto after = coalescing_vfs_stats();
  const auto issued = after.wal_writes_issued - before.wal_writes_issued;
  const auto requested = after.wal_writes_requested - before.wal_writes_requested;
  EXPECT_EQ(issued, static_cast<std::uint64_t>(kCommits));
  // Each commit wrote at least four frames (three 3 KiB rows, an index page), two calls each.
  EXPECT_GE(requested, 8u * kCommits);
  sqlite3_close(reader);
  sqlite3_close(db);
}

TEST_F(CoalescingVfsTest, CheckpointsRestartsAndReopeningKeepEverything) {
  sqlite3* db = open(path_, coalescing_vfs_name());
  exec(db,
       "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA locking_mode=EXCLUSIVE; "
       "PRAGMA wal_autocheckpoint=10;");
  exec(db, "CREATE TABLE a (k INTEGER PRIMARY KEY, v BLOB); CREATE TABLE b (k INTEGER UNIQUE);");
  for (int c = 0; c < 50; ++c) {
    insert_rows(db, c * 2, 2);
    if (c % 7 == 0) exec(db, "PRAGMA wal_checkpoint(TRUNCATE);");
    if (c % 5 == 0) exec(db, "DELETE FROM a WHERE k % 3 = 0; DELETE FROM b WHERE k % 3 = 0;");
  }
  // A transaction larger than the 1 MiB buffer, with a page cache so small that its pages spill
  // into the WAL and are read back from it before the commit.
  exec(db, "PRAGMA cache_size=4;");
  exec(db,
       "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) "
       "INSERT INTO a (k, v) SELECT i + 100000, randomblob(4000) FROM n; "
       "UPDATE a SET v = randomblob(3500) WHERE k % 2 = 0; "
       "INSERT INTO b (k) SELECT k FROM a WHERE k > 100000; COMMIT;");
  const std::string rows = text(db, "SELECT count(*) FROM a");
  const std::string sum = text(db, "SELECT sum(length(v)) FROM a");
  sqlite3_close(db);

  sqlite3* plain = open(path_, nullptr);
  EXPECT_EQ(text(plain, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(text(plain, "SELECT count(*) FROM a"), rows);
  EXPECT_EQ(text(plain, "SELECT sum(length(v)) FROM a"), sum);
  EXPECT_EQ(std::stoi(rows), 469);  // 69 left by the loop, 400 in one transaction
  sqlite3_close(plain);
}

}  // namespace
}  // namespace bc::store
