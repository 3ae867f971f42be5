// Argon2id (crypto/pwhash.hpp): known answers from libsodium's own test suite and the error paths.
#include "crypto/pwhash.hpp"

#include <gtest/gtest.h>

namespace bc::crypto {
namespace {

Bytes hex(const char* text) { return from_hex(text).value(); }

// libsodium test/default/pwhash_argon2id.c and .exp: tv[0] and tv[6] (hex inputs; crypto_pwhash
// reads the first 16 bytes of the salt), and tv3[2], a PHC string with an empty password,
// "$argon2id$v=19$m=4882,t=2,p=1$bA81arsiXysd3WbTRzmEOw$Nm8QBM+7RH1DXo9rvp5cwKEOOOfD2g6JuxlXihoNcpE",
// decoded. libsodium's memory limit is in bytes and rounds down to whole KiB.
TEST(Argon2id, LibsodiumKnownAnswers) {
  struct Case {
    const char* passphrase;
    const char* salt;
    std::uint64_t ops;
    std::uint64_t mem_bytes;
    std::size_t length;
    const char* out;
  };
  const Case kCases[] = {
      {"a347ae92bce9f80f6f595a4480fc9c2fe7e7d7148d371e9487d75f5c2300"
       "8ffae065577a928febd9b1973a5a95073acdbeb6a030cfc0d79caa2dc5cd"
       "011cef02c08da232d76d52dfbca38ca8dcbd665b17d1665f7cf5fe59772e"
       "c909733b24de97d6f58d220b20c60d7c07ec1fd93c52c31020300c6c1fac"
       "d77937a597c7a6",
       "5541fbc995d5c197ba290346d2c559de", 5, 7256678, 155,
       "18acec5d6507739f203d1f5d9f1d862f7c2cdac4f19d2bdff64487e60d96"
       "9e3ced615337b9eec6ac4461c6ca07f0939741e57c24d0005c7ea171a0ee"
       "1e7348249d135b38f222e4dad7b9a033ed83f5ca27277393e316582033c7"
       "4affe2566a2bea47f91f0fd9fe49ece7e1f79f3ad6e9b23e0277c8ecc4b3"
       "13225748dd2a80f5679534a0700e246a79a49b3f74eb89ec6205fe1eeb94"
       "1c73b1fcf1"},
      {"b540beb016a5366524d4605156493f9874514a5aa58818cd0c6dfffaa9e90205f17b",
       "44071f6d181561670bda728d43fb79b4", 1, 1631659, 231,
       "7fb72409b0987f8190c3729710e98c3f80c5a8727d425fdcde7f3644d467"
       "fe973f5b5fee683bd3fce812cb9ae5e9921a2d06c2f1905e4e839692f2b9"
       "34b682f11a2fe2b90482ea5dd234863516dba6f52dc0702d324ec77d860c"
       "2e181f84472bd7104fedce071ffa93c5309494ad51623d214447a7b2b146"
       "2dc7d5d55a1f6fd5b54ce024118d86f0c6489d16545aaa87b6689dad9f2f"
       "b47fda9894f8e12b87d978b483ccd4cc5fd9595cdc7a818452f915ce2f7d"
       "f95ec12b1c72e3788d473441d884f9748eb14703c21b45d82fd667b85f5b"
       "2d98c13303b3fe76285531a826b6fc0fe8e3dddecf"},
      {"", "6c0f356abb225f2b1ddd66d34739843b", 2, 4882 * 1024, 32,
       "366f1004cfbb447d435e8f6bbe9e5cc0a10e38e7c3da0e89bb19578a1a0d7291"},
  };
  for (const Case& c : kCases) {
    const Bytes passphrase = hex(c.passphrase);
    const auto out = argon2id(passphrase, hex(c.salt), PwhashCost{c.ops, c.mem_bytes}, c.length);
    ASSERT_TRUE(out.has_value()) << out.error().message();
    EXPECT_EQ(to_hex(out->expose()), c.out);
  }
}

TEST(Argon2id, PassphraseSaltAndCostAllMatter) {
  const Bytes salt(16, 1);
  const auto cost = PwhashCost::minimum();
  const auto base = argon2id(as_bytes("correct horse"), salt, cost, 32).value();
  EXPECT_TRUE(ct_equal(base, argon2id(as_bytes("correct horse"), salt, cost, 32).value()));
  EXPECT_FALSE(ct_equal(base, argon2id(as_bytes("correct horsf"), salt, cost, 32).value()));
  EXPECT_FALSE(ct_equal(base, argon2id(as_bytes("correct horse"), Bytes(16, 2), cost, 32).value()));
  EXPECT_FALSE(ct_equal(
      base, argon2id(as_bytes("correct horse"), salt, PwhashCost{cost.ops + 1, cost.mem_bytes}, 32)
                .value()));
}

TEST(Argon2id, ErrorPaths) {
  const auto cost = PwhashCost::minimum();
  for (std::size_t n : {0, 15, 17, 32}) {
    const auto r = argon2id(as_bytes("pw"), Bytes(n, 1), cost, 32);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::kMalformed);
  }
  const PwhashCost bad_costs[] = {
      {0, cost.mem_bytes},           // no passes
      {17, cost.mem_bytes},          // over the 16-pass bound
      {cost.ops, 1024},              // under libsodium's minimum memory
      {cost.ops, (1ULL << 30) + 1},  // over the 1 GiB bound a tampered file could ask for
  };
  for (const auto& bad : bad_costs) {
    EXPECT_FALSE(bad.valid());
    const auto r = argon2id(as_bytes("pw"), Bytes(16, 1), bad, 32);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::kMalformed);
  }
  for (std::size_t length : {0, 15, 1025}) {
    const auto r = argon2id(as_bytes("pw"), Bytes(16, 1), cost, length);
    ASSERT_FALSE(r.has_value()) << length;
    EXPECT_EQ(r.error().code, Errc::kMalformed);
  }
  EXPECT_TRUE(PwhashCost::moderate().valid());
  EXPECT_TRUE(PwhashCost::interactive().valid());
  EXPECT_TRUE(cost.valid());
}

}  // namespace
}  // namespace bc::crypto
