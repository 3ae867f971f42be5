// Bytes and ByteView: owned and borrowed byte strings, plus hex helpers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace bc {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;
using MutableByteView = std::span<std::uint8_t>;

// to_hex renders lowercase hex.
[[nodiscard]] std::string to_hex(ByteView bytes);
// from_hex parses hex (either case); fails with kMalformed on odd length or a non-hex digit.
[[nodiscard]] Result<Bytes> from_hex(std::string_view hex);

// to_base64url renders unpadded base64url (RFC 4648 section 5).
[[nodiscard]] std::string to_base64url(ByteView bytes);
// from_base64url parses unpadded base64url; kMalformed on any other character, a dangling
// character, or non-zero trailing bits (so every byte string has exactly one encoding).
[[nodiscard]] Result<Bytes> from_base64url(std::string_view text);

// as_bytes views the characters of a string as bytes.
[[nodiscard]] inline ByteView as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
// to_bytes copies a view.
[[nodiscard]] inline Bytes to_bytes(ByteView v) { return Bytes(v.begin(), v.end()); }
// to_string copies bytes into a std::string.
[[nodiscard]] inline std::string to_string(ByteView v) { return std::string(v.begin(), v.end()); }

// append concatenates `tail` onto `out`.
inline void append(Bytes& out, ByteView tail) { out.insert(out.end(), tail.begin(), tail.end()); }

// ct_equal compares two byte strings in time that depends only on their lengths.
[[nodiscard]] bool ct_equal(ByteView a, ByteView b) noexcept;

// secure_zero wipes memory in a way the compiler may not elide.
void secure_zero(void* data, std::size_t size) noexcept;

}  // namespace bc
