#include "support/test_paths.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace bc::test {

namespace fs = std::filesystem;

fs::path source_dir() {
  const char* env = std::getenv("BC_SOURCE_DIR");
  return env != nullptr ? fs::path(env) : fs::path(BC_DEFAULT_SOURCE_DIR);
}

fs::path binary_dir() {
  const char* env = std::getenv("BC_BINARY_DIR");
  return env != nullptr ? fs::path(env) : fs::path(BC_DEFAULT_BINARY_DIR);
}

std::optional<fs::path> shared_vectors_dir() {
  if (const char* env = std::getenv("BC_SHARED_VECTORS"); env != nullptr && fs::is_directory(env)) {
    return fs::path(env);
  }
  const fs::path candidate = source_dir() / ".." / "shared" / "vectors";
  if (fs::is_directory(candidate)) return fs::canonical(candidate);
  return std::nullopt;
}

std::optional<fs::path> cryptography_vectors_dir() {
  const fs::path candidate = "/usr/lib/python3/dist-packages/cryptography_vectors";
  if (fs::is_directory(candidate)) return candidate;
  return std::nullopt;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace bc::test
