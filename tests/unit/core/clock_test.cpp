#include "core/clock.hpp"

#include <gtest/gtest.h>

#include "crypto/random.hpp"

namespace bc {
namespace {

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(1000);
  EXPECT_EQ(clock.now_ms(), 1000);
  clock.advance(250);
  EXPECT_EQ(clock.now_ms(), 1250);
  clock.set(5);
  EXPECT_EQ(clock.now_ms(), 5);
}

TEST(ClockTest, SystemClockIsPlausible) {
  SystemClock clock;
  EXPECT_GT(clock.now_ms(), 1'600'000'000'000);  // after September 2020
}

TEST(RngTest, DeterministicRngRepeats) {
  crypto::DeterministicRng a(42);
  crypto::DeterministicRng b(42);
  crypto::DeterministicRng c(43);
  Bytes x(64), y(64), z(64);
  a.fill(x);
  b.fill(y);
  c.fill(z);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  a.fill(x);
  EXPECT_NE(x, y);  // the stream moves on
}

TEST(RngTest, SystemRngDiffers) {
  crypto::SystemRng rng;
  Bytes x(32), y(32);
  rng.fill(x);
  rng.fill(y);
  EXPECT_NE(x, y);
}

}  // namespace
}  // namespace bc
