// Safety numbers against libsignal-protocol-c: same keys and identifiers, same digits and bytes.
#include "protocol/fingerprint.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <optional>
#include <string>

#include "crypto/random.hpp"
#include "crypto/x25519.hpp"
#include "integration/interop/signal_support.hpp"

namespace bc::protocol {
namespace {

Bytes identity_key(Rng& rng) {
  const crypto::X25519KeyPair pair = crypto::x25519_generate(rng);
  Bytes out{0x05};
  append(out, pair.public_key.view());
  return out;
}

Bytes must_hex(const char* hex) { return from_hex(hex).value(); }

// Two fixed identity keys and the safety number libsignal-protocol-c 2.3.3 prints for them
// (5,200 iterations, identifiers the lowercase hex of each key). Committed so that a change of
// the hash construction fails even where libsignal-protocol-c is absent.
constexpr const char* kAliceKey =
    "05aa8a1f7bd4e0e1f2cba13e5ae29da7c2ed82ca3b4e8a3c3fa1f8d4ff53bd8c21";
constexpr const char* kBobKey =
    "05f4c2d34ea7d8b1f5b8b6c1e6dd2a1fb8e3f9bb0c5e3d1c7a02cce5e4af1c9a33";
constexpr const char* kKnownDisplayable =
    "648848523281219331925244505927672920749129411576493125476795";

TEST(FingerprintTest, MatchesLibsignalForRandomKeys) {
  crypto::DeterministicRng rng(20261126);
  for (int i = 0; i < 6; ++i) {
    const Bytes local = identity_key(rng);
    const Bytes remote = identity_key(rng);
    const auto ours = compute_fingerprint(local, remote);
    ASSERT_TRUE(ours.has_value()) << ours.error().message();
    const interop::SignalFingerprint theirs = interop::signal_fingerprint(local, remote);
    EXPECT_EQ(ours->displayable(), theirs.displayable);
    EXPECT_EQ(ours->displayable().size(), kDisplayableDigits);
    EXPECT_EQ(to_hex(ours->scannable()), to_hex(theirs.scannable));
  }
}

TEST(FingerprintTest, KnownAnswer) {
  const Bytes alice = must_hex(kAliceKey);
  const Bytes bob = must_hex(kBobKey);
  const interop::SignalFingerprint theirs = interop::signal_fingerprint(alice, bob);
  const auto ours = compute_fingerprint(alice, bob);
  ASSERT_TRUE(ours.has_value());
  EXPECT_EQ(ours->displayable(), theirs.displayable);
  EXPECT_EQ(ours->displayable(), kKnownDisplayable);
}

TEST(FingerprintTest, BothSidesSeeTheSameDigits) {
  crypto::DeterministicRng rng(7);
  const Bytes alice = identity_key(rng);
  const Bytes bob = identity_key(rng);
  const auto a = compute_fingerprint(alice, bob);
  const auto b = compute_fingerprint(bob, alice);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->displayable(), b->displayable());
  EXPECT_EQ(a->local_digits(), b->remote_digits());
  EXPECT_EQ(a->remote_digits(), b->local_digits());
  EXPECT_NE(a->local_digits(), a->remote_digits());
  for (char c : a->displayable()) EXPECT_TRUE(c >= '0' && c <= '9');
}

TEST(FingerprintTest, ScannableComparesAcrossSidesAndWithLibsignal) {
  crypto::DeterministicRng rng(11);
  const Bytes alice = identity_key(rng);
  const Bytes bob = identity_key(rng);
  const Bytes mallory = identity_key(rng);
  const auto a = compute_fingerprint(alice, bob).value();
  const auto b = compute_fingerprint(bob, alice).value();
  const auto m = compute_fingerprint(mallory, alice).value();

  EXPECT_EQ(compare_scannable(a, b.scannable()).value(), true);
  EXPECT_EQ(compare_scannable(b, a.scannable()).value(), true);
  // Our own code (not mirrored) and a code made by a key substituted for Bob's do not match.
  EXPECT_EQ(compare_scannable(a, a.scannable()).value(), false);
  EXPECT_EQ(compare_scannable(a, m.scannable()).value(), false);

  // libsignal-protocol-c agrees in both directions.
  const auto theirs_b = interop::signal_fingerprint(bob, alice);
  EXPECT_EQ(compare_scannable(a, theirs_b.scannable).value(), true);
  EXPECT_EQ(interop::signal_compare_scannable(theirs_b.scannable, a.scannable()), 1);
  EXPECT_EQ(interop::signal_compare_scannable(theirs_b.scannable, m.scannable()), 0);
}

TEST(FingerprintTest, RejectsMalformedIdentityKeys) {
  crypto::DeterministicRng rng(3);
  const Bytes good = identity_key(rng);
  Bytes short_key(good.begin(), good.end() - 1);
  Bytes wrong_type = good;
  wrong_type[0] = 0x06;
  Bytes raw32(good.begin() + 1, good.end());
  for (const Bytes& bad : {short_key, wrong_type, raw32, Bytes{}}) {
    const auto local_bad = compute_fingerprint(bad, good);
    ASSERT_FALSE(local_bad.has_value());
    EXPECT_EQ(local_bad.error().code, Errc::kMalformed);
    const auto remote_bad = compute_fingerprint(good, bad);
    ASSERT_FALSE(remote_bad.has_value());
    EXPECT_EQ(remote_bad.error().code, Errc::kMalformed);
  }
}

class ScannableErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::DeterministicRng rng(5);
    alice_ = identity_key(rng);
    bob_ = identity_key(rng);
    ours_.emplace(compute_fingerprint(alice_, bob_).value());
    theirs_ = compute_fingerprint(bob_, alice_).value().scannable();
  }
  const Fingerprint& ours() const { return *ours_; }
  const Bytes& theirs() const { return theirs_; }
  void expect_error(ByteView scanned, Errc code) const {
    const auto result = compare_scannable(ours(), scanned);
    ASSERT_FALSE(result.has_value()) << to_hex(scanned);
    EXPECT_EQ(result.error().code, code) << result.error().message();
  }
  Bytes alice_;
  Bytes bob_;
  std::optional<Fingerprint> ours_;
  Bytes theirs_;
};

