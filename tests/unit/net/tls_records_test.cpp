// TlsRecords, the relay's TLS 1.3 record layer after the handshake, without a network: a server
// instance and its mirror (the same secrets swapped, so it reads what the server writes and
// writes what the server reads).
#include "net/tls_records.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bc::net {
namespace {

struct Suite {
  std::uint16_t code;
  std::size_t hash_size;
};

class TlsRecordsTest : public ::testing::TestWithParam<Suite> {
 protected:
  void SetUp() override {
    const Bytes client(GetParam().hash_size, 0x11);
    const Bytes server(GetParam().hash_size, 0x22);
    auto s = TlsRecords::create(GetParam().code, client, server);
    auto m = TlsRecords::create(GetParam().code, server, client);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE(m) << m.error().message();
    server_.emplace(std::move(s).value());
    mirror_.emplace(std::move(m).value());
  }

  // open_text opens the record at the front of `wire` with `r` and returns its data.
  static std::string open_text(TlsRecords& r, Bytes& wire) {
    auto opened = r.open(wire);
    EXPECT_TRUE(opened) << opened.error().message();
    if (!opened) return "<error>";
    EXPECT_EQ(opened->kind, TlsRecords::Kind::kData);
    std::string text(wire.begin() + static_cast<std::ptrdiff_t>(opened->offset),
                     wire.begin() + static_cast<std::ptrdiff_t>(opened->offset + opened->length));
    wire.erase(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(opened->record_size));
    return text;
  }

  std::optional<TlsRecords> server_;
  std::optional<TlsRecords> mirror_;
};

INSTANTIATE_TEST_SUITE_P(Suites, TlsRecordsTest,
                         ::testing::Values(Suite{0x1301, 32}, Suite{0x1302, 48},
                                           Suite{0x1303, 32}));

TEST_P(TlsRecordsTest, RecordsRoundTripInOrderWithTheirSequenceNumbers) {
  Bytes wire;
  server_->seal_data(as_bytes("one"), wire);
  server_->seal_data(as_bytes(""), wire);
  server_->seal_data(Bytes(TlsRecords::kMaxPlaintext, 0x5a), wire);
  EXPECT_EQ(wire.size(), 3 + 0 + TlsRecords::kMaxPlaintext + 3 * TlsRecords::kOverhead);
  EXPECT_EQ(server_->write_sequence(), 3u);
  EXPECT_EQ(open_text(*mirror_, wire), "one");
  EXPECT_EQ(open_text(*mirror_, wire), "");
  EXPECT_EQ(open_text(*mirror_, wire), std::string(TlsRecords::kMaxPlaintext, 'Z'));
  EXPECT_TRUE(wire.empty());
  EXPECT_EQ(mirror_->read_sequence(), 3u);

  // The other direction has keys of its own.
  mirror_->seal_data(as_bytes("back"), wire);
  EXPECT_EQ(open_text(*server_, wire), "back");
}

TEST_P(TlsRecordsTest, AHeadAndItsDataTravelAsOneRecord) {
  Bytes wire;
  server_->seal_data(as_bytes("head:"), as_bytes("data"), wire);
  server_->seal_data(as_bytes("only a head"), {}, wire);
  const Bytes head(10, 0x41);
  server_->seal_data(head, Bytes(TlsRecords::kMaxPlaintext - head.size(), 0x42), wire);
  EXPECT_EQ(server_->write_sequence(), 3u);
  EXPECT_EQ(wire.size(), 9 + 11 + TlsRecords::kMaxPlaintext + 3 * TlsRecords::kOverhead);
  EXPECT_EQ(open_text(*mirror_, wire), "head:data");
  EXPECT_EQ(open_text(*mirror_, wire), "only a head");
  EXPECT_EQ(open_text(*mirror_, wire),
            std::string(10, 'A') + std::string(TlsRecords::kMaxPlaintext - 10, 'B'));
  EXPECT_TRUE(wire.empty());
}

TEST_P(TlsRecordsTest, AnIncompleteRecordWaitsForTheRest) {
  Bytes wire;
  server_->seal_data(as_bytes("split"), wire);
  for (std::size_t n = 0; n < wire.size(); ++n) {
    Bytes part(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(n));
    auto opened = mirror_->open(part);
    ASSERT_TRUE(opened);
    EXPECT_EQ(opened->kind, TlsRecords::Kind::kIncomplete) << n;
  }
  EXPECT_EQ(open_text(*mirror_, wire), "split");
}

TEST_P(TlsRecordsTest, EveryAlteredByteIsRejected) {
  Bytes sealed;
  server_->seal_data(as_bytes("do not touch"), sealed);
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    auto fresh = TlsRecords::create(GetParam().code, Bytes(GetParam().hash_size, 0x22),
                                    Bytes(GetParam().hash_size, 0x11));
    ASSERT_TRUE(fresh);
    Bytes wire = sealed;
    wire[i] ^= 0x01;
    auto opened = fresh->open(wire);
    // A changed length may only make the record look incomplete; everything else is an error.
    if (opened) {
      EXPECT_TRUE(i == 3 || i == 4) << "byte " << i;
      EXPECT_EQ(opened->kind, TlsRecords::Kind::kIncomplete) << "byte " << i;
    } else if (i >= TlsRecords::kHeaderSize) {
      EXPECT_EQ(opened.error().code, Errc::kAuthFailed) << "byte " << i;
      EXPECT_EQ(fresh->alert(), TlsRecords::kBadRecordMac);
    }
  }
}

