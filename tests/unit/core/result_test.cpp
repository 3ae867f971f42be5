#include "core/result.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace bc {
namespace {

Result<int> parse_positive(int x) {
  if (x <= 0) return fail(Errc::kMalformed, "not positive");
  return x;
}

Result<int> doubled(int x) {
  BC_ASSIGN_OR_RETURN(const int v, parse_positive(x));
  return v * 2;
}

Result<void> check_positive(int x) {
  BC_TRY(parse_positive(x));
  return ok();
}

TEST(ResultTest, HoldsValue) {
  auto r = parse_positive(3);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 3);
  EXPECT_EQ(*r, 3);
  EXPECT_EQ(r.value_or(7), 3);
}

TEST(ResultTest, HoldsError) {
  auto r = parse_positive(-1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kMalformed);
  EXPECT_EQ(r.error().detail, "not positive");
  EXPECT_EQ(r.error().message(), "malformed: not positive");
  EXPECT_EQ(r.value_or(7), 7);
}

TEST(ResultTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*doubled(4), 8);
  auto bad = doubled(0);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kMalformed);
}

TEST(ResultTest, TryPropagatesVoid) {
  EXPECT_TRUE(check_positive(1));
  auto bad = check_positive(-5);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kMalformed);
}

TEST(ResultTest, MoveOnlyValue) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r);
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
}

TEST(ResultTest, ValueOnErrorAborts) {
  auto r = parse_positive(-1);
  EXPECT_DEATH({ (void)r.value(); }, "internal invariant broken");
}

TEST(ResultTest, ErrcNamesAreStable) {
  EXPECT_EQ(errc_name(Errc::kAuthFailed), "auth_failed");
  EXPECT_EQ(errc_name(Errc::kLimitExceeded), "limit_exceeded");
  EXPECT_EQ(errc_name(Errc::kUntrustedIdentity), "untrusted_identity");
}

}  // namespace
}  // namespace bc