TEST_F(ScannableErrorTest, EveryTruncationIsMalformedOrMismatch) {
  const Bytes full = theirs();
  ASSERT_EQ(compare_scannable(ours(), full).value(), true);
  for (std::size_t n = 0; n < full.size(); ++n) {
    const auto result = compare_scannable(ours(), ByteView(full).first(n));
    // A cut inside a field is malformed; a cut between fields loses a fingerprint or the version.
    if (result.has_value()) {
      ADD_FAILURE() << "truncation to " << n << " bytes accepted";
    }
  }
}

TEST_F(ScannableErrorTest, WrongVersionIsUnsupported) {
  Bytes scanned = theirs();
  ASSERT_EQ(scanned[0], 0x08);
  scanned[1] = 0x00;
  expect_error(scanned, Errc::kUnsupportedVersion);
  scanned[1] = 0x02;
  expect_error(scanned, Errc::kUnsupportedVersion);
  // Version omitted: proto2 default 0.
  expect_error(ByteView(theirs()).subspan(2), Errc::kUnsupportedVersion);
}

TEST_F(ScannableErrorTest, MissingOrRepeatedFingerprintIsMalformed) {
  const Bytes full = theirs();
  // 08 01 | 12 22 (0a 20 <32>) | 1a 22 (0a 20 <32>): drop the remote fingerprint.
  ASSERT_EQ(full.size(), 74u);
  expect_error(ByteView(full).first(38), Errc::kMalformed);
  Bytes repeated = full;
  append(repeated, ByteView(full).subspan(38));
  expect_error(repeated, Errc::kMalformed);
  expect_error(Bytes{0x08, 0x01, 0x12, 0x00, 0x1a, 0x00}, Errc::kMalformed);
}

TEST_F(ScannableErrorTest, GarbageAndOversizeAreMalformed) {
  expect_error(Bytes{0xff, 0xff, 0xff}, Errc::kMalformed);
  expect_error(Bytes{0x0b}, Errc::kMalformed);  // a group (wire type 3)
  Bytes huge = theirs();
  huge.resize(4096, 0);
  expect_error(huge, Errc::kMalformed);
}

TEST_F(ScannableErrorTest, UnknownFieldsAreSkipped) {
  Bytes scanned = theirs();
  // Field 9 as a varint and field 10 as bytes: ignored, as protobuf does.
  append(scanned, Bytes{0x48, 0x05, 0x52, 0x01, 0x00});
  EXPECT_EQ(compare_scannable(ours(), scanned).value(), true);
}

TEST_F(ScannableErrorTest, FlippedBitIsMismatch) {
  const Bytes full = theirs();
  for (std::size_t i : {6u, 37u, 42u, 73u}) {
    Bytes flipped = full;
    flipped[i] ^= 0x01;
    EXPECT_EQ(compare_scannable(ours(), flipped).value(), false) << i;
  }
}

// Fixed pair for the properties below: our view and the other side's scannable code.
struct ScannablePair {
  Fingerprint ours;
  Bytes theirs;
};
const ScannablePair& scannable_pair() {
  static const ScannablePair pair = [] {
    crypto::DeterministicRng rng(17);
    const Bytes alice = identity_key(rng);
    const Bytes bob = identity_key(rng);
    return ScannablePair{compute_fingerprint(alice, bob).value(),
                         compute_fingerprint(bob, alice).value().scannable()};
  }();
  return pair;
}

// A scanned code is untrusted input: any bytes give a clean result (an error, or false), never
// true unless they are the other side's code, and never a crash (ASan/UBSan watch this).
RC_GTEST_PROP(ScannableProperty, ArbitraryBytesNeverMatch,
              (const std::vector<std::uint8_t>& bytes)) {
  const auto result = compare_scannable(scannable_pair().ours, bytes);
  const bool matched = result.has_value() && *result;
  RC_ASSERT(!matched || bytes == scannable_pair().theirs);
}

// Changing any one byte of the other side's code never yields a match.
RC_GTEST_PROP(ScannableProperty, MutatedCodeNeverMatches, ()) {
  Bytes scanned = scannable_pair().theirs;
  const auto at = *rc::gen::inRange<std::size_t>(0, scanned.size());
  scanned[at] = *rc::gen::distinctFrom(scanned[at]);
  const auto result = compare_scannable(scannable_pair().ours, scanned);
  // (RC_ASSERT decomposes its expression, so the short-circuit is taken outside it.)
  const bool matched = result.has_value() && *result;
  RC_ASSERT(!matched);
}

}  // namespace
}  // namespace bc::protocol