TEST_P(TlsRecordsTest, AReplayedOrReorderedRecordIsRejected) {
  Bytes first;
  Bytes second;
  server_->seal_data(as_bytes("first"), first);
  server_->seal_data(as_bytes("second"), second);
  Bytes copy = first;
  EXPECT_EQ(open_text(*mirror_, copy), "first");
  copy = first;
  auto replayed = mirror_->open(copy);
  ASSERT_FALSE(replayed);
  EXPECT_EQ(replayed.error().code, Errc::kAuthFailed);

  auto fresh = TlsRecords::create(GetParam().code, Bytes(GetParam().hash_size, 0x22),
                                  Bytes(GetParam().hash_size, 0x11));
  ASSERT_TRUE(fresh);
  auto reordered = fresh->open(second);
  EXPECT_FALSE(reordered);
}

TEST_P(TlsRecordsTest, BadHeadersAreRefusedBeforeDecryption) {
  Bytes wire;
  server_->seal_data(as_bytes("x"), wire);
  Bytes handshake_type = wire;
  handshake_type[0] = 22;
  EXPECT_EQ(mirror_->open(handshake_type).error().code, Errc::kMalformed);
  EXPECT_EQ(mirror_->alert(), TlsRecords::kDecodeError);
  Bytes ccs = wire;
  ccs[0] = 20;
  EXPECT_FALSE(mirror_->open(ccs));
  EXPECT_EQ(mirror_->alert(), TlsRecords::kUnexpectedMessage);
  Bytes version = wire;
  version[2] = 0x01;
  EXPECT_EQ(mirror_->open(version).error().code, Errc::kMalformed);
  // 2^14 + 257 bytes of ciphertext: one more than any record may carry.
  Bytes oversized = {23, 3, 3, 0x41, 0x01};
  EXPECT_EQ(mirror_->open(oversized).error().code, Errc::kLimitExceeded);
  EXPECT_EQ(mirror_->alert(), TlsRecords::kRecordOverflow);
  Bytes tiny = {23, 3, 3, 0, 16};
  tiny.resize(5 + 16);
  EXPECT_EQ(mirror_->open(tiny).error().code, Errc::kMalformed);
  // None of these consumed a sequence number: the genuine record still opens.
  EXPECT_EQ(open_text(*mirror_, wire), "x");
}

TEST_P(TlsRecordsTest, AlertsEndTheConnection) {
  Bytes wire;
  server_->seal_alert(TlsRecords::kCloseNotify, wire);
  auto closed = mirror_->open(wire);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->kind, TlsRecords::Kind::kCloseNotify);
  EXPECT_EQ(closed->record_size, wire.size());

  wire.clear();
  server_->seal_alert(TlsRecords::kBadRecordMac, wire);
  auto fatal = mirror_->open(wire);
  ASSERT_FALSE(fatal);
  EXPECT_EQ(fatal.error().code, Errc::kUnavailable);
  EXPECT_EQ(mirror_->alert(), 0);  // an alert is never answered with one
}

TEST_P(TlsRecordsTest, TheWriteKeyIsUpdatedBeforeItsLimit) {
  server_->set_write_key_limit(2);
  Bytes wire;
  server_->seal_data(as_bytes("a"), wire);
  server_->seal_data(as_bytes("b"), wire);
  server_->seal_data(as_bytes("c"), wire);  // preceded by a KeyUpdate
  EXPECT_EQ(server_->write_sequence(), 1u);
  EXPECT_EQ(open_text(*mirror_, wire), "a");
  EXPECT_EQ(open_text(*mirror_, wire), "b");
  auto update = mirror_->open(wire);
  ASSERT_TRUE(update) << update.error().message();
  EXPECT_EQ(update->kind, TlsRecords::Kind::kControl);
  wire.erase(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(update->record_size));
  EXPECT_EQ(open_text(*mirror_, wire), "c");
  EXPECT_EQ(mirror_->read_sequence(), 1u);
}

TEST(TlsRecordsCreateTest, OnlyKnownSuitesAndSecretsOfTheirHashLength) {
  const Bytes s32(32, 1);
  const Bytes s48(48, 1);
  EXPECT_EQ(TlsRecords::create(0x1304, s32, s32).error().code, Errc::kUnsupportedVersion);
  EXPECT_EQ(TlsRecords::create(0x1301, s48, s32).error().code, Errc::kMalformed);
  EXPECT_EQ(TlsRecords::create(0x1302, s32, s32).error().code, Errc::kMalformed);
  EXPECT_TRUE(TlsRecords::create(0x1302, s48, s48));
}

}  // namespace
}  // namespace bc::net
