#include "net/certificate.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "support/temp_dir.hpp"
#include "support/test_paths.hpp"

namespace bc::net {
namespace {
namespace fs = std::filesystem;

using test::TempDir;

TEST(SelfSignedCertificate, IsGeneratedOnceThenReused) {
  TempDir dir;
  const auto first = ensure_self_signed(dir.path(), "127.0.0.1");
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_TRUE(fs::exists(first->cert));
  EXPECT_TRUE(fs::exists(first->key));
  const auto fp1 = certificate_fingerprint(first->cert);
  ASSERT_TRUE(fp1) << fp1.error().message();
  EXPECT_EQ(fp1->size(), 32u);

  const auto second = ensure_self_signed(dir.path(), "127.0.0.1");
  ASSERT_TRUE(second);
  const auto fp2 = certificate_fingerprint(second->cert);
  ASSERT_TRUE(fp2);
  EXPECT_EQ(*fp1, *fp2);  // reused, not regenerated
}

TEST(SelfSignedCertificate, KeyFileIsPrivate) {
  TempDir dir;
  const auto paths = ensure_self_signed(dir.path(), "127.0.0.1");
  ASSERT_TRUE(paths);
  struct stat st {};
  ASSERT_EQ(::stat(paths->key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(paths->key.string() + ".tmp"));
}

TEST(SelfSignedCertificate, DifferentDirectoriesGetDifferentCertificates) {
  TempDir a;
  TempDir b;
  const auto pa = ensure_self_signed(a.path(), "127.0.0.1");
  const auto pb = ensure_self_signed(b.path(), "127.0.0.1");
  ASSERT_TRUE(pa && pb);
  EXPECT_NE(*certificate_fingerprint(pa->cert), *certificate_fingerprint(pb->cert));
}

TEST(SelfSignedCertificate, RefusesHalfAPairAndChangesNothing) {
  TempDir dir;
  { std::ofstream(dir.path() / "tls-cert.pem") << "not a certificate"; }
  const auto paths = ensure_self_signed(dir.path(), "127.0.0.1");
  ASSERT_FALSE(paths);
  EXPECT_EQ(paths.error().code, Errc::kConflict);
  EXPECT_FALSE(fs::exists(dir.path() / "tls-key.pem"));
  EXPECT_EQ(test::read_file(dir.path() / "tls-cert.pem"), "not a certificate");
}

TEST(SelfSignedCertificate, MissingDirectoryIsUnavailable) {
  TempDir dir;
  const auto paths = ensure_self_signed(dir.path() / "absent", "127.0.0.1");
  ASSERT_FALSE(paths);
  EXPECT_EQ(paths.error().code, Errc::kUnavailable);
}

TEST(CertificateFingerprint, FailsOnMissingAndNonCertificateFiles) {
  TempDir dir;
  const auto missing = certificate_fingerprint(dir.path() / "nope.pem");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kUnavailable);
  { std::ofstream(dir.path() / "junk.pem") << "-----BEGIN CERTIFICATE-----\nAAAA\n"; }
  const auto junk = certificate_fingerprint(dir.path() / "junk.pem");
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().code, Errc::kMalformed);
}

}  // namespace
}  // namespace bc::net
