#include "core/bytes.hpp"

#include <gtest/gtest.h>

namespace bc {
namespace {

TEST(BytesTest, HexRoundTrip) {
  const Bytes b = {0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(to_hex(b), "0001abff");
  auto back = from_hex("0001ABff");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, b);
}

TEST(BytesTest, HexRejectsOddLength) {
  auto r = from_hex("abc");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kMalformed);
}

TEST(BytesTest, HexRejectsNonHex) {
  auto r = from_hex("zz");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kMalformed);
}

TEST(BytesTest, Base64UrlKnownAnswers) {
  // RFC 4648 section 10 vectors, unpadded.
  EXPECT_EQ(to_base64url(as_bytes("")), "");
  EXPECT_EQ(to_base64url(as_bytes("f")), "Zg");
  EXPECT_EQ(to_base64url(as_bytes("fo")), "Zm8");
  EXPECT_EQ(to_base64url(as_bytes("foo")), "Zm9v");
  EXPECT_EQ(to_base64url(as_bytes("foob")), "Zm9vYg");
  EXPECT_EQ(to_base64url(as_bytes("fooba")), "Zm9vYmE");
  EXPECT_EQ(to_base64url(as_bytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(to_base64url(Bytes{0xfb, 0xff}), "-_8");
}

TEST(BytesTest, Base64UrlRoundTrip) {
  for (std::size_t n = 0; n < 70; ++n) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 37 + n);
    auto back = from_base64url(to_base64url(b));
    ASSERT_TRUE(back) << n;
    EXPECT_EQ(*back, b);
  }
}

TEST(BytesTest, Base64UrlRejectsBadText) {
  EXPECT_EQ(from_base64url("Zm9v!").error().code, Errc::kMalformed);
  EXPECT_EQ(from_base64url("Zm9vY").error().code, Errc::kMalformed);  // dangling
  EXPECT_EQ(from_base64url("Zh").error().code, Errc::kMalformed);     // trailing bits set
  EXPECT_EQ(from_base64url("Zm9v=").error().code, Errc::kMalformed);  // padding not accepted
}

TEST(BytesTest, CtEqual) {
  const Bytes a = {1, 2, 3};
  const Bytes b = {1, 2, 3};
  const Bytes c = {1, 2, 4};
  const Bytes d = {1, 2};
  EXPECT_TRUE(ct_equal(a, b));
  EXPECT_FALSE(ct_equal(a, c));
  EXPECT_FALSE(ct_equal(a, d));
  EXPECT_TRUE(ct_equal(ByteView{}, ByteView{}));
}

}  // namespace
}  // namespace bc
