// TempDir: a fresh directory for one test, removed with everything in it when the test ends.
#pragma once

#include <filesystem>
#include <string_view>

namespace bc::test {

class TempDir {
 public:
  // TempDir makes TMPDIR/PREFIX-XXXXXX (mkdtemp: unique, mode 0700); it aborts the test binary
  // if no directory can be made.
  explicit TempDir(std::string_view prefix = "bc-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace bc::test
