#include "core/secret.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace bc {
namespace {

TEST(SecretBytesTest, CopiesAndExposes) {
  const Bytes src = {9, 8, 7, 6};
  SecretBytes s(src);
  EXPECT_EQ(s.size(), 4U);
  EXPECT_TRUE(ct_equal(s.expose(), src));
  SecretBytes c = s.copy();
  EXPECT_TRUE(ct_equal(s, c));
  c.expose_mut()[0] = 0;
  EXPECT_FALSE(ct_equal(s, c));
}

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  SecretBytes a(Bytes{1, 2, 3});
  SecretBytes b = std::move(a);
  EXPECT_EQ(b.size(), 3U);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
}

// The buffer of a destroyed secret is wiped. Its memory stays mapped (it returns to the secret
// arena), so it can be read after destruction without undefined behaviour at the OS level.
TEST(SecretBytesTest, BufferIsZeroAfterDestruction) {
  const std::uint8_t* raw = nullptr;
  {
    SecretBytes s(32);
    std::memset(s.expose_mut().data(), 0xA5, 32);
    raw = s.expose().data();
    ASSERT_EQ(raw[0], 0xA5);
  }
  for (int i = 0; i < 32; ++i) EXPECT_EQ(raw[i], 0) << "byte " << i << " survived destruction";
}

TEST(SecretBytesTest, LargeSecretsAreWipedToo) {
  SecretBytes s(5000);
  std::memset(s.expose_mut().data(), 0x5A, s.size());
  const std::size_t before = secure_memory::bytes_in_use();
  EXPECT_GE(before, 5000U);
  s = SecretBytes();
  EXPECT_LT(secure_memory::bytes_in_use(), before);
}

TEST(SecretBytesTest, AccountsForUse) {
  const std::size_t before = secure_memory::bytes_in_use();
  {
    SecretBytes s(100);
    EXPECT_GT(secure_memory::bytes_in_use(), before);
  }
  EXPECT_EQ(secure_memory::bytes_in_use(), before);
}

}  // namespace
}  // namespace bc
