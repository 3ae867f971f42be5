// A strict, bounded subset of the protobuf encoding: uint32 varints and length-delimited bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::wire {

// Protobuf wire types used by the Signal messages.
enum class WireType : std::uint8_t { kVarint = 0, kLengthDelimited = 2 };

// ProtoWriter appends fields to a byte string in the canonical form protobuf-c produces:
// minimal varints, fields in the order they are written (callers write by field number).
class ProtoWriter {
 public:
  explicit ProtoWriter(Bytes& out) : out_(out) {}
  // uint32_field writes `number` as a varint field (always, even when zero). Never fails.
  void uint32_field(std::uint32_t number, std::uint32_t value);
  // bytes_field writes `number` as a length-delimited field. Never fails.
  void bytes_field(std::uint32_t number, ByteView value);

  // varint_size is the encoded size of `value`.
  [[nodiscard]] static std::size_t varint_size(std::uint64_t value) noexcept;

 private:
  void varint(std::uint64_t value);
  Bytes& out_;
};

// ProtoField is one decoded field: a number, its wire type, and its value.
struct ProtoField {
  std::uint32_t number = 0;
  WireType type = WireType::kVarint;
  std::uint32_t varint = 0;  // for kVarint
  ByteView bytes;            // for kLengthDelimited: a view into the input
};

// ProtoReader walks a message strictly: it rejects (kMalformed) truncation, non-minimal or
// over-long varints, varints above 2^32-1, field number 0, wire types other than varint and
// length-delimited, and fields that are not in strictly increasing field-number order (so a
// field appears at most once and parse-then-encode gives back the input).
class ProtoReader {
 public:
  explicit ProtoReader(ByteView input) : input_(input) {}
  [[nodiscard]] bool done() const noexcept { return pos_ == input_.size(); }
  // next decodes the next field; kMalformed as above. On failure the reader must not be reused.
  [[nodiscard]] Result<ProtoField> next();

 private:
  Result<std::uint64_t> read_varint(unsigned max_bytes);
  ByteView input_;
  std::size_t pos_ = 0;
  std::uint32_t last_number_ = 0;
};

}  // namespace bc::wire
