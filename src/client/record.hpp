// RecordWriter / RecordReader: the strict, versioned, sequential encoding of the client's stored
// records (fixed field order, big-endian integers, u32 length before every byte string).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::client {

// RecordWriter appends fields. Never fails.
class RecordWriter {
 public:
  RecordWriter& u8(std::uint8_t v) {
    out_.push_back(v);
    return *this;
  }
  RecordWriter& u32(std::uint32_t v) { return uint(v, 4); }
  RecordWriter& u64(std::uint64_t v) { return uint(v, 8); }
  RecordWriter& i64(std::int64_t v) { return uint(static_cast<std::uint64_t>(v), 8); }
  RecordWriter& boolean(bool v) { return u8(v ? 1 : 0); }
  RecordWriter& bytes(ByteView v) {
    u32(static_cast<std::uint32_t>(v.size()));
    append(out_, v);
    return *this;
  }
  RecordWriter& str(std::string_view v) { return bytes(as_bytes(v)); }
  [[nodiscard]] Bytes take() { return std::move(out_); }
  [[nodiscard]] const Bytes& view() const { return out_; }

 private:
  RecordWriter& uint(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes out_;
};

// RecordReader reads fields in the order they were written. A read past the end or a length
// over the limit marks the reader failed and yields zero values; finish() reports it.
class RecordReader {
 public:
  explicit RecordReader(ByteView in) : in_(in) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(uint(1)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(uint(4)); }
  std::uint64_t u64() { return uint(8); }
  std::int64_t i64() { return static_cast<std::int64_t>(uint(8)); }
  bool boolean() {
    const auto v = u8();
    if (v > 1) failed_ = true;
    return v == 1;
  }
  Bytes bytes(std::size_t max = 1 << 20) {
    const std::uint32_t n = u32();
    if (failed_ || n > max || n > in_.size() - pos_) {
      failed_ = true;
      return {};
    }
    Bytes out(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
              in_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return out;
  }
  std::string str(std::size_t max = 1 << 20) { return to_string(bytes(max)); }
  template <std::size_t N>
  std::array<std::uint8_t, N> fixed() {
    std::array<std::uint8_t, N> out{};
    const Bytes b = bytes(N);
    if (b.size() != N) {
      failed_ = true;
      return out;
    }
    std::copy(b.begin(), b.end(), out.begin());
    return out;
  }
  // at_end tells whether every byte was read (or a read failed), for optional trailing fields.
  [[nodiscard]] bool at_end() const { return failed_ || pos_ == in_.size(); }
  // finish fails with kMalformed (naming `what`) when any read failed or bytes remain.
  [[nodiscard]] Result<void> finish(std::string_view what) const {
    if (failed_ || pos_ != in_.size()) {
      return fail(Errc::kMalformed, std::string(what) + " is damaged");
    }
    return ok();
  }

 private:
  std::uint64_t uint(int n) {
    if (failed_ || in_.size() - pos_ < static_cast<std::size_t>(n)) {
      failed_ = true;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | in_[pos_++];
    return v;
  }
  ByteView in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace bc::client
