// Test helpers: where the source tree, the build tree and the shared vectors are.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace bc::test {

// source_dir is the repository root (from BC_SOURCE_DIR, set by ctest).
[[nodiscard]] std::filesystem::path source_dir();
// binary_dir is the build tree (from BC_BINARY_DIR).
[[nodiscard]] std::filesystem::path binary_dir();
// shared_vectors_dir is ../shared/vectors beside the repository, when it exists.
[[nodiscard]] std::optional<std::filesystem::path> shared_vectors_dir();
// cryptography_vectors_dir is Debian's python3-cryptography-vectors data, when installed.
[[nodiscard]] std::optional<std::filesystem::path> cryptography_vectors_dir();
// read_file returns a file's bytes as a string (empty when it cannot be read).
[[nodiscard]] std::string read_file(const std::filesystem::path& path);

}  // namespace bc::test
